import type { Action } from '../actions.js';
import type { CliPlatform, CliShell, Session } from '../transports/types.js';
import type { ActionContext, Driver, State } from './driver.js';
import { CommandRejected } from '../errors.js';
import { redactor } from '../secrets.js';
import { checkAddress, checkInterface, checkTag, checkVlan } from './validate.js';
import { invertForward, type LinkState, portHolds, type PortVlanState } from './port-state.js';
import { sshSession, unsupportedAction } from './unsupported.js';

/**
 * Arista EOS over SSH (interactive CLI). Every change goes through a configure session, so a
 * refused line leaves nothing half-applied (the session is aborted); with ctx.autoRevert the
 * session is committed with `commit timer` and EOS rolls it back by itself unless `confirm`
 * (`configure session NAME commit`) comes in time. Read-back uses EOS's `| json` output.
 */

const SUPPORTS = ['interface.disable', 'interface.enable', 'port.vlan', 'port.restore', 'host.block', 'host.unblock'] as const;

const levels = (secret: boolean): CliPlatform['levels'] => [
  { name: 'exec', prompt: (h) => new RegExp(`^${h}>\\s?$`) },
  {
    name: 'privileged',
    prompt: (h) => new RegExp(`^${h}#\\s?$`),
    parent: 'exec',
    enter: 'enable',
    leave: 'disable',
    // EOS asks for a password on `enable` only when one is configured.
    ...(secret ? { secretPrompt: /^Password:\s?$/ } : {}),
  },
  // Plain config mode and its sub-modes, but not a configure session (`(config-s-NAME...)`).
  {
    name: 'config',
    prompt: (h) => new RegExp(`^${h}\\(config(?!-s-)[^)]*\\)#\\s?$`),
    parent: 'privileged',
    enter: 'configure terminal',
    leave: 'end',
  },
  // Entered by `configure session NAME` (sent by the driver); left by aborting, never by `end`, which would leave it pending.
  { name: 'session', prompt: (h) => new RegExp(`^${h}\\(config-s-[^)]*\\)#\\s?$`), parent: 'privileged', leave: 'abort' },
];

const platform = (secret: boolean): CliPlatform => ({
  name: 'arista-eos',
  levels: levels(secret),
  defaultLevel: 'privileged',
  onOpen: ['terminal length 0', 'terminal width 32767'],
  pager: / ?--More-- ?/,
  pagerReply: ' ',
  // `% Invalid input (at token 1: 'x')`, `% Incomplete command`, `% Ambiguous command`; and the
  // one warning that means the line went nowhere.
  errors: [/^% /, /^! Interface does not exist/],
  // Console syslog lines (`Nov 30 12:00:01 sw1 Ebra: %LINEPROTO-5-UPDOWN: ...`) inside output.
  noise: [/^\*?[A-Z][a-z]{2}\s+\d{1,2}\s+\d{2}:\d{2}:\d{2}(?:\.\d+)?:?\s.*%[A-Z0-9_]+-\d-[A-Z0-9_]+:/],
});
export const EOS_PLATFORM = platform(false);
const EOS_PLATFORM_SECRET = platform(true);

const MODES = ['access', 'trunk', 'trunk phone', 'dot1q-tunnel'];
/** Modes port.vlan moves to the quarantine VLAN: access ports and phone ports (data untagged, phone tagged). */
const MOVABLE = ['access', 'trunk phone'];

/** EOS always shows an access VLAN (1 when none is set). */
interface PortState extends PortVlanState {
  vlan: number;
}

export const aristaEos: Driver = {
  family: 'arista-eos',
  transport: 'ssh',
  supports: SUPPORTS,

  render(action, ctx) {
    return [
      `configure session ${sessionBase(ctx)}`,
      ...body(action, ctx),
      ctx.autoRevert ? `commit timer ${hms(ctx.autoRevert.minutes)}` : 'commit',
    ];
  },

  async read(session, action, ctx) {
    const sh = await shellOf(session, ctx);
    switch (action?.kind) {
      case 'interface.disable':
      case 'interface.enable':
        return readLink(sh, ctx, iface(ctx, action.interface));
      case 'port.vlan':
      case 'port.restore':
        return readPort(sh, ctx, iface(ctx, action.interface));
      case 'host.block':
      case 'host.unblock':
        return readFilters(sh, ctx, hostAddress(ctx, action.address));
      default:
        return unsupported(action, ctx);
    }
  },

  holds(action, state, ctx) {
    switch (action?.kind) {
      case 'interface.disable':
      case 'interface.enable':
      case 'port.vlan':
      case 'port.restore':
        return portHolds(action, state, 1);
      case 'host.block':
        return targets(ctx).every((t) => blockedOn(state as FilterState, t));
      case 'host.unblock':
        return !(state as FilterState).groups.some((g) => g.tag === ctx.tag && g.address === action.address);
      default:
        return unsupported(action, ctx);
    }
  },

  async apply(session, action, ctx) {
    const sh = await shellOf(session, ctx);
    const lines = await linesFor(sh, action, ctx, new Running(sh, ctx));
    return lines.length ? change(sh, ctx, lines) : `nothing to change for ${'address' in action ? action.address : action.kind}`;
  },

  /**
   * The actions of one stage in ONE configure session and one `commit` (or `commit timer`): every
   * read first, then all lines; a refused line aborts the session, so nothing of the batch lands.
   * The session is named after every member (`fb-<plan>-a1.a2.a3`) so each one's `confirm` finds
   * it. Items that disagree on autoRevert, or armed ones too many for one session name, go one by one.
   */
  async applyAll(session, items) {
    const first = items[0]!;
    // Only an armed batch needs every member in the name (for its confirm).
    const name = batchName(items.map((i) => i.ctx)) ?? (first.ctx.autoRevert ? null : sessionBase(first.ctx));
    if (!name || items.some((i) => i.ctx.autoRevert?.minutes !== first.ctx.autoRevert?.minutes)) {
      const out: string[] = [];
      for (const i of items) out.push(await aristaEos.apply(session, i.action, i.ctx));
      return out.join('\n');
    }
    const ctx = { ...first.ctx, timeoutMs: Math.max(...items.map((i) => i.ctx.timeoutMs)) };
    const sh = await shellOf(session, ctx);
    const running = new Running(sh, ctx);
    const lines: string[] = [];
    for (const i of items) lines.push(...(await linesFor(sh, i.action, i.ctx, running)));
    return lines.length ? change(sh, ctx, lines, name) : 'nothing to change';
  },

  invert(action, before, ctx) {
    return invertForward(SUPPORTS, action, before, () => aristaEos.holds(action, before, ctx));
  },

  async confirm(session, _action, ctx) {
    const sh = await shellOf(session, ctx);
    const base = sessionBase(ctx);
    const ours = (s: Record<string, { state?: string }>) =>
      Object.entries(s)
        .filter(([n, v]) => covers(n, base) && v.state === 'pendingCommitTimer')
        .map(([n]) => n);
    const pending = ours(await sessions(sh, ctx));
    if (!pending.length) return `nothing pending for ${base} (already confirmed or rolled back)`;
    for (const name of pending) await sh.send(`configure session ${name} commit`, { timeoutMs: ctx.timeoutMs });
    // Check the device, not the command: the commit timer must be gone.
    const left = ours(await sessions(sh, ctx));
    if (left.length)
      throw new CommandRejected(`${ctx.device.id}: configure session ${left.join(', ')} is still pending its commit timer after commit`);
    return `confirmed ${pending.join(', ')}`;
  },
};

/** An action's lines after the reads they depend on; host.* lines are played onto `running` for the next action. */
async function linesFor(sh: CliShell, action: Action, ctx: ActionContext, running: Running): Promise<string[]> {
  if (action?.kind === 'host.block' || action?.kind === 'host.unblock') {
    const state = filtersOf(ctx, hostAddress(ctx, action.address), await running.get());
    const lines = action.kind === 'host.block' ? blockLines(ctx, state) : unblockLines(ctx, state);
    running.play(lines);
    return lines;
  }
  const lines = body(action, ctx);
  // Read first: an unknown port is refused here, not configured as a phantom (EOS accepts those with a warning).
  if (action.kind === 'interface.disable' || action.kind === 'interface.enable') await readLink(sh, ctx, action.interface);
  else if (action.kind === 'port.vlan') {
    const s = await readPort(sh, ctx, action.interface);
    if (!MOVABLE.includes(s.mode)) {
      throw new CommandRejected(
        `${ctx.device.id}: ${action.interface} is a ${s.mode} port: port.vlan moves access ports only, it never touches a trunk`,
      );
    }
  } else if (action.kind === 'port.restore') await readPort(sh, ctx, action.interface);
  return lines;
}

/** One session name for a batch: the first member's, then the other action ids (`fb-p1-a1.a2.a3`); null when it cannot say. */
function batchName(ctxs: ActionContext[]): string | null {
  const bases = ctxs.map(sessionBase);
  const cut = bases[0]!.lastIndexOf('-') + 1;
  const prefix = bases[0]!.slice(0, cut);
  if (cut <= 3 || bases.some((b) => !b.startsWith(prefix) || b.length === prefix.length)) return null;
  const name = `${bases[0]}${bases
    .slice(1)
    .map((b) => `.${b.slice(cut)}`)
    .join('')}`;
  return name.length <= 60 ? name : null;
}

/** Does the session `name` (perhaps `_N`-suffixed, perhaps a batch) hold the change of the action whose base is `base`? */
function covers(name: string, base: string): boolean {
  const core = name.replace(/_\d+$/, '');
  const cut = base.lastIndexOf('-') + 1;
  return core === base || (core.startsWith(base.slice(0, cut)) && core.slice(cut).split('.').includes(base.slice(cut)));
}

/** The config lines of an action (validated again here: nothing unchecked reaches the CLI). */
function body(action: Action, ctx: ActionContext): string[] {
  switch (action?.kind) {
    case 'interface.disable':
      return [`interface ${iface(ctx, action.interface)}`, 'shutdown'];
    case 'interface.enable':
      return [`interface ${iface(ctx, action.interface)}`, 'no shutdown'];
    case 'port.vlan':
      return [
        `interface ${iface(ctx, action.interface)}`,
        'switchport mode access',
        `switchport access vlan ${checkVlan(ctx.device.id, action.vlan)}`,
        'no switchport phone vlan',
      ];
    case 'host.block':
      return [
        `ip access-list <the ACL applied in on each of ${targets(ctx).join(', ')}, or ${aclName(ctx)}>`,
        ...denyLines(ctx, hostAddress(ctx, action.address), 'N'),
      ];
    case 'host.unblock':
      return [`no <each entry of the group "remark ${checkTag(ctx.device.id, ctx.tag)} host.block ${hostAddress(ctx, action.address)}">`];
    case 'port.restore': {
      if (!MODES.includes(action.mode))
        throw new CommandRejected(
          `${ctx.device.id}: switchport mode ${JSON.stringify(String(action.mode).slice(0, 40))} is not an EOS mode`,
        );
      const vlan =
        action.vlan === null || action.vlan === 1
          ? 'no switchport access vlan'
          : `switchport access vlan ${checkVlan(ctx.device.id, action.vlan)}`;
      const voice =
        action.voiceVlan === null
          ? 'no switchport phone vlan'
          : `switchport phone vlan ${checkVlan(ctx.device.id, action.voiceVlan, 'phone VLAN')}`;
      return [`interface ${iface(ctx, action.interface)}`, `switchport mode ${action.mode}`, vlan, voice];
    }
    default:
      return unsupported(action, ctx);
  }
}

function iface(ctx: ActionContext, name: string): string {
  return checkInterface(ctx.device.id, name);
}

function unsupported(action: unknown, ctx: ActionContext): never {
  return unsupportedAction('arista-eos', SUPPORTS, action, ctx);
}

async function shellOf(session: Session, ctx: ActionContext): Promise<CliShell> {
  return sshSession('arista-eos', session, ctx).cli(ctx.device.ssh?.enableSecret ? EOS_PLATFORM_SECRET : EOS_PLATFORM);
}

/** A configure session name from the tag: `fb:p1a2b:a3` -> `fb-p1a2b-a3` (letters, digits, dashes). */
function sessionBase(ctx: ActionContext): string {
  const safe = checkTag(ctx.device.id, ctx.tag)
    .replace(/[^A-Za-z0-9-]/g, '-')
    .slice(0, 40);
  return safe.startsWith('fb-') ? safe : `fb-${safe}`;
}

function hms(minutes: number): string {
  const m = Math.min(Math.max(1, Math.round(Number(minutes) || 0)), 24 * 60 - 1);
  return `${String(Math.floor(m / 60)).padStart(2, '0')}:${String(m % 60).padStart(2, '0')}:00`;
}

/** Parses `| json` output tolerantly: text around the object is ignored, `errors` become CommandRejected. */
async function showJson(sh: CliShell, ctx: ActionContext, command: string): Promise<Record<string, unknown>> {
  const text = await sh.send(`${command} | json`, { timeoutMs: ctx.timeoutMs });
  const start = text.indexOf('{');
  const end = text.lastIndexOf('}');
  let v: unknown;
  try {
    v = start >= 0 && end > start ? JSON.parse(text.slice(start, end + 1)) : undefined;
  } catch {
    v = undefined;
  }
  if (!v || typeof v !== 'object') {
    throw new CommandRejected(`${ctx.device.id}: "${command} | json" did not return JSON: ${redactor.text(text.slice(0, 200))}`);
  }
  const errors = (v as { errors?: unknown }).errors;
  if (Array.isArray(errors) && errors.length)
    throw new CommandRejected(`${ctx.device.id}: "${command}" refused by the device: ${redactor.text(errors.join('; '))}`);
  return v as Record<string, unknown>;
}

/** The one entry of a per-interface table (`Et5` is keyed `Ethernet5`). */
function only(ctx: ActionContext, table: unknown, name: string): Record<string, unknown> {
  const entries = table && typeof table === 'object' ? Object.entries(table as Record<string, unknown>) : [];
  const hit = entries.find(([k]) => k.toLowerCase() === name.toLowerCase()) ?? (entries.length === 1 ? entries[0] : undefined);
  if (!hit?.[1] || typeof hit[1] !== 'object') throw new CommandRejected(`${ctx.device.id}: interface "${name}" does not exist`);
  return hit[1] as Record<string, unknown>;
}

async function readLink(sh: CliShell, ctx: ActionContext, name: string): Promise<LinkState> {
  const v = await showJson(sh, ctx, `show interfaces ${iface(ctx, name)} status`);
  const st = only(ctx, v['interfaceStatuses'], name);
  // `disabled` is the admin-down status; errdisabled/notconnect ports are still admin up.
  return { interface: name, adminUp: st['linkStatus'] !== 'disabled' };
}

async function readPort(sh: CliShell, ctx: ActionContext, name: string): Promise<PortState> {
  const v = await showJson(sh, ctx, `show interfaces ${iface(ctx, name)} switchport`);
  const sp = only(ctx, v['switchports'], name);
  const info = (sp['switchportInfo'] ?? {}) as Record<string, unknown>;
  if (sp['enabled'] === false) return { interface: name, mode: 'routed', vlan: 1, voiceVlan: null };
  const base = typeof info['mode'] === 'string' ? info['mode'] : 'access';
  const phone = typeof info['phoneVlan'] === 'number' && info['phoneVlan'] > 0 ? info['phoneVlan'] : null;
  return {
    interface: name,
    mode: base === 'trunk' && info['phoneTrunk'] === true ? 'trunk phone' : base,
    vlan: typeof info['accessVlanId'] === 'number' ? info['accessVlanId'] : 1,
    voiceVlan: phone,
  };
}

async function sessions(sh: CliShell, ctx: ActionContext): Promise<Record<string, { state?: string }>> {
  const v = await showJson(sh, ctx, 'show configuration sessions');
  return (v['sessions'] ?? {}) as Record<string, { state?: string }>;
}

/**
 * Runs `lines` in a configure session of our own and commits it (with a timer when auto-revert is
 * asked for). Whatever happens, the shell is back at the privileged prompt afterwards: a failed
 * session is aborted, so nothing of it reaches the running config.
 */
async function change(sh: CliShell, ctx: ActionContext, lines: string[], base = sessionBase(ctx)): Promise<string> {
  const opts = { timeoutMs: ctx.timeoutMs };
  const existing = await sessions(sh, ctx);
  let name = base;
  for (let n = 2; existing[name]; n++) {
    // A session of ours left uncommitted by an interrupted run holds nothing applied: abort and reuse it.
    if (existing[name]?.state === 'pending') {
      await sh.send(`configure session ${name} abort`, opts);
      break;
    }
    name = `${base}_${n}`;
  }
  const out: string[] = [];
  try {
    out.push(await sh.send(`configure session ${name}`, opts));
    for (const line of lines) out.push(await sh.send(line, opts));
    out.push(await sh.send(ctx.autoRevert ? `commit timer ${hms(ctx.autoRevert.minutes)}` : 'commit', opts));
  } catch (err) {
    // Abort the session (the session level's leave); the first error is the one to report.
    await backToDefault(sh, opts).catch(() => undefined);
    throw err;
  }
  await backToDefault(sh, opts);
  return out.filter(Boolean).join('\n');
}

async function backToDefault(sh: CliShell, opts: { timeoutMs: number }): Promise<void> {
  if (!sh.broken && sh.level !== EOS_PLATFORM.defaultLevel) await sh.moveTo(EOS_PLATFORM.defaultLevel, opts);
}

/** A host.block group: `remark <tag> host.block <addr>` at seq N, its two deny entries at N+1 and N+2. */
interface Group {
  acl: string;
  seq: number;
  tag: string;
  address: string;
}
interface FilterState extends State {
  address: string;
  /** interface -> the ACL applied inbound (null: none) */
  applied: Record<string, string | null>;
  /** ACL -> its entries (only ACLs applied to a target or holding our groups) */
  acls: Record<string, { seq: number; text: string }[]>;
  /** Every host.block group of ours, for any address (their sequence numbers are taken). */
  groups: Group[];
}

/** host.block filters inbound on the device's routed/segment interfaces: every way in, so both directions are cut. */
function targets(ctx: ActionContext): string[] {
  const names = Object.entries(ctx.device.interfaces ?? {})
    .filter(([, spec]) => spec.roles.some((r) => r === 'uplink' || r === 'inter-site' || r.startsWith('segment:')))
    .map(([name]) => iface(ctx, name));
  if (!names.length)
    throw new CommandRejected(`${ctx.device.id}: host.block needs interfaces with role uplink or segment:<name> in the inventory`);
  return names.sort();
}

function hostAddress(ctx: ActionContext, address: string): string {
  // IPv6 needs an `ipv6 access-list` of its own: not done here, refused rather than half-blocked.
  if (checkAddress(ctx.device.id, address) !== 4)
    throw new CommandRejected(`${ctx.device.id}: arista-eos host.block handles IPv4 only, not ${address}`);
  return address;
}

/** The ACL we create where an interface has none: named after the tag (EOS names: letters, digits, - _ .). */
function aclName(ctx: ActionContext): string {
  return `${sessionBase(ctx)}-block`;
}

function match(address: string): string {
  return address.includes('/') ? address : `host ${address}`;
}

function denyLines(ctx: ActionContext, address: string, seq: number | 'N'): string[] {
  const at = (n: number) => (seq === 'N' ? `N+${n}` : String(seq + n)).replace('N+0', 'N');
  const tag = checkTag(ctx.device.id, ctx.tag);
  return [
    `${at(0)} remark ${tag} host.block ${address}`,
    `${at(1)} deny ip ${match(address)} any`,
    `${at(2)} deny ip any ${match(address)}`,
  ];
}

/**
 * Inbound ACLs per interface and every ACL's entries, parsed from `show running-config` (EOS lists
 * ACL entries with their sequence numbers) once per change; `play` applies our own lines to it,
 * so the next host.* action of a batch picks free sequence numbers and ACLs as the device will have them.
 */
class Running {
  private parsed?: { groupOf: Record<string, string[]>; all: Record<string, { seq: number; text: string }[]> };
  constructor(
    private readonly sh: CliShell,
    private readonly ctx: ActionContext,
  ) {}
  async get(): Promise<NonNullable<Running['parsed']>> {
    this.parsed ??= parseRunning(await this.sh.send('show running-config', { timeoutMs: this.ctx.timeoutMs }));
    return this.parsed;
  }
  play(lines: string[]): void {
    const r = this.parsed;
    if (!r) return;
    let sec: { acl: boolean; name: string } | undefined;
    for (const l of lines) {
      const head = /^(interface|ip access-list) (\S+)$/.exec(l);
      const drop = /^no ip access-list (\S+)$/.exec(l);
      const group = /^(no )?ip access-group (\S+) in$/.exec(l);
      const entry = /^(no )?(\d+)(?: (.+))?$/.exec(l);
      if (head) sec = { acl: head[1] !== 'interface', name: head[2]! };
      else if (drop) delete r.all[drop[1]!];
      else if (sec && !sec.acl && group) r.groupOf[sec.name] = group[1] ? [] : [group[2]!];
      else if (sec?.acl && entry) {
        const rest = (r.all[sec.name] ?? []).filter((e) => e.seq !== Number(entry[2]));
        r.all[sec.name] = entry[1] ? rest : [...rest, { seq: Number(entry[2]), text: entry[3]! }].sort((x, y) => x.seq - y.seq);
      } else sec = undefined;
    }
  }
}

function parseRunning(text: string): NonNullable<Running['parsed']> {
  const all: Record<string, { seq: number; text: string }[]> = {};
  const groupOf: Record<string, string[]> = {};
  let section: { kind: 'if' | 'acl'; name: string } | undefined;
  for (const line of text.split('\n')) {
    const head = /^(interface|ip access-list)\s+(\S+)\s*$/.exec(line);
    if (head) section = { kind: head[1] === 'interface' ? 'if' : 'acl', name: head[2]! };
    else if (!/^\s/.test(line)) section = undefined;
    else if (section?.kind === 'if') {
      const g = /^\s+ip access-group (\S+) in\s*$/.exec(line);
      if (g) groupOf[section.name] = [...(groupOf[section.name] ?? []), g[1]!];
    } else if (section?.kind === 'acl') {
      const e = /^\s+(\d+) (.+?)\s*$/.exec(line);
      if (e) all[section.name] = [...(all[section.name] ?? []), { seq: Number(e[1]), text: e[2]! }];
    }
  }
  return { groupOf, all };
}

async function readFilters(sh: CliShell, ctx: ActionContext, address: string): Promise<FilterState> {
  return filtersOf(ctx, address, await new Running(sh, ctx).get());
}

function filtersOf(ctx: ActionContext, address: string, { groupOf, all }: NonNullable<Running['parsed']>): FilterState {
  const applied: Record<string, string | null> = {};
  for (const t of targets(ctx)) applied[t] = groupOf[t]?.[0] ?? null;
  const groups: Group[] = [];
  for (const [acl, entries] of Object.entries(all)) {
    for (const e of entries) {
      const m = /^remark (\S+) host\.block (\S+)$/.exec(e.text);
      if (m) groups.push({ acl, seq: e.seq, tag: m[1]!, address: m[2]! });
    }
  }
  const keep = new Set([...Object.values(applied).filter((a): a is string => a !== null), ...groups.map((g) => g.acl)]);
  const acls = Object.fromEntries(Object.entries(all).filter(([n]) => keep.has(n)));
  // Which interfaces use each of our ACLs, to take them off when they hold nothing of ours any more.
  for (const [i, names] of Object.entries(groupOf)) if (!(i in applied) && names.some((n) => n.startsWith('fb-'))) applied[i] = names[0]!;
  return { address, applied, acls, groups };
}

/** Blocked on an interface: both denies for the address sit in its inbound ACL before any permit. */
function blockedOn(s: FilterState, t: string): boolean {
  const acl = s.applied[t];
  const entries = acl ? (s.acls[acl] ?? []) : [];
  const firstPermit = entries.findIndex((e) => e.text.startsWith('permit'));
  const before = firstPermit < 0 ? entries : entries.slice(0, firstPermit);
  const m = match(s.address);
  return before.some((e) => e.text === `deny ip ${m} any`) && before.some((e) => e.text === `deny ip any ${m}`);
}

/**
 * Where an interface has an ACL (the operator's, or one of ours), our group goes into it on free
 * sequence numbers before its first entry that is not ours: nothing of theirs is replaced,
 * renumbered or reordered. Where it has none, one ACL of ours (denies + `permit ip any any`) is applied.
 */
function blockLines(ctx: ActionContext, s: FilterState): string[] {
  const lines: string[] = [];
  const todo = targets(ctx).filter((t) => !blockedOn(s, t));
  const bare = todo.filter((t) => s.applied[t] === null);
  if (bare.length) {
    lines.push(`ip access-list ${aclName(ctx)}`, ...denyLines(ctx, s.address, 10), '100000 permit ip any any', 'exit');
    for (const t of bare) lines.push(`interface ${t}`, `ip access-group ${aclName(ctx)} in`, 'exit');
  }
  for (const acl of new Set(todo.map((t) => s.applied[t]).filter((a): a is string => a !== null))) {
    const entries = s.acls[acl] ?? [];
    const used = new Set(entries.map((e) => e.seq));
    const ours = new Set(s.groups.filter((g) => g.acl === acl).flatMap((g) => [g.seq, g.seq + 1, g.seq + 2]));
    const limit = Math.min(...entries.filter((e) => !ours.has(e.seq)).map((e) => e.seq), 100000);
    let r = 1;
    while (r + 2 < limit && [r, r + 1, r + 2].some((n) => used.has(n))) r++;
    if (r + 2 >= limit)
      throw new CommandRejected(`${ctx.device.id}: no free sequence numbers before the first entry of ACL ${acl}: resequence it first`);
    lines.push(`ip access-list ${acl}`, ...denyLines(ctx, s.address, r), 'exit');
  }
  return lines;
}

/** Removes exactly our tag's groups; an ACL of ours left with nothing but its final permit goes too. */
function unblockLines(ctx: ActionContext, s: FilterState): string[] {
  const mine = s.groups.filter((g) => g.tag === ctx.tag && g.address === s.address);
  const lines: string[] = [];
  for (const acl of new Set(mine.map((g) => g.acl))) {
    const seqs = mine.filter((g) => g.acl === acl).flatMap((g) => [g.seq, g.seq + 1, g.seq + 2]);
    const entries = s.acls[acl] ?? [];
    // Only entries that are ours by their text too: a neighbour the operator put at N+1 stays.
    const ours = (e: { seq: number; text: string }) =>
      seqs.includes(e.seq) && /^(remark|deny ip) /.test(e.text) && e.text.includes(s.address);
    const drop = entries.filter(ours).map((e) => e.seq);
    const rest = entries.filter((e) => !drop.includes(e.seq));
    if (acl.startsWith('fb-') && rest.every((e) => e.text === 'permit ip any any')) {
      for (const [t, a] of Object.entries(s.applied)) if (a === acl) lines.push(`interface ${t}`, `no ip access-group ${acl} in`, 'exit');
      lines.push(`no ip access-list ${acl}`);
    } else lines.push(`ip access-list ${acl}`, ...drop.map((n) => `no ${n}`), 'exit');
  }
  return lines;
}
