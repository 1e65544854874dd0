import { type Action, describeAction } from '../actions.js';
import type { EntryType, JournalEntry } from '../journal/types.js';

/**
 * Holds (DESIGN.md invariant 6). A changed target (`fw / host.block 10.20.0.11`) is held by every
 * action of ours that wanted it: the one that changed it (`action.intent`) and any later one that
 * found it already so (`action.already`). A hold lasts until its run's rollback lets go of it
 * (`action.reverted` or `hold.released`). Rolling a run back reverts a target only when that run
 * is its last holder, and then restores the state from before the *first* change of ours on it;
 * a target that no run of ours changed is never reverted.
 *
 * Everything here is computed from the journal: holds survive restarts, and every executor, on
 * any host, sees the same ones. The rollback decides under the device's lease, so two rollbacks
 * of the same target cannot both think the other still holds it.
 */

/** The entries that take and let go of holds, per device (each names its `device`). */
export const DEVICE_HOLD_TYPES: EntryType[] = ['action.intent', 'action.already', 'action.reverted', 'hold.released'];
export const HOLD_ENTRY_TYPES: EntryType[] = [...DEVICE_HOLD_TYPES, 'run.state'];

export function targetOf(device: string, action: Action): string {
  return `${device} / ${describeAction(action)}`;
}

export interface Holder {
  runId: string;
  actionId: string;
  device: string;
  target: string;
  /** `changed`: this action made the change; `found`: it found the change already there. */
  how: 'changed' | 'found';
  since: string;
}

/** A change of ours not yet undone: its intent holds the inverse that restores the state before it. */
export interface OpenChange {
  runId: string;
  actionId: string;
  device: string;
  driver: string;
  tag: string;
  inverse: Action | null;
  timeoutMs: number;
  seq: number;
}

export interface HoldTable {
  holders: Map<string, Holder[]>;
  changes: Map<string, OpenChange[]>;
}

const key = (runId: string, actionId: string) => `${runId}/${actionId}`;

/**
 * Holds and open changes per target, from the journal entries of HOLD_ENTRY_TYPES (any order of
 * runs, seq order), or of DEVICE_HOLD_TYPES for one device with the runs already rolled back given.
 */
export function holdTable(entries: readonly JournalEntry[], rolledBack: ReadonlySet<string> = new Set()): HoldTable {
  const fold = new HoldFold();
  for (const e of entries) fold.add(e);
  return fold.table(rolledBack);
}

/**
 * The same, folded entry by entry: a rollback reads a device's history once and then only what
 * was appended since (its own releases), instead of the whole history again for every action.
 */
export class HoldFold {
  private readonly holders = new Map<string, Holder>();
  private readonly changes = new Map<string, OpenChange & { target: string }>();

  add(e: JournalEntry): void {
    const d = e.data as Record<string, unknown>;
    const actionId = d.actionId as string;
    const k = key(e.runId, actionId);
    if (e.type === 'action.intent' || e.type === 'action.already') {
      const target = targetFrom(d);
      if (!target) return;
      this.holders.set(k, {
        runId: e.runId,
        actionId,
        device: d.device as string,
        target,
        how: e.type === 'action.intent' ? 'changed' : 'found',
        since: e.ts,
      });
      if (e.type === 'action.intent') {
        this.changes.set(k, {
          runId: e.runId,
          actionId,
          device: d.device as string,
          driver: d.driver as string,
          tag: d.tag as string,
          inverse: (d.inverse ?? null) as Action | null,
          timeoutMs: (d.timeoutMs as number | undefined) ?? 10_000,
          seq: e.seq,
          target,
        });
      }
    } else if (e.type === 'run.state') {
      // A run rolled back holds nothing (journals from before holds did not release `already` ones).
      if (d.state === 'rolled-back') for (const [k2, h] of this.holders) if (h.runId === e.runId) this.holders.delete(k2);
    } else if (e.type === 'action.reverted' || e.type === 'hold.released') {
      this.holders.delete(k);
      // A revert undid every open change on its target (it restored the state before the first).
      for (const u of (d.undid as { runId: string; actionId: string }[] | undefined) ?? []) this.changes.delete(key(u.runId, u.actionId));
      if (e.type === 'action.reverted' && d.undid === undefined) this.changes.delete(k);
    }
  }

  /** Holds and open changes per target now; holders of the runs in `rolledBack` left out. */
  table(rolledBack: ReadonlySet<string> = new Set()): HoldTable {
    const table: HoldTable = { holders: new Map(), changes: new Map() };
    for (const h of this.holders.values())
      if (!rolledBack.has(h.runId)) table.holders.set(h.target, [...(table.holders.get(h.target) ?? []), h]);
    for (const c of this.changes.values()) table.changes.set(c.target, [...(table.changes.get(c.target) ?? []), c]);
    return table;
  }
}

export type ReleaseDecision =
  /** Others still hold the target: let go, leave the device as it is. */
  | { kind: 'keep'; heldBy: Holder[] }
  /** Last holder: apply the oldest open change's inverse (null inverse: nothing to undo). */
  | { kind: 'revert'; change: OpenChange; undid: OpenChange[] }
  /** Last holder, but no change of ours is open on the target: it was so before us, leave it. */
  | { kind: 'nothing' };

export function decideRelease(table: HoldTable, runId: string, actionId: string, target: string): ReleaseDecision {
  const others = (table.holders.get(target) ?? []).filter((h) => !(h.runId === runId && h.actionId === actionId));
  if (others.length) return { kind: 'keep', heldBy: others };
  const open = [...(table.changes.get(target) ?? [])].sort((a, b) => a.seq - b.seq);
  if (!open.length) return { kind: 'nothing' };
  return { kind: 'revert', change: open[0]!, undid: open };
}

function targetFrom(d: Record<string, unknown>): string | undefined {
  if (typeof d.target === 'string') return d.target;
  if (d.action && typeof d.device === 'string') return targetOf(d.device, d.action as Action);
  return undefined;
}
