import type { Action, ActionKind } from '../actions.js';
import type { CliPlatform, CliShell, Session } from '../transports/types.js';
import type { ActionContext, Driver, State } from './driver.js';
import { CommandRejected, UnsupportedAction } from '../errors.js';
import { checkAddress, checkInterface, checkSegment, checkTag, checkVlan } from './validate.js';
import { invertForward, linkHolds, type PortVlanState } from './port-state.js';
import { sshSession, unsupportedAction } from './unsupported.js';

/**
 * MikroTik RouterOS v7 over its SSH console. No config mode and no commit: every command takes
 * effect at once, so each action is a few absolute-path commands (`/interface disable ether5`)
 * that work from whatever menu the console is in. Read-back uses `print terse without-paging`
 * (one item per line: number, flag columns, key=value pairs), parsed by key, not by column.
 * Our firewall entries carry `comment="<tag> <kind> <subject>"` and are found and removed by it;
 * the operator's entries are never touched (ours go in front with place-before=0).
 * No device-side auto-revert: Safe Mode is bound to the console session, so no `confirm`.
 */

const PROMPT = (host: string) => new RegExp(`^\\[[^\\]@\\s]+@${host}\\] (?:/[^<>\\]]*)?(?:>|<SAFE>) ?$`);

export const ROUTEROS_PLATFORM: CliPlatform = {
  name: 'routeros',
  levels: [{ name: 'console', prompt: PROMPT }],
  defaultLevel: 'console',
  // RouterOS has no session-wide paging switch: every print says `without-paging`.
  onOpen: [],
  pager: /-- \[Q quit\|D dump\|down\]/,
  pagerReply: 'D',
  errors: [
    /^bad command name \S+ \(line \d+ column \d+\)/,
    /^syntax error \(line \d+ column \d+\)/,
    /^expected end of command \(line \d+ column \d+\)/,
    /^expected (?:command name|item number)/,
    /^failure: /,
    /^no such item/,
    /^input does not match any value of /,
    /^invalid value for argument /,
    /^value of \S+ out of range/,
    /^ambiguous value of /,
  ],
  // `logging action=echo` lines (`12:01:07 system,info ...`, v6 `jan/02/1970 ...`) land mid-output.
  noise: [/^\s*(?:[a-z]{3}\/\d\d\/\d{4} |\d{4}-\d\d-\d\d )?\d\d:\d\d:\d\d [a-z0-9]+(?:,[a-z0-9]+)* /],
};

const SUPPORTS: readonly ActionKind[] = [
  'interface.disable',
  'interface.enable',
  'port.vlan',
  'port.restore',
  'host.block',
  'host.unblock',
  'egress.block',
  'egress.unblock',
];
const ACCESS = 'admit-only-untagged-and-priority-tagged';
const TRUNK = 'admit-only-vlan-tagged';

/** One `print terse` line: its number, flag letters and fields. */
export interface TerseItem {
  n: number;
  flags: string;
  f: Record<string, string>;
}

interface PortState extends PortVlanState {
  bridge: string;
  vlanFiltering: boolean;
  /** frame-types, RouterOS's own word for the port mode. */
  mode: string;
  vlan: number;
  /** Every VLAN the port is tagged in (a phone port has one, a trunk many). */
  tagged: number[];
}
interface FwEntry {
  family: 4 | 6;
  comment: string;
  disabled: boolean;
  f: Record<string, string>;
}
interface FwState extends State {
  subject: string;
  rules: FwEntry[];
  entries: FwEntry[];
}

export const routeros: Driver = {
  family: 'routeros',
  transport: 'ssh',
  supports: SUPPORTS,

  render(action, ctx) {
    const id = ctx.device.id;
    switch (action.kind) {
      case 'interface.disable':
      case 'interface.enable':
        return [`/interface ${action.kind === 'interface.disable' ? 'disable' : 'enable'} ${q(name(id, action.interface))}`];
      case 'port.vlan':
        return [
          `/interface bridge port set [find interface=${q(name(id, action.interface))}] pvid=${checkVlan(id, action.vlan)} frame-types=${ACCESS}`,
          `/interface bridge vlan set [find tagged~"${action.interface}"] tagged=<its tagged list without ${action.interface}>`,
        ];
      case 'port.restore':
        return restoreLines(id, action, null);
      case 'host.block':
        return hostBlockLines(id, action.address, ctx.tag, true);
      case 'egress.block':
        return egressBlockLines(id, action, ctx.tag, { 4: true, 6: true });
      case 'host.unblock':
      case 'egress.unblock':
        return removeLines(id, action, ctx.tag);
      default:
        return unsupported(action, ctx);
    }
  },

  async read(session, action, ctx) {
    const id = ctx.device.id;
    switch (action.kind) {
      case 'interface.disable':
      case 'interface.enable': {
        const dev = name(id, action.interface);
        const sh = await shell(session, ctx);
        const items = await print(sh, ctx, `/interface print terse without-paging where name=${q(dev)}`);
        const it = items.find((i) => i.f.name === dev);
        if (!it) throw new CommandRejected(`${id}: interface "${dev}" does not exist`);
        return { interface: dev, adminUp: !(it.flags.includes('X') || it.f.disabled === 'yes') };
      }
      case 'port.vlan':
      case 'port.restore':
        return readPort(await shell(session, ctx), ctx, name(id, action.interface));
      case 'host.block':
      case 'host.unblock':
      case 'egress.block':
      case 'egress.unblock':
        return readFirewall(await shell(session, ctx), ctx, action);
      default:
        return unsupported(action, ctx);
    }
  },

  holds(action, state, ctx) {
    switch (action.kind) {
      case 'interface.disable':
      case 'interface.enable':
        return linkHolds(action, state);
      case 'port.vlan': {
        const s = state as PortState;
        return s.mode === ACCESS && s.vlan === action.vlan && s.tagged.length === 0;
      }
      case 'port.restore': {
        const s = state as PortState;
        return s.mode === frameTypes(ctx.device.id, action.mode) && s.vlan === (action.vlan ?? 1) && s.voiceVlan === action.voiceVlan;
      }
      case 'host.block': {
        // Any run's block counts: a second run (another tag) finds the host already blocked.
        const s = state as FwState;
        return byTag(s).some((g) => ['src', 'dst'].every((d) => g.rules.some((r) => r.f[`${d}-address-list`] === g.entries[0]?.f.list)));
      }
      case 'egress.block': {
        const s = state as FwState;
        return ([4, 6] as const).every((fam) =>
          action.interfaces.every((i) =>
            action.uplinks.every((u) => s.rules.some((r) => r.family === fam && r.f['in-interface'] === i && r.f['out-interface'] === u)),
          ),
        );
      }
      case 'host.unblock':
      case 'egress.unblock': {
        const s = state as FwState;
        return ![...s.rules, ...s.entries].some((e) => tagOf(e.comment) === ctx.tag);
      }
      default:
        return unsupported(action, ctx);
    }
  },

  async apply(session, action, ctx) {
    const id = ctx.device.id;
    switch (action.kind) {
      case 'interface.disable':
      case 'interface.enable': {
        const [line] = routeros.render(action, ctx);
        return run(await shell(session, ctx), ctx, [line!]);
      }
      case 'port.vlan': {
        const sh = await shell(session, ctx);
        const s = await readPort(sh, ctx, name(id, action.interface));
        if (s.mode === TRUNK || s.tagged.length > 1) {
          throw new CommandRejected(
            `${id}: ${s.interface} is a trunk port (frame-types=${s.mode}, tagged in VLANs ${s.tagged.join(',') || 'none'}): port.vlan moves access ports only`,
          );
        }
        if (!s.vlanFiltering)
          throw new CommandRejected(`${id}: bridge ${s.bridge} has vlan-filtering=no: a PVID change would not isolate ${s.interface}`);
        const lines = [
          `/interface bridge port set [find interface=${q(s.interface)}] pvid=${checkVlan(id, action.vlan)} frame-types=${ACCESS}`,
        ];
        lines.push(...(await voiceLines(sh, ctx, s, null)));
        return run(sh, ctx, lines);
      }
      case 'port.restore': {
        const sh = await shell(session, ctx);
        const s = await readPort(sh, ctx, name(id, action.interface));
        return run(sh, ctx, [...restoreLines(id, action, s.bridge).slice(0, 1), ...(await voiceLines(sh, ctx, s, action.voiceVlan))]);
      }
      case 'host.block':
      case 'egress.block': {
        const sh = await shell(session, ctx);
        const s = await readFirewall(sh, ctx, action);
        // A retried apply first takes out what this tag left (RouterOS refuses a duplicate list entry).
        const leftover = [...s.rules, ...s.entries].some((e) => tagOf(e.comment) === checkTag(id, ctx.tag));
        const unblock: Action =
          action.kind === 'host.block'
            ? { kind: 'host.unblock', address: action.address }
            : { kind: 'egress.unblock', segment: action.segment };
        const removed = leftover ? await run(sh, ctx, removeLines(id, unblock, ctx.tag)) : '';
        // place-before=0 counts from the last print (so print after any removal); on an empty filter the rule simply goes in.
        const nonEmpty = { 4: (await print(sh, ctx, '/ip firewall filter print terse without-paging')).length > 0, 6: false };
        nonEmpty[6] = (await print(sh, ctx, '/ipv6 firewall filter print terse without-paging')).length > 0;
        const lines =
          action.kind === 'host.block'
            ? hostBlockLines(id, action.address, ctx.tag, nonEmpty[checkAddress(id, action.address)])
            : egressBlockLines(id, action, ctx.tag, nonEmpty);
        return [removed, await run(sh, ctx, lines)].filter(Boolean).join('\n');
      }
      case 'host.unblock':
      case 'egress.unblock':
        return run(await shell(session, ctx), ctx, removeLines(id, action, ctx.tag));
      default:
        return unsupported(action, ctx);
    }
  },

  invert(action, before, ctx) {
    return invertForward(SUPPORTS, action, before, () => routeros.holds(action, before, ctx));
  },
};

function name(id: string, iface: string): string {
  return checkInterface(id, iface);
}

/** A checked value for a command line, quoted when it holds anything RouterOS could read as syntax. */
function q(v: string): string {
  return /^[A-Za-z0-9._,-]+$/.test(v) ? v : `"${v}"`;
}

async function shell(session: Session, ctx: ActionContext): Promise<CliShell> {
  return sshSession('routeros', session, ctx).cli(ROUTEROS_PLATFORM);
}

function unsupported(action: unknown, ctx: ActionContext): never {
  return unsupportedAction('routeros', SUPPORTS, action, ctx);
}

/** Sends lines one by one; RouterOS acts on each at once, so the first refusal stops the rest. */
async function run(sh: CliShell, ctx: ActionContext, lines: string[]): Promise<string> {
  const out: string[] = [];
  for (const line of lines) out.push(await sh.send(line, { timeoutMs: ctx.timeoutMs }));
  return out.filter(Boolean).join('\n');
}

async function print(sh: CliShell, ctx: ActionContext, line: string): Promise<TerseItem[]> {
  return parseTerse(await sh.send(line, { timeoutMs: ctx.timeoutMs }));
}

/**
 * ` 4 XS comment=uplink to isp name=ether5 type=ether`: the number, flag letters up to the first
 * `key=`, then pairs split where the next `key=` starts (values may hold spaces, unquoted).
 * Lines that are not items (headers, log lines, blank) are skipped.
 */
export function parseTerse(text: string): TerseItem[] {
  const items: TerseItem[] = [];
  for (const line of text.split('\n')) {
    const m = /^\s*(\d+)\s(.*)$/.exec(line);
    if (!m) continue;
    const rest = m[2]!;
    const k = rest.search(/(?:^|\s)[a-z][a-z0-9.-]*=/);
    if (k < 0) continue;
    const flags = rest.slice(0, k).replace(/[^A-Z]/g, '');
    const f: Record<string, string> = {};
    for (const pair of rest
      .slice(k)
      .trim()
      .split(/\s+(?=[a-z][a-z0-9.-]*=)/)) {
      const eq = pair.indexOf('=');
      const v = pair.slice(eq + 1);
      f[pair.slice(0, eq)] = v.length >= 2 && v.startsWith('"') && v.endsWith('"') ? v.slice(1, -1) : v;
    }
    items.push({ n: Number(m[1]), flags, f });
  }
  return items;
}

async function readPort(sh: CliShell, ctx: ActionContext, dev: string): Promise<PortState> {
  const id = ctx.device.id;
  const port = (await print(sh, ctx, `/interface bridge port print terse without-paging where interface=${q(dev)}`)).find(
    (i) => i.f.interface === dev,
  );
  if (!port) {
    const known = await print(sh, ctx, `/interface print terse without-paging where name=${q(dev)}`);
    throw new CommandRejected(`${id}: ${known.length ? `interface "${dev}" is not a bridge port` : `interface "${dev}" does not exist`}`);
  }
  const bridge = checkInterface(id, port.f.bridge ?? '');
  const bridges = await print(sh, ctx, `/interface bridge print terse without-paging where name=${q(bridge)}`);
  const vlans = await print(sh, ctx, '/interface bridge vlan print terse without-paging');
  const tagged = vlans
    .filter((v) => v.f.bridge === bridge && (v.f.tagged ?? '').split(',').includes(dev))
    .flatMap((v) => vlanIds(v.f['vlan-ids'] ?? ''));
  const mode = port.f['frame-types'] ?? 'admit-all';
  return {
    interface: dev,
    bridge,
    vlanFiltering: bridges.some((b) => b.f['vlan-filtering'] === 'yes'),
    mode,
    vlan: Number(port.f.pvid ?? 1),
    voiceVlan: mode === 'admit-all' && tagged.length === 1 ? tagged[0]! : null,
    tagged,
  };
}

/** `10,20-22` -> [10, 20, 21, 22] */
function vlanIds(s: string): number[] {
  return s.split(',').flatMap((p) => {
    const [a, b] = p.split('-').map(Number);
    if (!Number.isInteger(a)) return [];
    return Array.from({ length: Number.isInteger(b) ? b! - a! + 1 : 1 }, (_, i) => a! + i);
  });
}

/**
 * Takes the port out of every VLAN it is tagged in (want null), or puts it back into `want`;
 * each entry's tagged list is rewritten from what was just read, keeping everyone else in it.
 */
async function voiceLines(sh: CliShell, ctx: ActionContext, s: PortState, want: number | null): Promise<string[]> {
  const id = ctx.device.id;
  const vlans = (await print(sh, ctx, '/interface bridge vlan print terse without-paging')).filter((v) => v.f.bridge === s.bridge);
  const lines: string[] = [];
  for (const v of vlans) {
    const ids = vlanIds(v.f['vlan-ids'] ?? '');
    const list = (v.f.tagged ?? '').split(',').filter(Boolean);
    const has = list.includes(s.interface);
    const next = want !== null && ids.includes(want) ? (has ? list : [...list, s.interface]) : list.filter((x) => x !== s.interface);
    if (next.length !== list.length) {
      // Device words go back onto a command line: checked like ours.
      for (const x of next) checkInterface(id, x);
      if (!/^[0-9,-]+$/.test(v.f['vlan-ids'] ?? ''))
        throw new CommandRejected(`${id}: unexpected vlan-ids ${JSON.stringify(v.f['vlan-ids'])}`);
      lines.push(
        `/interface bridge vlan set [find bridge=${q(s.bridge)} vlan-ids=${q(v.f['vlan-ids'] ?? '')}] tagged=${next.length ? q(next.join(',')) : '""'}`,
      );
    }
  }
  if (want !== null && !vlans.some((v) => vlanIds(v.f['vlan-ids'] ?? '').includes(want))) {
    lines.push(
      `/interface bridge vlan add bridge=${q(s.bridge)} vlan-ids=${checkVlan(id, want)} tagged=${q(`${s.bridge},${s.interface}`)}`,
    );
  }
  return lines;
}

/** frame-types from a restore's mode: RouterOS's own word, or the generic access/trunk/hybrid. */
function frameTypes(id: string, mode: string): string {
  const ft = ({ access: ACCESS, trunk: TRUNK, hybrid: 'admit-all' } as Record<string, string>)[mode] ?? mode;
  if (![ACCESS, TRUNK, 'admit-all'].includes(ft))
    throw new CommandRejected(`${id}: "${mode.slice(0, 60)}" is not a RouterOS frame-types value`);
  return ft;
}

function restoreLines(id: string, a: Extract<Action, { kind: 'port.restore' }>, bridge: string | null): string[] {
  const dev = name(id, a.interface);
  const lines = [
    `/interface bridge port set [find interface=${q(dev)}] pvid=${checkVlan(id, a.vlan ?? 1)} frame-types=${frameTypes(id, a.mode)}`,
  ];
  if (a.voiceVlan !== null)
    lines.push(
      `/interface bridge vlan set [find vlan-ids=${checkVlan(id, a.voiceVlan, 'voice VLAN')}${bridge ? ` bridge=${bridge}` : ''}] tagged=<its list plus ${dev}>`,
    );
  return lines;
}

const menuOf = (family: 4 | 6) => (family === 4 ? '/ip firewall' : '/ipv6 firewall');
const tagOf = (comment: string) => comment.split(' ')[0] ?? '';
/** An address-list name from the tag: letters, digits, `-`, `_`, `.` only. */
const listName = (tag: string, suffix = '') => `${tag.replace(/^fb:/, 'fb-').replace(/:/g, '-')}${suffix}`;

function comment(id: string, rawTag: string, action: Action): string {
  const tag = checkTag(id, rawTag);
  if (action.kind === 'host.block' || action.kind === 'host.unblock') {
    checkAddress(id, action.address);
    return `${tag} host.block ${action.address}`;
  }
  if (action.kind === 'egress.block' || action.kind === 'egress.unblock') return `${tag} egress.block ${checkSegment(id, action.segment)}`;
  throw new UnsupportedAction(`${id}: no firewall comment for ${action.kind}`);
}

/** An address-list entry plus a drop rule each way, in front of the operator's rules. */
function hostBlockLines(id: string, address: string, tag: string, front: boolean): string[] {
  const fw = menuOf(checkAddress(id, address));
  const c = comment(id, tag, { kind: 'host.block', address });
  const list = listName(tag);
  const place = front ? ' place-before=0' : '';
  return [
    `${fw} address-list add list=${list} address=${address} comment="${c}"`,
    `${fw} filter add chain=forward action=drop src-address-list=${list} comment="${c}"${place}`,
    `${fw} filter add chain=forward action=drop dst-address-list=${list} comment="${c}"${place}`,
  ];
}

/** Per address family: one drop rule per (segment interface, uplink), sparing the allow-list. */
function egressBlockLines(id: string, a: Extract<Action, { kind: 'egress.block' }>, tag: string, front: Record<4 | 6, boolean>): string[] {
  const c = comment(id, tag, a);
  if (!a.interfaces.length || !a.uplinks.length)
    throw new CommandRejected(`${id}: egress.block ${a.segment} needs segment interfaces and uplinks`);
  const lines: string[] = [];
  for (const fam of [4, 6] as const) {
    const allow = a.allow.filter((x) => checkAddress(id, x, 'allow entry') === fam);
    const list = listName(tag, '-allow');
    for (const x of allow) lines.push(`${menuOf(fam)} address-list add list=${list} address=${x} comment="${c}"`);
    for (const i of a.interfaces)
      for (const u of a.uplinks)
        lines.push(
          `${menuOf(fam)} filter add chain=forward action=drop in-interface=${q(name(id, i))} out-interface=${q(name(id, u))}${allow.length ? ` dst-address-list=!${list}` : ''} comment="${c}"${front[fam] ? ' place-before=0' : ''}`,
        );
  }
  return lines;
}

/** Removes exactly what the forward action added under this tag (found by its comment). */
function removeLines(id: string, action: Action, tag: string): string[] {
  const c = comment(id, tag, action);
  const fams: (4 | 6)[] = action.kind === 'host.unblock' ? [checkAddress(id, action.address)] : [4, 6];
  return fams.flatMap((f) => [
    `${menuOf(f)} filter remove [find comment="${c}"]`,
    `${menuOf(f)} address-list remove [find comment="${c}"]`,
  ]);
}

async function readFirewall(sh: CliShell, ctx: ActionContext, action: Action): Promise<FwState> {
  const id = ctx.device.id;
  const c = comment(id, ctx.tag, action);
  const suffix = c.slice(c.indexOf(' ')); // ` host.block 10.20.0.11`: any tag's entries for this subject
  const fams: (4 | 6)[] = 'address' in action ? [checkAddress(id, action.address)] : [4, 6];
  const state: FwState = { subject: suffix.trim(), rules: [], entries: [] };
  for (const family of fams) {
    for (const [what, into] of [
      ['filter', state.rules],
      ['address-list', state.entries],
    ] as const) {
      for (const it of await print(sh, ctx, `${menuOf(family)} ${what} print terse without-paging`)) {
        const cm = it.f.comment ?? '';
        if (!cm.endsWith(suffix) || !/^\S+$/.test(cm.slice(0, -suffix.length))) continue;
        const { comment: _, ...f } = it.f;
        const disabled = it.flags.includes('X') || f.disabled === 'yes';
        if (what === 'filter' && (disabled || f.action !== 'drop')) continue;
        into.push({ family, comment: cm, disabled, f });
      }
    }
  }
  return state;
}

/** Entries and rules grouped by the tag that added them. */
function byTag(s: FwState): { rules: FwEntry[]; entries: FwEntry[] }[] {
  const tags = new Set([...s.rules, ...s.entries].map((e) => tagOf(e.comment)));
  return [...tags].map((t) => ({
    rules: s.rules.filter((r) => tagOf(r.comment) === t),
    entries: s.entries.filter((e) => tagOf(e.comment) === t && !e.disabled),
  }));
}
