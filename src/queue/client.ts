import { Queue } from 'bullmq';
import { connectRedis, redisReachable, redisReady } from '../coord/redis.js';
import { redisLeases } from '../coord/redis-leases.js';
import type { Leases } from '../coord/types.js';
import { entryEvent } from '../engine/entry-events.js';
import type { EventSink, RollbackResult, RunResult } from '../engine/events.js';
import type { Executor } from '../engine/executor.js';
import { currentState, transition } from '../engine/lifecycle.js';
import { runView } from '../engine/run-view.js';
import { errorMessage, QueueUnavailable } from '../errors.js';
import type { Journal } from '../journal/types.js';
import type { Plan } from '../plan/types.js';
import { RUNS_QUEUE, type RunJob } from './keys.js';

/** Enqueueing never hangs: Redis that does not take the job in this time is an error (journaled, answered within 2 s). */
export const ENQUEUE_TIMEOUT_MS = 1_500;
/** A run no worker takes in this time is withdrawn (nothing was changed) and the caller told. */
export const NO_WORKER_TIMEOUT_MS = Number(process.env.FIREBREAK_NO_WORKER_MS ?? 15_000);

export type QueueConnection = { ok: false; error: string } | { ok: true; leases: Leases; executor(journal: Journal): Executor };

/** Connects to the queue when Redis answers within 1.5 s; otherwise says why (the caller goes break-glass). */
export async function connectQueue(url: string, prefix = 'firebreak'): Promise<QueueConnection> {
  const reach = await redisReachable(url, 1_500);
  if (!reach.ok) return { ok: false, error: reach.error };
  const redis = connectRedis(url, { role: 'client' });
  try {
    await redisReady(redis);
  } catch (err) {
    redis.disconnect();
    return { ok: false, error: errorMessage(err) };
  }
  const leases = redisLeases(redis, prefix);
  const queue = new Queue<RunJob>(RUNS_QUEUE, { connection: redis, prefix, skipWaitingForReady: true });
  // Connection trouble surfaces where it matters (enqueue errors, the journal); not as stack traces.
  queue.on('error', () => undefined);
  return {
    ok: true,
    leases,
    executor: (journal) =>
      queueExecutor(journal, queue, async () => {
        await queue.close().catch(() => undefined);
        redis.disconnect();
      }),
  };
}

function queueExecutor(journal: Journal, queue: Queue<RunJob>, close: () => Promise<void>): Executor {
  const enqueue = async (job: RunJob, runId: string) => {
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        queue.add(job.op, job, {
          jobId: `${runId}.${job.op}`,
          removeOnComplete: true,
          removeOnFail: true,
          attempts: 20,
          backoff: { type: 'fixed', delay: 500 },
        }),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error(`Redis did not take the job within ${ENQUEUE_TIMEOUT_MS} ms`)), ENQUEUE_TIMEOUT_MS);
        }),
      ]);
    } catch (err) {
      throw new QueueUnavailable(`cannot queue run ${runId}: ${errorMessage(err)}; nothing was changed (run it in-process with --local)`);
    } finally {
      clearTimeout(timer);
    }
  };
  return {
    kind: 'queue',
    async execute(runId, opts) {
      const state = currentState(await journal.find({ runId, types: ['run.created', 'run.state'] }));
      const fresh = state === 'planned' || state === 'awaiting-approval';
      if (fresh) await transition(journal, runId, 'queued');
      try {
        await enqueue({ runId, op: 'execute' }, runId);
      } catch (err) {
        if (fresh && !opts.keepQueuedOnFailure) await transition(journal, runId, 'failed', { reason: errorMessage(err) });
        throw err;
      }
      opts.onAccepted?.();
      await followUntil(journal, queue, runId, 'execute', opts.onEvent);
      return runView(runId, await journal.entries(runId)) as RunResult;
    },
    async rollback(runId, opts) {
      // Said before the job exists, so a follower never takes the run for at rest in between.
      await journal.append(runId, 'rollback.queued', { by: opts.by, ...(opts.reason ? { reason: opts.reason } : {}) });
      await enqueue({ runId, op: 'rollback', by: opts.by, reason: opts.reason }, runId);
      opts.onAccepted?.();
      await followUntil(journal, queue, runId, 'rollback', opts.onEvent);
      const view = runView(runId, await journal.entries(runId));
      const started = (await journal.find({ runId, types: ['rollback.started'] })).length;
      const mine = view.actions.flatMap((a) => (a.rollback && started ? [{ actionId: a.actionId, device: a.device, ...a.rollback }] : []));
      return { runId, state: view.state, actions: mine, notReverted: mine.filter((a) => a.state === 'revert-failed') } as RollbackResult;
    },
    close,
  };
}

/** How long an interrupted run is followed while Redis cannot say whether its job will resume it. */
const QUEUE_UNSURE_MS = 30_000;

const AT_REST: Record<RunJob['op'], string[]> = {
  execute: ['contained', 'partial', 'failed', 'interrupted', 'rolled-back', 'rollback-failed'],
  rollback: ['rolled-back', 'rollback-failed', 'interrupted'],
};

/** Tails the run's journal, turning entries into progress events, until the run is at rest. */
async function followUntil(journal: Journal, queue: Queue<RunJob>, runId: string, op: RunJob['op'], onEvent?: EventSink): Promise<void> {
  const plan = (await journal.find({ runId, types: ['run.created'] }))[0]?.data.plan as Plan | undefined;
  let after = (await journal.find({ runId })).at(-1)?.seq ?? 0;
  const since = Date.now();
  let moved = false;
  let unsureSince: number | undefined;
  for (;;) {
    for (const e of await journal.find({ runId, afterSeq: after })) {
      after = e.seq;
      if (e.type === 'run.state' && e.data.state !== 'queued') moved = true;
      const ev = entryEvent(e, plan);
      if (ev && onEvent) onEvent(ev);
    }
    const state = currentState(await journal.find({ runId, types: ['run.created', 'run.state'] }));
    if (moved && state && AT_REST[op].includes(state)) {
      if (state !== 'interrupted') return;
      // Interrupted while the job is still queued: a worker stopped (or lost its lease in a Redis
      // outage) and the job's retry resumes it. Redis not answering is not "no job": keep
      // following until it answers, for a while.
      const job = await queue.getJob(`${runId}.${op}`).then(
        (j) => j ?? null,
        () => 'unknown' as const,
      );
      if (job === null) return;
      if (job === 'unknown') {
        unsureSince ??= Date.now();
        if (Date.now() - unsureSince > QUEUE_UNSURE_MS) return;
      } else unsureSince = undefined;
    }
    if (!moved && Date.now() - since > NO_WORKER_TIMEOUT_MS) {
      const job = await queue.getJob(`${runId}.${op}`).catch(() => undefined);
      const waiting = job ? await job.getState().catch(() => 'unknown') : 'unknown';
      if (job && (waiting === 'waiting' || waiting === 'prioritized')) {
        // A worker that took it after all (the job is active, the state moved on) wins: keep following then.
        const removed = await job.remove().then(
          () => true,
          () => false,
        );
        const withdrawn =
          removed &&
          (op !== 'execute' ||
            (await transition(journal, runId, 'failed', {
              reason: `no worker took the run within ${NO_WORKER_TIMEOUT_MS} ms; nothing was changed`,
            }).then(
              () => true,
              () => false,
            )));
        if (!withdrawn) continue;
        throw new QueueUnavailable(
          `no worker took run ${runId} within ${NO_WORKER_TIMEOUT_MS / 1000} s (start \`firebreak worker\`, or run it in-process with --local); nothing was changed`,
        );
      }
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}
