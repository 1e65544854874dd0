import type { Action } from '../actions.js';
import type { EntryType } from './types.js';

/**
 * The `data` of each journal entry type. Pre- and post-states (`before`, `after`) are a driver's
 * `State` (src/drivers/driver.ts); the journal keeps them as plain JSON and does not look inside.
 * `[k: string]: unknown` marks shapes the engine already extends with fields of its own.
 */

/** Who or what asked for the run. */
export interface TriggerData {
  kind: string;
  by: string;
  reason?: string;
  [k: string]: unknown;
}

/** A reference to one action of one run. */
export interface ActionRef {
  runId: string;
  actionId: string;
}

type ActionEntry = {
  actionId: string;
  device: string;
};

interface DataShapes {
  /** The plan (src/plan/types.ts `Plan`, plain data) and its trigger; a rollback needs nothing else. */
  'run.created': { plan: unknown; trigger: TriggerData; [k: string]: unknown };
  'lockout.overridden': { actionId: string; message: string; by?: string };
  /** A lifecycle transition: `from` the state before it, `by` who asked for it. */
  'run.state': {
    state: string;
    from?: string;
    by?: string;
    reason?: string;
    timeToContainMs?: number | null;
    cutSkewMs?: number[];
    firstContactMs?: number | null;
    notDone?: { actionId: string; device?: string; what?: string; error: string }[];
    [k: string]: unknown;
  };
  /** Every device of the stage connected, pre-state read, intents journaled, in `ms`. */
  'stage.prepared': { stage: number; ms: number; [k: string]: unknown };
  /** The coordinated cut's barrier across workers: who was ready by the deadline, who was not. */
  'stage.barrier': { stage: number; ready: string[]; late: string[]; waitedMs: number };
  /** The changes went out; cut skew is first change applied to last. */
  'stage.struck': { stage: number; cutSkewMs: number; applied?: number; firstApplyAt?: number; lastApplyAt?: number; [k: string]: unknown };
  /** Write-ahead: the observed pre-state and the inverse, durable before the device is changed. */
  'action.intent': ActionEntry & {
    action: Action;
    before: unknown;
    inverse: Action | null;
    driver?: string;
    tag?: string;
    timeoutMs?: number;
    /** Armed with the change; `keepArmed`: left armed on purpose (a live drill's backstop), never confirmed by its run. */
    autoRevert?: { minutes: number; keepArmed?: true };
    [k: string]: unknown;
  };
  /** Nothing to change: the device was already so (the run still holds the target). */
  'action.already': ActionEntry & { before: unknown; [k: string]: unknown };
  /** A resumed run read the device for an action it had journaled an intent for: `held`, the change is there already. */
  'action.resumed': ActionEntry & { held: boolean; after: unknown };
  'action.applied': ActionEntry & { output: string; [k: string]: unknown };
  /** A device refused its changes as one batch; they were sent one by one. */
  'batch.refused': { device: string; actions: string[]; code: string; error: string };
  /** The read-back shows the change. */
  'action.verified': ActionEntry & { after: unknown; ms: number; [k: string]: unknown };
  /**
   * The device-side auto-revert was disarmed: after the read-back, or (`by`) for a kept-armed change
   * by the rollback before its restore (`by: 'rollback'`) or by another run (its id) before that run
   * changed the device, so that the timer cannot undo anything but this change.
   */
  'action.confirmed': ActionEntry & { output: string; by?: string; reason?: string };
  /**
   * This run is about to change `device` with its auto-revert armed (confirmed after the read-back,
   * or kept armed by a live drill): durable before the change, the entry the next run on the device
   * looks for to disarm what is still pending (engine/disarm.ts).
   */
  'device.armed': { device: string; actionIds: string[]; minutes: number };
  'action.failed': ActionEntry & { phase: string; code: string; error: string; after?: unknown; [k: string]: unknown };
  'rollback.started': { by: string; reason: string; actions?: string[]; [k: string]: unknown };
  /** The inverse was applied and read back (`nothingToDo`: the device was already back). */
  'action.reverted': ActionEntry & {
    inverse: Action | null;
    after?: unknown;
    nothingToDo?: boolean;
    /** Armed with a device-side auto-revert, never confirmed, found undone: the device did it. */
    deviceReverted?: boolean;
    ms?: number;
    [k: string]: unknown;
  };
  /** This run let go of a target other runs still hold: the device was left as it is. */
  'hold.released': ActionEntry & { target: string; heldBy: ActionRef[]; [k: string]: unknown };
  'action.revert-failed': ActionEntry & { inverse: Action | null; code: string; error: string; after?: unknown; [k: string]: unknown };
  /** `reverted`/`failed`: counts, or the action ids / failures themselves. */
  'rollback.finished': {
    state: string;
    reverted: number | string[];
    failed: number | { actionId: string; device: string; error?: string }[];
    [k: string]: unknown;
  };
  /** The executor `owner` lost its lease (fencing `token`) on `device` (or the run's own) and stopped changing it. */
  'run.lease-lost': { device?: string; owner: string; token: number; error: string };
  /** A queued device step vanished (no job, no result, no heartbeat for a while): its actions are undecided until resumed. */
  'stage.step-lost': { stage: number; device: string; error: string };
  /** A drill's outcome (src/drills/types.ts DrillRunSummary and its trend against earlier drills). */
  'drill.report': { drillId: string; mode: string; summary: Record<string, unknown>; trend: Record<string, unknown> };
  /** A schedule as first registered (missed occurrences are counted from here). */
  'drill.scheduled': { drillId: string; cron: string; tz: string };
  /** A scheduled drill that did not run at its time (the server was down, say). */
  'drill.missed': { drillId: string; dueAt: string };
  /** Time to live: the run is rolled back (through holds) at `at`, epoch ms, unless kept; a later entry extends it. */
  'run.expires': { at: number; ttlSeconds: number; by: string };
  /** Someone confirmed the containment: no expiry any more. */
  'run.kept': { by: string; reason?: string };
  /** Queue mode: a rollback was handed to the workers (the run is still as it was until one starts it). */
  'rollback.queued': { by: string; reason?: string };
  /** The queue did not take the run; it ran in this process instead (invariant 10), as its trigger allows. */
  'run.break-glass': { reason: string };
  /** A person (or the clock, `by: 'expiry'`) decided a pending approval of the run or of its rollback. */
  'approval.decided': { decision: 'approved' | 'rejected' | 'expired'; by: string; for: 'run' | 'rollback'; reason?: string };
  /** A rollback that policy makes wait for a second person; it expires at `expiresAt` (epoch ms). */
  'rollback.requested': { by: string; reason: string; expiresAt: number };
  /** A detector's event and its decision (created, duplicate, cooldown, self-caused, resolved, ...). */
  'trigger.event': {
    trigger: string;
    kind: string;
    status: string;
    decision: string;
    dedupKey: string;
    targets: string[];
    detail?: string;
    [k: string]: unknown;
  };
  /** One delivery of a run's news to a channel of notify.yaml. */
  'notify.sent': { channel: string; event: string; attempt: number; ms: number; status?: number };
  'notify.failed': { channel: string; event: string; attempt: number; error: string; final: boolean };
  /** A refused API call (no token, unknown or revoked token, address not allowed); never the token itself. */
  'auth.failed': { ip: string; reason: string; route: string; tokenId?: string; user?: string };
  'token.created': { tokenId: string; name: string; scopes: string[]; allow?: string[]; by: string };
  'token.revoked': { tokenId: string; by: string };
  /** A console sign-in and its outcome (`reason`: why it failed, or `totp enrolled`); never the password or the code. */
  'signin.ok': { name: string; ip: string; reason?: string };
  'signin.failed': { name: string; ip: string; reason: string };
  /** The name is locked (`until`, ISO time): the attempt that locked it, or one refused while it was. */
  'signin.locked': { name: string; ip: string; reason: string; until?: string };
  'user.added': { name: string; role: string; by: string };
  'user.disabled': { name: string; by: string; sessionsEnded: number };
  /** A new TOTP secret: the operator enrolls again at the next sign-in. */
  'user.totp-reset': { name: string; by: string; sessionsEnded: number };
  /** A console session ended before its time: signed out (with `ip`), or its account disabled. */
  'session.ended': { name: string; reason: string; ip?: string };
}

/** One data shape per EntryType (indexing DataShapes by every EntryType makes tsc fail when a type has none). */
export type EntryDataMap = { [K in EntryType]: DataShapes[K] & Record<string, unknown> };
