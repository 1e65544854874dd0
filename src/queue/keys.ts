/**
 * Names shared by the queue client (`firebreak run` with REDIS_URL) and the workers. Job data
 * carries ids only: the plan (with its device secret *references*) is read from the journal, and
 * no credential ever sits in Redis (where job data is stored in clear).
 */
export const RUNS_QUEUE = 'runs';

/** Device steps go to the workers of the device's site. */
export function siteQueue(site: string): string {
  return `site-${site}`;
}

/** A worker's presence: refreshed every PRESENCE_EVERY_MS, gone PRESENCE_TTL_MS after it stops (readyz counts these). */
export function workerKey(prefix: string, owner: string): string {
  return `${prefix}:worker:${owner}`;
}
export const PRESENCE_EVERY_MS = 5_000;
export const PRESENCE_TTL_MS = 15_000;

export interface RunJob {
  runId: string;
  op: 'execute' | 'rollback';
  by?: string;
  reason?: string;
}

export interface DeviceJob {
  runId: string;
  op: 'stage' | 'revert';
  stage: number;
  device: string;
}

/** BullMQ job ids may not contain ':'; ids are unique per run, stage and device (a duplicate add is dropped). */
export function deviceJobId(j: DeviceJob): string {
  return `${j.runId}.${j.op}.${j.stage}.${j.device}`;
}

export function barrierKeys(prefix: string, runId: string, stage: number, op: DeviceJob['op'] = 'stage') {
  const base = `${prefix}:barrier:${runId}:${op}:${stage}`;
  return {
    ready: `${base}:ready`,
    go: `${base}:go`,
    done: `${base}:done`,
    /** A running step's heartbeat: its job's data can vanish (Redis restarted empty) while it still works. */
    alive: (device: string) => `${base}:alive:${device}`,
    channel: `${prefix}:go:${runId}:${op}:${stage}`,
  };
}

/** Where the barrier's "go" is announced; a worker subscribes to the pattern once. */
export function goPattern(prefix: string): string {
  return `${prefix}:go:*`;
}

/**
 * Stall detection tuned for containment: a worker killed mid-action loses its job lock after
 * LOCK_MS, the stalled check runs every STALLED_MS, and another worker takes the job over (the
 * device step decides from its intent and a fresh read). BullMQ's defaults (30 s) would leave a
 * network half cut for half a minute.
 */
export const QUEUE_TUNING = { lockDuration: 4_000, stalledInterval: 1_000, maxStalledCount: 10 } as const;

/** How long a stage waits for every device to be prepared before it strikes with those that are. */
export const BARRIER_DEADLINE_MS = Number(process.env.FIREBREAK_BARRIER_DEADLINE_MS ?? 10_000);

/** Barrier keys outlive any run that could still need them, then go. */
export const BARRIER_TTL_S = 24 * 3600;

/** A device step renews its heartbeat this often; without job, result and heartbeat this long, it is lost. */
export const STEP_HEARTBEAT_MS = 1_000;
export const STEP_LOST_AFTER_MS = 5_000;
