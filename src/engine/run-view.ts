import { describeAction, type Action } from '../actions.js';
import type { JournalEntry } from '../journal/types.js';
import type { Plan } from '../plan/types.js';
import type { ActionResult, RunResult } from './events.js';
import { currentState, type RunState } from './lifecycle.js';

/**
 * What a run did, read from its journal entries alone: the same view whichever executor ran it,
 * on whichever host, and after any restart. `firebreak runs show`, the `--json` result of `run`,
 * the API and the console all show this.
 */
export function runView(runId: string, entries: readonly JournalEntry[]): RunResult {
  const created = entries.find((e) => e.type === 'run.created');
  const plan = created?.data.plan as Plan | undefined;
  const actions = new Map<string, ActionResult>();
  for (const pa of plan?.actions ?? [])
    actions.set(pa.id, { actionId: pa.id, device: pa.device, what: describeAction(pa.action), state: 'pending' });
  let outcome: Record<string, unknown> | undefined;
  for (const e of entries) {
    const d = e.data;
    const r = typeof d.actionId === 'string' ? actions.get(d.actionId) : undefined;
    switch (e.type) {
      case 'run.state':
        if (['contained', 'partial', 'failed'].includes(d.state as string)) outcome = d;
        break;
      case 'action.intent':
        if (r) r.state = 'prepared';
        break;
      case 'action.already':
        if (r) r.state = 'already';
        break;
      case 'action.applied':
        if (r) r.state = 'applied';
        break;
      case 'action.verified':
        if (r) Object.assign(r, { state: 'verified', ms: d.ms, error: undefined, code: undefined });
        break;
      case 'action.failed':
        if (r)
          Object.assign(
            r,
            d.code === 'NOT_RUN'
              ? { state: 'skipped', error: d.error, code: d.code }
              : { state: 'failed', error: `${d.phase}: ${d.error}`, code: d.code },
          );
        break;
      // The rollback's outcome goes beside the run's: `state` keeps what the run did.
      case 'action.reverted':
        if (r)
          r.rollback = {
            state: 'reverted',
            what: d.inverse ? describeAction(d.inverse as Action) : 'nothing to undo',
            ...(d.ms !== undefined ? { ms: d.ms as number } : {}),
          };
        break;
      case 'hold.released':
        if (r)
          r.rollback = {
            state: 'released',
            what: r.what,
            error: `kept: still held by ${[...new Set((d.heldBy as { runId: string }[]).map((h) => h.runId))].join(', ')}`,
          };
        break;
      case 'action.revert-failed':
        if (r)
          r.rollback = {
            state: 'revert-failed',
            what: d.inverse ? describeAction(d.inverse as Action) : r.what,
            error: d.error as string,
            code: d.code as string,
          };
        break;
    }
  }
  const list = [...actions.values()].map((r) => stripUndefined(r));
  const state = currentState(entries) ?? 'planned';
  const notDone = list.filter((r) => r.state !== 'verified' && r.state !== 'already');
  return {
    runId,
    planId: plan?.id ?? '?',
    playbook: plan?.playbook.id ?? '?',
    state,
    executor: (created?.data.executor as RunResult['executor']) ?? 'local',
    ...(created?.data.breakGlass ? { breakGlass: created.data.breakGlass as string } : {}),
    trigger: created?.data.trigger as RunResult['trigger'],
    actions: list,
    timeToContainMs:
      state === 'contained' || outcome?.state === 'contained' ? ((outcome?.timeToContainMs as number | undefined) ?? null) : null,
    firstContactMs: (outcome?.firstContactMs as number | null | undefined) ?? null,
    cutSkewMs: (outcome?.cutSkewMs as number[] | undefined) ?? [],
    notDone: isRollbackState(state) ? [] : notDone,
  };
}

function isRollbackState(s: RunState): boolean {
  return s === 'rolling-back' || s === 'rolled-back' || s === 'rollback-failed';
}

function stripUndefined(r: ActionResult): ActionResult {
  return Object.fromEntries(Object.entries(r).filter(([, v]) => v !== undefined)) as unknown as ActionResult;
}
