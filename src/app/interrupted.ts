import type { Leases } from '../coord/types.js';
import { currentState, type RunState, transition } from '../engine/lifecycle.js';
import { runLeaseKey } from '../engine/leases.js';
import type { Journal } from '../journal/types.js';

/**
 * A run that says `running` or `rolling-back` while nobody holds its run lease has lost its
 * executor (killed, host gone): it is `interrupted`, and the journal says so. Taking the lease
 * for the check means two checkers cannot both write it, and a live executor is never marked.
 */
export async function detectInterrupted(journal: Journal, leases: Leases, runId: string): Promise<RunState | undefined> {
  const state = currentState(await journal.find({ runId, types: ['run.created', 'run.state'] }));
  if (state !== 'running' && state !== 'rolling-back') return state;
  const lease = await leases.tryAcquire(runLeaseKey(runId), 'interrupt-check', 2_000);
  if (!lease) return state;
  try {
    const again = currentState(await journal.find({ runId, types: ['run.created', 'run.state'] }));
    if (again !== 'running' && again !== 'rolling-back') return again;
    await transition(journal, runId, 'interrupted', {
      reason: `its executor stopped answering (no live run lease); resume with \`firebreak runs resume ${runId}\` or undo with \`firebreak rollback ${runId}\``,
    });
    return 'interrupted';
  } finally {
    await leases.release(lease);
  }
}
