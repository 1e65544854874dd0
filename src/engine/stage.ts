import { describeAction } from '../actions.js';
import type { ActionContext, Driver, State } from '../drivers/driver.js';
import { DeviceTimeout, DeviceUnreachable, errorCode, errorMessage, VerifyMismatch } from '../errors.js';
import type { EntryType, JournalStore } from '../journal/types.js';
import type { Plan, PlannedAction, PlanStage } from '../plan/types.js';
import type { Session } from '../transports/types.js';
import type { ActionResult, EventSink } from './events.js';
import type { SessionPool } from './sessions.js';
import { withTimeout } from '../timeout.js';

export interface StageDeps {
  runId: string;
  plan: Plan;
  journal: JournalStore;
  drivers: Record<string, Driver>;
  pool: SessionPool;
  emit: EventSink;
  clock: () => number;
  results: Map<string, ActionResult>;
}

/**
 * A stage's journal entries, written at its phase boundaries in one group commit each (one fsync,
 * not one per action; a synchronous fsync per entry stalled every device's session for ~0.3 ms).
 * The intents are flushed before the strike (write-ahead), nothing is written during it.
 */
class StageLog {
  private items: { runId: string; type: EntryType; data: Record<string, unknown> }[] = [];
  constructor(
    private readonly journal: JournalStore,
    private readonly runId: string,
  ) {}
  add(type: EntryType, data: Record<string, unknown>): void {
    this.items.push({ runId: this.runId, type, data });
  }
  async flush(): Promise<void> {
    const items = this.items;
    this.items = [];
    await this.journal.appendMany(items);
  }
}

export interface StageOutcome {
  cutSkewMs: number;
  /** Clock time of the last verification in this stage (0 if none). */
  lastVerifiedAt: number;
}

interface Pending {
  pa: PlannedAction;
  ctx: ActionContext;
  driver: Driver;
  startedAt?: number;
  appliedAt?: number;
  output?: string;
}

/**
 * Runs one stage as a coordinated cut (invariant 11): prepare every device (connect, read
 * pre-state, journal intents), then strike all changes at once, then read every device back.
 * Different devices work in parallel; one device's actions run one after another (invariant 5).
 */
export async function runStage(deps: StageDeps, stage: PlanStage): Promise<StageOutcome> {
  const byDevice = groupByDevice(deps.plan, stage);
  const t0 = deps.clock();
  const log = new StageLog(deps.journal, deps.runId);
  deps.emit({ type: 'stage', runId: deps.runId, stage: stage.index, name: stage.name, phase: 'prepare' });
  const prepared = (await Promise.all([...byDevice.values()].map((list) => prepareDevice(deps, log, list)))).flat();
  log.add('stage.prepared', { stage: stage.index, ms: round(deps.clock() - t0) });
  // Write-ahead (invariant 1): every pre-state and inverse is durable before any device is touched.
  await log.flush();

  deps.emit({ type: 'stage', runId: deps.runId, stage: stage.index, name: stage.name, phase: 'strike' });
  const strikes = groupPending(prepared);
  // No journal writes during the strike: a synchronous fsync would stall the other devices' changes.
  await Promise.all([...strikes.values()].map((list) => strikeDevice(deps, log, list)));
  const applied = prepared.filter((p) => p.appliedAt !== undefined);
  for (const p of prepared) {
    if (p.appliedAt !== undefined) {
      log.add('action.applied', { actionId: p.pa.id, device: p.pa.device, output: p.output ?? '' });
      setResult(deps, p.pa, 'applied');
    }
  }
  const times = applied.map((p) => p.appliedAt!);
  const cutSkewMs = times.length ? round(Math.max(...times) - Math.min(...times)) : 0;
  log.add('stage.struck', { stage: stage.index, cutSkewMs, applied: applied.length });
  await log.flush();

  deps.emit({ type: 'stage', runId: deps.runId, stage: stage.index, name: stage.name, phase: 'verify' });
  const verifiedAt = await Promise.all([...groupPending(applied).values()].map((list) => verifyDevice(deps, log, list)));
  await log.flush();
  deps.emit({ type: 'stage', runId: deps.runId, stage: stage.index, name: stage.name, phase: 'done', cutSkewMs });
  return { cutSkewMs, lastVerifiedAt: Math.max(0, ...verifiedAt.flat()) };
}

async function prepareDevice(deps: StageDeps, log: StageLog, actions: PlannedAction[]): Promise<Pending[]> {
  const first = actions[0]!;
  const device = deps.plan.devices[first.device]!;
  const driver = deps.drivers[first.driver]!;
  let session: Session;
  try {
    session = await connectWithRetries(deps, first, driver);
  } catch (err) {
    for (const pa of actions) fail(deps, log, pa, 'connect', err);
    return [];
  }
  const out: Pending[] = [];
  for (const pa of actions) {
    const ctx: ActionContext = { device, tag: pa.tag, timeoutMs: pa.timeoutMs, ...(pa.autoRevert ? { autoRevert: pa.autoRevert } : {}) };
    try {
      const before = await withTimeout(driver.read(session, pa.action, ctx), pa.timeoutMs, `${pa.id} read ${pa.device}`);
      if (driver.holds(pa.action, before, ctx)) {
        log.add('action.already', { actionId: pa.id, device: pa.device, before });
        setResult(deps, pa, 'already');
        continue;
      }
      const inverse = driver.invert(pa.action, before, ctx);
      // Write-ahead (invariant 1): flushed with the stage's other intents before the strike.
      log.add('action.intent', {
        actionId: pa.id,
        device: pa.device,
        driver: pa.driver,
        tag: pa.tag,
        action: pa.action,
        before,
        inverse,
        timeoutMs: pa.timeoutMs,
        ...(pa.autoRevert ? { autoRevert: pa.autoRevert } : {}),
      });
      setResult(deps, pa, 'prepared');
      out.push({ pa, ctx, driver });
    } catch (err) {
      fail(deps, log, pa, 'read', err);
    }
  }
  return out;
}

async function strikeDevice(deps: StageDeps, log: StageLog, list: Pending[]): Promise<void> {
  const startedAt = deps.clock();
  // Several changes on one device go out together where the driver can (one session, one commit).
  const together = list.length > 1 && list[0]!.driver.applyAll ? await strikeTogether(deps, log, list, startedAt) : false;
  if (together) return;
  for (const p of list) {
    p.startedAt ??= deps.clock();
    // After a failed batch, each action is read first: part of the batch may have taken effect.
    const checkFirst = list.length > 1 && list[0]!.driver.applyAll !== undefined;
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
        if (err instanceof DeviceUnreachable || err instanceof DeviceTimeout) await deps.pool.discard(p.pa.device);
        if (attempt >= p.pa.retries) {
          fail(deps, log, p.pa, 'apply', err);
          break;
        }
      }
    }
  }
}

/** One applyAll for the device's actions of this stage; false (nothing marked) when it failed. */
async function strikeTogether(deps: StageDeps, log: StageLog, list: Pending[], startedAt: number): Promise<boolean> {
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
    if (err instanceof DeviceUnreachable || err instanceof DeviceTimeout) await deps.pool.discard(first.pa.device);
    // Nothing silently degraded: the cut on this device was not one change, and the journal says why.
    log.add('batch.refused', {
      device: first.pa.device,
      actions: list.map((p) => p.pa.id),
      code: errorCode(err),
      error: errorMessage(err),
    });
    return false;
  }
}

/**
 * Reads every change of this device back, then confirms the armed ones. Confirming only after all
 * read-backs matters: on most platforms a confirm covers everything pending on the device (a
 * Junos `commit`, IOS `configure confirm`), batched changes share one timer, and a change the
 * device must undo by itself should not be made permanent by its neighbour's confirm first.
 */
async function verifyDevice(deps: StageDeps, log: StageLog, list: Pending[]): Promise<number[]> {
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
      log.add('action.verified', { actionId: p.pa.id, device: p.pa.device, after, ms });
      verified.push({ p, at, ms, after });
    } catch (err) {
      fail(deps, log, p.pa, 'verify', err, after);
    }
  }
  const armed = verified.filter((v) => v.p.pa.autoRevert && v.p.driver.confirm);
  // Durable before any confirm: a crash here must read "verified, armed, not confirmed".
  if (armed.length) await log.flush();
  const lost = new Set<Pending>();
  for (const { p, after } of armed) {
    try {
      const session = await connect(deps, p.pa, p.driver);
      const output = await withTimeout(
        p.driver.confirm!(session, p.pa.action, p.ctx),
        p.pa.timeoutMs,
        `${p.pa.id} confirm on ${p.pa.device}`,
      );
      log.add('action.confirmed', { actionId: p.pa.id, device: p.pa.device, output });
    } catch (err) {
      lost.add(p);
      fail(deps, log, p.pa, 'confirm', err, after, 'not confirmed: the device undoes this change when its auto-revert timer ends');
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
async function connectWithRetries(deps: StageDeps, pa: PlannedAction, driver: Driver): Promise<Session> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await connect(deps, pa, driver);
    } catch (err) {
      const transient = err instanceof DeviceUnreachable || err instanceof DeviceTimeout;
      if (!transient || attempt >= pa.retries) throw err;
      await new Promise((r) => setTimeout(r, CONNECT_RETRY_DELAY_MS));
    }
  }
}

const CONNECT_RETRY_DELAY_MS = 200;

function connect(deps: StageDeps, pa: PlannedAction, driver: Driver): Promise<Session> {
  return deps.pool.get(deps.plan.devices[pa.device]!, driver.transport, pa.timeoutMs);
}

function fail(deps: StageDeps, log: StageLog, pa: PlannedAction, phase: string, err: unknown, after?: State, note?: string): void {
  const error = note ? `${errorMessage(err)}; ${note}` : errorMessage(err);
  const code = errorCode(err);
  log.add('action.failed', {
    actionId: pa.id,
    device: pa.device,
    phase,
    code,
    error,
    ...(after ? { after } : {}),
  });
  setResult(deps, pa, 'failed', { error: `${phase}: ${error}`, code });
}

function setResult(deps: StageDeps, pa: PlannedAction, state: ActionResult['state'], extra: Partial<ActionResult> = {}): void {
  const r: ActionResult = { actionId: pa.id, device: pa.device, what: describeAction(pa.action), state, ...extra };
  deps.results.set(pa.id, r);
  deps.emit({ type: 'action', runId: deps.runId, ...r });
}

function groupByDevice(plan: Plan, stage: PlanStage): Map<string, PlannedAction[]> {
  const m = new Map<string, PlannedAction[]>();
  for (const id of stage.actionIds) {
    const pa = plan.actions.find((a) => a.id === id)!;
    m.set(pa.device, [...(m.get(pa.device) ?? []), pa]);
  }
  return m;
}

function groupPending(list: Pending[]): Map<string, Pending[]> {
  const m = new Map<string, Pending[]>();
  for (const p of list) m.set(p.pa.device, [...(m.get(p.pa.device) ?? []), p]);
  return m;
}

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}
