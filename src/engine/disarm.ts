import type { Action } from '../actions.js';
import type { ActionContext, Driver } from '../drivers/driver.js';
import { UnknownDriver } from '../errors.js';
import type { Device } from '../inventory/types.js';
import type { PlannedAction } from '../plan/types.js';
import type { EntryType, Journal, JournalEntry } from '../journal/types.js';
import { withTimeout } from '../timeout.js';
import type { Session } from '../transports/types.js';

/**
 * A device's own auto-revert can stay armed after its run let go of the device: a live drill keeps
 * it armed on purpose (`keepArmed`, the backstop of its restore), and a run that died between its
 * change and its confirm leaves it armed by accident. The platforms' timers put back the whole
 * configuration as it was when armed (IOS archive rollback, Junos commit confirmed, FortiOS
 * cfg-save revert): anything changed on the device meanwhile is undone too. So whoever is about to
 * change a device first disarms (confirms) every other run's pending armed change on it, under the
 * device's lease, and journals `action.confirmed { by, reason }` in that run's stream. A drill's
 * scheduled restore still comes (its time to live) and reverts only the drill's change. When a
 * confirm fails, the caller changes nothing on the device: the timer would undo its change too.
 */

export interface PendingArm {
  runId: string;
  actionId: string;
  device: string;
  driver: string;
  action: Action;
  tag: string;
  timeoutMs: number;
  minutes: number;
}

/** The entries that open and close an armed change on a device (read by run, only for runs that marked it). */
export const ARM_TYPES: EntryType[] = ['action.intent', 'action.applied', 'action.confirmed', 'action.reverted'];

/**
 * Past its minutes the timer has fired or been confirmed. Counted from the apply (or the intent when
 * no apply was journaled, e.g. the process died while applying), plus a minute: the device's clock
 * started a little later than the journal's, and a confirm too many is harmless (nothing pending).
 */
const SLACK_MS = 60_000;

/**
 * Other runs' armed changes on the device whose timer may still be running at `now` (epoch ms):
 * journaled with `autoRevert`, neither confirmed nor reverted. Kept armed (a live drill), or armed
 * by a run that died before its confirm: either way its timer would undo whatever is changed on the
 * device after it. (A run still working the device holds its lease, so no one else asks then.) A
 * failed revert leaves it open: the device may still be armed.
 */
export function pendingArms(entries: readonly JournalEntry[], now: number, exceptRunId: string): PendingArm[] {
  const key = (e: JournalEntry) => `${e.runId} ${String(e.data.actionId)}`;
  const closed = new Set(entries.filter((e) => e.type === 'action.confirmed' || e.type === 'action.reverted').map(key));
  const appliedAt = new Map(entries.filter((e) => e.type === 'action.applied').map((e) => [key(e), Date.parse(e.ts)]));
  const out: PendingArm[] = [];
  for (const e of entries) {
    if (e.type !== 'action.intent' || e.runId === exceptRunId || closed.has(key(e))) continue;
    const arm = e.data.autoRevert as { minutes?: number; keepArmed?: boolean } | undefined;
    if (typeof arm?.minutes !== 'number') continue;
    const since = appliedAt.get(key(e)) ?? Date.parse(e.ts);
    if (now > since + arm.minutes * 60_000 + SLACK_MS) continue;
    out.push(armOf(e, arm.minutes));
  }
  return out;
}

/** An armed change as its intent journaled it (`planned`: the run's plan, for intents from before these fields). */
export function armOf(intent: JournalEntry, minutes: number, planned?: PlannedAction): PendingArm {
  const d = intent.data;
  return {
    runId: intent.runId,
    actionId: String(d.actionId),
    device: String(d.device),
    driver: String(d.driver ?? planned?.driver),
    action: (d.action ?? planned?.action) as Action,
    tag: String(d.tag ?? planned?.tag),
    timeoutMs: Number(d.timeoutMs ?? planned?.timeoutMs) || 30_000,
    minutes,
  };
}

export interface DisarmDeps {
  journal: Journal;
  drivers: Record<string, Driver>;
  /** This device, as the caller's plan has it (its session is the caller's). */
  device: Device;
  /** A session to the device for a driver (the caller's pool). */
  session: (driver: Driver) => Promise<Session>;
  /** The run about to change the device: its own armed changes are its rollback's business. */
  runId: string;
  /** Epoch ms (the journal's clock). */
  now?: number;
  /** This device's `device.armed` entries when the caller read them already (a rollback reads the device's entries anyway). */
  marks?: readonly JournalEntry[];
}

export type DisarmResult = { ok: true; disarmed: PendingArm[] } | { ok: false; failed: PendingArm; error: unknown; disarmed: PendingArm[] };

/**
 * Other runs' armed changes on the device whose timer may still run. Every run on every device asks
 * this before it changes anything, so the common answer (none) must stay cheap however long the
 * journal grows: the `device.armed` marks (one per run and armed device) are read incrementally,
 * after the last seq this process has seen, and only those whose timer may still run are kept;
 * only the runs found there are read further, by run.
 */
export async function pendingArmsOn(
  journal: Journal,
  device: string,
  runId: string,
  now: number,
  known?: readonly JournalEntry[],
): Promise<PendingArm[]> {
  const marks = (known ?? (await recentMarks(journal, now))).filter(
    (e) => e.data.device === device && e.runId !== runId && markLive(e, now),
  );
  const out: PendingArm[] = [];
  for (const r of new Set(marks.map((e) => e.runId)))
    out.push(...pendingArms(await journal.find({ runId: r, device, types: ARM_TYPES }), now, runId));
  return out;
}

/** Per journal: the marks whose timer may still run, and the last seq read (one refresh at a time). */
const marksSeen = new WeakMap<Journal, { after: number; recent: JournalEntry[]; refresh: Promise<void> }>();

async function recentMarks(journal: Journal, now: number): Promise<JournalEntry[]> {
  let m = marksSeen.get(journal);
  if (!m) {
    m = { after: 0, recent: [], refresh: Promise.resolve() };
    marksSeen.set(journal, m);
  }
  const cache = m;
  // A failed read fails its own callers only; the next one reads again from the same seq.
  cache.refresh = cache.refresh
    .catch(() => undefined)
    .then(async () => {
      const fresh = await journal.find({ types: ['device.armed'], afterSeq: cache.after });
      if (fresh.length) cache.after = fresh.at(-1)!.seq;
      cache.recent = [...cache.recent, ...fresh].filter((e) => markLive(e, now));
    });
  await cache.refresh;
  return cache.recent;
}

/** A mark is written in prepare; its changes go out after the stage's barrier, at most this later. */
const MARK_SLACK_MS = 5 * 60_000;

/** Whether a `device.armed` mark's timer may still run at `now`. */
function markLive(mark: JournalEntry, now: number): boolean {
  return now <= Date.parse(mark.ts) + Number(mark.data.minutes) * 60_000 + MARK_SLACK_MS;
}

/** Confirms every other run's pending armed change on the device, each journaled in its own run. */
export async function disarmOthers(deps: DisarmDeps): Promise<DisarmResult> {
  const pending = await pendingArmsOn(deps.journal, deps.device.id, deps.runId, deps.now ?? Date.now(), deps.marks);
  const disarmed: PendingArm[] = [];
  for (const arm of pending) {
    try {
      const output = await confirmArm(deps, arm);
      await deps.journal.append(arm.runId, 'action.confirmed', {
        actionId: arm.actionId,
        device: arm.device,
        output,
        by: deps.runId,
        reason: `disarmed: run ${deps.runId} changes this device`,
      });
      disarmed.push(arm);
    } catch (error) {
      return { ok: false, failed: arm, error, disarmed };
    }
  }
  return { ok: true, disarmed };
}

/** One confirm with the arming run's own context (its tag: EOS finds its session by it). */
export async function confirmArm(deps: Pick<DisarmDeps, 'drivers' | 'device' | 'session'>, arm: PendingArm): Promise<string> {
  const driver = deps.drivers[arm.driver];
  if (!driver?.confirm)
    throw new UnknownDriver(`driver ${arm.driver} (that armed ${arm.actionId} of run ${arm.runId}) has no confirm here`);
  const ctx: ActionContext = { device: deps.device, tag: arm.tag, timeoutMs: arm.timeoutMs, autoRevert: { minutes: arm.minutes } };
  const session = await deps.session(driver);
  return withTimeout(driver.confirm(session, arm.action, ctx), arm.timeoutMs, `disarm ${arm.runId} ${arm.actionId} on ${arm.device}`);
}

/** Why a run leaves the device alone when a disarm failed (appended to the error). */
export function disarmFailedNote(arm: PendingArm): string {
  return `not changed: the auto-revert that run ${arm.runId} (${arm.actionId}) keeps armed on ${arm.device} could not be disarmed, and its timer would undo this change too`;
}

/**
 * Whether the run still has an armed change that nothing has confirmed (a live drill's, or one whose
 * confirm never came): its devices will undo it by themselves, so keeping or extending the run
 * would promise a hold the devices do not keep.
 */
export async function armedOpen(journal: Journal, runId: string): Promise<boolean> {
  const entries = await journal.find({ runId, types: ['device.armed', 'action.confirmed', 'action.reverted'] });
  const closed = new Set(entries.filter((e) => e.type !== 'device.armed').map((e) => String(e.data.actionId)));
  return entries.some((e) => e.type === 'device.armed' && (e.data.actionIds as string[]).some((id) => !closed.has(id)));
}
