import type { Action } from '../actions.js';
import { ACTION_KINDS } from '../actions.js';
import { CommandRejected } from '../errors.js';
import type { Device } from '../inventory/types.js';
import type { CliAnswer, CliPlatform, CliShell, Session } from '../transports/types.js';
import type { ActionContext, Driver, State } from './driver.js';
import { checkAddress, checkInterface, checkSegment, checkTag, checkVlan } from './validate.js';
import { invertForward, type LinkState, portHolds, restorePort } from './port-state.js';
import { sshSession, unsupportedAction } from './unsupported.js';

/**
 * Juniper Junos over the CLI: EX switches (ELS) for ports and VLANs, SRX/MX for filters. Every
 * change goes through `configure private` + `commit` (or `commit confirmed N`), and the candidate
 * is always discarded on the way out. Read-back parses `show configuration ... | display set`,
 * the one form that stays the same across releases. Junos has no writable ifAdminStatus: CLI only.
 */

export const JUNOS: CliPlatform = {
  name: 'junos',
  levels: [
    { name: 'operational', prompt: (h) => new RegExp(`^[A-Za-z0-9._-]+@${h}>\\s?$`) },
    {
      name: 'config',
      parent: 'operational',
      // Private: our uncommitted changes never mix with an operator's, and vanish when we leave.
      enter: 'configure private',
      leave: 'exit configuration-mode',
      prompt: (h) => new RegExp(`^[A-Za-z0-9._-]+@${h}#\\s?$`),
    },
  ],
  defaultLevel: 'operational',
  onOpen: ['set cli screen-length 0', 'set cli screen-width 511'],
  pager: /---\(more(?: \d+%)?\)---/,
  pagerReply: ' ',
  errors: [
    /^error:/,
    /^syntax error/,
    /^unknown command\./,
    /is ambiguous\.?$/,
    /^missing argument\./,
    /^invalid (?:value|interface)/i,
    /No valid completions/,
  ],
  // Context lines around the prompt: `[edit ...]`, `{master:0}`, and the pending-rollback notice.
  noise: [
    /^\{(?:master|backup|linecard|primary|secondary)(?::\d+)?\}/,
    /^\[edit(?: [^\]]*)?\]$/,
    /^# commit confirmed will be rolled back in/,
  ],
};

const SUPPORTS = ACTION_KINDS.filter((k) => !k.startsWith('power.'));
const EXIT_UNCOMMITTED: CliAnswer = { prompt: /Exit with uncommitted changes\? \[yes,no\] \(yes\)\s*$/, reply: 'yes\n' };
/** Shared accept-all filter ending a list that would otherwise end with ours (its implicit discard would drop everything). */
const PASS = 'fb-pass';
const COMMIT_TIMEOUT_MS = 60_000;

/** PortVlanState, but `mode` is null on an interface without family ethernet-switching (not a switch port). */
interface PortState extends State {
  interface: string;
  mode: string | null;
  vlan: number | null;
  voiceVlan: number | null;
}
interface Rule {
  filter: string;
  term: string;
  lines: string[];
  appliedOn: string[];
}
interface RuleState extends State {
  key: string;
  rules: Rule[];
}

export const junos: Driver = {
  family: 'junos',
  transport: 'ssh',
  supports: SUPPORTS,

  render(action, ctx) {
    const id = ctx.device.id;
    switch (action?.kind) {
      case 'interface.disable':
        return [`set interfaces ${iface(id, action.interface)} disable`, 'commit'];
      case 'interface.enable':
        return [`delete interfaces ${iface(id, action.interface)} disable`, 'commit'];
      case 'port.vlan':
        return [...portLines(id, action.interface, 'access', `<name of vlan-id ${checkVlan(id, action.vlan)}>`, null, true), 'commit'];
      case 'port.restore': {
        const name = (v: number | null) => (v === null ? null : `<name of vlan-id ${checkVlan(id, v)}>`);
        return [...portLines(id, action.interface, checkMode(id, action.mode), name(action.vlan), name(action.voiceVlan), true), 'commit'];
      }
      case 'host.block':
      case 'egress.block': {
        const { fam, name, terms } = blockTerms(id, action, ctx.tag);
        const dir = action.kind === 'host.block' ? 'input' : 'output';
        const units = action.kind === 'host.block' ? dataUnits(ctx.device) : action.uplinks.map((u) => unitOf(id, u));
        return [
          ...terms,
          ...units.map((u) => `insert interfaces ${u.replace('.', ' unit ')} family ${fam} filter ${dir}-list ${name} (first in the list)`),
          'commit',
        ];
      }
      case 'host.unblock':
      case 'egress.unblock': {
        if (action.kind === 'host.unblock') checkAddress(id, action.address);
        else checkSegment(id, action.segment);
        const name = filterName(id, ctx.tag);
        return [
          `delete interfaces <each unit> family <inet|inet6> filter <input|output>-list ${name}`,
          `delete firewall family <inet|inet6> filter ${name}`,
          'commit',
        ];
      }
      default:
        return unsupported(action, ctx);
    }
  },

  async read(session, action, ctx) {
    const sh = await shell(session, ctx);
    const id = ctx.device.id;
    switch (action?.kind) {
      case 'interface.disable':
      case 'interface.enable': {
        const name = iface(id, action.interface);
        return { interface: name, adminUp: await adminUp(sh, ctx, name) } satisfies LinkState;
      }
      case 'port.vlan':
      case 'port.restore':
        return (await readPort(sh, ctx, iface(id, action.interface))).state;
      case 'host.block':
      case 'host.unblock':
      case 'egress.block':
      case 'egress.unblock':
        return readRules(sh, ctx, action);
      default:
        return unsupported(action, ctx);
    }
  },

  holds(action, state, ctx) {
    switch (action.kind) {
      case 'interface.disable':
      case 'interface.enable':
      case 'port.vlan':
      case 'port.restore':
        return portHolds(action, state);
      case 'host.block': {
        // Any tag's filter counts: a second run finds the host already blocked.
        const rules = (state as RuleState).rules.filter((r) => r.appliedOn.length && r.lines.includes('then discard'));
        return ['source-address', 'destination-address'].every((m) => rules.some((r) => r.lines.some((l) => l.startsWith(`from ${m} `))));
      }
      case 'egress.block':
        return (state as RuleState).rules.some((r) => r.appliedOn.length && r.lines.includes('then discard'));
      case 'host.unblock':
      case 'egress.unblock': {
        const name = filterName(ctx.device.id, ctx.tag);
        return !(state as RuleState).rules.some((r) => r.filter === name);
      }
      default:
        return unsupported(action, ctx);
    }
  },

  async apply(session, action, ctx) {
    junos.render(action, ctx); // validates every value before anything is sent
    const sh = await shell(session, ctx);
    return change(sh, ctx, await linesFor(sh, action, ctx, new Candidate(sh, ctx)));
  },

  /**
   * The actions of one stage in one private candidate and ONE commit (one cut, not a ripple).
   * Every read happens first, at operational level; each filter action's lines are played onto
   * the configuration the next one reads, so their lists come out as one apply after another would
   * leave them. A refused line or commit throws and the candidate is discarded: nothing of the
   * batch is committed. Items that disagree on autoRevert go one by one (one commit each).
   */
  async applyAll(session, items) {
    const first = items[0]!;
    if (items.some((i) => i.ctx.autoRevert?.minutes !== first.ctx.autoRevert?.minutes)) {
      const out: string[] = [];
      for (const i of items) out.push(await junos.apply(session, i.action, i.ctx));
      return out.join('\n');
    }
    for (const i of items) junos.render(i.action, i.ctx);
    const ctx = { ...first.ctx, timeoutMs: Math.max(...items.map((i) => i.ctx.timeoutMs)) };
    const sh = await shell(session, ctx);
    const cand = new Candidate(sh, ctx);
    const lines: string[] = [];
    for (const i of items) {
      const own = await linesFor(sh, i.action, i.ctx, cand);
      cand.play(own);
      lines.push(...own);
    }
    return change(sh, ctx, lines);
  },

  invert(action, before, ctx) {
    const held = () => junos.holds(action, before, ctx);
    if (action.kind !== 'port.vlan') return invertForward(SUPPORTS, action, before, held);
    // A port without family ethernet-switching reads mode null (port.vlan then refuses it).
    const s = before as PortState;
    return restorePort(action, { ...s, mode: s.mode ?? 'access' }, held());
  },

  async confirm(session, _action, ctx) {
    const sh = await shell(session, ctx);
    const history = await sh.send('show system commit', { timeoutMs: ctx.timeoutMs });
    const pending = /commit confirmed, rollback in/.test(history.split('\n').find((l) => /^\s*0\s/.test(l)) ?? '');
    // A plain commit confirms; always sent, so a release that words `show system commit` otherwise still gets confirmed.
    const out = await change(sh, { ...ctx, autoRevert: undefined }, []);
    return pending ? `pending commit confirmed: ${out}` : `nothing was pending (${out})`;
  },
};

function iface(id: string, name: string): string {
  return checkInterface(id, name);
}

function checkMode(id: string, mode: string): string {
  if (mode !== 'access' && mode !== 'trunk')
    throw new CommandRejected(`${id}: interface-mode ${JSON.stringify(mode)} is not one Junos ELS knows (access, trunk)`);
  return mode;
}

function unsupported(action: unknown, ctx: ActionContext): never {
  return unsupportedAction('junos', SUPPORTS, action, ctx);
}

/** The CLI, always back at operational level (a previous change may have failed half-way). */
async function shell(session: Session, ctx: ActionContext): Promise<CliShell> {
  const sh = await sshSession('junos', session, ctx).cli(JUNOS);
  if (sh.level !== 'operational') await leaveConfig(sh, ctx);
  return sh;
}

/** The configuration lines of one action, after the reads they depend on (operational level). */
async function linesFor(sh: CliShell, action: Action, ctx: ActionContext, cand: Candidate): Promise<string[]> {
  const id = ctx.device.id;
  switch (action.kind) {
    case 'interface.disable':
    case 'interface.enable': {
      const name = iface(id, action.interface);
      await adminUp(sh, ctx, name); // refuses an interface the device does not have, in its words
      return [action.kind === 'interface.disable' ? `set interfaces ${name} disable` : `delete interfaces ${name} disable`];
    }
    case 'port.vlan':
    case 'port.restore': {
      const name = iface(id, action.interface);
      const { state, vlanNames } = await readPort(sh, ctx, name);
      if (state.mode === 'trunk')
        throw new CommandRejected(`${id}: ${name} is a trunk port (interface-mode trunk); ${action.kind} moves access ports only`);
      if (state.mode === null)
        throw new CommandRejected(`${id}: ${name} has no family ethernet-switching; ${action.kind} needs a switch port`);
      const named = (v: number | null) => {
        if (v === null) return null;
        const n = vlanNames.get(v);
        if (!n) throw new CommandRejected(`${id}: VLAN ${v} is not defined on the device (show configuration vlans)`);
        return n;
      };
      return action.kind === 'port.vlan'
        ? portLines(id, name, 'access', named(action.vlan), null, state.voiceVlan !== null)
        : portLines(id, name, checkMode(id, action.mode), named(action.vlan), named(action.voiceVlan), state.voiceVlan !== null);
    }
    case 'host.block':
    case 'egress.block':
      return blockLines(cand, ctx, action);
    case 'host.unblock':
    case 'egress.unblock':
      return unblockLines(cand, ctx);
    default:
      return unsupported(action, ctx);
  }
}

/**
 * The `interfaces` / `firewall` statements filter actions build on: read once per change, then
 * each action's own lines are played onto them (set / delete / insert ... before), so that the
 * next action of the same commit sees its filter lists as they will be.
 */
class Candidate {
  private readonly cfg = new Map<string, string[]>();
  constructor(
    private readonly sh: CliShell,
    private readonly ctx: ActionContext,
  ) {}
  async get(path: 'interfaces' | 'firewall'): Promise<string[]> {
    if (!this.cfg.has(path)) this.cfg.set(path, await showSet(this.sh, this.ctx, path));
    return this.cfg.get(path)!;
  }
  play(lines: string[]): void {
    for (const [path, cfg] of this.cfg) {
      let out = cfg;
      for (const line of lines) {
        const [verb, ...w] = line.split(' ');
        if (w[0] !== path) continue;
        const stmt = w.join(' ');
        if (verb === 'set' && !out.includes(stmt)) out = [...out, stmt];
        else if (verb === 'delete') out = out.filter((l) => l !== stmt && !l.startsWith(`${stmt} `));
        else if (verb === 'insert' && w[w.length - 2] === 'before') {
          const ins = w.slice(0, -2).join(' ');
          out = out.filter((l) => l !== ins);
          const at = out.indexOf([...w.slice(0, -3), w[w.length - 1]].join(' '));
          out.splice(at < 0 ? out.length : at, 0, ins);
        }
      }
      this.cfg.set(path, out);
    }
  }
}

/** Sends the lines in a private candidate and commits; whatever happens, leaves config mode clean. */
async function change(sh: CliShell, ctx: ActionContext, lines: string[]): Promise<string> {
  const timeoutMs = ctx.timeoutMs;
  await sh.moveTo('config', { timeoutMs });
  const out: string[] = [];
  try {
    for (const line of lines) out.push(await sh.send(line, { timeoutMs }));
    const minutes = ctx.autoRevert?.minutes;
    const commit = minutes ? `commit confirmed ${Math.max(1, Math.min(65535, Math.round(minutes)))}` : 'commit';
    const done = await sh.send(commit, { timeoutMs: Math.max(timeoutMs, Math.min(COMMIT_TIMEOUT_MS, timeoutMs * 6)) });
    if (!/commit complete/.test(done)) throw new CommandRejected(`${ctx.device.id}: "${commit}" did not complete: ${done.slice(0, 300)}`);
    out.push(done);
    return out.filter(Boolean).join('\n');
  } finally {
    await leaveConfig(sh, ctx);
  }
}

/** Drops the uncommitted candidate, then leaves; a dead shell is left to the session to replace. */
async function leaveConfig(sh: CliShell, ctx: ActionContext): Promise<void> {
  if (sh.broken || sh.level !== 'config') return;
  try {
    await sh.send('rollback 0', { timeoutMs: ctx.timeoutMs, allowErrors: true });
    // If the rollback did not take, the device asks before throwing the changes away: say yes.
    await sh.send('exit configuration-mode', { timeoutMs: ctx.timeoutMs, answers: [EXIT_UNCOMMITTED] });
  } catch {
    // The error that brought us here is the one to report; the next call starts from a fresh check.
  }
}

/** `show configuration <path> | display set` as statements without the leading `set `. */
async function showSet(sh: CliShell, ctx: ActionContext, path: string): Promise<string[]> {
  const out = await sh.send(`show configuration ${path} | display set`, { timeoutMs: ctx.timeoutMs });
  // Anything else (a syslog line, a banner, a blank line) is not configuration.
  return out
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.startsWith('set '))
    .map((l) => l.slice(4));
}

/** Admin status from `show interfaces X terse`; the device's own error for an unknown interface. */
async function adminUp(sh: CliShell, ctx: ActionContext, name: string): Promise<boolean> {
  const out = await sh.send(`show interfaces ${name} terse`, { timeoutMs: ctx.timeoutMs });
  const row = out.split('\n').find((l) => l.trim().split(/\s+/)[0] === name);
  const admin = row?.trim().split(/\s+/)[1];
  if (admin !== 'up' && admin !== 'down')
    throw new CommandRejected(`${ctx.device.id}: interface "${name}" is not in "show interfaces ${name} terse"`);
  return admin === 'up';
}

async function readPort(sh: CliShell, ctx: ActionContext, name: string): Promise<{ state: PortState; vlanNames: Map<number, string> }> {
  await adminUp(sh, ctx, name);
  const cfg = await showSet(sh, ctx, `interfaces ${name}`);
  const voip = await showSet(sh, ctx, `switch-options voip interface ${name}.0`);
  const vlans = await showSet(sh, ctx, 'vlans');
  const ids = new Map<string, number>();
  const names = new Map<number, string>();
  for (const l of vlans) {
    const m = /^vlans (\S+) vlan-id (\d+)$/.exec(l);
    if (m) {
      ids.set(m[1]!, Number(m[2]));
      if (!names.has(Number(m[2]))) names.set(Number(m[2]), m[1]!);
    }
  }
  const idOf = (v: string | undefined) => (v === undefined ? null : /^\d+$/.test(v) ? Number(v) : (ids.get(v) ?? null));
  const es = `interfaces ${name} unit 0 family ethernet-switching `;
  const sw = cfg.filter((l) => l.startsWith(es)).map((l) => l.slice(es.length));
  // ELS: no interface-mode under family ethernet-switching means access.
  const mode = sw.length ? (sw.find((l) => l.startsWith('interface-mode '))?.split(' ')[1] ?? 'access') : null;
  const member = sw.find((l) => l.startsWith('vlan members '))?.split(' ')[2];
  const voice = voip.find((l) => l.startsWith(`switch-options voip interface ${name}.0 vlan `))?.split(' ')[5];
  const state: PortState = {
    interface: name,
    mode,
    vlan: mode === 'access' ? (idOf(member) ?? (member ? null : 1)) : null,
    voiceVlan: idOf(voice),
  };
  return { state, vlanNames: names };
}

/** Moves the access VLAN (and sets or removes the voice VLAN) of unit 0; `named` values are VLAN names. */
function portLines(id: string, name: string, mode: string, vlan: string | null, voice: string | null, hadVoice: boolean): string[] {
  const es = `interfaces ${iface(id, name)} unit 0 family ethernet-switching`;
  const out = [`delete ${es} vlan members`, `set ${es} interface-mode ${mode}`];
  if (vlan !== null) out.push(`set ${es} vlan members ${vlan}`);
  if (hadVoice) out.push(`delete switch-options voip interface ${name}.0`);
  if (voice !== null) out.push(`set switch-options voip interface ${name}.0 vlan ${voice}`);
  return out;
}

/** A Junos-safe filter name from the action tag: `fb:p1a2b:a3` -> `fb-p1a2b-a3`. */
function filterName(id: string, tag: string): string {
  return `fb-${checkTag(id, tag).replace(/^fb:/, '').replace(/:/g, '-').replace(/\./g, '_')}`;
}

/** `ge-0/0/5` -> `ge-0/0/5.0`; `ge-0/0/5.100` stays. */
function unitOf(id: string, name: string): string {
  const n = checkInterface(id, name);
  return /\.\d+$/.test(n) ? n : `${n}.0`;
}

/** The units a host.block filters: every inventory interface but the management path. */
function dataUnits(device: Device): string[] {
  const mgmt = new Set(device.managementPath.interfaces);
  return Object.entries(device.interfaces)
    .filter(([n, spec]) => !mgmt.has(n) && !spec.roles.includes('mgmt'))
    .map(([n]) => unitOf(device.id, n));
}

function blockTerms(id: string, action: Extract<Action, { kind: 'host.block' | 'egress.block' }>, tag: string) {
  const name = filterName(id, tag);
  if (action.kind === 'host.block') {
    const fam = checkAddress(id, action.address) === 6 ? 'inet6' : 'inet';
    const h = action.address.includes('/') ? action.address : `${action.address}/${fam === 'inet' ? 32 : 128}`;
    const t = `set firewall family ${fam} filter ${name} term`;
    return {
      fam,
      name,
      terms: [
        `${t} src from source-address ${h}`,
        `${t} src then discard`,
        `${t} dst from destination-address ${h}`,
        `${t} dst then discard`,
      ],
    };
  }
  const t = `set firewall family inet filter ${name} term egress-${checkSegment(id, action.segment).replace(/\./g, '_')}`;
  const allow = action.allow.filter((a) => checkAddress(id, a, 'allow entry') === 4);
  return {
    fam: 'inet',
    name,
    terms: [
      ...action.interfaces.map((i) => `${t} from interface ${unitOf(id, i)}`),
      `${t} from destination-address 0.0.0.0/0`,
      ...allow.map((a) => `${t} from destination-address ${a} except`),
      `${t} then discard`,
    ],
  };
}

/** Filter applications per `<unit>|<family>|<input|output>`, in list order; a single `input X` is a list of one. */
function applications(cfg: string[]): Map<string, { list: string[]; single: boolean }> {
  const m = new Map<string, { list: string[]; single: boolean }>();
  for (const l of cfg) {
    const r = /^interfaces (\S+) unit (\d+) family (inet6?) filter (input|output)(-list)? (\S+)$/.exec(l);
    if (!r) continue;
    const key = `${r[1]}.${r[2]}|${r[3]}|${r[4]}`;
    const e = m.get(key) ?? { list: [], single: !r[5] };
    e.list.push(r[6]!);
    m.set(key, e);
  }
  return m;
}

async function readRules(sh: CliShell, ctx: ActionContext, action: Action): Promise<RuleState> {
  const id = ctx.device.id;
  const key =
    action.kind === 'host.block' || action.kind === 'host.unblock'
      ? action.address
      : action.kind.startsWith('egress')
        ? (action as { segment: string }).segment
        : '';
  const host = action.kind.startsWith('host');
  if (host) checkAddress(id, key);
  else checkSegment(id, key);
  const fw = await showSet(sh, ctx, 'firewall');
  const apps = applications(await showSet(sh, ctx, 'interfaces'));
  const byTerm = new Map<string, Rule>();
  for (const l of fw) {
    const m = /^firewall family (inet6?) filter (fb-\S+) term (\S+) (.+)$/.exec(l);
    if (!m || m[2] === PASS) continue;
    const k = `${m[1]} ${m[2]} ${m[3]}`;
    const appliedOn = [...apps].filter(([a, e]) => a.split('|')[1] === m[1] && e.list.includes(m[2]!)).map(([a]) => a);
    const r = byTerm.get(k) ?? { filter: m[2]!, term: m[3]!, lines: [], appliedOn };
    r.lines.push(m[4]!);
    byTerm.set(k, r);
  }
  const h = key.includes('/') ? key : `${key}/${key.includes(':') ? 128 : 32}`;
  const ours = [...byTerm.values()].filter((r) =>
    host
      ? r.lines.some((l) => l === `from source-address ${h}` || l === `from destination-address ${h}`)
      : r.term === `egress-${key.replace(/\./g, '_')}`,
  );
  // The inverse also needs to see our filter when it no longer matches (half-removed by hand).
  const name = filterName(id, ctx.tag);
  for (const r of byTerm.values()) if (r.filter === name && !ours.includes(r)) ours.push(r);
  return { key, rules: ours };
}

/** Defines our filter and puts it first in each unit's list, so the operator's filters still run after it. */
async function blockLines(
  cand: Candidate,
  ctx: ActionContext,
  action: Extract<Action, { kind: 'host.block' | 'egress.block' }>,
): Promise<string[]> {
  const id = ctx.device.id;
  const { fam, name, terms } = blockTerms(id, action, ctx.tag);
  const dir = action.kind === 'host.block' ? 'input' : 'output';
  const cfg = await cand.get('interfaces');
  const apps = applications(cfg);
  const hasFamily = (unit: string) => cfg.some((l) => l.startsWith(`interfaces ${unit.replace('.', ' unit ')} family ${fam}`));
  const units = (action.kind === 'host.block' ? dataUnits(ctx.device) : action.uplinks.map((u) => unitOf(id, u))).filter(hasFamily);
  if (!units.length) throw new CommandRejected(`${id}: no interface with family ${fam} to apply ${name} on (${action.kind})`);
  const out = [...terms];
  let needPass = false;
  for (const u of units) {
    const at = `interfaces ${u.replace('.', ' unit ')} family ${fam} filter`;
    const e = apps.get(`${u}|${fam}|${dir}`);
    if (e?.list.includes(name)) continue;
    if (!e) {
      out.push(`set ${at} ${dir}-list ${name}`, `set ${at} ${dir}-list ${PASS}`);
      needPass = true;
    } else if (e.single) {
      // `input X` and `input-list` exclude each other: X becomes the list's last filter, as it was.
      out.push(`delete ${at} ${dir}`, `set ${at} ${dir}-list ${name}`, `set ${at} ${dir}-list ${e.list[0]}`);
    } else out.push(`insert ${at} ${dir}-list ${name} before ${e.list[0]}`);
  }
  if (needPass) out.push(`set firewall family ${fam} filter ${PASS} term all then accept`);
  return out;
}

/** Takes exactly our filter out of every list, and puts each list back as it was before us. */
async function unblockLines(cand: Candidate, ctx: ActionContext): Promise<string[]> {
  const name = filterName(ctx.device.id, ctx.tag);
  const apps = applications(await cand.get('interfaces'));
  const fw = await cand.get('firewall');
  const out: string[] = [];
  const stillUsesPass = new Set<string>();
  for (const [key, e] of apps) {
    const [unit, fam, dir] = key.split('|') as [string, string, string];
    const at = `interfaces ${unit.replace('.', ' unit ')} family ${fam} filter`;
    const rest = e.list.filter((f) => f !== name);
    if (rest.length === e.list.length) {
      if (rest.includes(PASS)) stillUsesPass.add(fam);
      continue;
    }
    if (rest.length === 0 || (rest.length === 1 && rest[0] === PASS)) out.push(`delete ${at} ${dir}-list`);
    else if (rest.length === 1) out.push(`delete ${at} ${dir}-list`, `set ${at} ${dir} ${rest[0]}`);
    else {
      out.push(`delete ${at} ${dir}-list ${name}`);
      if (rest.includes(PASS)) stillUsesPass.add(fam);
    }
  }
  for (const fam of ['inet', 'inet6']) {
    if (fw.some((l) => l.startsWith(`firewall family ${fam} filter ${name} `))) out.push(`delete firewall family ${fam} filter ${name}`);
    if (!stillUsesPass.has(fam) && fw.some((l) => l.startsWith(`firewall family ${fam} filter ${PASS} `)))
      out.push(`delete firewall family ${fam} filter ${PASS}`);
  }
  return out;
}
