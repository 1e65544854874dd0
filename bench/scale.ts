/**
 * Containment at scale on simulated devices, local executor: N devices (default 200), 4 actions
 * each (every access port shut), every command answered after a simulated latency (default
 * 50 ms). The simulators run in their own process (`firebreak sim up`), the engine in this one, so
 * the peak RSS printed is the orchestrator's. Compares the time to contain with the critical path:
 * the same playbook on one device alone (the slowest device's serial time when nothing else runs).
 * Prints a table; asserts nothing. No root needed.
 *   node dist/bench/scale.js [devices=200] [latencyMs=50] [family=cisco-ios]
 */
import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createApp } from '../src/app/app.js';
import { planFromFiles } from '../src/app/open.js';
import { InventoryCache } from '../src/inventory/cache.js';
import { resolvePaths } from '../src/cli/config.js';
import { sqliteLeases } from '../src/coord/sqlite-leases.js';
import { drivers } from '../src/drivers/registry.js';
import { monotonicClock } from '../src/engine/clock.js';
import { localExecutor } from '../src/engine/executors/local.js';
import { WarmSessions } from '../src/engine/warm-sessions.js';
import { openSqliteJournal } from '../src/journal/sqlite.js';
import { resolveSecret } from '../src/secrets.js';
import { accessSwitches } from '../src/sim/access-switches.js';
import { openSession } from '../src/transports/connect.js';
import { root } from './lib/cli-run.js';
import { median, printTable, stats } from './lib/table.js';

const run = promisify(execFile);
const cli = join(root, 'dist', 'src', 'cli', 'main.js');
const devices = Number(process.argv[2] ?? 200);
const latencyMs = Number(process.argv[3] ?? 50);
const family = process.argv[4] ?? 'cisco-ios';
/** 200 access switches, four access ports each, on 127.40.x.y (a /16 of loopback of their own). */
function topology(): string {
  return accessSwitches({
    name: `scale-${devices}`,
    count: devices,
    sites: ['bench'],
    latencyMs,
    family,
    address: (i) => `127.40.${Math.floor(i / 200) + 1}.${(i % 200) + 10}`,
  });
}

interface Sample {
  ttc: number;
  skew: number;
  actions: number;
  planMs: number;
  prepareMs: number;
  strikeMs: number;
  verifyMs: number;
  rollbackMs: number;
}

const inventories = new InventoryCache();

async function contain(inventory: string, journal: string, warm?: WarmSessions): Promise<Sample> {
  const paths = resolvePaths({ inventory, journal, playbooks: join(root, 'bench', 'playbooks') });
  const triggerAt = monotonicClock();
  // As a long-running process plans (the API, a worker): the inventory parsed only when it changed.
  const plan = await planFromFiles(paths, { playbook: 'shut-access-ports', params: {} }, inventories);
  const j = openSqliteJournal(paths.journal);
  const leases = sqliteLeases(`${paths.journal}.leases`);
  const executor = localExecutor({
    journal: j,
    leases,
    drivers,
    openSession,
    resolveSecret,
    clock: monotonicClock,
    owner: 'bench',
    ...(warm ? { sessions: () => warm.forRun() } : {}),
  });
  const app = createApp({ journal: j, leases, executor, planner: async () => plan, clock: monotonicClock });
  try {
    const planMs = monotonicClock() - triggerAt;
    const r = await app.run(plan, { trigger: { kind: 'test', by: 'bench' }, triggerAt });
    if (r.state !== 'contained') throw new Error(`run ended ${r.state}: ${JSON.stringify(r.notDone.slice(0, 3))}`);
    // Where the time went: planning, then the stage's phases as the journal timed them.
    const entries = await j.entries(r.runId);
    const prepareMs = Number(entries.find((e) => e.type === 'stage.prepared')!.data.ms);
    // From the clock times the engine journals: the go (stage.prepared.at), each change applied, each read-back.
    const goAt = Number(entries.find((e) => e.type === 'stage.prepared')!.data.at);
    const times = (type: string) => entries.filter((e) => e.type === type).map((e) => Number(e.data.at));
    const lastApplied = Math.max(...times('action.applied'));
    const strikeMs = lastApplied - goAt;
    const verifyMs = Math.max(...times('action.verified')) - lastApplied;
    const rbAt = monotonicClock();
    const rb = await app.rollback(r.runId, { by: 'bench' });
    const rollbackMs = monotonicClock() - rbAt;
    if (rb.state !== 'rolled-back') throw new Error(`rollback ended ${rb.state}`);
    return {
      ttc: r.timeToContainMs ?? Number.NaN,
      skew: Math.max(...r.cutSkewMs),
      actions: r.actions.length,
      planMs,
      prepareMs,
      strikeMs,
      verifyMs,
      rollbackMs,
    };
  } finally {
    await leases.close();
    await j.close();
  }
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'fb-scale-'));
  const simDir = join(dir, 'sim');
  const topo = join(dir, 'scale.yaml');
  writeFileSync(topo, topology());
  const t0 = performance.now();
  const up = JSON.parse(
    (await run(process.execPath, [cli, 'sim', 'up', '--topology', topo, '--dir', simDir, '--json'], { timeout: 300_000 })).stdout,
  );
  const startMs = performance.now() - t0;
  try {
    // One device alone: the critical path.
    const one = join(dir, 'one');
    cpSync(up.inventory, one, { recursive: true });
    for (const f of readdirSync(one)) if (f !== 'sw0.yaml' && f !== '_orchestrator.yaml') rmSync(join(one, f));
    const single: Sample[] = [];
    for (let i = 0; i < 5; i++) single.push(await contain(one, join(dir, 'one.db')));
    const all: Sample[] = [];
    for (let i = 0; i < 3; i++) all.push(await contain(up.inventory, join(dir, 'all.db')));
    // The same with sessions kept open between runs, as workers near the devices would keep them.
    const warm = new WarmSessions(openSession, resolveSecret, { clock: monotonicClock, maxSessions: devices + 10 });
    const warmSingle: Sample[] = [];
    for (let i = 0; i < 5; i++) warmSingle.push(await contain(one, join(dir, 'one.db'), warm));
    const warmAll: Sample[] = [];
    for (let i = 0; i < 4; i++) warmAll.push(await contain(up.inventory, join(dir, 'all.db'), warm));
    warmAll.shift(); // the first opened the sessions
    const critical = median(single.map((s) => s.ttc));
    const ttc = median(all.map((s) => s.ttc));
    const rssMb = process.resourceUsage().maxRSS / 1024;
    printTable(
      `containment at scale: ${devices} simulated ${family} devices x 4 actions, ${latencyMs} ms per command (node ${process.version})`,
      ['figure', 'p50', 'p90', 'max', 'target'],
      [
        ['critical path: 1 device, 4 actions, time to contain (ms)', ...stats(single.map((s) => s.ttc)), ''],
        [`${all[0]!.actions} actions on ${devices} devices, time to contain (ms)`, ...stats(all.map((s) => s.ttc)), ''],
        ['time to contain / critical path', (ttc / critical).toFixed(2), '', '', '<= 1.2'],
        ...(['planMs', 'prepareMs', 'strikeMs', 'verifyMs'] as const).map((k) => [
          `  ${k.replace('Ms', '')} (ms): 1 device / ${devices} devices`,
          `${median(single.map((s) => s[k])).toFixed(0)} / ${median(all.map((s) => s[k])).toFixed(0)}`,
          '',
          '',
          '',
        ]),
        ['warm sessions: critical path, 1 device (ms)', ...stats(warmSingle.slice(1).map((s) => s.ttc)), ''],
        [`warm sessions: ${devices} devices (ms)`, ...stats(warmAll.map((s) => s.ttc)), ''],
        ...(['prepareMs', 'strikeMs', 'verifyMs'] as const).map((k) => [
          `  warm ${k.replace('Ms', '')} (ms): 1 device / ${devices} devices`,
          `${median(warmSingle.slice(1).map((s) => s[k])).toFixed(0)} / ${median(warmAll.map((s) => s[k])).toFixed(0)}`,
          '',
          '',
          '',
        ]),
        [
          'warm sessions: time to contain / critical path',
          (median(warmAll.map((s) => s.ttc)) / median(warmSingle.slice(1).map((s) => s.ttc))).toFixed(2),
          '',
          '',
          '<= 1.2',
        ],
        ['cut skew (ms)', ...stats(all.map((s) => s.skew)), '< 250'],
        [
          `rollback (ms): 1 device / ${devices} devices, cold; the same warm`,
          `${median(single.map((s) => s.rollbackMs)).toFixed(0)} / ${median(all.map((s) => s.rollbackMs)).toFixed(0)}; ${median(warmSingle.slice(1).map((s) => s.rollbackMs)).toFixed(0)} / ${median(warmAll.map((s) => s.rollbackMs)).toFixed(0)}`,
          '',
          '',
          '',
        ],
        ['orchestrator peak RSS (MB)', rssMb.toFixed(0), '', '', '< 300'],
        [`sim up of ${devices} devices (ms)`, startMs.toFixed(0), '', '', ''],
      ],
    );
  } finally {
    await run(process.execPath, [cli, 'sim', 'down', '--dir', simDir]).catch((e) => console.error(`sim down: ${e.message}`));
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
