import type { Action, ActionKind } from '../actions.js';
import { CommandRejected } from '../errors.js';
import type { CliPlatform, CliShell, Session } from '../transports/types.js';
import type { ActionContext, Driver, State } from './driver.js';
import { checkAddress, checkTag, checkVlan } from './validate.js';
import { invertForward, type LinkState, portHolds, type PortVlanState } from './port-state.js';
import { sshSession, unsupportedAction } from './unsupported.js';

/**
 * HPE Aruba AOS-CX switches over the SSH CLI. Ports are `member/slot/port` (1/1/5). Reads parse
 * `show running-config [interface X]`; blocks are ACL entries whose `comment` carries the action
 * tag. AOS-CX takes one ACL per port and direction, so where the operator already applied one we
 * insert our entries into it at free sequence numbers before its first entry and remove exactly
 * those on rollback. Auto-revert: `checkpoint auto <minutes>` / `checkpoint auto confirm`.
 * Not done: egress.block (a port ACL cannot match the egress uplink), IPv6 host.block, voice VLANs
 * (a phone port on AOS-CX is a trunk with a voice VLAN tagged; trunks are refused).
 */

const SUPPORTS = [
  'interface.disable',
  'interface.enable',
  'port.vlan',
  'port.restore',
  'host.block',
  'host.unblock',
] as const satisfies readonly ActionKind[];
const PORT = /^\d{1,2}\/\d{1,2}\/\d{1,3}(?::\d{1,2})?$/;
/** AOS-CX accepts ACL names of letters, digits and - _ . up to 64 chars. */
const ACL_MAX = 64;
/** Roles whose ports get the host.block ACL inbound: traffic from the host enters on its segment, traffic to it on an uplink. */
/** Event-log / syslog lines a session may show in the middle of output: ISO or BSD timestamps, `%FAC-n-MNEMONIC`. */
const LOG_LINE = /^(\d{4}-\d\d-\d\dT\d\d:|\*?[A-Z][a-z]{2} +\d{1,2} \d\d:\d\d:|%[A-Z]+-\d-)/;
const BLOCK_ROLES = (role: string) => role === 'uplink' || role.startsWith('segment:');

export const ARUBA_AOSCX: CliPlatform = {
  name: 'aruba-aoscx',
  levels: [
    { name: 'operator', prompt: (h) => new RegExp(`^${h}> ?$`) },
    { name: 'manager', prompt: (h) => new RegExp(`^${h}# ?$`), parent: 'operator', enter: 'enable', leave: 'disable' },
    { name: 'config', prompt: (h) => new RegExp(`^${h}\\(config\\)# ?$`), parent: 'manager', enter: 'configure terminal', leave: 'end' },
    { name: 'config-if', prompt: (h) => new RegExp(`^${h}\\(config-if\\)# ?$`), parent: 'config', leave: 'exit' },
    { name: 'config-acl-ip', prompt: (h) => new RegExp(`^${h}\\(config-acl-ip\\)# ?$`), parent: 'config', leave: 'exit' },
    // Any other context (vlan, lag, ...) we may be left in: `exit` goes back to config.
    { name: 'config-other', prompt: (h) => new RegExp(`^${h}\\(config-[^)]+\\)# ?$`), parent: 'config', leave: 'exit' },
  ],
  defaultLevel: 'manager',
  onOpen: ['no page'],
  pager: /-- MORE --, next page: Space, next line: Enter, quit: Control-C\s*/,
  pagerReply: ' ',
  errors: [
    /^\s*Invalid input: /,
    /^\s*% ?Command incomplete/,
    /^\s*% ?Ambiguous command/,
    /^\s*% ?Unknown command/,
    /^\s*Invalid interface/,
    /does not exist\.?\s*$/,
  ],
  newline: '\n',
};

/** One read gives the link and the VLANs of a port, and the ACL applied inbound there. */
interface PortState extends LinkState, PortVlanState {
  aclIn: string | null;
}
interface AclEntry {
  acl: string;
  seq: number;
  rule: string | null;
  comment: string | null;
}
interface HostState extends State {
  address: string;
  /** Ports the block goes on, with the ACL applied inbound there now. */
  targets: { interface: string; aclIn: string | null }[];
  /** Entries (ours, any tag) for this address. */
  entries: AclEntry[];
}
type HostAction = Extract<Action, { kind: 'host.block' | 'host.unblock' }>;

export const arubaAoscx: Driver = {
  family: 'aruba-aoscx',
  transport: 'ssh',
  supports: SUPPORTS,

  render(action, ctx) {
    const id = ctx.device.id;
    switch (action?.kind) {
      case 'interface.disable':
      case 'interface.enable':
        return [
          'configure terminal',
          `interface ${port(id, action.interface)}`,
          action.kind === 'interface.disable' ? 'shutdown' : 'no shutdown',
          'end',
        ];
      case 'port.vlan':
        return ['configure terminal', `interface ${port(id, action.interface)}`, `vlan access ${checkVlan(id, action.vlan)}`, 'end'];
      case 'port.restore':
        return ['configure terminal', `interface ${port(id, action.interface)}`, ...restoreLines(id, action), 'end'];
      case 'host.block': {
        const name = aclName(id, ctx.tag);
        return [
          'configure terminal',
          ...ownAclLines(id, name, action.address, ctx.tag),
          ...targets(ctx).flatMap((p) => [`interface ${p}`, `apply access-list ip ${name} in`, 'exit']),
          `! where ${ctx.device.id} already has an inbound ACL on a port: the two deny entries go into it at free sequence numbers before its first entry`,
          'end',
        ];
      }
      case 'host.unblock':
        checkAddress(id, action.address);
        return [
          'configure terminal',
          ...targets(ctx).flatMap((p) => [`interface ${p}`, `no apply access-list ip ${aclName(id, ctx.tag)} in`, 'exit']),
          `no access-list ip ${aclName(id, ctx.tag)}`,
          `! and in operator ACLs: no <seq> for each entry commented "${ctx.tag} host.block ${action.address}"`,
          'end',
        ];
      default:
        return unsupported(action, ctx);
    }
  },

  async read(session, action, ctx) {
    const id = ctx.device.id;
    switch (action?.kind) {
      case 'interface.disable':
      case 'interface.enable':
      case 'port.vlan':
      case 'port.restore': {
        const name = port(id, action.interface);
        const sh = await shell(session, ctx);
        const text = await sh.send(`show running-config interface ${name}`, { timeoutMs: ctx.timeoutMs });
        const p = parseConfig(text).ports.get(name);
        if (!p) throw new CommandRejected(`${id}: interface "${name}" is not in the running configuration`);
        return p;
      }
      case 'host.block':
      case 'host.unblock':
        return readHost(session, action, ctx);
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
        return portHolds(action, state, 1);
      case 'host.block': {
        // Our entries under any tag count: a second run finds the host already blocked.
        const s = state as HostState;
        const has = (acl: string | null, dir: string) =>
          s.entries.some((e) => e.acl === acl && e.rule?.startsWith('deny') && tagOf(e.comment)?.dir === dir);
        return s.targets.length > 0 && s.targets.every((t) => has(t.aclIn, 'src') && has(t.aclIn, 'dst'));
      }
      case 'host.unblock':
        return !(state as HostState).entries.some((e) => tagOf(e.comment)?.tag === ctx.tag);
      default:
        return unsupported(action, ctx);
    }
  },

  async apply(session, action, ctx) {
    switch (action?.kind) {
      case 'interface.disable':
      case 'interface.enable':
      case 'port.vlan':
      case 'port.restore':
        return configure(session, ctx, await portLines(session, action, ctx));
      case 'host.block':
        return configure(session, ctx, await hostBlockLines(session, action, ctx));
      case 'host.unblock':
        return configure(session, ctx, await hostUnblockLines(session, action, ctx));
      default:
        return unsupported(action, ctx);
    }
  },

  /**
   * Port changes of one stage go out in one `configure terminal` ... `end` (one cut, not a ripple),
   * after the reads that refuse trunks; ACL changes read the ACLs they extend, so each still runs
   * as its own apply after them. `checkpoint auto` is armed once, before the first change; items
   * that disagree on auto-revert go one by one.
   */
  async applyAll(session, items) {
    // Everything is checked before the first byte goes out.
    for (const i of items) arubaAoscx.render(i.action, i.ctx);
    const same = items.every((i) => JSON.stringify(i.ctx.autoRevert) === JSON.stringify(items[0]!.ctx.autoRevert));
    const ports = same ? items.filter((i) => PORT_KINDS.has(i.action.kind)) : [];
    let armed = false;
    // When they agree, the first change arms the checkpoint for all; the later ones do not re-arm it.
    const arm = (ctx: ActionContext): ActionContext => {
      const c = same && armed ? { ...ctx, autoRevert: undefined } : ctx;
      armed = true;
      return c;
    };
    const out: string[] = [];
    if (ports.length) {
      const lines: string[] = [];
      for (const i of ports) lines.push(...(await portLines(session, i.action, i.ctx)));
      out.push(await configure(session, arm(ports[0]!.ctx), lines));
    }
    for (const i of items) if (!ports.includes(i)) out.push(await arubaAoscx.apply(session, i.action, arm(i.ctx)));
    return out.filter(Boolean).join('\n');
  },

  invert(action, before, ctx) {
    return invertForward(SUPPORTS, action, before, () => arubaAoscx.holds(action, before, ctx));
  },

  async confirm(session, _action, ctx) {
    const sh = await shell(session, ctx);
    if (sh.level !== 'manager') await sh.moveTo('manager', { timeoutMs: ctx.timeoutMs });
    // Nothing pending (already confirmed, or the timer fired) is fine: the engine re-reads anyway.
    const out = await sh.send('checkpoint auto confirm', { timeoutMs: ctx.timeoutMs, allowErrors: true });
    return out || 'checkpoint auto confirm: nothing pending';
  },
};

async function shell(session: Session, ctx: ActionContext): Promise<CliShell> {
  return sshSession('aruba-aoscx', session, ctx).cli(ARUBA_AOSCX);
}

/**
 * Arms `checkpoint auto` when asked (manager context), then sends `lines` in config context and
 * always goes back to the manager prompt, also after a refused line.
 */
async function configure(session: Session, ctx: ActionContext, lines: string[]): Promise<string> {
  const sh = await shell(session, ctx);
  const opts = { timeoutMs: ctx.timeoutMs };
  const out: string[] = [];
  if (sh.level !== 'manager') await sh.moveTo('manager', opts);
  if (ctx.autoRevert) {
    const m = ctx.autoRevert.minutes;
    if (!Number.isInteger(m) || m < 1 || m > 60)
      throw new CommandRejected(`${ctx.device.id}: checkpoint auto takes 1-60 minutes, not ${m}`);
    out.push(await sh.send(`checkpoint auto ${m}`, opts));
  }
  let failed = false;
  try {
    await sh.moveTo('config', opts);
    for (const line of lines) out.push(await sh.send(line, opts));
  } catch (err) {
    failed = true;
    throw err;
  } finally {
    if (!sh.broken) {
      await sh.moveTo('manager', opts).catch((err: unknown) => {
        if (!failed) throw err;
      });
    }
  }
  return out.filter(Boolean).join('\n');
}

/** Actions whose lines go into one configuration session together (applyAll). */
const PORT_KINDS: ReadonlySet<string> = new Set(['interface.disable', 'interface.enable', 'port.vlan', 'port.restore']);

/** A port change's lines (config context); a VLAN change first reads the port and refuses a trunk. */
async function portLines(session: Session, action: Action, ctx: ActionContext): Promise<string[]> {
  const lines = arubaAoscx.render(action, ctx).slice(1, -1);
  if (action.kind === 'port.vlan' || action.kind === 'port.restore') {
    const s = (await arubaAoscx.read(session, action, ctx)) as PortState;
    // A trunk carries other VLANs (and on AOS-CX the phone's voice VLAN): never flatten one.
    if (s.mode !== 'access')
      throw new CommandRejected(`${ctx.device.id}: ${s.interface} is a ${s.mode} port, not an access port: refusing to change its VLAN`);
  }
  return lines;
}

function port(id: string, name: string): string {
  if (typeof name !== 'string' || !PORT.test(name)) {
    throw new CommandRejected(
      `${id}: interface ${JSON.stringify(String(name).slice(0, 80))} is not an AOS-CX port (member/slot/port, e.g. 1/1/5)`,
    );
  }
  return name;
}

function unsupported(action: unknown, ctx: ActionContext): never {
  return unsupportedAction('aruba-aoscx', SUPPORTS, action, ctx);
}

function restoreLines(id: string, a: Extract<Action, { kind: 'port.restore' }>): string[] {
  if (a.mode !== 'access')
    throw new CommandRejected(`${id}: port.restore to mode "${a.mode}" is not supported (only access ports are ever moved)`);
  if (a.voiceVlan !== null) throw new CommandRejected(`${id}: AOS-CX has no per-port voice VLAN to restore`);
  return a.vlan === null ? ['no vlan access'] : [`vlan access ${checkVlan(id, a.vlan)}`];
}

/** `fb:p1a2b:a3` -> `FB-p1a2b-a3` (AOS-CX ACL names: letters, digits, - _ .). */
function aclName(id: string, tag: string): string {
  return `FB-${checkTag(id, tag).replace(/[^A-Za-z0-9_.-]/g, '-')}`.slice(0, ACL_MAX);
}

function hostAddr(id: string, address: string): string {
  if (checkAddress(id, address) !== 4)
    throw new CommandRejected(`${id}: aruba-aoscx blocks IPv4 hosts only (access-list ip), not ${address}`);
  return address;
}

const comment = (tag: string, address: string, dir: 'src' | 'dst' | 'rest') => `${tag} host.block ${address} ${dir}`;

function tagOf(text: string | null): { tag: string; address: string; dir: string } | null {
  const m = text ? /^(fb:[A-Za-z0-9:._-]+) host\.block (\S+) (src|dst|rest)$/.exec(text) : null;
  return m ? { tag: m[1]!, address: m[2]!, dir: m[3]! } : null;
}

/** Our own ACL: deny from, deny to, then permit the rest (an ACL ends in an implicit deny). */
function ownAclLines(id: string, name: string, address: string, tag: string): string[] {
  const a = hostAddr(id, address);
  return [
    `access-list ip ${name}`,
    `10 comment ${comment(tag, a, 'src')}`,
    `10 deny any ${a} any`,
    `20 comment ${comment(tag, a, 'dst')}`,
    `20 deny any any ${a}`,
    `30 comment ${comment(tag, a, 'rest')}`,
    '30 permit any any any',
    'exit',
  ];
}

function targets(ctx: ActionContext): string[] {
  const id = ctx.device.id;
  const names = Object.entries(ctx.device.interfaces ?? {})
    .filter(([, spec]) => spec.roles.some(BLOCK_ROLES))
    .map(([name]) => port(id, name))
    .sort();
  if (!names.length)
    throw new CommandRejected(`${id}: host.block needs ports with role uplink or segment:<name> in the inventory to apply its ACL on`);
  return names;
}

async function readHost(session: Session, action: HostAction, ctx: ActionContext): Promise<HostState> {
  const address = hostAddr(ctx.device.id, action.address);
  const sh = await shell(session, ctx);
  const cfg = parseConfig(await sh.send('show running-config', { timeoutMs: ctx.timeoutMs }));
  return {
    address,
    targets: targets(ctx).map((p) => {
      const s = cfg.ports.get(p);
      if (!s) throw new CommandRejected(`${ctx.device.id}: interface "${p}" is not in the running configuration`);
      return { interface: p, aclIn: s.aclIn };
    }),
    entries: cfg.entries.filter((e) => tagOf(e.comment)?.address === address),
  };
}

async function hostBlockLines(session: Session, action: HostAction, ctx: ActionContext): Promise<string[]> {
  const id = ctx.device.id;
  const name = aclName(id, ctx.tag);
  const a = hostAddr(id, action.address);
  const sh = await shell(session, ctx);
  const cfg = parseConfig(await sh.send('show running-config', { timeoutMs: ctx.timeoutMs }));
  const lines: string[] = [];
  const mine = (acl: string) =>
    cfg.entries.some((e) => e.acl === acl && tagOf(e.comment)?.tag === ctx.tag && tagOf(e.comment)?.address === a);
  const bare = targets(ctx).some((p) => (cfg.ports.get(p)?.aclIn ?? null) === null);
  if (bare && !cfg.acls.has(name)) lines.push(...ownAclLines(id, name, a, ctx.tag));
  const done = new Set<string>();
  for (const p of targets(ctx)) {
    const applied = cfg.ports.get(p)?.aclIn ?? null;
    if (applied === null) lines.push(`interface ${p}`, `apply access-list ip ${name} in`, 'exit');
    else if (applied !== name && !done.has(applied) && !mine(applied)) {
      // The operator's ACL stays applied and in force: ours go in front of its first entry.
      const used = new Set(cfg.entries.filter((e) => e.acl === applied).map((e) => e.seq));
      const first = Math.min(...used, 4294967295);
      const free = Array.from({ length: Math.min(first - 1, 1000) }, (_, i) => i + 1).filter((n) => !used.has(n));
      if (free.length < 2)
        throw new CommandRejected(
          `${id}: ACL ${applied} on ${p} has no free sequence numbers before its first entry (${first}); refusing to renumber the operator's ACL`,
        );
      const [s1, s2] = [free[0]!, free[1]!];
      lines.push(`access-list ip ${applied}`, `${s1} comment ${comment(ctx.tag, a, 'src')}`, `${s1} deny any ${a} any`);
      lines.push(`${s2} comment ${comment(ctx.tag, a, 'dst')}`, `${s2} deny any any ${a}`, 'exit');
    }
    done.add(applied ?? name);
  }
  return lines;
}

async function hostUnblockLines(session: Session, action: HostAction, ctx: ActionContext): Promise<string[]> {
  const id = ctx.device.id;
  const name = aclName(id, ctx.tag);
  hostAddr(id, action.address);
  const sh = await shell(session, ctx);
  const cfg = parseConfig(await sh.send('show running-config', { timeoutMs: ctx.timeoutMs }));
  const lines: string[] = [];
  for (const [p, s] of cfg.ports) if (s.aclIn === name) lines.push(`interface ${p}`, `no apply access-list ip ${name} in`, 'exit');
  if (cfg.acls.has(name)) lines.push(`no access-list ip ${name}`);
  const byAcl = new Map<string, number[]>();
  for (const e of cfg.entries) {
    if (e.acl === name || tagOf(e.comment)?.tag !== ctx.tag || tagOf(e.comment)?.address !== action.address) continue;
    byAcl.set(e.acl, [...(byAcl.get(e.acl) ?? []), e.seq]);
  }
  for (const [acl, seqs] of byAcl) lines.push(`access-list ip ${acl}`, ...seqs.map((n) => `no ${n}`), 'exit');
  return lines;
}

/**
 * Tolerant reader of `show running-config` (whole or one interface): context lines start at the
 * left margin, their settings are indented; unknown lines (banners, syslog, `!` remarks) are skipped.
 */
function parseConfig(text: string): { ports: Map<string, PortState>; acls: Set<string>; entries: AclEntry[] } {
  const ports = new Map<string, PortState>();
  const acls = new Set<string>();
  const entries: AclEntry[] = [];
  let cur: { port?: PortState; acl?: string } = {};
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\s+$/, '');
    const t = line.trim();
    if (!t || t === '!') continue;
    if (!/^\s/.test(line)) {
      // A log line printed into the output (event log, syslog) does not end the block it lands in.
      if (LOG_LINE.test(line)) continue;
      const port = /^interface (\S+)$/.exec(line)?.[1];
      const acl = /^access-list ip (\S+)$/.exec(line)?.[1];
      cur = {};
      if (port) {
        cur.port = { interface: port, adminUp: false, mode: 'access', vlan: 1, voiceVlan: null, aclIn: null };
        ports.set(port, cur.port);
      } else if (acl) {
        acls.add(acl);
        cur.acl = acl;
      }
    } else if (cur.port) {
      const p = cur.port;
      const access = /^vlan access (\d+)$/.exec(t)?.[1];
      const native = /^vlan trunk native (\d+)/.exec(t)?.[1];
      const aclIn = /^apply access-list ip (\S+) in$/.exec(t)?.[1];
      if (t === 'shutdown' || t === 'no shutdown') p.adminUp = t === 'no shutdown';
      else if (access) Object.assign(p, { mode: 'access', vlan: Number(access) });
      else if (native) Object.assign(p, { mode: 'trunk', vlan: Number(native) });
      else if (t.startsWith('vlan trunk')) p.mode = 'trunk';
      else if (aclIn) p.aclIn = aclIn;
    } else if (cur.acl) {
      const m = /^(\d+) (comment (.*)|.*)$/.exec(t);
      if (!m) continue;
      const acl = cur.acl;
      const seq = Number(m[1]);
      const e = entries.find((x) => x.acl === acl && x.seq === seq) ?? { acl, seq, rule: null, comment: null };
      if (!entries.includes(e)) entries.push(e);
      if (m[3] !== undefined) e.comment = m[3];
      else e.rule = m[2]!;
    }
  }
  return { ports, acls, entries };
}
