import type { Action } from '../actions.js';
import { CommandRejected } from '../errors.js';
import type { CliPlatform, CliShell, Session } from '../transports/types.js';
import type { ActionContext, Driver, State } from './driver.js';
import { invertForward, type LinkState, portHolds, type PortVlanState } from './port-state.js';
import { sshSession, unsupportedAction } from './unsupported.js';
import { addressFamily, checkAddress, checkInterface, checkSegment, checkTag, checkVlan } from './validate.js';

/**
 * Cisco IOS / IOS-XE switches and routers over the interactive CLI (IOS serves one exec per
 * connection, so everything goes through the PTY shell). Read-back parses `show running-config`;
 * blocks are named extended ACLs applied inbound with `ip access-group`. Where an interface
 * already has the operator's ACL, our entries go into it at free sequence numbers before its
 * first entry, behind a remark carrying the action tag, and rollback removes exactly those.
 * Sequence-numbered ACL lines in the running config are IOS-XE 16+ behaviour.
 */

const SUPPORTS = [
  'interface.disable',
  'interface.enable',
  'port.vlan',
  'port.restore',
  'host.block',
  'host.unblock',
  'egress.block',
  'egress.unblock',
] as const;

/** `*Nov 30 12:00:01.123: %LINK-3-UPDOWN: ...`, optionally with a sequence number and time zone. */
const SYSLOG = /^(?:\d+: )?[*.]?[A-Z][a-z]{2} +\d+(?: \d{4})? [\d:.]+(?: [A-Z]{2,5})?: %[A-Z0-9_]+-\d-[A-Z0-9_]+:/;

export const CISCO_IOS: CliPlatform = {
  name: 'cisco-ios',
  levels: [
    { name: 'exec', prompt: (h) => new RegExp(`^${h}>\\s?$`) },
    {
      name: 'privileged',
      parent: 'exec',
      enter: 'enable',
      leave: 'disable',
      secretPrompt: /^Password:\s*$/,
      prompt: (h) => new RegExp(`^${h}#\\s?$`),
    },
    {
      name: 'config',
      parent: 'privileged',
      enter: 'configure terminal',
      leave: 'end',
      prompt: (h) => new RegExp(`^${h}\\(config\\)#\\s?$`),
    },
    // Interface, ACL, archive, line ... submodes: entered by the command that names them, left with `end`.
    { name: 'config-sub', parent: 'config', leave: 'end', prompt: (h) => new RegExp(`^${h}\\(config-[a-z-]+\\)#\\s?$`) },
  ],
  defaultLevel: 'privileged',
  onOpen: ['terminal length 0', 'terminal width 511'],
  pager: /\s*--More--\s*$/,
  pagerReply: ' ',
  // Not every `%` line is an error: `% Access VLAN does not exist. Creating vlan 999` is information.
  errors: [
    /^%\s?(Invalid input|Incomplete command|Ambiguous command|Unknown command|Access denied|Bad secrets|Turn config archive on|Error)/,
  ],
  noise: [SYSLOG],
};

/** IOS range for `configure terminal revert timer`. */
const REVERT_MINUTES = { min: 1, max: 120 };
/** The `permit ip any any` that ends our own ACL, far above the sequence numbers our entries take. */
const PERMIT_SEQ = 10000;
const OWN_PREFIX = 'FB_';
const GROUP = /^remark (\S+) (host\.block|egress\.block) (\S+) \((\d+) entr(?:y|ies)\)$/;

type BlockKind = 'host.block' | 'egress.block';
/** A group of our entries in one ACL: the remark at `seq`, then `count` entries. */
interface Group {
  acl: string;
  seq: number;
  tag: string;
  count: number;
}
interface FilterState extends State {
  kind: BlockKind;
  subject: string;
  /** Where the block must be in force (inbound), what ACL is there, and whether it already blocks. */
  points: { interface: string; acl: string | null; blocks: boolean }[];
  /** Our groups for this kind and subject, under any tag. */
  groups: Group[];
}
interface Ace {
  seq: number;
  text: string;
}
interface RunningConfig {
  /** Keyed by the canonical interface name (see ifKey). */
  interfaces: Map<string, { name: string; lines: string[] }>;
  acls: Map<string, Ace[]>;
}

export const ciscoIos: Driver = {
  family: 'cisco-ios',
  transport: 'ssh',
  supports: SUPPORTS,

  render(action, ctx) {
    const enter = enterConfig(ctx);
    switch (action?.kind) {
      case 'interface.disable':
      case 'interface.enable':
      case 'port.vlan':
      case 'port.restore':
        return [enter, ...portLines(action, ctx), 'end'];
      case 'host.block':
      case 'egress.block': {
        const { kind, subject, entries, points } = blockSpec(action, ctx);
        const own = ownAcl(ctx);
        return [
          enter,
          `ip access-list extended ${own}`,
          ...groupLines(ctx.tag, kind, subject, entries, 1),
          `${PERMIT_SEQ} permit ip any any`,
          'exit',
          ...points.flatMap((p) => [`interface ${p}`, `ip access-group ${own} in`, 'exit']),
          `! an interface that already has an inbound ACL gets entries 1-${entries.length + 1} inserted into that ACL instead`,
          'end',
        ];
      }
      case 'host.unblock':
      case 'egress.unblock': {
        const kind = action.kind === 'host.unblock' ? 'host.block' : 'egress.block';
        const subject = action.kind === 'host.unblock' ? hostSubject(ctx, action.address) : checkSegment(ctx.device.id, action.segment);
        return [
          enter,
          `! in every ACL: no <remark "${checkTag(ctx.device.id, ctx.tag)} ${kind} ${subject}"> and the entries it counts`,
          `! then, for each ${OWN_PREFIX}* ACL left without entries: no ip access-group <acl> in; no ip access-list extended <acl>`,
          'end',
        ];
      }
      default:
        return unsupported(action, ctx);
    }
  },

  async read(session, action, ctx) {
    switch (action?.kind) {
      case 'interface.disable':
      case 'interface.enable': {
        const lines = await readInterface(await cli(session, ctx), ctx, action.interface);
        return { interface: action.interface, adminUp: !lines.includes('shutdown') } satisfies LinkState;
      }
      case 'port.vlan':
      case 'port.restore':
        return portVlanState(ctx, action.interface, await readInterface(await cli(session, ctx), ctx, action.interface));
      case 'host.block':
      case 'host.unblock':
      case 'egress.block':
      case 'egress.unblock':
        return filterState(action, ctx, await readConfig(await cli(session, ctx), ctx));
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
      case 'host.block':
      case 'egress.block': {
        // Whoever put it there (another run, the operator): blocked is blocked.
        const points = (state as FilterState).points;
        return points.length > 0 && points.every((p) => p.blocks);
      }
      case 'host.unblock':
      case 'egress.unblock':
        return !(state as FilterState).groups.some((g) => g.tag === ctx.tag);
      default:
        return unsupported(action, ctx);
    }
  },

  async apply(session, action, ctx) {
    switch (action?.kind) {
      case 'interface.disable':
      case 'interface.enable':
        return configure(await cli(session, ctx), ctx, portLines(action, ctx));
      case 'port.vlan': {
        const lines = portLines(action, ctx);
        const sh = await cli(session, ctx);
        await refuseTrunk(sh, ctx, action.interface);
        return configure(sh, ctx, lines);
      }
      case 'port.restore':
        return configure(await cli(session, ctx), ctx, portLines(action, ctx));
      case 'host.block':
      case 'egress.block': {
        const spec = blockSpec(action, ctx);
        const sh = await cli(session, ctx);
        return configure(sh, ctx, blockLines(spec, ctx, await readConfig(sh, ctx)));
      }
      case 'host.unblock':
      case 'egress.unblock': {
        const sh = await cli(session, ctx);
        const cfg = await readConfig(sh, ctx);
        const lines = unblockLines(filterState(action, ctx, cfg), ctx, cfg);
        return lines.length ? configure(sh, ctx, lines) : `nothing tagged ${ctx.tag} left`;
      }
      default:
        return unsupported(action, ctx);
    }
  },

  /**
   * Port changes of one stage go out in one `configure terminal` (one cut, not a ripple);
   * blocks read the ACLs they extend, so each still runs as its own apply after them.
   */
  async applyAll(session, items) {
    const ports = items.filter((i) => PORT_KINDS.has(i.action.kind));
    const rest = items.filter((i) => !PORT_KINDS.has(i.action.kind));
    const first = ports[0] ?? items[0]!;
    const sh = await cli(session, first.ctx);
    const out: string[] = [];
    if (ports.length) {
      if (ports.some((i) => JSON.stringify(i.ctx.autoRevert) !== JSON.stringify(first.ctx.autoRevert))) {
        for (const i of ports) out.push(await ciscoIos.apply(session, i.action, i.ctx));
      } else {
        for (const i of ports) if (i.action.kind === 'port.vlan') await refuseTrunk(sh, i.ctx, i.action.interface);
        out.push(
          await configure(
            sh,
            first.ctx,
            ports.flatMap((i) => portLines(i.action, i.ctx)),
          ),
        );
      }
    }
    for (const i of rest) out.push(await ciscoIos.apply(session, i.action, i.ctx));
    return out.filter(Boolean).join('\n');
  },

  invert(action, before, ctx) {
    return invertForward(SUPPORTS, action, before, () => ciscoIos.holds(action, before, ctx));
  },

  /** `configure confirm` keeps the change armed by `configure terminal revert timer`. */
  async confirm(session, _action, ctx) {
    const out = await (await cli(session, ctx)).send('configure confirm', { timeoutMs: ctx.timeoutMs });
    return /No Rollback Confirmed Change pending/i.test(out) ? 'nothing pending (already confirmed or reverted)' : out || 'confirmed';
  },
};

/**
 * `copy running-config startup-config`, answering the one question it asks. Containment changes
 * stay in the running config on purpose (a reload undoes them); this is for an explicit save.
 */
export async function saveConfig(session: Session, ctx: ActionContext): Promise<string> {
  return (await cli(session, ctx)).send('copy running-config startup-config', {
    timeoutMs: ctx.timeoutMs,
    answers: [{ prompt: /Destination filename \[startup-config\]\?\s*$/, reply: '\n' }],
  });
}

async function cli(session: Session, ctx: ActionContext): Promise<CliShell> {
  return sshSession('cisco-ios', session, ctx).cli(CISCO_IOS);
}

function unsupported(action: unknown, ctx: ActionContext): never {
  return unsupportedAction('cisco-ios', SUPPORTS, action, ctx);
}

function enterConfig(ctx: ActionContext): string {
  const r = ctx.autoRevert;
  if (!r) return 'configure terminal';
  if (!Number.isInteger(r.minutes) || r.minutes < REVERT_MINUTES.min || r.minutes > REVERT_MINUTES.max) {
    throw new CommandRejected(
      `${ctx.device.id}: revert timer ${r.minutes} min is outside IOS's ${REVERT_MINUTES.min}-${REVERT_MINUTES.max}`,
    );
  }
  return `configure terminal revert timer ${r.minutes}`;
}

/** Runs lines in configuration mode and always gets back to privileged EXEC, also after an error. */
async function configure(sh: CliShell, ctx: ActionContext, lines: string[]): Promise<string> {
  const opts = { timeoutMs: ctx.timeoutMs };
  const out: string[] = [];
  try {
    out.push(await sh.send(enterConfig(ctx), opts));
    for (const line of lines) out.push(await sh.send(line, opts));
  } catch (err) {
    if (!sh.broken) await sh.moveTo(CISCO_IOS.defaultLevel, opts).catch(() => undefined);
    throw err;
  }
  await sh.moveTo(CISCO_IOS.defaultLevel, opts);
  return out.filter(Boolean).join('\n');
}

/** Letters, then digits with / . : separators (`GigabitEthernet1/0/5`, `Gi1/0/5`, `Port-channel3`). */
function iosInterface(ctx: ActionContext, name: string): string {
  checkInterface(ctx.device.id, name);
  if (!/^[A-Za-z][A-Za-z-]*\d+(?:[/.:]\d+)*$/.test(name)) {
    throw new CommandRejected(`${ctx.device.id}: interface name ${JSON.stringify(name)} is not an IOS interface name`);
  }
  return name;
}

const TYPES = [
  'gigabitethernet',
  'fastethernet',
  'tengigabitethernet',
  'twogigabitethernet',
  'twentyfivegige',
  'fortygigabitethernet',
  'hundredgige',
  'ethernet',
  'port-channel',
  'vlan',
  'loopback',
];
/** One key for every spelling IOS accepts for an interface (`Gi1/0/5` = `GigabitEthernet1/0/5`). */
function ifKey(name: string): string {
  const m = /^([A-Za-z-]+)\s*(\d[\d/.:]*)$/.exec(name.trim());
  if (!m) return name.toLowerCase();
  const type = m[1]!.toLowerCase();
  return `${TYPES.find((t) => t.startsWith(type)) ?? type}${m[2]}`;
}

const IOS_MODES = ['access', 'trunk', 'dynamic auto', 'dynamic desirable'];
/** Actions whose lines need no read of the device first (batched by applyAll). */
const PORT_KINDS: ReadonlySet<string> = new Set(['interface.disable', 'interface.enable', 'port.vlan', 'port.restore']);

/** port.vlan moves access ports only: a trunk or routed port would take many hosts (or a link) with it. */
async function refuseTrunk(sh: CliShell, ctx: ActionContext, name: string): Promise<void> {
  const s = portVlanState(ctx, name, await readInterface(sh, ctx, name));
  if (s.mode === 'trunk' || s.mode === 'routed') {
    throw new CommandRejected(`${ctx.device.id}: ${name} is a ${s.mode} port; port.vlan only moves access ports`);
  }
}

function portLines(action: Action, ctx: ActionContext): string[] {
  const id = ctx.device.id;
  switch (action.kind) {
    case 'interface.disable':
      return [`interface ${iosInterface(ctx, action.interface)}`, 'shutdown'];
    case 'interface.enable':
      // IOS keeps static routes through a shut interface in its config; nothing to put back.
      return [`interface ${iosInterface(ctx, action.interface)}`, 'no shutdown'];
    case 'port.vlan':
      return [
        `interface ${iosInterface(ctx, action.interface)}`,
        'switchport mode access',
        `switchport access vlan ${checkVlan(id, action.vlan)}`,
        'no switchport voice vlan',
      ];
    case 'port.restore': {
      if (!IOS_MODES.includes(action.mode))
        throw new CommandRejected(`${id}: cannot restore switchport mode ${JSON.stringify(action.mode)}`);
      return [
        `interface ${iosInterface(ctx, action.interface)}`,
        `switchport mode ${action.mode}`,
        action.vlan === null || action.vlan === 1 ? 'no switchport access vlan' : `switchport access vlan ${checkVlan(id, action.vlan)}`,
        action.voiceVlan === null ? 'no switchport voice vlan' : `switchport voice vlan ${checkVlan(id, action.voiceVlan, 'voice VLAN')}`,
      ];
    }
    default:
      return unsupported(action, ctx);
  }
}

/** The interface's configuration lines (indentation dropped); the device refuses unknown names. */
async function readInterface(sh: CliShell, ctx: ActionContext, name: string): Promise<string[]> {
  const out = await sh.send(`show running-config interface ${iosInterface(ctx, name)}`, { timeoutMs: ctx.timeoutMs });
  const cfg = parseConfig(out);
  const found = cfg.interfaces.get(ifKey(name));
  if (!found) throw new CommandRejected(`${ctx.device.id}: interface "${name}" not found in the running config`);
  return found.lines;
}

function portVlanState(ctx: ActionContext, name: string, lines: string[]): PortVlanState {
  if (lines.includes('no switchport')) return { interface: name, mode: 'routed', vlan: null, voiceVlan: null };
  const get = (re: RegExp) => lines.map((l) => re.exec(l)?.[1]).find((v) => v !== undefined);
  const voice = get(/^switchport voice vlan (\S+)$/);
  if (voice !== undefined && !/^\d+$/.test(voice)) {
    throw new CommandRejected(`${ctx.device.id}: ${name} has "switchport voice vlan ${voice}", which port.vlan could not restore exactly`);
  }
  return {
    interface: name,
    // IOS prints neither the default mode (dynamic auto) nor the default access VLAN (1).
    mode: get(/^switchport mode (.+)$/) ?? 'dynamic auto',
    vlan: Number(get(/^switchport access vlan (\d+)$/) ?? 1),
    voiceVlan: voice === undefined ? null : Number(voice),
  };
}

async function readConfig(sh: CliShell, ctx: ActionContext): Promise<RunningConfig> {
  return parseConfig(await sh.send('show running-config', { timeoutMs: ctx.timeoutMs }));
}

/** Tolerant: banners, `Building configuration...`, blank lines and unknown sections are skipped. */
function parseConfig(text: string): RunningConfig {
  const cfg: RunningConfig = { interfaces: new Map(), acls: new Map() };
  let lines: string[] | null = null;
  let aces: Ace[] | null = null;
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\s+$/, '');
    if (!line || line.startsWith('!')) continue;
    if (!/^\s/.test(line)) {
      lines = null;
      aces = null;
      const i = /^interface (\S+)$/.exec(line);
      const a = /^ip access-list extended (\S+)$/.exec(line);
      if (i) {
        lines = [];
        cfg.interfaces.set(ifKey(i[1]!), { name: i[1]!, lines });
      } else if (a) {
        aces = [];
        cfg.acls.set(a[1]!, aces);
      }
      continue;
    }
    lines?.push(line.trim());
    if (aces) {
      const m = /^\s*(\d+) (.+)$/.exec(line);
      // Classic IOS prints named-ACL entries without sequence numbers: -1 marks them (we never insert there).
      aces.push(m ? { seq: Number(m[1]), text: m[2]!.replace(/\s+/g, ' ') } : { seq: -1, text: line.trim() });
    }
  }
  return cfg;
}

function hostSubject(ctx: ActionContext, address: string): string {
  if (checkAddress(ctx.device.id, address) !== 4) {
    throw new CommandRejected(`${ctx.device.id}: cisco-ios blocks IPv4 only (IPv6 needs ipv6 traffic-filter): ${address}`);
  }
  return address;
}

/** `host A` or `N W` (IOS wildcard mask) for an IPv4 address or prefix. */
function endpoint(ctx: ActionContext, value: string): string {
  if (addressFamily(value) !== 4)
    throw new CommandRejected(`${ctx.device.id}: cisco-ios takes IPv4 addresses here, not ${JSON.stringify(value)}`);
  const [addr, len] = value.split('/');
  if (len === undefined || len === '32') return `host ${addr}`;
  const bits = Number(len);
  const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
  const net = addr!.split('.').reduce((n, o) => ((n << 8) | Number(o)) >>> 0, 0) & mask;
  const quad = (n: number) => [24, 16, 8, 0].map((s) => (n >>> s) & 255).join('.');
  return `${quad(net >>> 0)} ${quad(~mask >>> 0)}`;
}

interface BlockSpec {
  kind: BlockKind;
  subject: string;
  entries: string[];
  /** Interfaces where the entries must be in force, inbound. */
  points: string[];
}

/**
 * host.block: both directions, inbound on every interface the inventory gives a forwarding role
 * (uplink, inter-site, segment:*). egress.block: inbound on the segment's interfaces; an IOS ACL
 * cannot match the outgoing interface (and an outbound ACL on the uplink sees NATed sources), so
 * the segment loses everything routed except the allow-list.
 */
function blockSpec(action: Extract<Action, { kind: BlockKind }>, ctx: ActionContext): BlockSpec {
  const id = ctx.device.id;
  checkTag(id, ctx.tag);
  if (action.kind === 'host.block') {
    const a = endpoint(ctx, hostSubject(ctx, action.address));
    const points = Object.entries(ctx.device.interfaces ?? {})
      .filter(([, spec]) => spec.roles.some((r) => r === 'uplink' || r === 'inter-site' || r.startsWith('segment:')))
      .map(([name]) => iosInterface(ctx, name));
    if (!points.length) throw new CommandRejected(`${id}: host.block needs interfaces with an uplink, inter-site or segment role`);
    return { kind: action.kind, subject: action.address, entries: [`deny ip ${a} any`, `deny ip any ${a}`], points };
  }
  const subject = checkSegment(id, action.segment);
  if (!action.interfaces.length) throw new CommandRejected(`${id}: egress.block ${subject} needs the segment's interfaces`);
  return {
    kind: action.kind,
    subject,
    entries: [...action.allow.map((x) => `permit ip any ${endpoint(ctx, x)}`), 'deny ip any any'],
    points: action.interfaces.map((n) => iosInterface(ctx, n)),
  };
}

/** Named after the tag so that it is ours at a glance: `fb:p1a2b:a3` -> `FB_fb_p1a2b_a3`. */
function ownAcl(ctx: ActionContext): string {
  return `${OWN_PREFIX}${checkTag(ctx.device.id, ctx.tag).replace(/[^A-Za-z0-9_.-]/g, '_')}`;
}

function groupLines(tag: string, kind: BlockKind, subject: string, entries: string[], seq: number): string[] {
  const n = entries.length;
  return [
    `${seq} remark ${tag} ${kind} ${subject} (${n} ${n === 1 ? 'entry' : 'entries'})`,
    ...entries.map((e, i) => `${seq + 1 + i} ${e}`),
  ];
}

function groupsIn(acl: string, aces: Ace[]): (Group & { kind: string; subject: string })[] {
  return aces.flatMap((a) => {
    const m = GROUP.exec(a.text);
    return m ? [{ acl, seq: a.seq, tag: m[1]!, kind: m[2]!, subject: m[3]!, count: Number(m[4]) }] : [];
  });
}

function inboundAcl(cfg: RunningConfig, name: string): string | null {
  const lines = cfg.interfaces.get(ifKey(name))?.lines ?? [];
  return lines.map((l) => /^ip access-group (\S+) in$/.exec(l)?.[1]).find((v) => v !== undefined) ?? null;
}

function filterState(action: Action, ctx: ActionContext, cfg: RunningConfig): FilterState {
  switch (action.kind) {
    case 'host.block':
    case 'egress.block':
      return evaluate(blockSpec(action, ctx), ctx, cfg);
    case 'host.unblock':
      return evaluate({ kind: 'host.block', subject: hostSubject(ctx, action.address), entries: [], points: [] }, ctx, cfg);
    case 'egress.unblock':
      return evaluate({ kind: 'egress.block', subject: checkSegment(ctx.device.id, action.segment), entries: [], points: [] }, ctx, cfg);
    default:
      return unsupported(action, ctx);
  }
}

function evaluate({ kind, subject, entries, points }: BlockSpec, ctx: ActionContext, cfg: RunningConfig): FilterState {
  const groups = [...cfg.acls].flatMap(([acl, aces]) => groupsIn(acl, aces)).filter((g) => g.kind === kind && g.subject === subject);
  return {
    kind,
    subject,
    points: points.map((p) => {
      if (!cfg.interfaces.has(ifKey(p))) throw new CommandRejected(`${ctx.device.id}: interface "${p}" not found in the running config`);
      const acl = inboundAcl(cfg, p);
      const aces = acl ? (cfg.acls.get(acl) ?? []) : [];
      // host.block: the two deny entries, whoever wrote them; egress.block: a group of ours under any tag.
      const blocks =
        kind === 'host.block'
          ? entries.every((e) => aces.some((a) => a.text === e))
          : groupsIn(acl ?? '', aces).some((g) => g.kind === kind && g.subject === subject);
      return { interface: p, acl, blocks };
    }),
    groups: groups.map(({ acl, seq, tag, count }) => ({ acl, seq, tag, count })),
  };
}

/** The lowest run of `n` free sequence numbers before the first entry that is not one of our groups. */
function freeSeq(ctx: ActionContext, acl: string, aces: Ace[], n: number): number {
  if (aces.some((a) => a.seq < 0))
    throw new CommandRejected(`${ctx.device.id}: ACL ${acl} shows no sequence numbers; not inserting into it`);
  const ours = new Set<number>();
  for (const g of groupsIn(acl, aces)) for (let s = g.seq; s <= g.seq + g.count; s++) ours.add(s);
  const used = new Set(aces.map((a) => a.seq));
  const first = Math.min(Number.MAX_SAFE_INTEGER, ...aces.filter((a) => !ours.has(a.seq)).map((a) => a.seq));
  for (let s = 1; s + n - 1 < first; s++) {
    if (Array.from({ length: n }, (_, i) => s + i).every((x) => !used.has(x))) return s;
  }
  throw new CommandRejected(
    `${ctx.device.id}: ACL ${acl} has no ${n} free sequence numbers before its first entry ${first}; resequence it first`,
  );
}

function blockLines(spec: BlockSpec, ctx: ActionContext, cfg: RunningConfig): string[] {
  const state = evaluate(spec, ctx, cfg);
  const own = ownAcl(ctx);
  const lines: string[] = [];
  const done = new Set<string>();
  const insert = (acl: string, aces: Ace[], ownTail: boolean) => {
    if (done.has(acl)) return;
    done.add(acl);
    if (groupsIn(acl, aces).some((g) => g.tag === ctx.tag && g.kind === spec.kind && g.subject === spec.subject)) return;
    const seq = freeSeq(ctx, acl, aces, spec.entries.length + 1);
    lines.push(`ip access-list extended ${acl}`, ...groupLines(ctx.tag, spec.kind, spec.subject, spec.entries, seq));
    if (ownTail && !aces.length) lines.push(`${PERMIT_SEQ} permit ip any any`);
    lines.push('exit');
  };
  const attach: string[] = [];
  // Every point gets this tag's group, also where another run's block already holds: each
  // run's rollback then removes only its own entries and the host stays blocked until the last.
  for (const p of state.points) {
    if (p.acl && !cfg.acls.has(p.acl))
      throw new CommandRejected(`${ctx.device.id}: ${p.interface} refers to ACL ${p.acl}, which does not exist`);
    if (p.acl) insert(p.acl, cfg.acls.get(p.acl)!, false);
    else {
      // Our own ACL, complete (entries and the final permit) before any interface uses it.
      insert(own, cfg.acls.get(own) ?? [], true);
      attach.push(p.interface);
    }
  }
  for (const i of attach) lines.push(`interface ${i}`, `ip access-group ${own} in`, 'exit');
  return lines;
}

/** Removes exactly our tag's groups, then our own ACLs that no longer hold any group. */
function unblockLines(state: FilterState, ctx: ActionContext, cfg: RunningConfig): string[] {
  const lines: string[] = [];
  const mine = state.groups.filter((g) => g.tag === ctx.tag);
  for (const g of mine) {
    const present = new Set((cfg.acls.get(g.acl) ?? []).map((a) => a.seq));
    const seqs = Array.from({ length: g.count + 1 }, (_, i) => g.seq + i).filter((s) => present.has(s));
    lines.push(`ip access-list extended ${g.acl}`, ...seqs.map((s) => `no ${s}`), 'exit');
    cfg.acls.set(
      g.acl,
      (cfg.acls.get(g.acl) ?? []).filter((a) => !seqs.includes(a.seq)),
    );
  }
  for (const [acl, aces] of cfg.acls) {
    if (!acl.startsWith(OWN_PREFIX) || groupsIn(acl, aces).length || !mine.some((g) => g.acl === acl)) continue;
    for (const { name, lines: ifLines } of cfg.interfaces.values()) {
      for (const dir of ['in', 'out'])
        if (ifLines.includes(`ip access-group ${acl} ${dir}`)) lines.push(`interface ${name}`, `no ip access-group ${acl} ${dir}`, 'exit');
    }
    lines.push(`no ip access-list extended ${acl}`);
  }
  return lines;
}
