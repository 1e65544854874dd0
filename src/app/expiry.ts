import { currentState } from '../engine/lifecycle.js';
import { RunStateConflict } from '../errors.js';
import type { Journal, JournalEntry } from '../journal/types.js';

/**
 * Expiring containment (fail2ban's bantime): a run may carry a time to live; when it runs out the
 * run is rolled back through holds (a target another run still holds stays contained), unless a
 * person kept or extended it. The deadline is a journal entry, not a timer in memory: whichever
 * server sweeps after the due time (this one, or a new one after every process was restarted)
 * rolls it back, and the rollback is journaled `by: expiry`.
 */
export const EXPIRY_BY = 'expiry';

/** States a run never comes back from to a containment that could expire. */
const OVER = ['rolled-back', 'rejected', 'expired', 'failed'];

/** States whose containment can expire (what rollback can start from, less a failed rollback). */
const EXPIRABLE = ['contained', 'partial'];

export interface Expiry {
  runId: string;
  /** Epoch ms. */
  at: number;
}

/** The runs whose time to live has run out (at `now`, epoch ms), oldest due first. */
export function dueExpiries(entries: readonly JournalEntry[], now: number): Expiry[] {
  const byRun = new Map<string, JournalEntry[]>();
  for (const e of entries) byRun.set(e.runId, [...(byRun.get(e.runId) ?? []), e]);
  const due: Expiry[] = [];
  for (const [runId, list] of byRun) {
    const exp = expiryOf(list);
    if (exp === undefined || exp > now) continue;
    const state = currentState(list);
    // Still running: it is rolled back once it comes to rest. Already rolled back or failed: nothing to undo.
    if (state && EXPIRABLE.includes(state) && !list.some((e) => e.type === 'rollback.started' || e.type === 'rollback.queued'))
      due.push({ runId, at: exp });
  }
  return due.sort((a, b) => a.at - b.at);
}

/** The run's expiry (epoch ms), or undefined when it has none or was kept after its last one. */
export function expiryOf(entries: readonly JournalEntry[]): number | undefined {
  let at: number | undefined;
  for (const e of entries) {
    if (e.type === 'run.expires') at = Number(e.data.at);
    else if (e.type === 'run.kept') at = undefined;
  }
  return at;
}

export const EXPIRY_TYPES = ['run.state', 'run.expires', 'run.kept', 'rollback.started', 'rollback.queued'] as const;

/**
 * Sweeps every `everyMs` (default 500: an expiry fires within a second of its time) and asks for
 * the rollback of each due run. Returns stop().
 */
export function startExpirySweeper(o: {
  journal: Journal;
  rollback: (runId: string) => Promise<unknown>;
  everyMs?: number;
  now?: () => number;
  log?: (line: string) => void;
}): { stop(): void; sweep(): Promise<string[]> } {
  const now = o.now ?? Date.now;
  const inFlight = new Set<string>();
  // Runs whose time ran out and that are over (rolled back, failed, ...): never looked at again.
  const settled = new Set<string>();
  const sweep = async (): Promise<string[]> => {
    // Only the deadlines first (few entries); a run's own entries only once its deadline passed.
    const deadlines = new Map<string, JournalEntry[]>();
    for (const e of await o.journal.find({ types: ['run.expires', 'run.kept'] }))
      if (!settled.has(e.runId)) deadlines.set(e.runId, [...(deadlines.get(e.runId) ?? []), e]);
    const t = now();
    const entries: JournalEntry[] = [];
    for (const [runId, marks] of deadlines) {
      const at = expiryOf(marks);
      if (at === undefined || at > t || inFlight.has(runId)) continue;
      const own = await o.journal.find({ runId, types: [...EXPIRY_TYPES] });
      const state = currentState(own);
      if (state && OVER.includes(state)) settled.add(runId);
      entries.push(...own);
    }
    const fired: string[] = [];
    for (const { runId } of dueExpiries(entries, t)) {
      if (inFlight.has(runId)) continue;
      inFlight.add(runId);
      fired.push(runId);
      void o
        .rollback(runId)
        .catch((err) => {
          // Another server fired it first, or a person is rolling it back: theirs stands.
          if (!(err instanceof RunStateConflict)) o.log?.(`expiry of ${runId}: ${(err as Error).message}`);
        })
        .finally(() => inFlight.delete(runId));
    }
    return fired;
  };
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    sweep()
      .catch((err) => o.log?.(`expiry sweep: ${(err as Error).message}`))
      .finally(() => {
        running = false;
      });
  }, o.everyMs ?? 500);
  return {
    stop: () => clearInterval(timer),
    sweep,
  };
}
