import type { Queue } from 'bullmq';
import type { Journal } from '../journal/types.js';
import type { RunJob } from './keys.js';

/**
 * Accepted runs are never lost: a run the journal says is `queued` whose job is not in Redis (a
 * Redis restarted without AOF, its client gone) is queued again by the coordinating workers. The
 * journal is read incrementally (after the last seq seen), so a sweep costs what was written since.
 */
export interface Sweeper {
  sweep(): Promise<string[]>;
}

/** How long a queued run may be without its job before it is queued again (enqueueing takes ms). */
export const ORPHAN_AFTER_MS = 10_000;

export function orphanSweeper(journal: Journal, runs: Queue<RunJob>, olderThanMs = ORPHAN_AFTER_MS): Sweeper {
  const state = new Map<string, { state: string; since: number }>();
  let after = 0;
  return {
    async sweep() {
      for (const e of await journal.find({ types: ['run.created', 'run.state'], afterSeq: after })) {
        after = e.seq;
        state.set(e.runId, { state: e.type === 'run.created' ? 'planned' : String(e.data.state), since: Date.parse(e.ts) });
      }
      const requeued: string[] = [];
      for (const [runId, s] of state) {
        if (s.state !== 'queued') {
          if (s.state !== 'planned') state.delete(runId); // at rest or running: not ours to watch
          continue;
        }
        if (Date.now() - s.since < olderThanMs) continue;
        const jobId = `${runId}.execute`;
        if (await runs.getJob(jobId)) continue;
        await runs.add(
          'execute',
          { runId, op: 'execute' },
          { jobId, removeOnComplete: true, removeOnFail: true, attempts: 20, backoff: { type: 'fixed', delay: 500 } },
        );
        requeued.push(runId);
      }
      return requeued;
    },
  };
}
