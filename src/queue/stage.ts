import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { StageOutcome, StageRunner } from '../engine/run.js';
import type { DeviceOutcome } from '../engine/stage.js';
import type { ActionResult } from '../engine/events.js';
import type { Journal } from '../journal/types.js';
import { coordinate } from './barrier.js';
import { BARRIER_DEADLINE_MS, BARRIER_TTL_S, barrierKeys, type DeviceJob, deviceJobId, STEP_LOST_AFTER_MS } from './keys.js';

/** A device step no worker of its site has taken by then fails (the stage's others went at the barrier deadline). */
const NO_SITE_WORKER_MS = BARRIER_DEADLINE_MS + 2_000;

export interface QueueStageDeps {
  redis: Redis;
  prefix: string;
  journal: Journal;
  queueFor: (site: string) => Queue;
}

/** A device step's result as the coordinator reads it (an error when the job died for good). */
export type DoneRecord = DeviceOutcome & { error?: string; reverted?: ActionResult[] };

/**
 * A stage on the queue: one job per device on its site's queue, the barrier across workers, then
 * the outcomes. A device job that vanished (failed for good) counts as done without changes: its
 * actions show what the journal recorded for them, and the run reports them not done.
 */
export function queueStage(deps: QueueStageDeps): StageRunner {
  return async (ctx) => {
    const devices = [...new Set(ctx.stage.actionIds.map((id) => ctx.plan.actions.find((a) => a.id === id)!.device))];
    const base = { runId: ctx.runId, op: 'stage' as const, stage: ctx.stage.index };
    const outcomes = await runDeviceJobs(
      deps,
      base,
      devices,
      (d) => ctx.plan.devices[d]!.site,
      ctx.stop,
      (b) => {
        ctx.emit({ type: 'stage', runId: ctx.runId, stage: ctx.stage.index, name: ctx.stage.name, phase: 'strike' });
        return deps.journal.append(ctx.runId, 'stage.barrier', { stage: ctx.stage.index, ...b });
      },
    );
    const contacts = outcomes.map((o) => o.contactAt).filter((t): t is number => t !== undefined);
    const out: StageOutcome = { appliedAt: outcomes.flatMap((o) => o.appliedAt), verifiedAt: outcomes.flatMap((o) => o.verifiedAt) };
    if (contacts.length) out.contactAt = Math.min(...contacts);
    return out;
  };
}

export async function runDeviceJobs(
  deps: QueueStageDeps,
  base: Omit<DeviceJob, 'device'>,
  devices: string[],
  siteOf: (device: string) => string,
  stop: AbortSignal | undefined,
  onGo: (b: { ready: string[]; late: string[]; waitedMs: number }) => Promise<unknown>,
): Promise<DoneRecord[]> {
  const keys = barrierKeys(deps.prefix, base.runId, base.stage, base.op);
  // One bulk add per site queue (one round trip), not one per device.
  const bySite = new Map<string, DeviceJob[]>();
  for (const device of devices) bySite.set(siteOf(device), [...(bySite.get(siteOf(device)) ?? []), { ...base, device }]);
  await Promise.all(
    [...bySite.entries()].map(([site, jobs]) =>
      deps.queueFor(site).addBulk(
        jobs.map((data) => ({
          name: base.op,
          data,
          opts: {
            jobId: deviceJobId(data),
            removeOnComplete: true,
            removeOnFail: true,
            attempts: 3,
            backoff: { type: 'exponential', delay: 200 },
          },
        })),
      ),
    ),
  );
  // A stage's cut waits at the barrier; a rollback's reverts have none (each goes when ready).
  if (base.op === 'stage') {
    const b = await coordinate(deps.redis, deps.prefix, base, devices, stop);
    if (!b.stopped) await onGo(b);
  }
  const done = new Map<string, DoneRecord>();
  const missingSince = new Map<string, number>();
  const t0 = Date.now();
  let lastJobCheck = Date.now();
  for (;;) {
    const all = await deps.redis.hgetall(keys.done);
    for (const [d, v] of Object.entries(all)) done.set(d, JSON.parse(v) as DoneRecord);
    if (devices.every((d) => done.has(d))) break;
    if (Date.now() - lastJobCheck > 1_000) {
      lastJobCheck = Date.now();
      for (const device of devices.filter((d) => !done.has(d))) {
        const job = await deps.queueFor(siteOf(device)).getJob(deviceJobId({ ...base, device }));
        const waiting = job ? await job.getState() : undefined;
        if (job && (waiting === 'waiting' || waiting === 'prioritized') && Date.now() - t0 > NO_SITE_WORKER_MS) {
          // Nobody serves this device's site: the others went at the deadline; this one is recorded, not waited for.
          await job.remove().catch(() => undefined);
          done.set(device, {
            device,
            appliedAt: [],
            verifiedAt: [],
            error: `no worker for site ${siteOf(device)} took the step within ${NO_SITE_WORKER_MS} ms`,
          });
          continue;
        }
        if (!job) {
          const again = await deps.redis.hget(keys.done, device);
          if (again) {
            done.set(device, JSON.parse(again) as DoneRecord);
            continue;
          }
          // The job's data can vanish while its step still runs (Redis restarted empty): alive while it beats.
          if (await deps.redis.exists(keys.alive(device))) {
            missingSince.delete(device);
            continue;
          }
          const since = missingSince.get(device) ?? Date.now();
          missingSince.set(device, since);
          if (Date.now() - since < STEP_LOST_AFTER_MS) continue;
          // Lost (its worker died and its job is gone): what it journaled stays undecided until resumed.
          const error = 'device step lost: its job, its result and its heartbeat are gone';
          done.set(device, { device, appliedAt: [], verifiedAt: [], error });
          await deps.journal.append(base.runId, 'stage.step-lost', { stage: base.stage, device, error });
        }
      }
      if (devices.every((d) => done.has(d))) break;
    }
    await new Promise((r) => setTimeout(r, 5));
  }
  await deps.redis.expire(keys.done, BARRIER_TTL_S);
  return devices.map((d) => done.get(d)!);
}
