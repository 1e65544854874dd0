import { currentState, transition } from '../engine/lifecycle.js';
import { ApprovalRefused, RunNotFound, RunStateConflict } from '../errors.js';
import type { Journal, JournalEntry } from '../journal/types.js';

/**
 * Four eyes: a run (or a rollback) that policy makes wait is decided by a second identity, never
 * by the one that asked; an undecided request expires. All of it is journaled: the pending
 * request (`run.state awaiting-approval` / `rollback.requested`, with `expiresAt`) and the decision
 * (`approval.decided`), so any process can tell what is pending and who decided.
 */

/** States a rollback may start from (the lifecycle table's). */
export const ROLLBACK_FROM: readonly string[] = ['contained', 'partial', 'failed', 'rollback-failed'];

/** Default time an approval request stays open. */
export const APPROVAL_TTL_MS = Number(process.env.FIREBREAK_APPROVAL_TTL_MS ?? 30 * 60_000);

/** Who asked: a token's id when the run came through the API (names can be reused), else `<kind>:<by>` (`cli:alice`). */
export function requesterOf(created: JournalEntry): string {
  const t = created.data.trigger as { kind?: string; by?: string; identity?: string } | undefined;
  return t?.identity ?? `${t?.kind ?? '?'}:${t?.by ?? '?'}`;
}

export interface PendingApproval {
  runId: string;
  for: 'run' | 'rollback';
  requestedBy: string;
  expiresAt: number;
  reason?: string;
}

/** What of this run waits for approval now, if anything. */
export function pendingOf(entries: readonly JournalEntry[]): PendingApproval | undefined {
  const created = entries.find((e) => e.type === 'run.created');
  if (!created) return undefined;
  const state = currentState(entries);
  if (state === 'awaiting-approval') {
    const wait = [...entries].reverse().find((e) => e.type === 'run.state' && e.data.state === 'awaiting-approval')!;
    return { runId: created.runId, for: 'run', requestedBy: requesterOf(created), expiresAt: Number(wait.data.expiresAt) };
  }
  const req = [...entries].reverse().find((e) => e.type === 'rollback.requested');
  if (!req) return undefined;
  const decided = entries.some((e) => e.seq > req.seq && (e.type === 'approval.decided' || e.type === 'rollback.started'));
  if (decided || !ROLLBACK_FROM.includes(state ?? 'planned')) return undefined;
  return {
    runId: created.runId,
    for: 'rollback',
    requestedBy: (req.data.identity as string | undefined) ?? String(req.data.by),
    expiresAt: Number(req.data.expiresAt),
    reason: String(req.data.reason ?? ''),
  };
}

/**
 * Records a decision on what is pending. `identity` is compared with the requester's; `by` is
 * what the journal shows. Returns what was decided (the caller starts the run or the rollback).
 */
export async function decide(
  journal: Journal,
  runId: string,
  d: { decision: 'approved' | 'rejected'; by: string; identity: string; reason?: string; now: number },
): Promise<PendingApproval> {
  const entries = await journal.entries(runId);
  if (!entries.length) throw new RunNotFound(`run ${runId} is not in the journal`);
  const pending = pendingOf(entries);
  if (!pending) throw new RunStateConflict(`run ${runId} is ${currentState(entries)}: nothing of it waits for approval`);
  if (pending.expiresAt <= d.now) {
    await expire(journal, pending);
    throw new RunStateConflict(`the approval request of run ${runId} expired at ${new Date(pending.expiresAt).toISOString()}`);
  }
  if (d.decision === 'approved' && pending.requestedBy === d.identity)
    throw new ApprovalRefused(
      `${d.by} asked for this ${pending.for === 'run' ? 'run' : 'rollback'} and cannot approve it: a second person must`,
    );
  await journal.append(runId, 'approval.decided', {
    decision: d.decision,
    by: d.by,
    for: pending.for,
    identity: d.identity,
    ...(d.reason ? { reason: d.reason } : {}),
  });
  if (d.decision === 'rejected' && pending.for === 'run') await transition(journal, runId, 'rejected', { by: d.by, reason: d.reason });
  return pending;
}

async function expire(journal: Journal, p: PendingApproval): Promise<void> {
  await journal.append(p.runId, 'approval.decided', { decision: 'expired', by: 'expiry', for: p.for });
  if (p.for === 'run') await transition(journal, p.runId, 'expired', { reason: 'nobody approved it in time' });
}

/** Every pending request, across runs (the approvals inbox). */
export async function pendingApprovals(journal: Journal): Promise<PendingApproval[]> {
  const marks = await journal.find({ types: ['run.state', 'rollback.requested'] });
  const runIds = [
    ...new Set(marks.filter((e) => e.type === 'rollback.requested' || e.data.state === 'awaiting-approval').map((e) => e.runId)),
  ];
  const out: PendingApproval[] = [];
  for (const runId of runIds) {
    const p = pendingOf(await journal.entries(runId));
    if (p) out.push(p);
  }
  return out;
}

/** Ends every request past its time (journaled `expired`); returns the run ids it expired. */
export async function expireDue(journal: Journal, now: number): Promise<string[]> {
  const done: string[] = [];
  for (const p of await pendingApprovals(journal)) {
    if (p.expiresAt > now) continue;
    try {
      await expire(journal, p);
      done.push(p.runId);
    } catch (err) {
      // Another process decided or expired it in between: its entry stands.
      if (!(err instanceof RunStateConflict)) throw err;
    }
  }
  return done;
}
