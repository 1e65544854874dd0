import { RunStateConflict } from '../errors.js';
import type { JournalEntry, Journal } from '../journal/types.js';

/**
 * The run lifecycle: every state a run can be in and, in one table, which state may follow which.
 * Every transition is a `run.state` journal entry carrying `from`, so the journal alone tells a
 * run's story and a wrong move (rolling back a run that is still running, say) is refused.
 */
export type RunState =
  | 'planned'
  | 'awaiting-approval'
  | 'rejected'
  | 'expired'
  | 'queued'
  | 'running'
  | 'contained'
  | 'partial'
  | 'failed'
  | 'rolling-back'
  | 'rolled-back'
  | 'rollback-failed'
  | 'interrupted';

export const TRANSITIONS: Readonly<Record<RunState, readonly RunState[]>> = {
  planned: ['awaiting-approval', 'queued', 'running', 'failed'],
  'awaiting-approval': ['queued', 'running', 'rejected', 'expired'],
  rejected: [],
  expired: [],
  // failed: the queue refused the run (Redis gone) before any device was touched.
  queued: ['running', 'failed', 'interrupted'],
  running: ['contained', 'partial', 'failed', 'interrupted'],
  contained: ['rolling-back'],
  partial: ['rolling-back'],
  failed: ['rolling-back'],
  // Resumed (running again) or undone (rolling back); an interrupted run is never left as is silently.
  interrupted: ['running', 'rolling-back'],
  'rolling-back': ['rolled-back', 'rollback-failed', 'interrupted'],
  'rolled-back': [],
  // A rollback that failed on some device may be tried again.
  'rollback-failed': ['rolling-back'],
};

/** States in which an executor is working on the run: a dead executor here means `interrupted`. */
export const ACTIVE_STATES: readonly RunState[] = ['queued', 'running', 'rolling-back'];

export function canTransition(from: RunState, to: RunState): boolean {
  return TRANSITIONS[from].includes(to);
}

/** The run's current state: its newest `run.state` entry (`planned` once created, before any). */
export function currentState(entries: readonly JournalEntry[]): RunState | undefined {
  let state: RunState | undefined;
  for (const e of entries) {
    if (e.type === 'run.created') state = 'planned';
    else if (e.type === 'run.state') state = e.data.state as RunState;
  }
  return state;
}

/**
 * Journals a transition after checking it against the table and the journal's current state.
 * Returns the entry data written. Extra data (time to contain, reason, who) goes with it.
 */
export async function transition(journal: Journal, runId: string, to: RunState, extra: Record<string, unknown> = {}): Promise<RunState> {
  const from = currentState(await journal.find({ runId, types: ['run.created', 'run.state'] }));
  if (!from) throw new RunStateConflict(`run ${runId} is not in the journal`);
  if (!canTransition(from, to)) {
    const allowed = TRANSITIONS[from];
    throw new RunStateConflict(
      `run ${runId} is ${from}: it cannot become ${to} (from ${from} it can become ${allowed.length ? allowed.join(', ') : 'nothing: it is finished'})`,
    );
  }
  await journal.append(runId, 'run.state', { state: to, from, ...extra });
  return from;
}
