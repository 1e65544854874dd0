import { type Action, describeAction } from '../actions.js';
import type { JournalEntry } from '../journal/types.js';
import type { Plan } from '../plan/types.js';
import type { RunEvent, RunState } from './events.js';

/**
 * The progress event a journal entry stands for: how a caller follows a run that executes
 * elsewhere (queue workers), by tailing the journal, with the same lines as a local run.
 */
export function entryEvent(e: JournalEntry, plan: Plan | undefined): RunEvent | null {
  const d = e.data;
  const runId = e.runId;
  if (e.type === 'run.state') return { type: 'run', runId, state: d.state as RunState };
  const stageName = (i: number) => plan?.stages[i]?.name ?? `stage ${i + 1}`;
  if (e.type === 'stage.barrier' || e.type === 'stage.prepared')
    return { type: 'stage', runId, stage: d.stage as number, name: stageName(d.stage as number), phase: 'strike' };
  if (e.type === 'stage.struck')
    return {
      type: 'stage',
      runId,
      stage: d.stage as number,
      name: stageName(d.stage as number),
      phase: 'done',
      cutSkewMs: d.cutSkewMs as number,
    };
  const actionId = d.actionId as string | undefined;
  if (!actionId) return null;
  const pa = plan?.actions.find((a) => a.id === actionId);
  const base = {
    type: 'action' as const,
    runId,
    actionId,
    device: (d.device as string) ?? pa?.device ?? '?',
    what: pa ? describeAction(pa.action) : '?',
  };
  switch (e.type) {
    case 'action.already':
      return { ...base, state: 'already' };
    case 'action.applied':
      return { ...base, state: 'applied' };
    case 'action.verified':
      return { ...base, state: 'verified', ms: d.ms as number };
    case 'action.failed':
      return { ...base, state: d.code === 'NOT_RUN' ? 'skipped' : 'failed', error: `${d.phase}: ${d.error}` };
    case 'action.reverted':
      return {
        ...base,
        what: d.inverse ? describeAction(d.inverse as Action) : 'nothing to undo',
        state: 'reverted',
        ms: d.ms as number | undefined,
      };
    case 'hold.released':
      return {
        ...base,
        state: 'released',
        error: `kept: still held by ${(d.heldBy as { runId: string }[]).map((h) => h.runId).join(', ')}`,
      };
    case 'action.revert-failed':
      return { ...base, state: 'revert-failed', error: d.error as string };
    default:
      return null;
  }
}
