import type { JournalEntry, RunSummary } from './types.js';

/**
 * Run summaries from journal entries, shared by every store: the playbook and creation time come
 * from `run.created` (data.plan.playbook.id), the state from the newest `run.state` or
 * `rollback.finished`. Runs are listed in the order they were created.
 */
export function runSummaries(entries: readonly JournalEntry[]): RunSummary[] {
  const runs = new Map<string, RunSummary>();
  for (const e of entries) {
    let run = runs.get(e.runId);
    if (!run) {
      // A run seen without run.created (should not happen) still shows, marked unknown.
      run = { runId: e.runId, playbook: '?', createdAt: e.ts, state: 'pending' };
      runs.set(e.runId, run);
    }
    if (e.type === 'run.created') {
      run.playbook = playbookId(e.data) ?? '?';
      run.createdAt = e.ts;
    } else if ((e.type === 'run.state' || e.type === 'rollback.finished') && typeof e.data.state === 'string') {
      run.state = e.data.state;
    }
  }
  return [...runs.values()];
}

function playbookId(data: Record<string, unknown>): string | undefined {
  const plan = data.plan as { playbook?: { id?: unknown } } | undefined;
  const id = plan?.playbook?.id;
  return typeof id === 'string' ? id : undefined;
}
