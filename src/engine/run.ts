import type { Leases } from '../coord/types.js';
import { PlanInvalid, RunNotFound } from '../errors.js';
import type { Journal } from '../journal/types.js';
import type { Plan, PlanStage } from '../plan/types.js';
import type { EventSink, RunResult } from './events.js';
import { currentState, transition } from './lifecycle.js';
import { holdRunLease } from './leases.js';
import { runView } from './run-view.js';
import { PRIOR_TYPES, type Prior, priorFacts, round } from './stage.js';

/**
 * The run, whichever executor carries it: stages in order, each a coordinated cut; the failure
 * policy decides what follows a failed action; the outcome and every transition are journaled.
 * Works from the journal only (the plan is in `run.created`), so the same code starts a run,
 * resumes an interrupted one, and picks up a run whose worker died.
 */

export interface StageContext {
  runId: string;
  plan: Plan;
  stage: PlanStage;
  prior: Map<string, Prior>;
  emit: EventSink;
  stop?: AbortSignal;
}

export interface StageOutcome {
  appliedAt: number[];
  verifiedAt: number[];
  contactAt?: number;
}

/** How an executor runs one stage: in this process, or as jobs on the workers near the devices. */
export type StageRunner = (ctx: StageContext) => Promise<StageOutcome>;

export interface RunEnv {
  journal: Journal;
  leases: Leases;
  /** Who is executing (host:pid, worker id): shown as the run lease's owner. */
  owner: string;
  runStage: StageRunner;
  rollback: (runId: string, opts: { by: string; reason: string; onEvent?: EventSink; stop?: AbortSignal }) => Promise<unknown>;
}

export interface ExecuteOptions {
  onEvent?: EventSink;
  stop?: AbortSignal;
  onAccepted?: () => void;
}

export async function executeRun(env: RunEnv, runId: string, opts: ExecuteOptions = {}): Promise<RunResult> {
  const { journal } = env;
  const emit = opts.onEvent ?? (() => undefined);
  const lease = await holdRunLease(env.leases, runId, env.owner);
  try {
    const entries = await journal.entries(runId);
    const created = entries.find((e) => e.type === 'run.created');
    if (!created) throw new RunNotFound(`run ${runId} is not in the journal`);
    const plan = created.data.plan as Plan;
    if (plan.errors.length)
      throw new PlanInvalid(`plan ${plan.id} has errors and cannot run: ${plan.errors.map((e) => e.message).join('; ')}`);
    const triggerAt = created.data.triggerAt as number;
    const from = currentState(entries);
    if (from === 'running') {
      // We hold the run lease, so whoever ran it is gone: say so before taking over.
      await transition(journal, runId, 'interrupted', { reason: 'its executor stopped answering (lease expired)' });
    }
    await transition(journal, runId, 'running', { by: env.owner });
    opts.onAccepted?.();
    emit({ type: 'run', runId, state: 'running' });

    let prior = priorFacts(entries);
    let stoppedBy: 'abort' | 'rollback' | undefined;
    let contactAt: number | undefined;
    for (const stage of plan.stages) {
      if (stage.actionIds.every((id) => prior.get(id)?.done)) continue;
      if (opts.stop?.aborted || (lease.signal.aborted && !(await lease.reacquire()))) break;
      emit({ type: 'stage', runId, stage: stage.index, name: stage.name, phase: 'prepare' });
      const out = await env.runStage({ runId, plan, stage, prior, emit, stop: opts.stop });
      if (out.contactAt !== undefined) contactAt = Math.min(contactAt ?? Number.POSITIVE_INFINITY, out.contactAt);
      const cutSkewMs = out.appliedAt.length ? round(Math.max(...out.appliedAt) - Math.min(...out.appliedAt)) : 0;
      await journal.append(runId, 'stage.struck', { stage: stage.index, cutSkewMs, applied: out.appliedAt.length });
      emit({ type: 'stage', runId, stage: stage.index, name: stage.name, phase: 'done', cutSkewMs });
      prior = priorFacts(await journal.find({ runId, types: PRIOR_TYPES }));
      const failed = stage.actionIds.some((id) => prior.get(id)?.done === 'failed');
      if (failed && plan.policy.onFailure !== 'continue') {
        stoppedBy = plan.policy.onFailure;
        break;
      }
    }

    const leaseLost = lease.signal.aborted && !(await lease.reacquire());
    if (opts.stop?.aborted || leaseLost) {
      const why = leaseLost ? 'the run lease was lost to another executor' : String(opts.stop?.reason ?? 'stop requested');
      await transition(journal, runId, 'interrupted', { reason: `${why}; stopped at a safe point` });
      emit({ type: 'run', runId, state: 'interrupted' });
      return runView(runId, await journal.entries(runId));
    }

    // Journaled but never decided (a queued step lost with its worker): not failed, not done. A
    // fresh read decides them: the run is interrupted, and resuming it (a retry does) finishes it.
    prior = priorFacts(await journal.find({ runId, types: PRIOR_TYPES }));
    const undecided = plan.actions.filter((pa) => prior.get(pa.id)?.intent && !prior.get(pa.id)?.done);
    if (undecided.length) {
      const devices = [...new Set(undecided.map((pa) => pa.device))].join(', ');
      await transition(journal, runId, 'interrupted', {
        reason: `${undecided.length} journaled action(s) on ${devices} have no outcome (their step was lost); resume to decide them from a fresh read`,
      });
      emit({ type: 'run', runId, state: 'interrupted' });
      return runView(runId, await journal.entries(runId));
    }

    // Nothing is silently skipped (invariant 8): actions never reached are recorded as such.
    for (const pa of plan.actions) {
      if (prior.get(pa.id)?.done || prior.get(pa.id)?.intent) continue;
      const error = `not run: the failure policy "${stoppedBy}" stopped the run after an earlier failure`;
      await journal.append(runId, 'action.failed', { actionId: pa.id, device: pa.device, phase: 'not-run', code: 'NOT_RUN', error });
    }
    const all = await journal.entries(runId);
    const view = runView(runId, all);
    const notDone = view.actions.filter((r) => r.state !== 'verified' && r.state !== 'already');
    const ok = view.actions.length - notDone.length;
    const state = notDone.length === 0 ? 'contained' : ok > 0 ? 'partial' : 'failed';
    // Contained when the last read showed the wanted state: a change verified, or found already so.
    const verifiedAt = all
      .filter((e) => (e.type === 'action.verified' || e.type === 'action.already') && typeof e.data.at === 'number')
      .map((e) => e.data.at as number);
    const struck = new Map(all.filter((e) => e.type === 'stage.struck').map((e) => [e.data.stage as number, e.data.cutSkewMs as number]));
    await transition(journal, runId, state, {
      timeToContainMs: state === 'contained' && verifiedAt.length ? Math.round(Math.max(...verifiedAt) - triggerAt) : null,
      cutSkewMs: [...struck.entries()].sort((a, b) => a[0] - b[0]).map(([, v]) => v),
      firstContactMs: contactAt === undefined ? null : Math.round(contactAt - triggerAt),
      notDone: notDone.map((r) => ({ actionId: r.actionId, device: r.device, what: r.what, error: r.error ?? r.state })),
    });
    emit({ type: 'run', runId, state });
    if (stoppedBy === 'rollback') {
      await lease.release();
      await env.rollback(runId, { by: 'policy:onFailure=rollback', reason: 'an action failed', onEvent: emit, stop: opts.stop });
    }
    return runView(runId, await journal.entries(runId));
  } finally {
    await lease.release();
  }
}
