/**
 * Redis outages (issue 6), on a PRIVATE redis-server this bench starts on 127.0.0.1 at a free port
 * (`--save '' --appendonly no`: a restarted Redis is EMPTY: jobs, leases, barrier keys are gone,
 * as after a failover to a replica that had not caught up, or a restart without persistence),
 * stopped by its PID. Simulated Cisco IOS switches in this process (127.45.2.x, four access ports,
 * LATENCY ms per command), the journal in PostgreSQL (own schema). Prints tables, asserts nothing.
 *
 * A. Redis stops mid-run: one `firebreak worker --site east`, the real CLI client (`firebreak run
 *    shut-access-ports --yes --json`, REDIS_URL = the private Redis). When the run reaches a point
 *    (`prepare`: 100 ms after `running`, the devices' steps are reading their pre-state;
 *    `intents`: the first action.intent is durable, the devices are arriving at the barrier
 *    (twice: the outcome depends on whether the barrier went before Redis died);
 *    `strike`: the stage's barrier went;
 *    `strike-slow`: the same with the sims at 400 ms per command, so the devices are still being
 *    changed and read back when Redis returns), Redis gets
 *    SIGTERM, stays down OUTAGE_MS (4 s), and starts again on the same port, empty. Reported: what
 *    the client says and when, the run's states in the journal, the devices, what the worker logged;
 *    then what an operator would do (`firebreak runs resume` when the run is interrupted), then
 *    rollback, then whether every port is up again.
 * B. Break-glass: `firebreak run` with REDIS_URL at a port where nothing listens (refused) and at a
 *    "silent" one (a TCP server that accepts and never answers): the run must be contained in-process
 *    (executor local, breakGlass in --json, BREAK-GLASS on stderr). Timed: from the client's spawn
 *    to the BREAK-GLASS line (and the same client with --local for comparison), and the decision
 *    alone in this process (connectQueue() until it says unreachable).
 * C. Redis dies after the client connected: openApp() with the queue executor while Redis is up,
 *    then Redis stops (SIGTERM: the port closes) or freezes (SIGSTOP: connections stay open, nothing
 *    answers), then app.execute(): how long until the enqueue fails (target: an error within 2 s),
 *    what the journal says of the run, and that no device was touched.
 *   npx tsc -p tsconfig.json && node dist/bench/redis-outage.js [latencyMs=120]
 */
import { createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { openApp, planFromFiles } from '../src/app/open.js';
import { currentState } from '../src/engine/lifecycle.js';
import type { JournalEntry } from '../src/journal/types.js';
import { connectQueue } from '../src/queue/client.js';
import {
  ACCESS_PORTS,
  benchEnv,
  CLI,
  fbEnv,
  fmt,
  freePort,
  now,
  openBenchJournal,
  PG_URL,
  PLAYBOOKS,
  type Proc,
  type SimDevice,
  shutdownsPerPort,
  sleep,
  spawnProc,
  startSims,
  startWorker,
  tsOf,
  withTimeout,
} from './lib/queue-bench.js';
import { median, printTable } from './lib/table.js';

const LATENCY_MS = Number(process.argv[2] ?? 120);
const DEVICES = 6;
const SSH_PORT = 10922;
const OUTAGE_MS = 4_000;
const QUIET_MS = 3_000;
const CLIENT_TIMEOUT_MS = 60_000;
/** FB_BENCH_ONLY=A (or AB, C, ...): only those sections. */
const ONLY = process.env.FB_BENCH_ONLY ?? 'ABC';

const env = benchEnv('redis-outage', { hardTimeoutMs: 300_000 });
const T0 = now();
const progress = (line: string) => process.stderr.write(`[${((now() - T0) / 1000).toFixed(1)} s] ${line}\n`);

async function startRedis(port: number): Promise<Proc> {
  const p = spawnProc(
    env,
    `redis:${port}`,
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no'],
    {},
  );
  await p.waitFor(/Ready to accept connections/, 10_000);
  return p;
}

async function main(): Promise<void> {
  const devices: SimDevice[] = Array.from({ length: DEVICES }, (_, i) => ({ id: `r${i}`, site: 'east', address: `127.45.2.${10 + i}` }));
  const net = await startSims(env, 'outage', devices, LATENCY_MS, SSH_PORT);
  const controls = net.devices.map((d) => d.control);
  const journal = await openBenchJournal(env);
  env.onCleanup(() => journal.close());
  const port = await freePort();
  const url = `redis://127.0.0.1:${port}`;
  let redis = await startRedis(port);
  progress(`private redis-server pid ${redis.pid} on 127.0.0.1:${port}`);
  const cenv = fbEnv(env, { REDIS_URL: url, FIREBREAK_INVENTORY: net.inventoryDir });
  let worker = await startWorker(env, 'worker', ['east'], cenv);

  const portsDown = () => controls.reduce((k, c) => k + ACCESS_PORTS.filter((p) => c.snapshot().ports[p]?.adminUp === false).length, 0);
  const TOTAL = DEVICES * ACCESS_PORTS.length;
  const cli = (args: string[], e: Record<string, string> = cenv) =>
    spawnProc(env, args.slice(0, 2).join(' '), process.execPath, [CLI, ...args], e);
  const finish = async (p: Proc, ms = CLIENT_TIMEOUT_MS) => {
    const ex = await withTimeout(p.exited, ms, p.name).catch(async () => {
      await p.stop(1000);
      return undefined;
    });
    let json: Record<string, unknown> | undefined;
    try {
      json = JSON.parse(p.stdout()) as Record<string, unknown>;
    } catch {
      // no JSON (an error on stderr)
    }
    return { exit: ex ? String(ex.code ?? ex.signal) : 'timeout', at: ex?.at, json, stderr: p.stderr() };
  };
  const lastSeq = async () => (await journal.all()).at(-1)?.seq ?? 0;
  const waitEntry = async (after: number, pred: (e: JournalEntry) => boolean, ms: number) => {
    for (const until = Date.now() + ms; Date.now() < until; await sleep(5)) {
      const e = (await journal.find({ afterSeq: after })).find(pred);
      if (e) return e;
    }
    throw new Error('journal: entry not seen in time');
  };

  // Warm-up: the worker's sessions open; the path works.
  {
    const s = await lastSeq();
    const r = await finish(cli(['run', 'shut-access-ports', '--yes', '--json']));
    const id = r.json?.runId as string;
    const rb = await finish(cli(['rollback', id, '--json']));
    progress(`warm-up ${id}: ${r.json?.state} ttc ${r.json?.timeToContainMs} ms, rollback ${rb.json?.state} (seq after ${s})`);
  }

  // ---- A: Redis stops mid-run and comes back empty ----
  const outageRows: string[][] = [];
  const outageNotes: string[] = [];
  const SLOW_MS = 400;
  const moments = ['prepare', 'intents', 'intents', 'strike', 'strike-slow'] as const;
  for (const at of ONLY.includes('A') ? moments : []) {
    for (const c of controls) c.reset();
    // strike-slow: the devices still work (strike, read-back) for ~5 s after the go, past Redis's return.
    for (const c of controls) c.setLatency(at === 'strike-slow' ? SLOW_MS : LATENCY_MS);
    const after = await lastSeq();
    const workerErrFrom = worker.stderr().length;
    const client = cli(['run', 'shut-access-ports', '--yes', '--json']);
    const q = await waitEntry(after, (e) => e.type === 'run.state' && e.data.state === 'queued', 20_000);
    const runId = q.runId;
    const mark: Record<(typeof moments)[number], (e: JournalEntry) => boolean> = {
      prepare: (e) => e.type === 'run.state' && e.data.state === 'running',
      intents: (e) => e.type === 'action.intent',
      strike: (e) => e.type === 'stage.barrier',
      'strike-slow': (e) => e.type === 'stage.barrier',
    };
    await waitEntry(after, (e) => e.runId === runId && mark[at](e), 20_000);
    if (at === 'prepare') await sleep(100);
    const downAt = now();
    await redis.stop(5_000);
    const downDone = now();
    const portsAtStop = portsDown();
    await sleep(OUTAGE_MS);
    redis = await startRedis(port);
    const upAt = now();
    progress(
      `A/${at}: ${runId}: redis stopped ${fmt(downDone - downAt)} ms after SIGTERM, ${portsAtStop}/${TOTAL} ports down at the stop; back (empty) after ${fmt(upAt - downAt)} ms, pid ${redis.pid}`,
    );
    const r = await finish(client);
    const downAtReturn = portsDown();
    // Bounded wait until the run is at rest in the journal AND nothing more is written for it for
    // QUIET_MS (a worker may still be changing devices after an outcome was written).
    let entries = await journal.entries(runId);
    for (let until = Date.now() + 25_000, quietSince = Date.now(), n = entries.length; Date.now() < until; ) {
      await sleep(200);
      entries = await journal.entries(runId);
      if (entries.length !== n) [n, quietSince] = [entries.length, Date.now()];
      if (!['queued', 'running', 'rolling-back'].includes(currentState(entries) ?? '') && Date.now() - quietSince >= QUIET_MS) break;
    }
    const states = entries
      .filter((e) => e.type === 'run.state')
      .map((e) => `${e.data.state}@${fmt(tsOf(e) - downAt)}${e.data.reason ? ` (${String(e.data.reason).slice(0, 70)})` : ''}`);
    const journalState = currentState(entries) ?? '?';
    const downAfterRun = portsDown();
    const outcome = entries.find(
      (e) => e.type === 'run.state' && ['partial', 'failed', 'interrupted', 'contained'].includes(e.data.state as string),
    );
    const afterOutcome = outcome ? entries.filter((e) => e.seq > outcome.seq && e.type !== 'run.state') : [];
    const verifiedLate = afterOutcome.filter((e) => e.type === 'action.verified').length;
    const lateTypes = [...new Set(afterOutcome.map((e) => e.type))].join(' ');
    const failed = entries.filter((e) => e.type === 'action.failed').map((e) => `${e.data.device}:${e.data.phase}:${e.data.code}`);
    const extra = controls.reduce(
      (k, c) => k + [...shutdownsPerPort(c.received!()).values()].reduce((a, b) => a + Math.max(0, b - 1), 0),
      0,
    );
    // What an operator would do next: resume an interrupted run (through the queue, as configured).
    let resumed = '-';
    if (journalState === 'interrupted' || journalState === 'running' || journalState === 'queued') {
      const rs = await finish(cli(['runs', 'resume', runId, '--json']));
      resumed = `${(rs.json?.state as string | undefined) ?? `exit ${rs.exit}: ${rs.stderr.trim().split('\n').at(-1)?.slice(0, 120)}`}`;
    }
    const downAfterResume = portsDown();
    for (const c of controls) c.setLatency(LATENCY_MS);
    const rb = await finish(cli(['rollback', runId, '--json']));
    const rollback = (rb.json?.state as string | undefined) ?? `exit ${rb.exit}: ${rb.stderr.trim().split('\n').at(-1)?.slice(0, 120)}`;
    const upAfter = controls.every((c) => ACCESS_PORTS.every((p) => c.snapshot().ports[p]?.adminUp === true));
    const wlog = worker.stderr().slice(workerErrFrom).split('\n').filter(Boolean);
    const distinct = [...new Set(wlog.map((l) => l.replace(/\d+/g, 'N')))];
    outageRows.push([
      at,
      runId,
      `${r.json?.state ?? 'no JSON'} (exit ${r.exit}, ${r.at ? fmt(r.at - downAt) : '-'} ms after the stop)`,
      journalState,
      `${downAfterRun}/${TOTAL}`,
      `${afterOutcome.length}${afterOutcome.length ? ` (${lateTypes}; ${verifiedLate} verified)` : ''}`,
      String(extra),
      resumed,
      `${downAfterResume}/${TOTAL}`,
      rollback,
      String(upAfter),
    ]);
    const byType = new Map<string, number[]>();
    for (const e of entries) byType.set(e.type, [...(byType.get(e.type) ?? []), tsOf(e) - downAt]);
    const timeline = [...byType.entries()]
      .map(([t, xs]) => `${t} x${xs.length} ${fmt(Math.min(...xs))}..${fmt(Math.max(...xs))}`)
      .join(', ');
    outageNotes.push(
      `${at}: entries (ms after the stop, first..last): ${timeline}`,
      `${at}: the client returned ${r.at ? fmt(r.at - downAt) : '-'} ms after the stop; ports down when it returned: ${downAtReturn}/${TOTAL}`,
      `${at}: run.state sequence (ms after the stop): ${states.join(' -> ')}`,
      `${at}: action.failed: ${failed.length ? failed.join(', ') : 'none'}; ${entries
        .filter((e) => e.type === 'stage.barrier')
        .map(
          (e) =>
            `stage.barrier: ready ${(e.data.ready as string[]).length}, late ${(e.data.late as string[]).length}, waited ${e.data.waitedMs} ms`,
        )
        .join('; ')}`,
      `${at}: client stderr (last line): ${r.stderr.trim().split('\n').at(-1)?.slice(0, 200) ?? ''}`,
      `${at}: worker stderr: ${wlog.length} lines; distinct: ${distinct
        .slice(0, 6)
        .map((l) => l.slice(0, 160))
        .join(' | ')}`,
    );
    progress(
      `A/${at}: client ${r.json?.state ?? r.exit}, journal ${journalState}, resume ${resumed}, rollback ${rollback}, ports up ${upAfter}`,
    );
    if (!worker.alive()) {
      outageNotes.push(`${at}: the worker exited (${worker.stderr().trim().split('\n').at(-1)}); a new one was started`);
      worker = await startWorker(env, 'worker', ['east'], cenv);
    }
  }

  // ---- B: break-glass when Redis is not there ----
  await worker.stop();
  const dead = await freePort();
  const silentPort = await freePort();
  const held: Socket[] = [];
  const silent = createServer((s) => {
    held.push(s);
    s.on('error', () => undefined);
  });
  await new Promise<void>((r) => silent.listen(silentPort, '127.0.0.1', r));
  env.onCleanup(() => {
    for (const s of held) s.destroy();
    return new Promise<void>((r) => silent.close(() => r()));
  });
  const bgRows: string[][] = [];
  const breakGlass = async (label: string, redisUrl: string, extraArgs: string[]) => {
    for (const c of controls) c.reset();
    const p = cli(['run', 'shut-access-ports', '--yes', '--json', ...extraArgs], { ...cenv, REDIS_URL: redisUrl });
    const bg = p.waitFor(/BREAK-GLASS/, CLIENT_TIMEOUT_MS).catch(() => undefined);
    const r = await finish(p);
    const bgAt = await bg;
    const rb = await finish(cli(['rollback', r.json?.runId as string, '--json'], { ...cenv, REDIS_URL: redisUrl }));
    bgRows.push([
      label,
      `${r.json?.state ?? r.exit}`,
      String(r.json?.executor ?? '-'),
      r.json?.breakGlass ? 'set' : '-',
      bgAt ? fmt(bgAt - p.startedAt) : '-',
      r.at ? fmt(r.at - p.startedAt) : '-',
      fmt(r.json?.timeToContainMs as number | undefined),
      `${portsDown() === 0 ? 'all up' : `${portsDown()} down`} after ${rb.json?.state ?? `exit ${rb.exit}`}${/BREAK-GLASS/.test(rb.stderr) ? ' (break-glass)' : ''}`,
    ]);
    progress(`B/${label}: ${r.json?.state} executor ${r.json?.executor} BREAK-GLASS at ${bgAt ? fmt(bgAt - p.startedAt) : '-'} ms`);
  };
  for (let i = 0; i < (ONLY.includes('B') ? 3 : 0); i++) {
    await breakGlass(`REDIS_URL refused (127.0.0.1:${dead}) #${i + 1}`, `redis://127.0.0.1:${dead}`, []);
    await breakGlass(`--local, no Redis tried #${i + 1}`, `redis://127.0.0.1:${dead}`, ['--local']);
  }
  if (ONLY.includes('B'))
    await breakGlass(`REDIS_URL silent (accepts, never answers, 127.0.0.1:${silentPort})`, `redis://127.0.0.1:${silentPort}`, []);
  const decide = async (u: string, n: number) => {
    const xs: number[] = [];
    let why = '';
    for (let i = 0; i < n; i++) {
      const t = now();
      const c = await connectQueue(u, env.prefix);
      xs.push(now() - t);
      why = c.ok ? 'ok (!)' : c.error;
    }
    return { ms: median(xs), max: Math.max(...xs), why };
  };
  const refusedDecision = await decide(`redis://127.0.0.1:${dead}`, 10);
  const silentDecision = await decide(`redis://127.0.0.1:${silentPort}`, 2);

  // ---- C: Redis dies after the client connected ----
  const enqRows: string[][] = [];
  for (const how of ONLY.includes('C') ? (['SIGTERM (port closed)', 'SIGSTOP (frozen: no answers)'] as const) : []) {
    for (const c of controls) c.reset();
    if (!redis.alive()) redis = await startRedis(port);
    const app = await openApp({
      paths: { inventory: net.inventoryDir, playbooks: PLAYBOOKS, journal: join(env.dir, 'client.db') },
      databaseUrl: PG_URL,
      databaseSchema: env.schema,
      redisUrl: url,
      redisPrefix: env.prefix,
    });
    const plan = await planFromFiles(
      { inventory: net.inventoryDir, playbooks: PLAYBOOKS, journal: join(env.dir, 'client.db') },
      { playbook: 'shut-access-ports', params: {} },
    );
    const { runId } = await app.createRun(plan, { trigger: { kind: 'test', by: 'redis-outage' } });
    if (how.startsWith('SIGTERM')) await redis.stop(5_000);
    else process.kill(redis.pid, 'SIGSTOP');
    const t = now();
    let outcome = '';
    try {
      const r = await withTimeout(app.execute(runId), 20_000, 'execute');
      outcome = `no error: ${r.state}`;
    } catch (err) {
      outcome = (err as Error).message.slice(0, 150);
    }
    const ms = now() - t;
    const state = currentState(await journal.entries(runId));
    const touched = controls.reduce((k, c) => k + c.received!().length, 0);
    const tc = now();
    const closed = await withTimeout(app.close(), 10_000, 'close')
      .then(() => fmt(now() - tc))
      .catch(() => 'hung > 10 s');
    if (how.startsWith('SIGSTOP')) {
      process.kill(redis.pid, 'SIGCONT');
      await redis.stop(5_000);
    }
    enqRows.push([how, fmt(ms), state ?? '?', String(touched), closed, outcome]);
    progress(`C/${how}: error after ${fmt(ms)} ms: ${outcome}`);
  }

  console.log('');
  printTable(
    `A. private Redis stopped for ${OUTAGE_MS} ms mid-run, restarted EMPTY on the same port; ${DEVICES} simulated cisco-ios x 4 actions, ${LATENCY_MS} ms/command, 1 worker`,
    [
      'stopped at',
      'run',
      'client (--json state)',
      'journal',
      'ports down after',
      'entries after the outcome',
      'extra shutdown',
      'runs resume',
      'ports down after resume',
      'rollback',
      'all up after',
    ],
    outageRows,
  );
  for (const l of outageNotes) console.log(`  ${l}`);
  console.log('');
  printTable(
    'B. break-glass: `firebreak run` with REDIS_URL unreachable (ms from the client spawn)',
    ['client', 'state', 'executor', 'breakGlass', 'BREAK-GLASS on stderr', 'exit', 'TTC (from process start)', 'rollback'],
    bgRows,
  );
  printTable(
    'B. the fallback decision alone (connectQueue in this process)',
    ['REDIS_URL', 'p50 ms', 'max ms', 'says'],
    [
      ['refused port (n=10)', fmt(refusedDecision.ms, 1), fmt(refusedDecision.max, 1), refusedDecision.why.slice(0, 90)],
      ['silent server (n=2)', fmt(silentDecision.ms, 1), fmt(silentDecision.max, 1), silentDecision.why.slice(0, 90)],
    ],
  );
  console.log('');
  printTable(
    'C. Redis dies after the client connected: app.execute() until the enqueue fails (target: error within 2000 ms)',
    ['Redis', 'ms to error', 'journal state', 'lines received by sims', 'app.close() ms', 'error'],
    enqRows,
  );
}

try {
  await main();
  await env.cleanup();
  process.exit(0);
} catch (err) {
  console.error(err);
  await env.cleanup();
  process.exit(1);
}
