import { describeAction } from '../actions.js';
import type { ActionContext, Driver, State } from '../drivers/driver.js';
import { DeviceTimeout, DeviceUnreachable, errorCode, errorMessage, LeaseLost, VerifyMismatch } from '../errors.js';
import type { EntryType, JournalEntry } from '../journal/types.js';
import type { Plan, PlannedAction } from '../plan/types.js';
import { withTimeout } from '../timeout.js';
import type { Session } from '../transports/types.js';
import { disarmFailedNote, disarmOthers } from './disarm.js';
import type { ActionResult, EventSink } from './events.js';
import { targetOf } from './holds.js';
import type { Sessions } from './sessions.js';
import type { StageLog } from './stage-log.js';

/**
 * One device's part of a stage, the unit both executors run (in-process, or as a queue job on the
 * worker nearest the device): take the device's lease, prepare (connect, read pre-state, journal
 * intents), wait at the stage's barrier for the one "go" (invariant 11: every device is prepared
 * before any is changed), strike, read back, confirm. Serial on the device (invariant 5).
 * Before anything of the run touches the device, other runs' pending auto-reverts on it (a live
 * drill's backstop, or a run that died before its confirm) are disarmed, so that no device timer
 * can undo this run's change (disarm.ts).
 *
 * Everything it hands on goes through the journal, so a step can be run again after a crash: an
 * action with an intent but no outcome is decided by a fresh read (already changed: verified as
 * is; not changed: applied again, with the intent's original pre-state and inverse).
 */

export interface DeviceLock {
  readonly token: number;
  /** Aborted when the lease was lost: the device must not be changed until it is taken again. */
  readonly signal: AbortSignal;
  /** After a loss: takes the lease again if nobody else has in between (true: go on). */
  reacquire(): Promise<boolean>;
  release(): Promise<void>;
}

export interface StepDeps {
  runId: string;
  plan: Plan;
  log: StageLog;
  drivers: Record<string, Driver>;
  sessions: Sessions;
  emit: EventSink;
  clock: () => number;
  lockDevice: (device: string) => Promise<DeviceLock>;
  /** Aborted on SIGINT/SIGTERM: stop at the next safe point (what is in flight finishes and is verified). */
  stop?: AbortSignal;
}

/** Resolves when the stage says go: `go` in time, `late` after the others went, `stop` to change nothing. */
export interface Barrier {
  arrive(device: string): Promise<'go' | 'late' | 'stop'>;
}

/** What the journal already says about an action (a resumed run, a redelivered job). */
export interface Prior {
  intent?: Record<string, unknown>;
  done?: 'verified' | 'already' | 'failed';
}

export interface DeviceOutcome {
  device: string;
  /** Clock times (epoch ms) of the changes applied, and of the read-backs that verified them. */
  appliedAt: number[];
  verifiedAt: number[];
  /** Clock time of this step's first session request. */
  contactAt?: number;
}

interface Pending {
  pa: PlannedAction;
  ctx: ActionContext;
  driver: Driver;
  /** Resumed: the journal had its intent and a fresh read shows the change: verify only. */
  resumedHeld?: boolean;
  startedAt?: number;
  appliedAt?: number;
  output?: string;
}

/** The entry types priorFacts reads: a caller need not fetch the rest (the plan is large). */
export const PRIOR_TYPES: EntryType[] = ['action.intent', 'action.verified', 'action.already', 'action.failed'];

export function priorFacts(entries: readonly JournalEntry[]): Map<string, Prior> {
  const m = new Map<string, Prior>();
  for (const e of entries) {
    const id = e.data.actionId as string | undefined;
    if (!id) continue;
    const p = m.get(id) ?? {};
    if (e.type === 'action.intent') p.intent = e.data;
    else if (e.type === 'action.verified') p.done = 'verified';
    else if (e.type === 'action.already') p.done = 'already';
    else if (e.type === 'action.failed') p.done = 'failed';
    m.set(id, p);
  }
  return m;
}

export async function runDevice(
  deps: StepDeps,
  actions: PlannedAction[],
  barrier: Barrier,
  prior: Map<string, Prior>,
): Promise<DeviceOutcome> {
  const device = actions[0]!.device;
  const outcome: DeviceOutcome = { device, appliedAt: [], verifiedAt: [] };
  const todo = actions.filter((pa) => !prior.get(pa.id)?.done);
  if (!todo.length) {
    await barrier.arrive(device);
    return outcome;
  }
  let lock: DeviceLock;
  try {
    lock = await deps.lockDevice(device);
  } catch (err) {
    for (const pa of todo) fail(deps, pa, 'lock', err);
    await deps.log.flush();
    await barrier.arrive(device);
    return outcome;
  }
  try {
    outcome.contactAt = deps.clock();
    const pending = await prepare(deps, todo, prior, lock);
    // Write-ahead (invariant 1): the intents are durable before the barrier can say go.
    await deps.log.flush();
    const go = await barrier.arrive(device);
    if (go === 'stop' || deps.stop?.aborted) return outcome;
    const toStrike = pending.filter((p) => !p.resumedHeld);
    // A lease lost (Redis away longer than its ttl) is taken again if nobody else has: fencing.
    if (lock.signal.aborted && !(await lock.reacquire())) {
      for (const p of toStrike) fail(deps, p.pa, 'apply', new LeaseLost(`lease on ${device} lost before the change: not sent`));
    } else if (toStrike.length) {
      await strike(deps, toStrike);
    }
    const applied = toStrike.filter((p) => p.appliedAt !== undefined);
    for (const p of applied) {
      deps.log.add('action.applied', { actionId: p.pa.id, device, output: p.output ?? '', at: p.appliedAt });
      outcome.appliedAt.push(p.appliedAt!);
      setResult(deps, p.pa, 'applied');
    }
    const held = pending.filter((p) => p.resumedHeld);
    for (const p of held) p.startedAt = deps.clock();
    outcome.verifiedAt = await verify(deps, [...held, ...applied]);
    return outcome;
  } finally {
    await deps.log.flush().finally(() => lock.release());
  }
}

async function prepare(deps: StepDeps, actions: PlannedAction[], prior: Map<string, Prior>, lock: DeviceLock): Promise<Pending[]> {
  const first = actions[0]!;
  const device = deps.plan.devices[first.device]!;
  const driver = deps.drivers[first.driver]!;
  let session: Session;
  try {
    session = await connectWithRetries(deps, first, driver);
  } catch (err) {
    for (const pa of actions) fail(deps, pa, 'connect', err);
    return [];
  }
  // Under the lease, before any read or change of ours: another run's armed timer must not undo us.
  const disarm = await disarmOthers({
    journal: deps.log.journal,
    drivers: deps.drivers,
    device,
    runId: deps.runId,
    session: (d) => (d === driver ? Promise.resolve(session) : deps.sessions.get(device, d.transport, first.timeoutMs)),
  }).catch((error: unknown) => ({ ok: false as const, error, failed: undefined }));
  if (!disarm.ok) {
    // A confirm that timed out may still be running on the session: nobody else may use it.
    if (disarm.error instanceof DeviceUnreachable || disarm.error instanceof DeviceTimeout) await deps.sessions.discard(device.id);
    for (const pa of actions)
      fail(
        deps,
        pa,
        'disarm',
        disarm.error,
        undefined,
        disarm.failed ? disarmFailedNote(disarm.failed) : 'not changed: the journal could not be read or written',
      );
    return [];
  }
  const out: Pending[] = [];
  for (const pa of actions) {
    if (deps.stop?.aborted) break; // safe point: not read, not journaled, still pending
    const ctx: ActionContext = { device, tag: pa.tag, timeoutMs: pa.timeoutMs, ...(pa.autoRevert ? { autoRevert: pa.autoRevert } : {}) };
    const target = targetOf(pa.device, pa.action);
    try {
      const before = await withTimeout(driver.read(session, pa.action, ctx), pa.timeoutMs, `${pa.id} read ${pa.device}`);
      const intent = prior.get(pa.id)?.intent;
      if (intent) {
        // The journal says we meant to change it; the device says whether we did.
        const held = driver.holds(pa.action, before, ctx);
        deps.log.add('action.resumed', { actionId: pa.id, device: pa.device, held, after: before });
        out.push({ pa, ctx, driver, resumedHeld: held });
        continue;
      }
      if (driver.holds(pa.action, before, ctx)) {
        deps.log.add('action.already', { actionId: pa.id, device: pa.device, target, action: pa.action, before, at: deps.clock() });
        setResult(deps, pa, 'already');
        continue;
      }
      const inverse = driver.invert(pa.action, before, ctx);
      deps.log.add('action.intent', {
        actionId: pa.id,
        device: pa.device,
        driver: pa.driver,
        tag: pa.tag,
        target,
        action: pa.action,
        before,
        inverse,
        timeoutMs: pa.timeoutMs,
        lease: lock.token,
        ...(pa.autoRevert ? { autoRevert: pa.autoRevert } : {}),
      });
      setResult(deps, pa, 'prepared');
      out.push({ pa, ctx, driver });
    } catch (err) {
      fail(deps, pa, 'read', err);
    }
  }
  // Armed changes about to go out: the mark the next run on this device looks for, durable before
  // the change (if this run dies before its confirm, or keeps them armed, the next one disarms them).
  const armed = out.filter((p) => p.pa.autoRevert && !p.resumedHeld);
  if (armed.length)
    deps.log.add('device.armed', {
      device: first.device,
      actionIds: armed.map((p) => p.pa.id),
      minutes: Math.max(...armed.map((p) => p.pa.autoRevert!.minutes)),
    });
  return out;
}

async function strike(deps: StepDeps, list: Pending[]): Promise<void> {
  const startedAt = deps.clock();
  // Several changes on one device go out together where the driver can (one session, one commit).
  const together = list.length > 1 && list[0]!.driver.applyAll ? await strikeTogether(deps, list, startedAt) : false;
  if (together) return;
  // After a failed batch, each action is read first: part of the batch may have taken effect.
  const checkFirst = list.length > 1 && list[0]!.driver.applyAll !== undefined;
  for (const p of list) {
    p.startedAt ??= deps.clock();
    for (let attempt = 0; ; attempt++) {
      try {
        const session = await connect(deps, p.pa, p.driver);
        // A retry first checks whether the earlier attempt took effect after all.
        if ((attempt > 0 || checkFirst) && p.driver.holds(p.pa.action, await p.driver.read(session, p.pa.action, p.ctx), p.ctx)) {
          p.output = '(held after an earlier attempt)';
        } else {
          p.output = await withTimeout(p.driver.apply(session, p.pa.action, p.ctx), p.pa.timeoutMs, `${p.pa.id} apply on ${p.pa.device}`);
        }
        p.appliedAt = deps.clock();
        break;
      } catch (err) {
        if (err instanceof DeviceUnreachable || err instanceof DeviceTimeout) await deps.sessions.discard(p.pa.device);
        if (attempt >= p.pa.retries) {
          fail(deps, p.pa, 'apply', err);
          break;
        }
      }
    }
  }
}

/** One applyAll for the device's actions of this stage; false (nothing marked) when it failed. */
async function strikeTogether(deps: StepDeps, list: Pending[], startedAt: number): Promise<boolean> {
  const first = list[0]!;
  for (const p of list) p.startedAt = startedAt;
  try {
    const session = await connect(deps, first.pa, first.driver);
    const budget = list.reduce((ms, p) => ms + p.pa.timeoutMs, 0);
    const items = list.map((p) => ({ action: p.pa.action, ctx: p.ctx }));
    const output = await withTimeout(
      first.driver.applyAll!(session, items),
      budget,
      `${list.map((p) => p.pa.id).join('+')} apply on ${first.pa.device}`,
    );
    const now = deps.clock();
    for (const p of list) {
      p.appliedAt = now;
      p.output = p === first ? output : `(applied together with ${first.pa.id})`;
    }
    return true;
  } catch (err) {
    // A batch that timed out may still be sending: the fallback must not share its session.
    if (err instanceof DeviceUnreachable || err instanceof DeviceTimeout) await deps.sessions.discard(first.pa.device);
    // Nothing silently degraded: the cut on this device was not one change, and the journal says why.
    deps.log.add('batch.refused', {
      device: first.pa.device,
      actions: list.map((p) => p.pa.id),
      code: errorCode(err),
      error: errorMessage(err),
    });
    return false;
  }
}

/**
 * Reads every change of this device back, then confirms the armed ones (not those kept armed: a
 * live drill leaves its timer running as the restore's backstop). Confirming only after all
 * read-backs matters: on most platforms a confirm covers everything pending on the device (a
 * Junos `commit`, IOS `configure confirm`), batched changes share one timer, and a change the
 * device must undo by itself should not be made permanent by its neighbour's confirm first.
 */
async function verify(deps: StepDeps, list: Pending[]): Promise<number[]> {
  const verified: { p: Pending; at: number; ms: number; after: State }[] = [];
  for (const p of list) {
    let after: State | undefined;
    try {
      const session = await connect(deps, p.pa, p.driver);
      after = await withTimeout(p.driver.read(session, p.pa.action, p.ctx), p.pa.timeoutMs, `${p.pa.id} read back ${p.pa.device}`);
      // Invariant 3: done when the device shows it, not when the command returned.
      if (!p.driver.holds(p.pa.action, after, p.ctx)) {
        throw new VerifyMismatch(
          `${p.pa.id} ${describeAction(p.pa.action)} on ${p.pa.device}: read-back does not show the change: ${JSON.stringify(after)}`,
        );
      }
      const at = deps.clock();
      const ms = round(at - p.startedAt!);
      deps.log.add('action.verified', { actionId: p.pa.id, device: p.pa.device, after, ms, at });
      verified.push({ p, at, ms, after });
    } catch (err) {
      fail(deps, p.pa, 'verify', err, after);
    }
  }
  // Kept armed (a live drill): the device's timer stays the restore's backstop; the intent says so.
  const armed = verified.filter((v) => v.p.pa.autoRevert && !v.p.pa.autoRevert.keepArmed && v.p.driver.confirm);
  // Durable before any confirm: a crash here must read "verified, armed, not confirmed".
  if (armed.length) await deps.log.flush();
  const lost = new Set<Pending>();
  for (const { p, after } of armed) {
    try {
      const session = await connect(deps, p.pa, p.driver);
      const output = await withTimeout(
        p.driver.confirm!(session, p.pa.action, p.ctx),
        p.pa.timeoutMs,
        `${p.pa.id} confirm on ${p.pa.device}`,
      );
      deps.log.add('action.confirmed', { actionId: p.pa.id, device: p.pa.device, output });
    } catch (err) {
      lost.add(p);
      fail(deps, p.pa, 'confirm', err, after, 'not confirmed: the device undoes this change when its auto-revert timer ends');
    }
  }
  const times: number[] = [];
  for (const { p, at, ms } of verified) {
    if (lost.has(p)) continue;
    times.push(at);
    setResult(deps, p.pa, 'verified', { ms });
  }
  return times;
}

/**
 * A lost packet or a busy device is worth another try; a wrong host key or credentials are not,
 * and trying again would only delay the coordinated strike for every other device.
 */
async function connectWithRetries(deps: StepDeps, pa: PlannedAction, driver: Driver): Promise<Session> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await connect(deps, pa, driver);
    } catch (err) {
      const transient = err instanceof DeviceUnreachable || err instanceof DeviceTimeout;
      if (!transient || attempt >= pa.retries) throw err;
      await new Promise((r) => setTimeout(r, CONNECT_RETRY_DELAY_MS * 2 ** attempt));
    }
  }
}

const CONNECT_RETRY_DELAY_MS = 200;

function connect(deps: StepDeps, pa: PlannedAction, driver: Driver): Promise<Session> {
  return deps.sessions.get(deps.plan.devices[pa.device]!, driver.transport, pa.timeoutMs);
}

function fail(deps: StepDeps, pa: PlannedAction, phase: string, err: unknown, after?: State, note?: string): void {
  const error = note ? `${errorMessage(err)}; ${note}` : errorMessage(err);
  const code = errorCode(err);
  deps.log.add('action.failed', { actionId: pa.id, device: pa.device, phase, code, error, ...(after ? { after } : {}) });
  setResult(deps, pa, 'failed', { error: `${phase}: ${error}`, code });
}

function setResult(deps: StepDeps, pa: PlannedAction, state: ActionResult['state'], extra: Partial<ActionResult> = {}): void {
  deps.emit({ type: 'action', runId: deps.runId, actionId: pa.id, device: pa.device, what: describeAction(pa.action), state, ...extra });
}

export function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}
