import { type Action, describeAction } from '../actions.js';
import type { ActionContext, Driver, State } from '../drivers/driver.js';
import { errorCode, errorMessage, RunNotFound, UnknownDriver, VerifyMismatch } from '../errors.js';
import type { JournalEntry, Journal } from '../journal/types.js';
import type { Plan } from '../plan/types.js';
import { withTimeout } from '../timeout.js';
import type { ActionResult, EventSink, RollbackResult } from './events.js';
import { armOf, confirmArm, disarmFailedNote, disarmOthers, type PendingArm } from './disarm.js';
import { DEVICE_HOLD_TYPES, decideRelease, HoldFold, type HoldTable, type OpenChange, targetOf } from './holds.js';
import { currentState, transition } from './lifecycle.js';
import { holdRunLease } from './leases.js';
import type { Sessions } from './sessions.js';
import type { DeviceLock } from './stage.js';
import type { Leases } from '../coord/types.js';

export interface RollbackEnv {
  journal: Journal;
  leases: Leases;
  owner: string;
  drivers: Record<string, Driver>;
  sessions: () => Sessions;
  lockDevice: (device: string) => Promise<DeviceLock>;
  clock: () => number;
  /** How one stage's devices are reverted: in this process, or as jobs on the workers near them. */
  revertStage: RevertStage;
}

export type RevertStage = (c: {
  runId: string;
  plan: Plan;
  stage: number;
  devices: string[];
  emit: EventSink;
  pool: Sessions;
}) => Promise<ActionResult[]>;

export interface RollbackOptions {
  by: string;
  reason?: string;
  onEvent?: EventSink;
  stop?: AbortSignal;
  onAccepted?: () => void;
}

/** One of the run's holds to let go of: a change it made (`intent`) or found made (`already`). */
interface HoldItem {
  actionId: string;
  device: string;
  target: string;
  stage: number;
  /** From the run's own intent: armed with a device-side auto-revert that was never confirmed. */
  armedUnconfirmed: boolean;
  /**
   * Armed and never confirmed (a live drill's kept arm, or a run that died before its confirm):
   * disarmed before its inverse goes out, and confirmed once more when the device undid it by itself.
   */
  armed?: PendingArm;
}

/** Before the first inverse on a device: other runs' pending armed timers disarmed (once per device, lazily). */
type BeforeChange = (timeoutMs: number) => Promise<void>;

/**
 * Rolls a run back from the journal alone (no memory of the run is needed), through holds
 * (invariant 6): each of the run's holds is let go of, newest stage first, devices in parallel and
 * each device's newest first, under the device's lease. The device is changed only when this run
 * is the target's last holder, and then back to the state from before the first change of ours;
 * each inverse is verified by read-back. Never stops at the first failure, never calls a partial
 * rollback a success. A rollback that was interrupted continues where it stopped.
 */
export async function executeRollback(env: RollbackEnv, runId: string, opts: RollbackOptions): Promise<RollbackResult> {
  const { journal } = env;
  const emit = opts.onEvent ?? (() => undefined);
  const lease = await holdRunLease(env.leases, runId, env.owner);
  const pool = env.sessions();
  try {
    const entries = await journal.entries(runId);
    const created = entries.find((e) => e.type === 'run.created');
    if (!created) throw new RunNotFound(`run ${runId} is not in the journal`);
    const plan = created.data.plan as Plan;
    const from = currentState(entries);
    // We hold the run lease: a run or rollback that says it is in progress lost its executor.
    if (from === 'running' || from === 'rolling-back')
      await transition(journal, runId, 'interrupted', { reason: 'its executor stopped answering (lease expired)' });
    await transition(journal, runId, 'rolling-back', { by: opts.by });
    opts.onAccepted?.();
    const items = openHolds(entries, plan);
    await journal.append(runId, 'rollback.started', { by: opts.by, reason: opts.reason ?? '', actions: items.map((i) => i.actionId) });
    emit({ type: 'run', runId, state: 'rolling-back' });

    const results: ActionResult[] = [];
    const stages = [...new Set(items.map((i) => i.stage))].sort((a, b) => b - a);
    for (const stage of stages) {
      const devices = [...new Set(items.filter((x) => x.stage === stage).map((i) => i.device))];
      results.push(...(await env.revertStage({ runId, plan, stage, devices, emit, pool })));
    }
    const notReverted = results.filter((r) => r.state !== 'reverted' && r.state !== 'released');
    const state = notReverted.length ? 'rollback-failed' : 'rolled-back';
    await journal.append(runId, 'rollback.finished', {
      state,
      reverted: results.length - notReverted.length,
      failed: notReverted.map((r) => ({ actionId: r.actionId, device: r.device, error: r.error })),
    });
    await transition(journal, runId, state);
    emit({ type: 'run', runId, state });
    return { runId, state, actions: results, notReverted };
  } finally {
    await pool.closeAll();
    await lease.release();
  }
}

/** Lets go of the run's holds on one device in one stage, under the device's lease (any executor). */
export async function revertDevice(
  env: Pick<RollbackEnv, 'journal' | 'drivers' | 'clock' | 'lockDevice'>,
  c: { runId: string; plan: Plan; stage: number; device: string; emit: EventSink; pool: Sessions },
): Promise<ActionResult[]> {
  const mine = await env.journal.find({ runId: c.runId, device: c.device, types: [...DEVICE_HOLD_TYPES, 'action.confirmed'] });
  const items = openHolds(mine, c.plan).filter((i) => i.stage === c.stage);
  const results: ActionResult[] = [];
  if (!items.length) return results;
  let lock: DeviceLock;
  try {
    lock = await env.lockDevice(c.device);
  } catch (err) {
    for (const item of items) results.push(await failed(env, c.runId, item, null, err, c.emit));
    return results;
  }
  // The device's device.armed marks come with its hold entries (one read, not one more per device).
  const marks: JournalEntry[] = [];
  const disarmed: { done?: Promise<void> } = {};
  const beforeChange: BeforeChange = (timeoutMs) =>
    (disarmed.done ??= (async () => {
      const device = c.plan.devices[c.device];
      if (!device) throw new UnknownDriver(`device ${c.device} is not in this run's plan`);
      const r = await disarmOthers({
        journal: env.journal,
        drivers: env.drivers,
        device,
        runId: c.runId,
        session: (d) => c.pool.get(device, d.transport, timeoutMs),
        marks,
      });
      if (!r.ok) {
        if (r.error instanceof Error) r.error.message = `${r.error.message}; ${disarmFailedNote(r.failed)}`;
        throw r.error;
      }
    })());
  try {
    // Decided under the device's lease, from the journal as it is now: this device's holds only.
    const holds = deviceHolds(env.journal, c.device, marks);
    for (const item of items) {
      const decision = decideRelease(await holds.now(), c.runId, item.actionId, item.target);
      results.push(await releaseOne(env, c.pool, c.plan, c.runId, item, decision, c.emit, beforeChange));
    }
  } finally {
    await lock.release();
  }
  return results;
}

/**
 * A device's holds as its journal stands now, for one rollback: the device's history is read
 * once, then only what was appended since (the rollback's own releases), and folded as it comes.
 * Reading the whole history again for every action, a 200-device rollback with 300 earlier runs
 * on the same ports spent 12.1 s deciding its holds; now 4.6 s, still growing with the history
 * (bench/holds-history.js). Its device.armed marks go to `marks`.
 */
export function deviceHolds(journal: Journal, device: string, marks: JournalEntry[] = []): { now(): Promise<HoldTable> } {
  const fold = new HoldFold();
  const rolledBack = rolledBackRuns(journal);
  let seen: number | undefined;
  return {
    async now() {
      const read = await journal.find({
        device,
        types: [...DEVICE_HOLD_TYPES, 'device.armed'],
        ...(seen === undefined ? {} : { afterSeq: seen }),
      });
      seen ??= 0;
      for (const e of read) {
        if (e.type === 'device.armed') marks.push(e);
        else fold.add(e);
        seen = Math.max(seen, e.seq);
      }
      return fold.table(await rolledBack(fold.table()));
    },
  };
}

/**
 * Runs rolled back before holds were released one by one (older journals) hold nothing. Asked only
 * of the runs that still hold something on this device, each by its own run index, once: reading
 * every run's states for every device made a rollback slower with each run the journal kept.
 */
function rolledBackRuns(journal: Journal): (table: HoldTable) => Promise<Set<string>> {
  const known = new Map<string, boolean>();
  return async (table) => {
    const out = new Set<string>();
    for (const runId of new Set([...table.holders.values()].flat().map((h) => h.runId))) {
      if (!known.has(runId))
        known.set(
          runId,
          (await journal.find({ runId, types: ['run.state'] })).some((e) => e.data.state === 'rolled-back'),
        );
      if (known.get(runId)) out.add(runId);
    }
    return out;
  };
}

/** The in-process way: every device of the stage in parallel in this process. */
export function localRevertStage(env: Pick<RollbackEnv, 'journal' | 'drivers' | 'clock' | 'lockDevice'>): RevertStage {
  return async (c) => (await Promise.all(c.devices.map((device) => revertDevice(env, { ...c, device })))).flat();
}

/** The run's holds not yet let go of, newest first within each device. */
function openHolds(entries: JournalEntry[], plan: Plan): HoldItem[] {
  const done = new Set(
    entries.filter((e) => e.type === 'action.reverted' || e.type === 'hold.released').map((e) => e.data.actionId as string),
  );
  const confirmed = new Set(entries.filter((e) => e.type === 'action.confirmed').map((e) => e.data.actionId as string));
  const planned = new Map(plan.actions.map((a) => [a.id, a]));
  const items: HoldItem[] = [];
  for (const e of entries) {
    if (e.type !== 'action.intent' && e.type !== 'action.already') continue;
    const actionId = e.data.actionId as string;
    if (done.has(actionId)) continue;
    const pa = planned.get(actionId);
    const target = (e.data.target as string | undefined) ?? (pa ? targetOf(pa.device, pa.action) : undefined);
    if (!target) continue;
    const armedUnconfirmed = e.type === 'action.intent' && e.data.autoRevert !== undefined && !confirmed.has(actionId);
    const arm = e.data.autoRevert as { minutes: number; keepArmed?: boolean } | undefined;
    items.push({
      actionId,
      device: e.data.device as string,
      target,
      stage: pa?.stage ?? 0,
      armedUnconfirmed,
      ...(armedUnconfirmed && arm
        ? {
            armed: armOf(e, arm.minutes, pa),
          }
        : {}),
    });
  }
  return items.reverse();
}

async function releaseOne(
  env: Pick<RollbackEnv, 'journal' | 'drivers' | 'clock'>,
  pool: Sessions,
  plan: Plan,
  runId: string,
  item: HoldItem,
  decision: ReturnType<typeof decideRelease>,
  emit: EventSink,
  beforeChange: BeforeChange,
): Promise<ActionResult> {
  const base = { actionId: item.actionId, device: item.device };
  const emitted = (r: ActionResult) => {
    emit({ type: 'action', runId, ...r });
    return r;
  };
  if (decision.kind === 'keep') {
    const heldBy = decision.heldBy.map((h) => ({ runId: h.runId, actionId: h.actionId }));
    await env.journal.append(runId, 'hold.released', { ...base, target: item.target, heldBy });
    const error = `kept: still held by ${[...new Set(heldBy.map((h) => h.runId))].join(', ')}`;
    return emitted({ ...base, what: item.target, state: 'released', error });
  }
  if (decision.kind === 'nothing') {
    // Found so, and no change of ours is open on it: it was like this before us. Never reverted.
    await env.journal.append(runId, 'action.reverted', { ...base, target: item.target, inverse: null, nothingToDo: true, undid: [] });
    return emitted({ ...base, what: 'nothing to undo', state: 'reverted' });
  }
  const change = decision.change;
  const undid = decision.undid.map((c) => ({ runId: c.runId, actionId: c.actionId }));
  const inverseOf =
    change.runId === runId && change.actionId === item.actionId ? undefined : { runId: change.runId, actionId: change.actionId };
  const what = change.inverse ? describeAction(change.inverse) : 'nothing to undo';
  const started = env.clock();
  if (!change.inverse) {
    await env.journal.append(runId, 'action.reverted', { ...base, target: item.target, inverse: null, nothingToDo: true, undid });
    return emitted({ ...base, what, state: 'reverted' });
  }
  // Our own armed change, still on the device: disarmed first, so that its timer cannot later undo
  // whatever is changed after this restore (the platforms revert everything since arming).
  const armed = inverseOf ? undefined : item.armed;
  const confirmOwn = async (reason: string) => {
    const device = plan.devices[item.device]!;
    const output = await confirmArm(
      { drivers: env.drivers, device, session: (d) => pool.get(device, d.transport, armed!.timeoutMs) },
      armed!,
    );
    await env.journal.append(runId, 'action.confirmed', { ...base, output, by: 'rollback', reason });
  };
  const disarmOwn = async () => {
    if (!armed) return;
    try {
      await confirmOwn('disarmed before the restore, so that the timer cannot undo later changes');
    } catch (err) {
      if (err instanceof Error)
        err.message = `${err.message}; not reverted: its auto-revert could not be disarmed first (the device undoes the change by itself when the timer ends)`;
      throw err;
    }
  };
  // Undone by the device itself: confirmed once more, because a FortiGate stays in `cfg-save revert`
  // after reverting and would undo the next change too (a confirm with nothing pending is harmless).
  const settle = async (): Promise<string | undefined> => {
    try {
      await beforeChange(change.timeoutMs);
      await confirmOwn('the device undid the change by itself; confirmed so that it leaves its auto-revert mode');
      return undefined;
    } catch (err) {
      return errorMessage(err);
    }
  };
  let after: State | undefined;
  try {
    const { now, applied, read } = await applyInverse(env, pool, plan, change, change.inverse, async () => {
      await beforeChange(change.timeoutMs);
      await disarmOwn();
    });
    after = read;
    const ms = Math.round(env.clock() - started);
    // An armed change never confirmed, found already undone: the device's own auto-revert did it.
    const deviceReverted = !applied && item.armedUnconfirmed && !inverseOf;
    const settleError = deviceReverted && armed ? await settle() : undefined;
    await env.journal.append(runId, 'action.reverted', {
      ...base,
      target: item.target,
      inverse: change.inverse,
      after: after ?? now,
      nothingToDo: !applied,
      undid,
      ...(inverseOf ? { inverseOf } : {}),
      ...(deviceReverted ? { deviceReverted } : {}),
      ...(settleError ? { settleError } : {}),
      ms,
    });
    return emitted({ ...base, what, state: 'reverted', ms });
  } catch (err) {
    return failed(env, runId, item, change.inverse, err, emit, after);
  }
}

async function applyInverse(
  env: Pick<RollbackEnv, 'drivers'>,
  pool: Sessions,
  plan: Plan,
  change: OpenChange,
  inverse: Action,
  beforeApply: () => Promise<void>,
): Promise<{ now: State; applied: boolean; read?: State }> {
  const device = plan.devices[change.device];
  if (!device) throw new UnknownDriver(`device ${change.device} is not in this run's plan`);
  const driver = env.drivers[change.driver];
  if (!driver) throw new UnknownDriver(`driver ${change.driver} is not available here (known: ${Object.keys(env.drivers).join(', ')})`);
  // The change's own tag: what it added on the device is found and removed exactly.
  const ctx: ActionContext = { device, tag: change.tag, timeoutMs: change.timeoutMs };
  const session = await pool.get(device, driver.transport, change.timeoutMs);
  const now = await withTimeout(driver.read(session, inverse, ctx), change.timeoutMs, `read ${change.device}`);
  if (driver.holds(inverse, now, ctx)) return { now, applied: false };
  await beforeApply();
  await withTimeout(driver.apply(session, inverse, ctx), change.timeoutMs, `revert on ${change.device}`);
  const read = await withTimeout(driver.read(session, inverse, ctx), change.timeoutMs, `read back ${change.device}`);
  if (!driver.holds(inverse, read, ctx))
    throw new VerifyMismatch(`${describeAction(inverse)} on ${change.device}: read-back does not show it: ${JSON.stringify(read)}`);
  return { now, applied: true, read };
}

async function failed(
  env: Pick<RollbackEnv, 'journal'>,
  runId: string,
  item: HoldItem,
  inverse: Action | null,
  err: unknown,
  emit: EventSink,
  after?: State,
): Promise<ActionResult> {
  const r: ActionResult = {
    actionId: item.actionId,
    device: item.device,
    what: inverse ? describeAction(inverse) : item.target,
    state: 'revert-failed',
    error: errorMessage(err),
    code: errorCode(err),
  };
  await env.journal.append(runId, 'action.revert-failed', {
    actionId: item.actionId,
    device: item.device,
    target: item.target,
    inverse,
    code: errorCode(err),
    error: errorMessage(err),
    ...(after ? { after } : {}),
  });
  emit({ type: 'action', runId, ...r });
  return r;
}
