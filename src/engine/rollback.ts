import { describeAction, type Action } from '../actions.js';
import type { ActionContext, State } from '../drivers/driver.js';
import { errorCode, errorMessage, RunNotFound, UnknownDriver, VerifyMismatch } from '../errors.js';
import type { JournalEntry } from '../journal/types.js';
import type { Plan } from '../plan/types.js';
import type { ActionResult, RollbackResult, RunState } from './events.js';
import type { EngineDeps, RollbackOptions } from './engine.js';
import { SessionPool } from './sessions.js';
import { withTimeout } from '../timeout.js';

interface Intent {
  actionId: string;
  device: string;
  driver: string;
  tag: string;
  stage: number;
  inverse: Action | null;
  timeoutMs: number;
  /** Armed with a device-side auto-revert that was never confirmed: the device may have undone it. */
  armedUnconfirmed: boolean;
}

/**
 * Rolls a run back from the journal alone (no memory of the run is needed): every intent's inverse,
 * newest stage first, devices in parallel and each device's actions newest first; each inverse is
 * verified by read-back. Never stops at the first failure, never calls a partial rollback a success.
 */
export async function rollbackRun(deps: EngineDeps, runId: string, opts: RollbackOptions): Promise<RollbackResult> {
  const { journal } = deps;
  const entries = await journal.entries(runId);
  const created = entries.find((e) => e.type === 'run.created');
  if (!created) throw new RunNotFound(`run ${runId} is not in the journal`);
  const plan = created.data.plan as Plan;
  const intents = pendingIntents(entries, plan);
  const emit = opts.onEvent ?? (() => undefined);

  await journal.append(runId, 'rollback.started', { by: opts.by, reason: opts.reason ?? '', actions: intents.map((i) => i.actionId) });
  await journal.append(runId, 'run.state', { state: 'rolling-back' });
  emit({ type: 'run', runId, state: 'rolling-back' });
  const pool = new SessionPool(deps.openSession, deps.resolveSecret, deps.clock);
  const results: ActionResult[] = [];
  try {
    const stages = [...new Set(intents.map((i) => i.stage))].sort((a, b) => b - a);
    for (const stage of stages) {
      const byDevice = new Map<string, Intent[]>();
      for (const i of intents.filter((x) => x.stage === stage)) byDevice.set(i.device, [...(byDevice.get(i.device) ?? []), i]);
      await Promise.all(
        [...byDevice.values()].map(async (list) => {
          for (const intent of list) results.push(await revertOne(deps, pool, plan, runId, intent, emit));
        }),
      );
    }
  } finally {
    await pool.closeAll();
  }
  const notReverted = results.filter((r) => r.state !== 'reverted');
  const state: RunState = notReverted.length ? 'rollback-failed' : 'rolled-back';
  await journal.append(runId, 'rollback.finished', {
    state,
    reverted: results.length - notReverted.length,
    failed: notReverted.map((r) => ({ actionId: r.actionId, device: r.device, error: r.error })),
  });
  await journal.append(runId, 'run.state', { state });
  emit({ type: 'run', runId, state });
  return { runId, state, actions: results, notReverted };
}

/** Intents of the run not yet reverted by an earlier rollback, newest first within each device. */
function pendingIntents(entries: JournalEntry[], plan: Plan): Intent[] {
  const reverted = new Set(entries.filter((e) => e.type === 'action.reverted').map((e) => e.data.actionId as string));
  const confirmed = new Set(entries.filter((e) => e.type === 'action.confirmed').map((e) => e.data.actionId as string));
  const stageOf = new Map(plan.actions.map((a) => [a.id, a.stage]));
  return entries
    .filter((e) => e.type === 'action.intent' && !reverted.has(e.data.actionId as string))
    .map((e) => ({
      actionId: e.data.actionId as string,
      device: e.data.device as string,
      driver: e.data.driver as string,
      tag: e.data.tag as string,
      inverse: (e.data.inverse ?? null) as Action | null,
      timeoutMs: (e.data.timeoutMs as number) ?? 10_000,
      stage: stageOf.get(e.data.actionId as string) ?? 0,
      armedUnconfirmed: e.data.autoRevert !== undefined && !confirmed.has(e.data.actionId as string),
    }))
    .reverse();
}

async function revertOne(
  deps: EngineDeps,
  pool: SessionPool,
  plan: Plan,
  runId: string,
  intent: Intent,
  emit: NonNullable<RollbackOptions['onEvent']>,
): Promise<ActionResult> {
  const base = {
    actionId: intent.actionId,
    device: intent.device,
    what: intent.inverse ? describeAction(intent.inverse) : 'nothing to undo',
  };
  const started = deps.clock();
  const done = async (r: ActionResult, entry: Record<string, unknown>) => {
    await deps.journal.append(runId, r.state === 'reverted' ? 'action.reverted' : 'action.revert-failed', entry);
    emit({ type: 'action', runId, ...r });
    return r;
  };
  if (!intent.inverse) return done({ ...base, state: 'reverted' }, { ...base, inverse: null, nothingToDo: true });
  const inverse = intent.inverse;
  let after: State | undefined;
  try {
    const device = plan.devices[intent.device]!;
    const driver = deps.drivers[intent.driver];
    if (!driver) throw new UnknownDriver(`driver ${intent.driver} is not available here (known: ${Object.keys(deps.drivers).join(', ')})`);
    const ctx: ActionContext = { device, tag: intent.tag, timeoutMs: intent.timeoutMs };
    const session = await pool.get(device, driver.transport, intent.timeoutMs);
    const now = await withTimeout(driver.read(session, inverse, ctx), intent.timeoutMs, `read ${intent.device}`);
    let nothingToDo = true;
    if (!driver.holds(inverse, now, ctx)) {
      nothingToDo = false;
      await withTimeout(driver.apply(session, inverse, ctx), intent.timeoutMs, `revert on ${intent.device}`);
      after = await withTimeout(driver.read(session, inverse, ctx), intent.timeoutMs, `read back ${intent.device}`);
      if (!driver.holds(inverse, after, ctx))
        throw new VerifyMismatch(`${describeAction(inverse)} on ${intent.device}: read-back does not show it: ${JSON.stringify(after)}`);
    }
    const ms = Math.round(deps.clock() - started);
    // An armed change never confirmed, found already undone: the device's own auto-revert did it.
    const deviceReverted = nothingToDo && intent.armedUnconfirmed;
    return done(
      { ...base, state: 'reverted', ms },
      { ...base, inverse, after: after ?? now, nothingToDo, ...(deviceReverted ? { deviceReverted } : {}), ms },
    );
  } catch (err) {
    return done(
      { ...base, state: 'revert-failed', error: errorMessage(err), code: errorCode(err) },
      { ...base, inverse, code: errorCode(err), error: errorMessage(err), ...(after ? { after } : {}) },
    );
  }
}
