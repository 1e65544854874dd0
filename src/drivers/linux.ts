import type { Action, ActionKind, StaticRoute } from '../actions.js';
import type { Session, SshSession } from '../transports/types.js';
import type { ActionContext, Driver, State } from './driver.js';
import { CommandRejected } from '../errors.js';
import { redactor } from '../secrets.js';
import { addressFamily, checkAddress, checkInterface, checkMetric, checkRouteDst, checkSegment, checkTag } from './validate.js';
import { invertForward, type LinkState, linkHolds } from './port-state.js';
import { sshSession, unsupportedAction } from './unsupported.js';
import { deleteLines, ENSURE_LINES, listRules, parseComment, renderScript, runScript, TABLE, CHAIN, type NftRule } from './linux-nft.js';

/**
 * Linux router / firewall / bridge over SSH: iproute2 for links and routes, nftables (own table
 * `inet firebreak`) for blocks. Read-back uses `ip -j` and `nft -j` JSON.
 */
/** A Linux box does links and filters; switch-port VLANs and PDU outlets are other families' work. */
const SUPPORTS = [
  'interface.disable',
  'interface.enable',
  'host.block',
  'host.unblock',
  'egress.block',
  'egress.unblock',
] as const satisfies readonly ActionKind[];

/** Linux IFNAMSIZ is 16 bytes including the terminator. */
const LINUX_IFNAME_MAX = 15;
const SPLIT = '@@firebreak-split@@';

/** The link, and the static routes through it (the kernel drops them when it goes down). */
interface RoutedLinkState extends LinkState {
  routes: StaticRoute[];
}
interface HostState extends State {
  address: string;
  rules: NftRule[];
}
interface EgressState extends State {
  segment: string;
  rules: NftRule[];
}

export const linux: Driver = {
  family: 'linux',
  transport: 'ssh',
  supports: SUPPORTS,

  render(action, ctx) {
    const id = ctx.device.id;
    switch (action.kind) {
      case 'interface.disable':
        return [`ip link set dev ${iface(id, action.interface)} down`];
      case 'interface.enable':
        return enableCommands(id, action.interface, action.routes ?? []);
      case 'host.block':
        return renderScript(hostBlockLines(id, action.address, ctx.tag));
      case 'host.unblock':
        hostComment(id, checkTag(id, ctx.tag), action.address, 'src');
        return renderScript([`delete rule ${TABLE} ${CHAIN} handle <each rule tagged "${ctx.tag} host.block ${action.address}">`]);
      case 'egress.block':
        return renderScript(egressBlockLines(id, action, ctx.tag));
      case 'egress.unblock':
        checkTag(id, ctx.tag);
        return renderScript([
          `delete rule ${TABLE} ${CHAIN} handle <each rule tagged "${ctx.tag} egress.block ${checkSegment(id, action.segment)}">`,
        ]);
      default:
        return unsupported(action, ctx);
    }
  },

  async read(session, action, ctx) {
    const ssh = sshOf(session, ctx);
    const id = ctx.device.id;
    switch (action.kind) {
      case 'interface.disable':
      case 'interface.enable':
        return readLink(ssh, ctx, iface(id, action.interface));
      case 'host.block':
      case 'host.unblock': {
        checkAddress(id, action.address);
        const rules = await listRules(ssh, id, ctx.timeoutMs);
        return { address: action.address, rules: rules.filter((r) => isHostRule(r, action.address)) } satisfies HostState;
      }
      case 'egress.block':
      case 'egress.unblock': {
        const segment = checkSegment(id, action.segment);
        const rules = await listRules(ssh, id, ctx.timeoutMs);
        return { segment, rules: rules.filter((r) => isEgressRule(r, segment)) } satisfies EgressState;
      }
      default:
        return unsupported(action, ctx);
    }
  },

  holds(action, state, ctx) {
    switch (action.kind) {
      case 'interface.disable':
        return linkHolds(action, state);
      case 'interface.enable': {
        const s = state as RoutedLinkState;
        return s.adminUp === true && (action.routes ?? []).every((want) => s.routes.some((r) => sameRoute(r, want)));
      }
      case 'host.block': {
        // Our rules from any tag count: a second run finds the host already blocked.
        const rules = (state as HostState).rules;
        return rules.some((r) => r.drops === 'saddr') && rules.some((r) => r.drops === 'daddr');
      }
      case 'host.unblock':
        return !(state as HostState).rules.some((r) => parseComment(r.comment)?.tag === ctx.tag);
      case 'egress.block': {
        const quals = new Set((state as EgressState).rules.filter((r) => r.drops).map((r) => parseComment(r.comment)?.qualifier ?? 'all'));
        return quals.has('all') || (quals.has('ipv4') && quals.has('ipv6'));
      }
      case 'egress.unblock':
        return !(state as EgressState).rules.some((r) => parseComment(r.comment)?.tag === ctx.tag);
      default:
        return unsupported(action, ctx);
    }
  },

  async apply(session, action, ctx) {
    const ssh = sshOf(session, ctx);
    const id = ctx.device.id;
    switch (action.kind) {
      case 'interface.disable':
      case 'interface.enable': {
        const lines = linux.render(action, ctx);
        return runShell(ssh, id, lines.join(' && '), ctx.timeoutMs, action.interface);
      }
      case 'host.block':
        return runScript(ssh, id, hostBlockLines(id, action.address, ctx.tag), ctx.timeoutMs);
      case 'egress.block':
        return runScript(ssh, id, egressBlockLines(id, action, ctx.tag), ctx.timeoutMs);
      case 'host.unblock':
      case 'egress.unblock': {
        // Remove exactly what the original action added: its rules carry its tag.
        const tag = checkTag(id, ctx.tag);
        const state = (await linux.read(ssh, action, ctx)) as HostState | EgressState;
        const handles = state.rules.filter((r) => parseComment(r.comment)?.tag === tag).map((r) => r.handle);
        if (!handles.length) return `no rules tagged ${tag} left`;
        return runScript(ssh, id, deleteLines(handles), ctx.timeoutMs);
      }
      default:
        return unsupported(action, ctx);
    }
  },

  invert(action, before, ctx) {
    if (action.kind !== 'interface.disable') return invertForward(SUPPORTS, action, before, () => linux.holds(action, before, ctx));
    const s = before as RoutedLinkState;
    // A port that was already down stays down after rollback; the enable puts back its static routes.
    return s.adminUp ? { kind: 'interface.enable', interface: action.interface, routes: s.routes } : null;
  },
};

function iface(deviceId: string, name: string): string {
  return checkInterface(deviceId, name, LINUX_IFNAME_MAX);
}

function sshOf(session: Session, ctx: ActionContext): SshSession {
  return sshSession('linux', session, ctx);
}

function unsupported(action: unknown, ctx: ActionContext): never {
  return unsupportedAction('linux', SUPPORTS, action, ctx);
}

/** `ip link set ... up`, then put back the static routes the kernel dropped with the link. */
function enableCommands(id: string, name: string, routes: StaticRoute[]): string[] {
  const dev = iface(id, name);
  const lines = [`ip link set dev ${dev} up`];
  for (const r of routes) {
    checkRouteDst(id, r.dst);
    if (r.gateway !== undefined) checkAddress(id, r.gateway, 'gateway');
    checkMetric(id, r.metric);
    const v6 = addressFamily(r.gateway ?? '') === 6 || addressFamily(r.dst) === 6;
    lines.push(
      `ip ${v6 ? '-6 ' : ''}route replace ${r.dst}${r.gateway ? ` via ${r.gateway}` : ''} dev ${dev}${r.metric !== undefined ? ` metric ${r.metric}` : ''}`,
    );
  }
  return lines;
}

async function runShell(ssh: SshSession, id: string, command: string, timeoutMs: number, name: string): Promise<string> {
  const r = await ssh.exec(command, { timeoutMs });
  if (r.code !== 0) {
    if (/does not exist|Cannot find device/i.test(r.stderr)) throw new CommandRejected(`${id}: interface "${name}" does not exist`);
    throw new CommandRejected(`${id}: "${command}" failed (exit ${r.code}): ${redactor.text(r.stderr.trim()).slice(0, 300)}`);
  }
  return [r.stdout, r.stderr].filter(Boolean).join('\n');
}

/** One exec reads both the link flags and the non-kernel IPv4 routes through it. */
async function readLink(ssh: SshSession, ctx: ActionContext, dev: string): Promise<RoutedLinkState> {
  const id = ctx.device.id;
  const r = await ssh.exec(`ip -j link show dev ${dev} && echo ${SPLIT} && ip -j -4 route show dev ${dev}`, { timeoutMs: ctx.timeoutMs });
  if (r.code !== 0) {
    if (/does not exist/i.test(r.stderr)) throw new CommandRejected(`${id}: interface "${dev}" does not exist`);
    throw new CommandRejected(`${id}: reading interface "${dev}" failed (exit ${r.code}): ${redactor.text(r.stderr.trim()).slice(0, 300)}`);
  }
  const [linkJson = '', routeJson = ''] = r.stdout.split(SPLIT);
  const links = parseJson(id, linkJson) as Array<{ flags?: string[] }>;
  const routes = parseJson(id, routeJson) as Array<Record<string, unknown>>;
  const link = links[0];
  if (!link) throw new CommandRejected(`${id}: interface "${dev}" does not exist`);
  return {
    interface: dev,
    adminUp: (link.flags ?? []).includes('UP'),
    routes: routes
      .filter((x) => x['protocol'] !== 'kernel' && (x['type'] === undefined || x['type'] === 'unicast') && typeof x['dst'] === 'string')
      .map((x) => {
        const route: StaticRoute = { dst: x['dst'] as string };
        if (typeof x['gateway'] === 'string') route.gateway = x['gateway'];
        if (typeof x['metric'] === 'number') route.metric = x['metric'];
        return route;
      }),
  };
}

function parseJson(id: string, text: string): unknown[] {
  const t = text.trim();
  if (!t) return [];
  try {
    const v = JSON.parse(t) as unknown;
    return Array.isArray(v) ? v : [];
  } catch {
    throw new CommandRejected(`${id}: iproute2 did not return JSON`);
  }
}

function sameRoute(a: StaticRoute, b: StaticRoute): boolean {
  return a.dst === b.dst && (a.gateway ?? null) === (b.gateway ?? null) && (a.metric ?? 0) === (b.metric ?? 0);
}

function hostComment(id: string, tag: string, address: string, dir: 'src' | 'dst'): string {
  checkAddress(id, address);
  return `${tag} host.block ${address} ${dir}`;
}

function hostBlockLines(id: string, address: string, rawTag: string): string[] {
  const tag = checkTag(id, rawTag);
  const proto = checkAddress(id, address) === 6 ? 'ip6' : 'ip';
  return [
    ...ENSURE_LINES,
    `add rule ${TABLE} ${CHAIN} ${proto} saddr ${address} counter drop comment "${hostComment(id, tag, address, 'src')}"`,
    `add rule ${TABLE} ${CHAIN} ${proto} daddr ${address} counter drop comment "${hostComment(id, tag, address, 'dst')}"`,
  ];
}

function isHostRule(r: NftRule, address: string): boolean {
  const c = parseComment(r.comment);
  return c?.kind === 'host.block' && c.subject === address;
}

function isEgressRule(r: NftRule, segment: string): boolean {
  const c = parseComment(r.comment);
  return c?.kind === 'egress.block' && c.subject === segment;
}

/**
 * Without an allow-list: one drop rule. With one: a rule per address family, because in the inet
 * family `ip daddr != {...}` matches IPv4 only and would let all IPv6 through.
 */
function egressBlockLines(id: string, a: Extract<Action, { kind: 'egress.block' }>, rawTag: string): string[] {
  const tag = checkTag(id, rawTag);
  const segment = checkSegment(id, a.segment);
  if (!a.interfaces.length || !a.uplinks.length)
    throw new CommandRejected(`${id}: egress.block ${segment} needs segment interfaces and uplinks`);
  const set = (names: string[]) => `{ ${names.map((n) => `"${iface(id, n)}"`).join(', ')} }`;
  const head = `add rule ${TABLE} ${CHAIN} iifname ${set(a.interfaces)} oifname ${set(a.uplinks)}`;
  const comment = (q?: string) => `comment "${tag} egress.block ${segment}${q ? ` ${q}` : ''}"`;
  if (!a.allow.length) return [...ENSURE_LINES, `${head} counter drop ${comment()}`];
  const v4 = a.allow.filter((x) => checkAddress(id, x, 'allow entry') === 4);
  const v6 = a.allow.filter((x) => addressFamily(x) === 6);
  return [
    ...ENSURE_LINES,
    `${head} ${v4.length ? `ip daddr != { ${v4.join(', ')} }` : 'meta nfproto ipv4'} counter drop ${comment('ipv4')}`,
    `${head} ${v6.length ? `ip6 daddr != { ${v6.join(', ')} }` : 'meta nfproto ipv6'} counter drop ${comment('ipv6')}`,
  ];
}
