import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Action } from '../actions.js';
import { resolvePaths } from '../cli/config.js';
import { packageRoot } from '../package-root.js';
import { openApp } from '../app/open.js';
import { formatEvent, formatPlan } from '../cli/print.js';
import { drivers } from '../drivers/registry.js';
import { monotonicClock } from '../engine/clock.js';
import type { RunEvent, RunResult } from '../engine/events.js';
import { parseVia } from '../inventory/schema.js';
import type { Plan } from '../plan/types.js';
import { startNetwork } from '../sim/network.js';
import { simulators } from '../sim/registry.js';
import { loadTopology, type Topology } from '../sim/topology.js';
import type { SimSnapshot } from '../sim/types.js';

/**
 * The demo without root: the simulated municipal network, in this process. Start it, snapshot
 * every device, run drop-internet-uplinks and isolate-host (by port) live through the same engine
 * as the lab demo, check the snapshots show each change, roll both runs back, and compare every
 * port with the snapshot taken before the first run.
 */

const SIM_PORTS = { ssh: 20022, snmp: 20161 }; // apart from `sim up` (22/161 or 10022/10161)

export async function runSimDemo(say: (s: string) => void, why: string): Promise<number> {
  say(`The namespace lab can't be built here (${why}): running the simulated municipal network in-process instead.`);
  const all = await loadTopology(join(packageRoot, 'topologies', 'municipal.yaml'), { simulators, skipUnregistered: true });
  const topology = drivenOnly(all);
  for (const s of all.skipped) say(`   left out: ${s.id} (no simulator for ${s.family} yet)`);
  for (const d of all.devices) if (!topology.devices.includes(d)) say(`   left out: ${d.id} (no driver for ${d.family} yet)`);
  if (topology.devices.length === 0) {
    say('DEMO FAILED: no device of the municipal topology has both a simulator and a driver yet');
    return 1;
  }
  const dir = await mkdtemp(join(tmpdir(), 'fb-sim-demo-'));
  say(`== 1. start ${topology.devices.length} simulated devices (loopback 127.31.x.y, ssh ${SIM_PORTS.ssh}, snmp ${SIM_PORTS.snmp})`);
  const net = await startNetwork(topology, { dir, ports: SIM_PORTS });
  const paths = resolvePaths({ inventory: net.inventoryDir, journal: join(dir, 'journal.db') });
  // The demo always runs in-process (local executor), queue or not.
  const app = await openApp({ paths, local: true });
  const journal = app.journal;
  const problems: string[] = [];
  try {
    say(`   inventory: ${net.inventoryDir}`);
    const snapshot = () => new Map(net.devices.map((s) => [s.spec.id, s.control.snapshot()]));
    const before = snapshot();
    const onEvent = (e: RunEvent) => {
      const l = formatEvent(e);
      if (l) say(`   ${l}`);
    };

    const live = async (n: number, playbook: string, params: Record<string, string>): Promise<RunResult | undefined> => {
      say(
        `== ${n}. ${playbook} ${Object.entries(params)
          .map(([k, v]) => `${k}=${v}`)
          .join(' ')}`,
      );
      const triggerAt = monotonicClock();
      const plan = await app.preview({ playbook, params });
      say(formatPlan(plan).replace(/^/gm, '   '));
      if (plan.errors.length > 0) {
        problems.push(`${playbook}: the plan has errors`);
        return undefined;
      }
      const result = await app.run(plan, { trigger: { kind: 'demo', by: 'demo', reason: 'sim demo' }, triggerAt }, { onEvent });
      if (result.state !== 'contained') problems.push(`${playbook}: run ended ${result.state}`);
      const seen = checkShown(plan, before, snapshot());
      problems.push(...seen.map((p) => `${playbook}: ${p}`));
      say(
        `   ${result.state} in ${result.timeToContainMs} ms; snapshots ${seen.length ? `DO NOT show: ${seen.join('; ')}` : 'show every change'}`,
      );
      return result;
    };

    const runs: RunResult[] = [];
    const cut = await live(2, 'drop-internet-uplinks', {});
    if (cut) runs.push(cut);
    const port = accessPort(topology, before);
    if (port) {
      const isolated = await live(3, 'isolate-host', { port });
      if (isolated) runs.push(isolated);
    } else problems.push('isolate-host: no access port that is up on a driven switch');

    say('== 4. roll back, newest run first');
    for (const run of runs.reverse()) {
      const rb = await app.rollback(run.runId, { by: 'demo', reason: 'demo over', onEvent });
      if (rb.state !== 'rolled-back') problems.push(`rollback of ${run.runId}: ${rb.state}`);
    }
    const diffs = compare(before, snapshot());
    say(
      `== 5. every port and filter compared with the snapshot before the first run: ${diffs.length ? `${diffs.length} differ` : 'all as before'}`,
    );
    for (const d of diffs) say(`   ${d}`);
    problems.push(...diffs);
    const check = await journal.verify();
    say(`   journal: ${check.entries} entries, hash chain ${check.ok ? 'verified' : `BROKEN: ${check.problems.join('; ')}`}`);
    if (!check.ok) problems.push('journal hash chain broken');
  } finally {
    await app.close();
    await net.stop();
    await rm(dir, { recursive: true, force: true });
  }
  for (const p of problems) say(`   problem: ${p}`);
  say(problems.length === 0 ? 'DEMO OK' : 'DEMO FAILED: see above');
  return problems.length === 0 ? 0 : 1;
}

/** The devices that have a driver; management-path links through the others are dropped with them. */
function drivenOnly(t: Topology): Topology {
  const devices = t.devices.filter((d) => Object.hasOwn(drivers, d.family));
  const kept = new Set(devices.map((d) => d.id));
  for (const d of devices) d.managementPath.via = d.managementPath.via.filter((v) => kept.has(parseVia(v)?.device ?? ''));
  return { ...t, devices };
}

/** The first access port that is up, on the first driven access switch: `device:port`. */
function accessPort(t: Topology, snaps: Map<string, SimSnapshot>): string | undefined {
  for (const d of t.devices) {
    if (!d.tags?.includes('access')) continue;
    const p = d.ports.find((x) => x.roles?.includes('access') && snaps.get(d.id)?.ports[x.name]?.adminUp);
    if (p) return `${d.id}:${p.name}`;
  }
  return undefined;
}

/** What each planned action should have left on its device, read from the snapshots; problems as text. */
function checkShown(plan: Plan, before: Map<string, SimSnapshot>, after: Map<string, SimSnapshot>): string[] {
  const out: string[] = [];
  for (const a of plan.actions) {
    const snap = after.get(a.device);
    const problem = snap ? shows(a.action, snap, before.get(a.device)!) : 'no snapshot';
    if (problem) out.push(`${a.device} ${a.action.kind}: ${problem}`);
  }
  return out;
}

function shows(action: Action, snap: SimSnapshot, was: SimSnapshot): string | null {
  switch (action.kind) {
    case 'interface.disable':
      return snap.ports[action.interface]?.adminUp === false ? null : `${action.interface} is not down`;
    case 'port.vlan':
      return snap.ports[action.interface]?.vlan === action.vlan ? null : `${action.interface} is not in VLAN ${action.vlan}`;
    case 'power.off':
      return snap.outlets?.[action.outlet] === false ? null : `outlet ${action.outlet} is not off`;
    case 'host.block':
      return snap.rules.some((r) => r.text.includes(action.address)) ? null : `no filter names ${action.address}`;
    default:
      return JSON.stringify(snap.rules) !== JSON.stringify(was.rules) ? null : 'no filter changed';
  }
}

function compare(before: Map<string, SimSnapshot>, after: Map<string, SimSnapshot>): string[] {
  const out: string[] = [];
  for (const [id, was] of before) {
    const now = after.get(id)!;
    for (const [name, port] of Object.entries(was.ports)) {
      if (JSON.stringify(port) !== JSON.stringify(now.ports[name])) {
        out.push(`${id} ${name}: before ${JSON.stringify(port)}, now ${JSON.stringify(now.ports[name])}`);
      }
    }
    if (JSON.stringify(was.outlets) !== JSON.stringify(now.outlets)) out.push(`${id} outlets differ`);
    if (JSON.stringify(was.rules) !== JSON.stringify(now.rules)) out.push(`${id} filters differ: ${now.rules.map((r) => r.id).join(', ')}`);
  }
  return out;
}
