import { setTimeout as sleep } from 'node:timers/promises';
import { LabError } from '../errors.js';
import { must, run } from './exec.js';
import { ADDRESSES, BRIDGE, FBLAB_NFT, LAB_PREFIXES, NAMESPACE_LIST, ROUTES, VETHS, type LabNamespace } from './layout.js';
import { addNamespace, ipJson, listNamespaces } from './netns.js';

/** Builds the namespaces, links, addresses, routes and the lab's nft table; checks them back. */

interface IpAddr {
  ifindex: number;
  ifname: string;
  flags: string[];
  master?: string;
  addr_info: Array<{ family: string; local: string; prefixlen: number }>;
}
interface IpRoute {
  dst: string;
  gateway?: string;
  type?: string;
}

const nsArgs = (ns: LabNamespace | null): string[] => (ns === null ? [] : ['-n', ns]);

/** Builds the whole topology into namespaces that do not exist yet (callers tear down first). */
export async function buildTopology(log: (line: string) => void): Promise<void> {
  for (const ns of NAMESPACE_LIST) await addNamespace(ns);
  for (const [a, b] of VETHS) {
    const args = ['link', 'add', a.name];
    if (a.ns) args.push('netns', a.ns);
    args.push('type', 'veth', 'peer', 'name', b.name);
    if (b.ns) args.push('netns', b.ns);
    await must('ip', args);
  }
  await must('ip', ['-n', BRIDGE.ns, 'link', 'add', BRIDGE.name, 'type', 'bridge']);
  for (const port of BRIDGE.ports) await must('ip', ['-n', BRIDGE.ns, 'link', 'set', port, 'master', BRIDGE.name]);
  for (const a of ADDRESSES) await must('ip', [...nsArgs(a.ns), 'addr', 'replace', a.cidr, 'dev', a.dev]);
  for (const [a, b] of VETHS) {
    await must('ip', [...nsArgs(a.ns), 'link', 'set', a.name, 'up']);
    await must('ip', [...nsArgs(b.ns), 'link', 'set', b.name, 'up']);
  }
  await must('ip', ['-n', BRIDGE.ns, 'link', 'set', BRIDGE.name, 'up']);
  for (const r of ROUTES) await must('ip', ['-n', r.ns, 'route', 'replace', r.dst, 'via', r.via]);
  await must('ip', ['netns', 'exec', 'fb-fw', 'sysctl', '-qw', 'net.ipv4.ip_forward=1']);
  await must('ip', ['netns', 'exec', 'fb-fw', 'nft', '-f', '-'], { input: FBLAB_NFT });
  await waitForwarding();
  log('lab: topology built (5 namespaces, 6 veth pairs, bridge br0, nft table inet fblab)');
}

/** Veth carriers and bridge ports come up asynchronously: wait (at most 5 s) until all forward. */
async function waitForwarding(): Promise<void> {
  const end = Date.now() + 5000;
  let pending: string[] = [];
  while (Date.now() < end) {
    const [links, ports] = await Promise.all([
      ipJson<IpAddr>(BRIDGE.ns, ['link', 'show']),
      run('bridge', ['-j', '-n', BRIDGE.ns, 'link', 'show']),
    ]);
    const states = bridgePorts(ports.stdout);
    pending = BRIDGE.ports.filter(
      (port) =>
        !links.find((l) => l.ifname === port)?.flags.includes('LOWER_UP') || states.find((x) => x.ifname === port)?.state !== 'forwarding',
    );
    if (pending.length === 0) return;
    await sleep(20);
  }
  throw new LabError(`lab: bridge ports not forwarding after 5 s: ${pending.join(', ')}`);
}

/** `ip route replace unreachable <prefix>` for every lab prefix: nothing aimed at the lab leaves the machine. */
export async function addSafetyRoutes(): Promise<void> {
  for (const p of LAB_PREFIXES) await must('ip', ['route', 'replace', 'unreachable', p]);
}

export async function removeSafetyRoutes(): Promise<void> {
  // `unreachable` in the selector: only our blackhole routes match, never someone's real route.
  for (const p of LAB_PREFIXES) await run('ip', ['route', 'del', 'unreachable', p]);
}

export interface TopologyCheck {
  /** Structural faults: the lab must be rebuilt. */
  problems: string[];
  /** State someone changed on purpose or by accident (link down, extra nft tables): reported, not rebuilt. */
  drift: string[];
  /** ifindex per namespace and interface name. */
  ifindex: Record<string, Record<string, number>>;
}

/** Compares the running lab with the layout; a handful of `ip`/`nft` calls, run in parallel. */
export async function checkTopology(): Promise<TopologyCheck> {
  const problems: string[] = [];
  const drift: string[] = [];
  const ifindex: Record<string, Record<string, number>> = {};
  const present = new Set(await listNamespaces());
  const missing = NAMESPACE_LIST.filter((ns) => !present.has(ns));
  if (missing.length) return { problems: [`namespaces missing: ${missing.join(', ')}`], drift, ifindex };

  const scopes: Array<LabNamespace | null> = [null, ...NAMESPACE_LIST];
  const [addrs, routes, rootRoutes, forward, fblab, fwTables, swTables, ports] = await Promise.all([
    Promise.all(scopes.map((ns) => ipJson<IpAddr>(ns, ['addr', 'show']))),
    Promise.all(NAMESPACE_LIST.map((ns) => ipJson<IpRoute>(ns, ['route', 'show']))),
    ipJson<IpRoute>(null, ['route', 'show', 'type', 'unreachable']),
    run('ip', ['netns', 'exec', 'fb-fw', 'cat', '/proc/sys/net/ipv4/ip_forward']),
    run('ip', ['netns', 'exec', 'fb-fw', 'nft', 'list', 'table', 'inet', 'fblab']),
    run('ip', ['netns', 'exec', 'fb-fw', 'nft', '-j', 'list', 'tables']),
    run('ip', ['netns', 'exec', 'fb-sw', 'nft', '-j', 'list', 'tables']),
    run('bridge', ['-j', '-n', BRIDGE.ns, 'link', 'show']),
  ]);
  const links = new Map<string, IpAddr>();
  scopes.forEach((ns, i) => {
    const key = ns ?? 'root';
    if (ns !== null) ifindex[key] = {};
    for (const l of addrs[i] ?? []) {
      links.set(`${key}/${l.ifname}`, l);
      if (ns !== null) ifindex[key]![l.ifname] = l.ifindex;
    }
  });
  const linkOf = (ns: LabNamespace | null, name: string) => links.get(`${ns ?? 'root'}/${name}`);

  for (const end of VETHS.flat()) {
    const l = linkOf(end.ns, end.name);
    if (!l) problems.push(`link ${end.ns ?? 'root'}:${end.name} missing`);
    else if (!l.flags.includes('UP')) drift.push(`link ${end.ns ?? 'root'}:${end.name} is admin down`);
  }
  const br = linkOf(BRIDGE.ns, BRIDGE.name);
  if (!br) problems.push(`bridge ${BRIDGE.ns}:${BRIDGE.name} missing`);
  else if (!br.flags.includes('UP')) drift.push(`bridge ${BRIDGE.ns}:${BRIDGE.name} is admin down`);
  for (const port of BRIDGE.ports) {
    const l = linkOf(BRIDGE.ns, port);
    if (l && l.master !== BRIDGE.name) problems.push(`${BRIDGE.ns}:${port} is not a port of ${BRIDGE.name}`);
  }
  for (const port of bridgePorts(ports.stdout)) {
    if (port.state !== 'forwarding' && linkOf(BRIDGE.ns, port.ifname)?.flags.includes('LOWER_UP')) {
      drift.push(`${BRIDGE.ns}:${port.ifname} bridge port state is ${port.state}`);
    }
  }
  for (const a of ADDRESSES) {
    const [local, len] = a.cidr.split('/');
    const l = linkOf(a.ns, a.dev);
    if (l && !l.addr_info.some((x) => x.family === 'inet' && x.local === local && String(x.prefixlen) === len)) {
      problems.push(`address ${a.cidr} missing on ${a.ns ?? 'root'}:${a.dev}`);
    }
  }
  for (const r of ROUTES) {
    const table = routes[NAMESPACE_LIST.indexOf(r.ns)] ?? [];
    if (!table.some((x) => x.dst === r.dst && x.gateway === r.via)) problems.push(`route ${r.dst} via ${r.via} missing in ${r.ns}`);
  }
  for (const p of LAB_PREFIXES) {
    if (!rootRoutes.some((x) => x.dst === p)) problems.push(`safety route "unreachable ${p}" missing in the root namespace`);
  }
  if (forward.stdout.trim() !== '1') problems.push('fb-fw: net.ipv4.ip_forward is not 1');
  if (fblab.code !== 0) problems.push('fb-fw: nft table inet fblab missing');
  for (const [ns, r] of [
    ['fb-fw', fwTables],
    ['fb-sw', swTables],
  ] as const) {
    for (const t of nftTables(r.stdout)) if (!(ns === 'fb-fw' && t === 'inet fblab')) drift.push(`${ns}: extra nft table ${t}`);
  }
  return { problems, drift, ifindex };
}

/** Undoes drift so tests start from a clean lab: links up, ports forwarding, foreign nft tables gone. */
export async function resetDrift(log: (line: string) => void): Promise<void> {
  for (const [a, b] of VETHS) {
    await must('ip', [...nsArgs(a.ns), 'link', 'set', a.name, 'up']);
    await must('ip', [...nsArgs(b.ns), 'link', 'set', b.name, 'up']);
  }
  await must('ip', ['-n', BRIDGE.ns, 'link', 'set', BRIDGE.name, 'up']);
  for (const port of BRIDGE.ports) await must('bridge', ['-n', BRIDGE.ns, 'link', 'set', 'dev', port, 'state', '3']);
  for (const ns of ['fb-fw', 'fb-sw'] as const) {
    const r = await run('ip', ['netns', 'exec', ns, 'nft', '-j', 'list', 'tables']);
    for (const t of nftTables(r.stdout)) {
      if (ns === 'fb-fw' && t === 'inet fblab') continue;
      const [family, name] = t.split(' ') as [string, string];
      await must('ip', ['netns', 'exec', ns, 'nft', 'delete', 'table', family, name]);
      log(`lab: reset: deleted nft table ${t} in ${ns}`);
    }
  }
}

function bridgePorts(json: string): Array<{ ifname: string; state: string }> {
  try {
    return (JSON.parse(json) as Array<{ ifname: string; state?: string }>).map((x) => ({ ifname: x.ifname, state: x.state ?? '?' }));
  } catch {
    return [];
  }
}

function nftTables(json: string): string[] {
  try {
    const doc = JSON.parse(json) as { nftables?: Array<{ table?: { family: string; name: string } }> };
    return (doc.nftables ?? []).flatMap((x) => (x.table ? [`${x.table.family} ${x.table.name}`] : []));
  } catch {
    return [];
  }
}
