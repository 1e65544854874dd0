import { HOLD_ENTRY_TYPES, holdTable } from '../engine/holds.js';
import type { Journal } from '../journal/types.js';

export interface HoldRow {
  target: string;
  device: string;
  /** The runs (and their actions) holding the target, oldest first. */
  holders: { runId: string; actionId: string; how: 'changed' | 'found'; since: string }[];
  /** Whether a change of ours is open on it (false: it was so before any run of ours). */
  changedByUs: boolean;
}

/** Every target held by an active run, from the journal (`firebreak holds`). */
export async function holdsInForce(journal: Journal): Promise<HoldRow[]> {
  const table = holdTable(await journal.find({ types: HOLD_ENTRY_TYPES }));
  return [...table.holders.entries()]
    .map(([target, hs]) => ({
      target,
      device: hs[0]!.device,
      holders: hs.map((h) => ({ runId: h.runId, actionId: h.actionId, how: h.how, since: h.since })),
      changedByUs: (table.changes.get(target) ?? []).length > 0,
    }))
    .sort((a, b) => a.target.localeCompare(b.target));
}
