import type { Journal } from '../journal/types.js';
import { API_STREAM } from '../journal/types.js';
import { lastDue, nextRuns } from './config.js';
import { journalMissed } from './run.js';
import type { DrillSpec } from './types.js';

/**
 * Runs scheduled drills at their times. With Redis (queue mode) the schedules are BullMQ job
 * schedulers on the `drills` queue (cron + time zone; several servers fire each occurrence once,
 * and a drill's run carries an idempotency key per occurrence too); without Redis, timers in this
 * process. At start, an occurrence that passed without a drill report since the schedule was
 * registered is journaled `drill.missed` (and so notified), never silently skipped.
 */
export interface Scheduler {
  stop(): Promise<void>;
  /** The next time each scheduled drill is due. */
  upcoming(): { drillId: string; at: Date }[];
}

export interface SchedulerOptions {
  drills: readonly DrillSpec[];
  journal: Journal;
  run: (spec: DrillSpec, occurrence: string) => Promise<unknown>;
  redis?: { url: string; prefix: string };
  log?: (line: string) => void;
  now?: () => Date;
}

export const DRILLS_QUEUE = 'drills';

export async function startDrillScheduler(o: SchedulerOptions): Promise<Scheduler> {
  const now = o.now ?? (() => new Date());
  const scheduled = o.drills.filter((d) => d.schedule);
  await register(o.journal, scheduled);
  await journalMissed(o.journal, await missed(o.journal, scheduled, now()));
  const fire = (spec: DrillSpec, occurrence: string) =>
    o.run(spec, occurrence).catch((err) => o.log?.(`drill ${spec.id} at ${occurrence}: ${(err as Error).message}`));
  const stop = o.redis ? await bullSchedules(o, scheduled, fire) : timerSchedules(scheduled, fire, now);
  return {
    stop,
    upcoming: () => scheduled.map((d) => ({ drillId: d.id, at: nextRuns(d, now(), 1)[0]! })),
  };
}

/** A `drill.scheduled` entry when a schedule is new or changed: missed occurrences count from it. */
async function register(journal: Journal, drills: readonly DrillSpec[]): Promise<void> {
  const last = new Map<string, string>();
  for (const e of await journal.find({ types: ['drill.scheduled'] })) last.set(String(e.data.drillId), `${e.data.cron}|${e.data.tz}`);
  for (const d of drills)
    if (last.get(d.id) !== `${d.schedule!.cron}|${d.schedule!.tz}`)
      await journal.append(API_STREAM, 'drill.scheduled', { drillId: d.id, cron: d.schedule!.cron, tz: d.schedule!.tz });
}

/** The latest occurrence of each drill that passed without a report (a minute of slack for the run to start). */
export async function missed(journal: Journal, drills: readonly DrillSpec[], at: Date): Promise<{ drillId: string; dueAt: string }[]> {
  const registered = new Map<string, number>();
  for (const e of await journal.find({ types: ['drill.scheduled'] })) registered.set(String(e.data.drillId), Date.parse(e.ts));
  const reports = await journal.find({ types: ['drill.report'] });
  const out: { drillId: string; dueAt: string }[] = [];
  for (const d of drills) {
    const due = lastDue(d, new Date(at.getTime() - 60_000));
    const since = registered.get(d.id);
    if (!due || since === undefined || due.getTime() <= since) continue;
    const ran = reports.some(
      (r) => r.data.drillId === d.id && Date.parse(String((r.data.summary as { startedAt?: string }).startedAt)) >= due.getTime() - 5_000,
    );
    if (!ran) out.push({ drillId: d.id, dueAt: due.toISOString() });
  }
  return out;
}

function timerSchedules(
  drills: readonly DrillSpec[],
  fire: (d: DrillSpec, occ: string) => Promise<unknown>,
  now: () => Date,
): () => Promise<void> {
  const timers = new Map<string, NodeJS.Timeout>();
  let stopped = false;
  const arm = (d: DrillSpec) => {
    const at = nextRuns(d, now(), 1)[0]!;
    timers.set(
      d.id,
      setTimeout(
        () => {
          if (stopped) return;
          void fire(d, at.toISOString());
          arm(d);
        },
        Math.max(0, at.getTime() - now().getTime()),
      ),
    );
  };
  for (const d of drills) arm(d);
  return async () => {
    stopped = true;
    for (const t of timers.values()) clearTimeout(t);
  };
}

async function bullSchedules(o: SchedulerOptions, drills: readonly DrillSpec[], fire: (d: DrillSpec, occ: string) => Promise<unknown>) {
  const [{ Queue, Worker }, { connectRedis }] = await Promise.all([import('bullmq'), import('../coord/redis.js')]);
  const conn = connectRedis(o.redis!.url, { role: 'worker' });
  const prefix = o.redis!.prefix;
  const queue = new Queue(DRILLS_QUEUE, { connection: conn, prefix });
  queue.on('error', (e) => o.log?.(`drills queue: ${e.message}`));
  const wanted = new Set(drills.map((d) => d.id));
  for (const s of await queue.getJobSchedulers()) if (s.key && !wanted.has(s.key)) await queue.removeJobScheduler(s.key);
  for (const d of drills)
    await queue.upsertJobScheduler(
      d.id,
      { pattern: d.schedule!.cron, tz: d.schedule!.tz },
      { name: 'drill', data: { drillId: d.id }, opts: { removeOnComplete: 100, removeOnFail: 100 } },
    );
  const byId = new Map(drills.map((d) => [d.id, d]));
  const worker = new Worker(
    DRILLS_QUEUE,
    async (job) => {
      const d = byId.get(String(job.data.drillId));
      if (!d) return;
      // The occurrence this job stands for: the schedule's due time at (or just before) now.
      await fire(d, lastDue(d, new Date(Date.now() + 1_000))!.toISOString());
    },
    { connection: conn, prefix, concurrency: 4 },
  );
  worker.on('error', (e) => o.log?.(`drills worker: ${e.message}`));
  return async () => {
    await worker.close();
    await queue.close();
    conn.disconnect();
  };
}
