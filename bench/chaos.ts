/**
 * Chaos through the queue (issue 6): a worker killed with -9 in the middle of a run.
 *
 * Setup: DEVICES simulated Cisco IOS switches (default 8; 127.45.1.x, four access ports each,
 * LATENCY ms per command, default 80) in this process, so their received() logs and snapshots can
 * be read; two `firebreak worker --site north` processes; the journal in PostgreSQL (own schema);
 * Redis keys under this bench's own prefix. The client is the real CLI, `firebreak run
 * shut-access-ports --yes --json` with REDIS_URL set (it enqueues and follows the journal).
 *
 * Each repetition (REPS, default 10; each bounded by hard timeouts, the whole bench by ~5 min):
 * 1. start the client; once its run is `queued` in the journal, wait a random time in
 *    [0, D] (D = how long the warm-up run took from `queued` to `contained`), then kill -9 ONE of
 *    the two workers by its PID: the one holding more of the run at that moment (run lease and
 *    device leases in Redis; a coin on a tie), so that a kill hits work whenever there is work to
 *    hit; and start a replacement at once;
 * 2. right after the kill, read the leases in Redis: what the dead worker held (the run lease: it
 *    was coordinating the run; device leases: it was working on those devices);
 * 3. recovery = from the kill to the first journal entry, written after the kill (so by another
 *    worker: the dead one writes nothing more), for each thing the dead worker held: a `run.state`
 *    for the run lease, an entry naming the device for each device lease; the max over them is
 *    "the run moves again" (target < 10 s). "first entry after kill" is any entry of the run;
 * 4. when the client exits: its JSON state, the journal's state, every access port down on every
 *    sim (snapshot), the journal verifies (store.verify()), `shutdown` lines received per port
 *    (one is expected; a second on a shut port is harmless but counted), then `firebreak rollback`
 *    through the queue and every port up again.
 * Prints a line per repetition and a summary; asserts nothing.
 *   npx tsc -p tsconfig.json && node dist/bench/chaos.js [reps=10] [devices=8] [latencyMs=80]
 */
import { Redis } from 'ioredis';
import { currentState } from '../src/engine/lifecycle.js';
import type { JournalEntry } from '../src/journal/types.js';
import {
  ACCESS_PORTS,
  benchEnv,
  CLI,
  fbEnv,
  fmt,
  now,
  openBenchJournal,
  type Proc,
  REDIS_URL,
  type SimDevice,
  shutdownsPerPort,
  sleep,
  spawnProc,
  startSims,
  startWorker,
  tsOf,
  withTimeout,
} from './lib/queue-bench.js';
import { median, printTable, stats } from './lib/table.js';

const REPS = Number(process.argv[2] ?? 10);
const DEVICES = Number(process.argv[3] ?? 8);
const LATENCY_MS = Number(process.argv[4] ?? 80);
const SSH_PORT = 10822;
const RUN_TIMEOUT_MS = 60_000;
const ROLLBACK_TIMEOUT_MS = 45_000;
/** No repetition starts after this (hard limit of the whole bench: 300 s). */
const START_BUDGET_MS = 235_000;

const env = benchEnv('chaos', { hardTimeoutMs: 300_000 });
const T0 = now();
const progress = (line: string) => process.stderr.write(`[${((now() - T0) / 1000).toFixed(1)} s] ${line}\n`);
const ACTIVE = new Set(['planned', 'queued', 'running', 'rolling-back']);

interface Rep {
  rep: number;
  runId: string;
  killed: string;
  killAfterQueuedMs: number;
  held: string;
  /** Per held item: the first entry after the kill that moved it, and when (ms after the kill). */
  moved: string;
  firstAfterKillMs?: number;
  recoveryMs?: number;
  clientState: string;
  clientExit: string;
  journalState: string;
  ttc?: number;
  allDown: boolean;
  verifies: boolean;
  extraShutdowns: number;
  resumed: number;
  lateAtBarrier: number;
  rollback: string;
  allUp: boolean;
  wallMs: number;
  note: string;
}

async function main(): Promise<void> {
  const devices: SimDevice[] = Array.from({ length: DEVICES }, (_, i) => ({ id: `c${i}`, site: 'north', address: `127.45.1.${10 + i}` }));
  const net = await startSims(env, 'chaos', devices, LATENCY_MS, SSH_PORT);
  const controls = net.devices.map((d) => d.control);
  const cenv = fbEnv(env, { FIREBREAK_INVENTORY: net.inventoryDir });
  const journal = await openBenchJournal(env);
  env.onCleanup(() => journal.close());
  const redis = new Redis(REDIS_URL);
  redis.on('error', () => undefined);
  env.onCleanup(() => redis.disconnect());
  let n = 0;
  const workers: Proc[] = await Promise.all([
    startWorker(env, `worker-${++n}`, ['north'], cenv),
    startWorker(env, `worker-${++n}`, ['north'], cenv),
  ]);

  const portsAll = (adminUp: boolean) => controls.every((c) => ACCESS_PORTS.every((p) => c.snapshot().ports[p]?.adminUp === adminUp));
  const lastSeq = async () => (await journal.all()).at(-1)?.seq ?? 0;
  const startRun = () => spawnProc(env, 'run', process.execPath, [CLI, 'run', 'shut-access-ports', '--yes', '--json'], cenv);
  /** The run the client just created: its id once `queued` is in the journal (time of the poll that saw it). */
  const queuedRun = async (after: number): Promise<{ runId: string; at: number }> => {
    for (const until = Date.now() + 20_000; Date.now() < until; await sleep(5)) {
      const q = (await journal.find({ types: ['run.state'], afterSeq: after })).find((e) => e.data.state === 'queued');
      if (q) return { runId: q.runId, at: tsOf(q) };
    }
    throw new Error('no run was queued within 20 s');
  };
  /** The run's lease and the device leases in Redis, by the PID in their owner (`worker@host:pid`). */
  const leasesByPid = async (runId: string): Promise<Map<number, { kind: 'run' | 'device'; name: string }[]>> => {
    const keys: string[] = [];
    for (let cursor = '0'; ; ) {
      const [next, batch] = await redis.scan(cursor, 'MATCH', `${env.prefix}:lease:*`, 'COUNT', 500);
      keys.push(...batch);
      cursor = next;
      if (cursor === '0') break;
    }
    const out = new Map<number, { kind: 'run' | 'device'; name: string }[]>();
    const values = keys.length ? await redis.mget(...keys) : [];
    keys.forEach((k, i) => {
      const pid = Number(/:(\d+)$/.exec(values[i] ?? '')?.[1]);
      if (!pid) return;
      const name = k.slice(`${env.prefix}:lease:`.length);
      const item =
        name === `run:${runId}`
          ? { kind: 'run' as const, name: 'run' }
          : name.startsWith('device:')
            ? { kind: 'device' as const, name: name.slice('device:'.length) }
            : undefined;
      if (item) out.set(pid, [...(out.get(pid) ?? []), item]);
    });
    return out;
  };
  const rollback = async (runId: string): Promise<string> => {
    const p = spawnProc(env, 'rollback', process.execPath, [CLI, 'rollback', runId, '--json'], cenv);
    try {
      await withTimeout(p.exited, ROLLBACK_TIMEOUT_MS, 'rollback');
      return (JSON.parse(p.stdout()) as { state: string }).state;
    } catch (err) {
      await p.stop(1000);
      return `error: ${(err as Error).message.slice(0, 80)} ${p.stderr().slice(-200)}`;
    }
  };

  // Warm-up: one run without a kill (sessions open, D measured), rolled back.
  const s0 = await lastSeq();
  const warm = startRun();
  const { runId: warmId } = await queuedRun(s0);
  await withTimeout(warm.exited, RUN_TIMEOUT_MS, 'warm-up run');
  const warmEntries = await journal.entries(warmId);
  const wq = warmEntries.find((e) => e.type === 'run.state' && e.data.state === 'queued')!;
  const wc = warmEntries.find((e) => e.type === 'run.state' && e.data.state === 'contained');
  const D = wc ? tsOf(wc) - tsOf(wq) : 2000;
  const warmTtc = (JSON.parse(warm.stdout()) as { timeToContainMs: number }).timeToContainMs;
  progress(
    `warm-up run ${warmId}: ${wc ? 'contained' : 'NOT contained'}, queued -> contained ${fmt(D)} ms, ttc ${warmTtc} ms; rollback ${await rollback(warmId)}`,
  );

  const reps: Rep[] = [];
  for (let rep = 1; rep <= REPS; rep++) {
    if (now() - T0 > START_BUDGET_MS) {
      progress(`time budget: stopping after ${rep - 1} repetitions`);
      break;
    }
    for (const c of controls) c.reset(); // received() logs from here on; every port up (checked after the last rollback)
    const tRep = now();
    const after = await lastSeq();
    const client = startRun();
    const r: Rep = {
      rep,
      runId: '?',
      killed: '',
      killAfterQueuedMs: 0,
      held: '',
      moved: '',
      clientState: '?',
      clientExit: '?',
      journalState: '?',
      allDown: false,
      verifies: false,
      extraShutdowns: 0,
      resumed: 0,
      lateAtBarrier: 0,
      rollback: '-',
      allUp: false,
      wallMs: 0,
      note: '',
    };
    try {
      const q = await queuedRun(after);
      r.runId = q.runId;
      const delay = Math.random() * D;
      await sleep(Math.max(0, q.at + delay - Date.now()));
      // The victim: the worker holding more of the run right now (its run lease counts as one), so
      // that a kill hits work whenever there is work to hit; a coin decides a tie.
      const before = await leasesByPid(r.runId);
      const score = (w: Proc) => before.get(w.pid)?.length ?? 0;
      const victimIdx =
        score(workers[0]!) === score(workers[1]!) ? Math.floor(Math.random() * 2) : score(workers[0]!) > score(workers[1]!) ? 0 : 1;
      const victim = workers[victimIdx]!;
      const killAt = await victim.kill9();
      r.killAfterQueuedMs = killAt - q.at;
      r.killed = victim.name;
      // What the dead worker held at its death (its leases stay in Redis until they expire).
      const held = (await leasesByPid(r.runId)).get(victim.pid) ?? [];
      r.held = held.length ? held.map((h) => h.name).join(' ') : 'nothing';
      workers[victimIdx] = await startWorker(env, `worker-${++n}`, ['north'], cenv);
      progress(
        `rep ${rep}: ${r.runId}: killed ${victim.name} (pid ${victim.pid}) ${fmt(r.killAfterQueuedMs)} ms after queued; it held: ${r.held}; replacement ${workers[victimIdx]!.name} up`,
      );

      const exit = await withTimeout(client.exited, RUN_TIMEOUT_MS, 'client').catch(async (err: Error) => {
        await client.stop(1000);
        r.note += `client: ${err.message}; `;
        return undefined;
      });
      r.clientExit = exit ? String(exit.code ?? exit.signal) : 'timeout';
      try {
        const out = JSON.parse(client.stdout()) as { state: string; timeToContainMs: number | null };
        r.clientState = out.state;
        r.ttc = out.timeToContainMs ?? undefined;
      } catch {
        r.clientState = 'no JSON';
        r.note += `client stderr: ${client.stderr().trim().split('\n').slice(-2).join(' | ').slice(0, 200)}; `;
      }
      // The run may still be moving (a client that gave up early): wait, bounded, until it is at rest.
      let entries: JournalEntry[] = await journal.entries(r.runId);
      for (const until = Date.now() + 20_000; ACTIVE.has(currentState(entries) ?? 'planned') && Date.now() < until; ) {
        await sleep(100);
        entries = await journal.entries(r.runId);
      }
      r.journalState = currentState(entries) ?? '?';
      const later = entries.filter((e) => tsOf(e) > killAt);
      if (later.length) r.firstAfterKillMs = tsOf(later[0]!) - killAt;
      if (held.length) {
        const firsts = held.map((h) => later.find((e) => (h.kind === 'run' ? e.type === 'run.state' : e.data.device === h.name)));
        r.recoveryMs = firsts.every(Boolean) ? Math.max(...firsts.map((e) => tsOf(e!) - killAt)) : Number.NaN;
        r.moved = held
          .map(
            (h, i) =>
              `${h.name}:${firsts[i] ? `${firsts[i]!.type.replace(/^(action|run|stage)\./, '')}@${fmt(tsOf(firsts[i]!) - killAt)}` : 'never'}`,
          )
          .join(' ');
      }
      r.resumed = entries.filter((e) => e.type === 'action.resumed').length;
      r.lateAtBarrier = entries.filter((e) => e.type === 'stage.barrier').reduce((k, e) => k + ((e.data.late as string[]) ?? []).length, 0);
      r.allDown = portsAll(false);
      r.verifies = (await journal.verify()).ok;
      for (const c of controls) for (const [, k] of shutdownsPerPort(c.received!())) r.extraShutdowns += Math.max(0, k - 1);
      r.rollback = await rollback(r.runId);
      r.allUp = portsAll(true);
    } catch (err) {
      r.note += `error: ${(err as Error).message.slice(0, 160)}`;
      if (client.alive()) await client.stop(1000);
    }
    r.wallMs = now() - tRep;
    reps.push(r);
    progress(
      `rep ${rep}: client ${r.clientState} (exit ${r.clientExit}), journal ${r.journalState}, ttc ${fmt(r.ttc)}, recovery ${fmt(r.recoveryMs)} ms, all down ${r.allDown}, verifies ${r.verifies}, extra shutdowns ${r.extraShutdowns}, rollback ${r.rollback}, all up ${r.allUp}${r.note ? `; ${r.note}` : ''}`,
    );
    // A worker that is not answering (a failed replacement) ends the bench rather than hanging it.
    for (const [i, w] of workers.entries()) if (!w.alive()) workers[i] = await startWorker(env, `worker-${++n}`, ['north'], cenv);
  }

  console.log('');
  printTable(
    `chaos: kill -9 one of 2 workers mid-run; ${DEVICES} simulated cisco-ios x 4 actions, ${LATENCY_MS} ms/command, journal PostgreSQL (node ${process.version})`,
    [
      'rep',
      'run',
      'killed',
      'kill after queued ms',
      'dead worker held',
      'first entry after kill ms',
      'recovery ms',
      'client',
      'journal',
      'TTC ms',
      'ports down',
      'verifies',
      'extra shutdown',
      'resumed',
      'late',
      'rollback',
      'ports up',
    ],
    reps.map((r) => [
      String(r.rep),
      r.runId,
      r.killed,
      fmt(r.killAfterQueuedMs),
      r.held,
      fmt(r.firstAfterKillMs),
      fmt(r.recoveryMs),
      r.clientState,
      r.journalState,
      fmt(r.ttc),
      String(r.allDown),
      String(r.verifies),
      String(r.extraShutdowns),
      String(r.resumed),
      String(r.lateAtBarrier),
      r.rollback,
      String(r.allUp),
    ]),
  );
  console.log('\nper repetition, what the dead worker held and the first entry after the kill that moved each (type@ms after the kill):');
  for (const r of reps) console.log(`  rep ${r.rep}: ${r.moved || r.held}`);
  const notes = reps.filter((r) => r.note);
  if (notes.length) for (const r of notes) console.log(`  rep ${r.rep}: ${r.note}`);
  const rec = reps.map((r) => r.recoveryMs).filter((x): x is number => x !== undefined && !Number.isNaN(x));
  const count = (f: (r: Rep) => boolean) => `${reps.filter(f).length} / ${reps.length}`;
  console.log('');
  printTable(
    'chaos summary',
    ['figure', 'value', 'target'],
    [
      ['repetitions', String(reps.length), '>= 10'],
      ['client said contained', count((r) => r.clientState === 'contained'), 'all'],
      ['journal ends contained', count((r) => r.journalState === 'contained'), 'all'],
      ['every access port down after the run', count((r) => r.allDown), 'all'],
      ['journal verifies', count((r) => r.verifies), 'all'],
      ['extra `shutdown` on an already shut port (total)', String(reps.reduce((k, r) => k + r.extraShutdowns, 0)), 'harmless; reported'],
      ['rolled back, every port up again', count((r) => r.rollback === 'rolled-back' && r.allUp), 'all'],
      ['kills that hit held work (run or device lease)', count((r) => r.held !== 'nothing' && r.held !== ''), ''],
      [
        `recovery: kill -> held work moves again, p50 / p90 / max ms (n=${rec.length})`,
        rec.length ? stats(rec).join(' / ') : '-',
        '< 10000',
      ],
      [
        'TTC of the killed runs p50 ms (warm-up run without a kill)',
        `${fmt(median(reps.map((r) => r.ttc ?? Number.NaN).filter((x) => !Number.isNaN(x))))} (${warmTtc})`,
        '',
      ],
      ['repetition wall time p50 ms', fmt(median(reps.map((r) => r.wallMs))), ''],
    ],
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
