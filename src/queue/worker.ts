import { type Job, Queue, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { connectRedis } from '../coord/redis.js';
import { redisLeases } from '../coord/redis-leases.js';
import type { Driver } from '../drivers/driver.js';
import type { ActionResult } from '../engine/events.js';
import { deviceLocker } from '../engine/leases.js';
import { executeRollback, revertDevice } from '../engine/rollback.js';
import { executeRun } from '../engine/run.js';
import { PRIOR_TYPES, priorFacts, runDevice } from '../engine/stage.js';
import { StageLog } from '../engine/stage-log.js';
import type { SessionOpener } from '../engine/sessions.js';
import { WarmSessions } from '../engine/warm-sessions.js';
import { RunNotFound } from '../errors.js';
import type { Journal } from '../journal/types.js';
import type { Plan } from '../plan/types.js';
import { type Redactor, redactorForDevices } from '../secrets.js';
import type { SecretResolver } from '../transports/types.js';
import { GoListener } from './barrier.js';
import {
  BARRIER_TTL_S,
  barrierKeys,
  type DeviceJob,
  QUEUE_TUNING,
  RUNS_QUEUE,
  type RunJob,
  STEP_HEARTBEAT_MS,
  STEP_LOST_AFTER_MS,
  PRESENCE_EVERY_MS,
  PRESENCE_TTL_MS,
  siteQueue,
  workerKey,
} from './keys.js';
import { queueStage, runDeviceJobs } from './stage.js';
import { orphanSweeper } from './sweeper.js';

const SWEEP_EVERY_MS = 5_000;

export interface WorkerOptions {
  redisUrl: string;
  prefix: string;
  /** The sites whose devices this worker reaches (their device steps come here). */
  sites: string[];
  /** Also coordinate runs (the `runs` queue): any worker may, none needs to reach devices for it. */
  coordinate: boolean;
  journal: Journal;
  drivers: Record<string, Driver>;
  openSession: SessionOpener;
  resolveSecret: SecretResolver;
  clock: () => number;
  owner: string;
  /** Device steps at once on this worker (different devices; one per device by lease). */
  concurrency?: number;
  /** Warm device sessions kept open between runs (default 1024: at least this worker's devices). */
  maxSessions?: number;
  /** A queued run without its job this long is queued again (default ORPHAN_AFTER_MS). */
  orphanAfterMs?: number;
  /** The journal writer's redactor: learns the secrets of every plan this worker executes. */
  redactor?: Redactor;
  log?: (line: string) => void;
}

export interface RunningWorker {
  owner: string;
  sessions: WarmSessions;
  /** Stops taking jobs; a run in progress stops at a safe point and is handed to another worker. */
  close(): Promise<void>;
}

/**
 * `firebreak worker`: takes device steps for its sites (kept on warm sessions, so a queued run
 * starts on an open connection) and, unless told otherwise, coordinates runs: stages in order,
 * each a barrier across the workers that hold its devices. Job data is ids only; the plan and
 * everything else come from the journal.
 */
export async function startWorker(o: WorkerOptions): Promise<RunningWorker> {
  const log = o.log ?? (() => undefined);
  const redis = connectRedis(o.redisUrl, { role: 'worker', onError: (e) => log(`redis: ${e.message}`) });
  const sub = connectRedis(o.redisUrl, { role: 'worker', onError: () => undefined });
  const leases = redisLeases(redis, o.prefix);
  const warm = new WarmSessions(o.openSession, o.resolveSecret, { clock: o.clock, maxSessions: o.maxSessions ?? 1024 });
  const go = new GoListener(redis, sub, o.prefix);
  await go.start();
  const lockDevice = deviceLocker(leases, o.owner);
  const stopping = new AbortController();
  const queues = new Map<string, Queue>();
  const queueFor = (site: string) => {
    const known = queues.get(site);
    if (known) return known;
    const q = new Queue(siteQueue(site), { connection: redis, prefix: o.prefix });
    q.on('error', (e) => log(`queue ${siteQueue(site)}: ${e.message}`));
    queues.set(site, q);
    return q;
  };
  const plans = new Map<string, Plan>();
  const planOf = async (runId: string) => {
    let plan = plans.get(runId);
    if (!plan) {
      const created = (await o.journal.find({ runId, types: ['run.created'] }))[0];
      if (!created) throw new RunNotFound(`run ${runId} is not in the journal`);
      plan = created.data.plan as Plan;
      if (o.redactor) o.redactor.absorb(await redactorForDevices(Object.values(plan.devices)));
      plans.set(runId, plan);
    }
    return plan;
  };
  const stageDeps = { redis, prefix: o.prefix, journal: o.journal, queueFor };
  const rollbackEnv = {
    journal: o.journal,
    leases,
    owner: o.owner,
    drivers: o.drivers,
    sessions: () => warm.forRun(),
    lockDevice,
    clock: o.clock,
    revertStage: async (c: { runId: string; plan: Plan; stage: number; devices: string[] }) => {
      const done = await runDeviceJobs(
        stageDeps,
        { runId: c.runId, op: 'revert', stage: c.stage },
        c.devices,
        (d) => c.plan.devices[d]!.site,
        undefined,
        async () => undefined,
      );
      return done.flatMap((r): ActionResult[] =>
        r.error ? [{ actionId: '?', device: r.device, what: 'revert', state: 'revert-failed', error: r.error }] : (r.reverted ?? []),
      );
    },
  };

  // The device steps of one run on this worker write through one log: their flushes in the same
  // turn of the event loop become one group commit (200 devices: a handful of transactions, not 600).
  const logs = new Map<string, { log: StageLog; users: number }>();
  const shareLog = (runId: string) => {
    const shared = logs.get(runId) ?? { log: new StageLog(o.journal, runId), users: 0 };
    shared.users++;
    logs.set(runId, shared);
    return shared.log;
  };
  const unshareLog = (runId: string) => {
    const shared = logs.get(runId);
    if (shared && --shared.users <= 0) logs.delete(runId);
  };

  const deviceStep = async (job: Job<DeviceJob>) => {
    const j = job.data;
    const plan = await planOf(j.runId);
    const sessions = warm.forRun();
    const keys = barrierKeys(o.prefix, j.runId, j.stage, j.op);
    const beat = () => redis.set(keys.alive(j.device), o.owner, 'PX', STEP_LOST_AFTER_MS).catch(() => undefined);
    await beat();
    const heartbeat = setInterval(beat, STEP_HEARTBEAT_MS);
    try {
      let result: unknown;
      if (j.op === 'revert') {
        result = await revertDevice(
          { ...rollbackEnv },
          { runId: j.runId, plan, stage: j.stage, device: j.device, emit: () => undefined, pool: sessions },
        );
        result = { device: j.device, appliedAt: [], verifiedAt: [], reverted: result };
      } else {
        const actions = plan.actions.filter((a) => a.stage === j.stage && a.device === j.device);
        // Only this device's outcomes (not the whole run, plan included: 336 KB at 200 devices).
        const prior = priorFacts(
          await o.journal.find({
            runId: j.runId,
            device: j.device,
            types: PRIOR_TYPES,
          }),
        );
        const log = shareLog(j.runId);
        result = await runDevice(
          {
            runId: j.runId,
            plan,
            log,
            drivers: o.drivers,
            sessions,
            emit: () => undefined,
            clock: o.clock,
            lockDevice,
            stop: stopping.signal,
          },
          actions,
          go.barrier(j),
          prior,
        );
      }
      await redis.multi().hset(keys.done, j.device, JSON.stringify(result)).expire(keys.done, BARRIER_TTL_S).exec();
      return result;
    } finally {
      clearInterval(heartbeat);
      if (j.op === 'stage') unshareLog(j.runId);
      await sessions.closeAll();
    }
  };

  const runStep = async (job: Job<RunJob>) => {
    const j = job.data;
    await planOf(j.runId);
    const env = {
      journal: o.journal,
      leases,
      owner: o.owner,
      runStage: queueStage(stageDeps),
      rollback: (runId: string, opts: { by: string; reason: string }) => executeRollback(rollbackEnv, runId, opts),
    };
    // A run taken over from a worker that died: its run lease runs out first.
    const view: { state: string } = await withLeaseWait<{ state: string }>(() =>
      j.op === 'rollback'
        ? executeRollback(rollbackEnv, j.runId, { by: j.by ?? 'queue', reason: j.reason })
        : executeRun(env, j.runId, { stop: stopping.signal }),
    );
    plans.delete(j.runId);
    // Not finished (this worker stopping, its lease lost): the job is retried, and the retry resumes the run.
    if (view.state === 'interrupted') throw new Error(`worker ${o.owner}: run ${j.runId} interrupted; handed on to be resumed`);
    return { state: view.state };
  };

  const concurrency = o.concurrency ?? 256;
  const workers = o.sites.map(
    (site) => new Worker<DeviceJob>(siteQueue(site), deviceStep, { connection: redis, prefix: o.prefix, concurrency, ...QUEUE_TUNING }),
  );
  if (o.coordinate)
    workers.push(new Worker(RUNS_QUEUE, runStep, { connection: redis, prefix: o.prefix, concurrency: 16, ...QUEUE_TUNING }) as Worker);
  for (const w of workers) w.on('error', (e) => log(`worker: ${e.message}`));
  // Accepted runs are never lost: queued runs whose job vanished are queued again.
  let sweeping: NodeJS.Timeout | undefined;
  let runsQueue: Queue<RunJob> | undefined;
  if (o.coordinate) {
    runsQueue = new Queue<RunJob>(RUNS_QUEUE, { connection: redis, prefix: o.prefix });
    runsQueue.on('error', (e) => log(`queue ${RUNS_QUEUE}: ${e.message}`));
    const sweeper = orphanSweeper(o.journal, runsQueue, o.orphanAfterMs);
    const sweep = () =>
      sweeper
        .sweep()
        .then((ids) => ids.length && log(`queued again (their jobs were gone): ${ids.join(', ')}`))
        .catch((e: Error) => log(`sweep: ${e.message}`));
    void sweep();
    sweeping = setInterval(sweep, SWEEP_EVERY_MS);
  }
  await Promise.all(workers.map((w) => w.waitUntilReady()));
  // Presence, for `/readyz` and operators: which workers listen, for which sites.
  const presence = JSON.stringify({ sites: o.sites, coordinate: o.coordinate, pid: process.pid });
  const announce = () => redis.set(workerKey(o.prefix, o.owner), presence, 'PX', PRESENCE_TTL_MS).catch(() => undefined);
  await announce();
  const announcing = setInterval(announce, PRESENCE_EVERY_MS);
  log(`worker ${o.owner}: sites ${o.sites.join(', ') || '(none)'}${o.coordinate ? ', coordinating runs' : ''}`);
  return {
    owner: o.owner,
    sessions: warm,
    async close() {
      stopping.abort('worker stopping');
      clearInterval(sweeping);
      clearInterval(announcing);
      await redis.del(workerKey(o.prefix, o.owner)).catch(() => undefined);
      await runsQueue?.close().catch(() => undefined);
      await Promise.all(workers.map((w) => w.close()));
      await Promise.all([...queues.values()].map((q) => q.close()));
      await warm.closeAll();
      await leases.close().catch(() => undefined);
      sub.disconnect();
      redis.disconnect();
    },
  };
}

/** Retries while another executor's run lease is still live (it died: the lease runs out in seconds). */
async function withLeaseWait<T>(fn: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if (
        (err as { code?: string }).code !== 'RUN_STATE_CONFLICT' ||
        !/being executed by/.test(String((err as Error).message)) ||
        Date.now() > deadline
      )
        throw err;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

export type { Redis };
