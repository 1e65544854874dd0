/**
 * Containment at scale through the queue (issue 6): 200 simulated Cisco IOS access switches
 * (127.40.x.y, four access ports each, 50 ms per command), split over two sites A and B, two
 * `firebreak worker` PROCESSES (`--site A`, `--site B`, both also coordinating runs), the journal
 * in PostgreSQL (this bench's own schema), Redis keys under this bench's own prefix.
 *
 * What it measures (prints tables, asserts nothing):
 * - time to contain (TTC) of bench/playbooks/shut-access-ports.yaml on all devices, against the
 *   critical path: the same playbook on ONE device (sw0, site A) alone, through the same queue and
 *   workers, with warm worker sessions. TTC = the engine's own timeToContainMs: from triggerAt (taken
 *   by this client just BEFORE planning, as bench/scale.ts does) to the last read-back that verified
 *   a change, the latter on the worker's clock (same host). Target: TTC <= 1.5 x critical path.
 * - cut skew: the run's cutSkewMs (the spread of the moments each device's change returned,
 *   measured in two worker processes; their clocks are performance.timeOrigin-based wall clocks of
 *   the same host). Target < 250 ms.
 * - enqueue to first device command, warm worker sessions, on the 1-device runs: from the client's
 *   call to executor.execute() (app.execute(runId): it journals `run.state queued` and adds the run
 *   job to Redis; run.created is already durable before it) to the moment the simulated switch
 *   received its first command line of the run (the read of the first port). The simulators run in
 *   THIS process (startNetwork, as test/service.e2e.test.ts does), so both ends are read from one
 *   clock: a 1 ms interval polls the device's received() log (which has no timestamps) and takes
 *   the first time it grew; the figure is thus late by at most ~1 ms of polling plus this process's
 *   event-loop delay. Nothing is added to src. Target: median < 30 ms over >= 20 runs.
 *   The first command of a warm run is the pre-state read of the first port (`show running-config
 *   interface ...`): a warm session sends nothing on get().
 * Warm: one run of the whole playbook goes first (it opens the sessions; printed as "cold"), then
 * RUNS measured runs of the whole network, then one warm-up and SINGLES measured runs on sw0 alone.
 * Every run is rolled back through the queue before the next (its wall time is printed too); no
 * further run of the whole network starts after 150 s. "Fresh
 * logins" counts `terminal length 0` lines received by the sims during a run (the first line of a
 * new CLI session): a warm run has none. Where the time goes is printed per phase from the
 * journal's timestamps (written by this client and the workers, one host, one wall clock).
 * The sims share this machine's 2 cores with the workers, PostgreSQL and Redis.
 *
 * The client is the application layer in this process (openApp with REDIS_URL, exactly what
 * `firebreak run` does after it started), so node's start-up is not counted in TTC.
 *   npx tsc -p tsconfig.json && node dist/bench/queue-scale.js [devices=200] [runs=5] [singles=22]
 */
import { cpSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import type { App } from '../src/app/app.js';
import { openApp, planFromFiles } from '../src/app/open.js';
import { InventoryCache } from '../src/inventory/cache.js';
import type { JournalEntry, JournalStore } from '../src/journal/types.js';
import type { SimControl } from '../src/sim/types.js';
import {
  ACCESS_PORTS,
  benchEnv,
  fbEnv,
  fmt,
  now,
  openBenchJournal,
  PG_URL,
  PLAYBOOKS,
  REDIS_URL,
  type SimDevice,
  startSims,
  startWorker,
  tsOf,
} from './lib/queue-bench.js';
import { median, printTable, stats } from './lib/table.js';

const DEVICES = Number(process.argv[2] ?? 200);
const RUNS = Number(process.argv[3] ?? 5);
const SINGLES = Number(process.argv[4] ?? 22);
/** No further measured run of the whole network starts after this (the bench stays near 5 minutes). */
const BIG_RUNS_BUDGET_MS = 150_000;
const LATENCY_MS = 50;
const SSH_PORT = 10722;

const env = benchEnv('queue-scale', { hardTimeoutMs: 330_000 });
const T0 = now();
const progress = (line: string) => process.stderr.write(`[${((now() - T0) / 1000).toFixed(1)} s] ${line}\n`);

interface Sample {
  runId: string;
  state: string;
  ttc: number;
  skew: number;
  actions: number;
  firstContact: number;
  /** Phases, ms. */
  plan: number;
  created: number;
  queuedAppend: number;
  pickup: number;
  toContact: number;
  prepare: number;
  barrierWait: number;
  strikeVerify: number;
  finish: number;
  /** execute() call -> first command received by the watched device (1-device runs). */
  execToCmd?: number;
  /** First command -> its intent durable in the journal. */
  cmdToIntent?: number;
  /** Fresh CLI sessions opened on the devices during the run (a warm run opens none). */
  fresh: number;
  rollbackMs: number;
  ready: number;
  late: number;
}

/** `terminal length 0` is what a new CLI session sends first: a warm session never sends it again. */
const isLogin = (l: string) => /^terminal length 0$/.test(l.trim());

function watchFirstCommand(control: SimControl): { stop(): number | undefined } {
  const base = control.received!().length;
  let at: number | undefined;
  const t = setInterval(() => {
    if (at === undefined && control.received!().length > base) at = now();
  }, 1);
  return {
    stop() {
      clearInterval(t);
      return at;
    },
  };
}

const inventories = new InventoryCache();

async function contain(app: App, journal: JournalStore, inventory: string, controls: SimControl[], watch?: SimControl): Promise<Sample> {
  const paths = { inventory, playbooks: PLAYBOOKS, journal: join(env.dir, 'client.db') };
  const before = controls.map((c) => c.received!().length);
  const t0 = now();
  // As a long-running service plans: the inventory parsed again only when a file changed.
  const plan = await planFromFiles(paths, { playbook: 'shut-access-ports', params: {} }, inventories);
  const tPlanned = now();
  const { runId } = await app.createRun(plan, { trigger: { kind: 'test', by: 'queue-scale' }, triggerAt: t0 });
  const tCreated = now();
  const w = watch ? watchFirstCommand(watch) : undefined;
  const tExec = now();
  const r = await app.execute(runId);
  progress(`${plan.actions.length} actions: ${r.state} ttc ${r.timeToContainMs} ms (wall ${fmt(now() - t0)} ms)`);
  const cmdAt = w?.stop();
  const entries = await journal.entries(runId);
  const fresh = controls.reduce((n, c, i) => n + c.received!().slice(before[i]).filter(isLogin).length, 0);
  const tRb = now();
  const rb = await app.rollback(runId, { by: 'queue-scale' });
  const rollbackMs = now() - tRb;
  progress(`  rollback ${rb.state} in ${fmt(rollbackMs)} ms`);
  if (rb.state !== 'rolled-back') console.error(`rollback of ${runId} ended ${rb.state}: ${JSON.stringify(rb.notReverted.slice(0, 3))}`);
  const state = (s: string) => entries.find((e) => e.type === 'run.state' && e.data.state === s);
  const barrier = entries.find((e) => e.type === 'stage.barrier');
  const final = entries.filter((e) => e.type === 'run.state').at(-1)!;
  const ttc = r.timeToContainMs ?? Number.NaN;
  const firstContact = r.firstContactMs ?? Number.NaN;
  const firstIntent = entries.find((e) => e.type === 'action.intent' || e.type === 'action.already');
  const ms = (a: JournalEntry | undefined, b: number) => (a ? tsOf(a) - b : Number.NaN);
  const running = state('running');
  return {
    runId,
    state: r.state,
    ttc,
    skew: Math.max(0, ...r.cutSkewMs),
    actions: r.actions.length,
    firstContact,
    plan: tPlanned - t0,
    created: tCreated - tPlanned,
    queuedAppend: ms(state('queued'), tExec),
    pickup: running && state('queued') ? tsOf(running) - tsOf(state('queued')!) : Number.NaN,
    toContact: running ? t0 + firstContact - tsOf(running) : Number.NaN,
    prepare: barrier ? tsOf(barrier) - (t0 + firstContact) : Number.NaN,
    barrierWait: Number(barrier?.data.waitedMs ?? Number.NaN),
    strikeVerify: barrier ? t0 + ttc - tsOf(barrier) : Number.NaN,
    finish: tsOf(final) - (t0 + ttc),
    ...(cmdAt !== undefined ? { execToCmd: cmdAt - tExec, cmdToIntent: ms(firstIntent, cmdAt) } : {}),
    fresh,
    rollbackMs,
    ready: (barrier?.data.ready as string[] | undefined)?.length ?? 0,
    late: (barrier?.data.late as string[] | undefined)?.length ?? 0,
  };
}

/** An inventory holding only `keep` (and the orchestrator's own entry). */
function subInventory(from: string, name: string, keep: (id: string) => boolean): string {
  const dir = join(env.dir, name);
  cpSync(from, dir, { recursive: true });
  for (const f of readdirSync(dir)) if (f !== '_orchestrator.yaml' && !keep(f.replace(/\.yaml$/, ''))) rmSync(join(dir, f));
  return dir;
}

async function rtt(): Promise<{ redis: number; pg: number }> {
  const r = new Redis(REDIS_URL);
  const j = await openBenchJournal(env);
  try {
    const rs: number[] = [];
    const ps: number[] = [];
    for (let i = 0; i < 30; i++) {
      let t = now();
      await r.ping();
      rs.push(now() - t);
      t = now();
      await j.append('r-bench-append-probe', 'run.lease-lost', { probe: i });
      ps.push(now() - t);
    }
    return { redis: median(rs), pg: median(ps) };
  } finally {
    r.disconnect();
    await j.close();
  }
}

async function main(): Promise<void> {
  const devices: SimDevice[] = Array.from({ length: DEVICES }, (_, i) => ({
    id: `sw${i}`,
    site: i < DEVICES / 2 ? 'A' : 'B',
    address: `127.40.${Math.floor(i / 200) + 1}.${(i % 200) + 10}`,
  }));
  const t0 = now();
  const net = await startSims(env, 'qscale', devices, LATENCY_MS, SSH_PORT);
  const simUpMs = now() - t0;
  progress(`${DEVICES} sims up in ${fmt(simUpMs)} ms`);
  const controls = net.devices.map((d) => d.control);
  const one = subInventory(net.inventoryDir, 'one', (id) => id === 'sw0');

  const wenv = fbEnv(env);
  const tw = now();
  const [wa, wb] = await Promise.all([startWorker(env, 'worker-A', ['A'], wenv), startWorker(env, 'worker-B', ['B'], wenv)]);
  const workerStartMs = now() - tw;
  const app = await openApp({
    paths: { inventory: net.inventoryDir, playbooks: PLAYBOOKS, journal: join(env.dir, 'client.db') },
    databaseUrl: PG_URL,
    databaseSchema: env.schema,
    redisUrl: REDIS_URL,
    redisPrefix: env.prefix,
    onBreakGlass: (why) => console.error(`BREAK-GLASS (unexpected): ${why}`),
  });
  if (app.executor !== 'queue') throw new Error(`the client did not get the queue executor (${app.breakGlass})`);
  env.onCleanup(() => app.close());
  const journal = app.journal;
  try {
    // The whole network first, while the journal is small: each rollback reads every hold entry
    // of the journal once per action (see the report), so later rollbacks take longer and longer.
    const cold = await contain(app, journal, net.inventoryDir, controls);
    const all: Sample[] = [];
    for (let i = 0; i < RUNS; i++) {
      if (i >= 2 && now() - T0 > BIG_RUNS_BUDGET_MS) {
        progress(`time budget: ${i} measured runs of the whole network (asked for ${RUNS})`);
        break;
      }
      all.push(await contain(app, journal, net.inventoryDir, controls));
    }
    const singles: Sample[] = [];
    await contain(app, journal, one, controls, controls[0]); // sw0's session warm, the JIT too
    for (let i = 0; i < SINGLES; i++) singles.push(await contain(app, journal, one, controls, controls[0]));
    const { redis, pg } = await rtt();
    const bad = [cold, ...singles, ...all].filter((s) => s.state !== 'contained');
    const critical = median(singles.map((s) => s.ttc));
    const ttc = median(all.map((s) => s.ttc));
    const med = (xs: Sample[], k: keyof Sample) => median(xs.map((s) => Number(s[k])));
    const row = (label: string, xs: number[], target = '') => [label, ...stats(xs), target];

    console.log('');
    printTable(
      `queue containment at scale: ${DEVICES} simulated cisco-ios x 4 actions, ${LATENCY_MS} ms/command, 2 sites, 2 worker processes, journal PostgreSQL (node ${process.version})`,
      ['figure', 'p50', 'p90', 'max', 'target'],
      [
        row(
          `critical path: 1 device (sw0, site A) via the queue, warm, TTC ms (n=${singles.length})`,
          singles.map((s) => s.ttc),
        ),
        row(
          `${all[0]!.actions} actions on ${DEVICES} devices via the queue, warm, TTC ms (n=${all.length})`,
          all.map((s) => s.ttc),
        ),
        ['TTC / critical path (p50 / p50)', (ttc / critical).toFixed(2), '', '', '<= 1.5'],
        row(
          `cut skew across workers, ${DEVICES} devices (ms)`,
          all.map((s) => s.skew),
          '< 250',
        ),
        row(
          `enqueue (execute() call) -> first device command, 1 device, warm (ms, n=${singles.length})`,
          singles.map((s) => s.execToCmd!),
          '< 30',
        ),
        row(
          '  first command -> its intent durable in the journal (ms)',
          singles.map((s) => s.cmdToIntent!),
        ),
        row(
          `fresh CLI logins during a warm ${DEVICES}-device run (sessions not warm)`,
          all.map((s) => s.fresh),
          '0',
        ),
        row(
          `rollback of a ${DEVICES}-device run through the queue, wall ms (journal growing)`,
          [cold, ...all].map((s) => s.rollbackMs),
        ),
        row(
          'rollback of a 1-device run through the queue, wall ms',
          singles.map((s) => s.rollbackMs),
        ),
        ['first (cold) run: TTC ms / fresh logins', `${fmt(cold.ttc)} / ${cold.fresh}`, '', '', ''],
        ['runs not contained', String(bad.length), '', '', '0'],
      ],
    );
    console.log('');
    const phases: [string, keyof Sample][] = [
      ['plan (client, from files)', 'plan'],
      ['run.created durable (client)', 'created'],
      ['execute() -> `queued` durable (client: read state, append)', 'queuedAppend'],
      ['`queued` -> `running` (enqueue, job pickup, plan read, run lease, journal read+append)', 'pickup'],
      ['`running` -> first session request (device jobs added, picked up, journal read, device lease)', 'toContact'],
      ['first session request -> barrier go written (prepare: reads, intents flushed, barrier)', 'prepare'],
      ['  of which the coordinator waited at the barrier (waitedMs)', 'barrierWait'],
      ['barrier go written -> last change verified (strike + read-back)', 'strikeVerify'],
      ['last verified -> outcome journaled (not in TTC)', 'finish'],
    ];
    printTable(
      'where the time goes (p50 ms; from the journal timestamps and the client clock, one host)',
      ['phase', '1 device', `${DEVICES} devices`],
      [
        ...phases.map(([label, k]) => [label, fmt(med(singles, k), 1), fmt(med(all, k), 1)]),
        ['TTC', fmt(critical, 1), fmt(ttc, 1)],
        [
          'devices ready at the go / late',
          `${med(singles, 'ready')} / ${med(singles, 'late')}`,
          `${med(all, 'ready')} / ${med(all, 'late')}`,
        ],
      ],
    );
    console.log('');
    printTable(
      'setup and round trips',
      ['figure', 'value'],
      [
        [`sim start, ${DEVICES} devices in this process (ms)`, fmt(simUpMs)],
        ['2 worker processes ready (ms)', fmt(workerStartMs)],
        ['Redis PING p50 (ms)', fmt(redis, 2)],
        ['PostgreSQL journal append p50 (ms)', fmt(pg, 2)],
        ['per command latency of the sims (ms)', String(LATENCY_MS)],
      ],
    );
    const portsUp = controls.every((c) => ACCESS_PORTS.every((p) => c.snapshot().ports[p]?.adminUp === true));
    console.log(`\nafter the last rollback every access port is up again: ${portsUp}`);
    if (bad.length) console.log(`not contained: ${bad.map((s) => `${s.runId}=${s.state}`).join(', ')}`);
    for (const w of [wa, wb]) {
      const lines = w.stderr().split('\n').filter(Boolean);
      if (lines.length) console.log(`${w.name} stderr (last 5 of ${lines.length}):\n  ${lines.slice(-5).join('\n  ')}`);
    }
  } finally {
    await env.cleanup();
  }
}

try {
  await main();
  process.exit(0);
} catch (err) {
  console.error(err);
  await env.cleanup();
  process.exit(1);
}
