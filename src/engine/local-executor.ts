import { randomBytes } from 'node:crypto';
import { describeAction } from '../actions.js';
import { PlanInvalid } from '../errors.js';
import type { Plan } from '../plan/types.js';
import type { ActionResult, RunResult, RunState } from './events.js';
import type { EngineDeps, RunOptions } from './engine.js';
import { rollbackRun } from './rollback.js';
import { SessionPool } from './sessions.js';
import { runStage, type StageDeps } from './stage.js';

/**
 * The local executor: runs a plan in this process (embedded default and break-glass path,
 * invariant 10). Stages run in order; the failure policy decides what follows a failed action.
 */
export async function runPlanLocally(deps: EngineDeps, plan: Plan, opts: RunOptions): Promise<RunResult> {
  if (plan.errors.length)
    throw new PlanInvalid(`plan ${plan.id} has errors and cannot run: ${plan.errors.map((e) => e.message).join('; ')}`);
  const runId = opts.runId ?? newRunId();
  const triggerAt = opts.triggerAt ?? deps.clock();
  const emit = opts.onEvent ?? (() => undefined);
  const { journal } = deps;
  await journal.append(runId, 'run.created', { plan, trigger: opts.trigger });
  for (const o of plan.overrides)
    await journal.append(runId, 'lockout.overridden', { actionId: o.at, message: o.message, by: opts.trigger.by });
  await journal.append(runId, 'run.state', { state: 'running' });
  emit({ type: 'run', runId, state: 'running' });

  const results = new Map<string, ActionResult>();
  for (const pa of plan.actions)
    results.set(pa.id, { actionId: pa.id, device: pa.device, what: describeAction(pa.action), state: 'pending' });
  const pool = new SessionPool(deps.openSession, deps.resolveSecret, deps.clock);
  const stageDeps: StageDeps = { runId, plan, journal, drivers: deps.drivers, pool, emit, clock: deps.clock, results };
  const cutSkewMs: number[] = [];
  let lastVerifiedAt = 0;
  let stoppedBy: 'abort' | 'rollback' | undefined;
  try {
    for (const stage of plan.stages) {
      const outcome = await runStage(stageDeps, stage);
      cutSkewMs.push(outcome.cutSkewMs);
      lastVerifiedAt = Math.max(lastVerifiedAt, outcome.lastVerifiedAt);
      const failed = stage.actionIds.some((id) => results.get(id)?.state === 'failed');
      if (failed && plan.policy.onFailure !== 'continue') {
        stoppedBy = plan.policy.onFailure;
        break;
      }
    }
  } finally {
    await pool.closeAll();
  }

  // Nothing is silently skipped (invariant 8): actions never reached are recorded as such.
  for (const r of results.values()) {
    if (r.state !== 'pending') continue;
    const error = `not run: the failure policy "${stoppedBy}" stopped the run after an earlier failure`;
    await journal.append(runId, 'action.failed', { actionId: r.actionId, device: r.device, phase: 'not-run', code: 'NOT_RUN', error });
    Object.assign(r, { state: 'skipped', error, code: 'NOT_RUN' });
  }
  const actions = [...results.values()];
  const notDone = actions.filter((r) => r.state !== 'verified' && r.state !== 'already');
  const ok = actions.length - notDone.length;
  const state: RunState = notDone.length === 0 ? 'contained' : ok > 0 ? 'partial' : 'failed';
  const timeToContainMs = lastVerifiedAt ? Math.round(lastVerifiedAt - triggerAt) : 0;
  await journal.append(runId, 'run.state', {
    state,
    timeToContainMs,
    cutSkewMs,
    firstContactMs: pool.firstOpenAt === undefined ? null : Math.round(pool.firstOpenAt - triggerAt),
    notDone: notDone.map((r) => ({ actionId: r.actionId, device: r.device, what: r.what, error: r.error ?? r.state })),
  });
  emit({ type: 'run', runId, state });
  const firstContactMs = pool.firstOpenAt === undefined ? null : Math.round(pool.firstOpenAt - triggerAt);
  const result: RunResult = {
    runId,
    planId: plan.id,
    playbook: plan.playbook.id,
    state,
    actions,
    timeToContainMs,
    firstContactMs,
    cutSkewMs,
    notDone,
  };
  if (stoppedBy === 'rollback') {
    const rb = await rollbackRun(deps, runId, { by: 'policy:onFailure=rollback', reason: 'an action failed', onEvent: emit });
    return { ...result, state: rb.state };
  }
  return result;
}

export function newRunId(): string {
  const t = new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  return `r-${t}-${randomBytes(2).toString('hex')}`;
}
