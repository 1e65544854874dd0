import type { EntryDataMap } from './entry-data.js';
/**
 * The journal: append-only, hash-chained entries. Every change is preceded by an
 * `action.intent` entry holding the observed pre-state and the inverse (write-ahead).
 *
 * Entry types and their `data` (EntryDataMap below documents each field):
 *   run.created        { plan, trigger: { kind, by, reason } }
 *   lockout.overridden { actionId, message }
 *   run.state          { state, from?, by?, reason?, timeToContainMs?, notDone?: [{actionId, error}] }
 *   stage.prepared     { stage, ms }
 *   stage.barrier      { stage, ready: [device], late: [device], waitedMs }   (coordinated cut across workers)
 *   stage.struck       { stage, cutSkewMs, firstApplyAt, lastApplyAt }
 *   action.intent      { actionId, device, action, before, inverse, autoRevert?: { minutes, keepArmed? } (armed with the change; keepArmed: a live drill's backstop, never confirmed by its run) }
 *   device.armed       { device, actionIds, minutes }   (a run arms the device's auto-revert with its changes: whoever changes it next disarms what is still pending)
 *   action.already     { actionId, device, before }
 *   action.resumed     { actionId, device, held, after }   (resumed after an intent: held = the device shows the change)
 *   action.applied     { actionId, device, output }
 *   batch.refused      { device, actions, code, error }   (a device refused its changes together; sent one by one)
 *   action.verified    { actionId, device, after, ms }
 *   action.confirmed   { actionId, device, output, by?, reason? }   (device-side auto-revert disarmed after the read-back; by: 'rollback', or the run that disarmed a kept-armed change before changing the device)
 *   action.failed      { actionId, device, phase, code, error }
 *   rollback.started   { by, reason }
 *   action.reverted    { actionId, device, inverse, after, nothingToDo?, deviceReverted? (armed, unconfirmed, found undone) }
 *   hold.released      { actionId, device, target, heldBy: [{runId, actionId}] }   (let go; other runs still hold it)
 *   action.revert-failed { actionId, device, inverse, code, error }
 *   rollback.finished  { state, reverted, failed }
 *   run.lease-lost     { device?, owner, token, error }   (the executor lost a device lease and stopped)
 *   stage.step-lost    { stage, device, error }   (a queued device step vanished: no job, no result, no heartbeat)
 *   drill.report       { drillId, mode, summary, trend }   (a drill's outcome: times to contain and restore, per device, failures)
 *   drill.scheduled    { drillId, cron, tz }   /  drill.missed { drillId, dueAt }   (a scheduled drill that did not run)
 *   run.expires        { at, ttlSeconds, by }   (time to live: rolled back at `at` (epoch ms) unless kept; a later one extends)
 *   run.kept           { by, reason? }   (the time to live is lifted: the containment stays until rolled back by hand)
 *   rollback.queued    { by, reason }   (queue mode: the rollback job is on its way to a worker)
 *   run.break-glass    { reason }   (the queue did not take the run: it ran in-process instead, as its trigger allows)
 *   approval.decided   { decision: approved|rejected|expired, by, for: run|rollback, reason? }
 *   rollback.requested { by, reason, expiresAt }   (rollback waits for a second person's approval)
 *   trigger.event      { trigger, kind, status, decision, dedupKey, targets, runId?, detail? }   (every detector event and what became of it)
 *   notify.sent        { channel, event, attempt, ms, status? }   /  notify.failed { channel, event, attempt, error, final }
 *   auth.failed        { ip, reason, tokenId?, route }   (under runId API_STREAM)
 *   token.created      { tokenId, name, scopes, allow?, by }  /  token.revoked { tokenId, by }   (under runId API_STREAM)
 *   signin.ok / signin.failed / signin.locked { name, ip, reason?, until? }   (console sign-ins, never a password or code; API_STREAM)
 *   user.added { name, role, by } / user.disabled { name, by, sessionsEnded } / user.totp-reset { name, by, sessionsEnded }
 *   session.ended      { name, reason, ip? }   (signed out, or ended by user disable / TOTP reset; API_STREAM)
 */
/** Journal entries that belong to no run (failed sign-ins, token changes) are kept under this run id. */
export const API_STREAM = '_api';

export type EntryType =
  | 'run.created'
  | 'lockout.overridden'
  | 'run.state'
  | 'stage.prepared'
  | 'stage.barrier'
  | 'stage.struck'
  | 'action.intent'
  | 'action.already'
  | 'action.resumed'
  | 'action.applied'
  | 'batch.refused'
  | 'action.verified'
  | 'action.confirmed'
  | 'device.armed'
  | 'action.failed'
  | 'rollback.started'
  | 'action.reverted'
  | 'hold.released'
  | 'action.revert-failed'
  | 'rollback.finished'
  | 'run.lease-lost'
  | 'stage.step-lost'
  | 'run.break-glass'
  | 'rollback.queued'
  | 'run.expires'
  | 'drill.report'
  | 'drill.scheduled'
  | 'drill.missed'
  | 'run.kept'
  | 'approval.decided'
  | 'rollback.requested'
  | 'trigger.event'
  | 'notify.sent'
  | 'notify.failed'
  | 'auth.failed'
  | 'token.created'
  | 'token.revoked'
  | 'signin.ok'
  | 'signin.failed'
  | 'signin.locked'
  | 'user.added'
  | 'user.disabled'
  | 'user.totp-reset'
  | 'session.ended';

export type { EntryDataMap } from './entry-data.js';

/** One entry to append: its type and the data shape that type takes. */
export type EntryInput = { [K in EntryType]: { runId: string; type: K; data: EntryDataMap[K] } }[EntryType];

export interface JournalEntry {
  seq: number;
  runId: string;
  /** ISO-8601 with milliseconds. */
  ts: string;
  type: EntryType;
  data: Record<string, unknown>;
  /** Hex sha256 of the previous entry ('' for the first). */
  prevHash: string;
  hash: string;
}

export interface RunSummary {
  runId: string;
  playbook: string;
  createdAt: string;
  state: string;
}

export interface VerifyReport {
  ok: boolean;
  entries: number;
  problems: string[];
}

/** A filter over the journal; every field given narrows it. Results are in seq order. */
export interface JournalQuery {
  runId?: string;
  /** Only these types (an empty list matches nothing). */
  types?: EntryType[];
  /** Only entries after this seq: a follower passes the last seq it has seen. */
  afterSeq?: number;
  /** At most this many entries (the oldest that match). */
  limit?: number;
  /** Only entries whose data names this device (`data.device`): a device's holds, its actions. */
  device?: string;
}

/**
 * A store keeps exactly what it is given (as canonical JSON; an Error becomes { name, message, code? }).
 * Redaction is not its job: open stores through openJournal (open.ts), which wraps them in
 * journalWriter (writer.ts) so that secrets never reach the store.
 */
export interface JournalStore {
  /** Durable when the promise resolves (synchronous write for SQLite, committed for PostgreSQL). */
  append(runId: string, type: EntryType, data: Record<string, unknown>): Promise<JournalEntry>;
  /**
   * Group commit: several entries, chained in order, durable together in one write (one fsync).
   * The engine flushes a stage's entries this way at its phase boundaries (write-ahead still
   * holds: the intents are durable before the strike).
   */
  appendMany(items: { runId: string; type: EntryType; data: Record<string, unknown> }[]): Promise<JournalEntry[]>;
  entries(runId: string): Promise<JournalEntry[]>;
  /** Entries matching `q`, in seq order: a run's events after the last one seen, the entries holds are computed from. */
  find(q: JournalQuery): Promise<JournalEntry[]>;
  /** Every entry in order (for export and verify). */
  all(): Promise<JournalEntry[]>;
  runs(): Promise<RunSummary[]>;
  verify(): Promise<VerifyReport>;
  close(): Promise<void>;
}

/**
 * The journal as the engine, the application and the workers write it: a store behind the
 * redacting writer (journal/writer.ts), every append typed by its entry type (EntryDataMap).
 */
export interface Journal extends Omit<JournalStore, 'append' | 'appendMany'> {
  append<T extends EntryType>(runId: string, type: T, data: EntryDataMap[T]): Promise<JournalEntry>;
  appendMany(items: EntryInput[]): Promise<JournalEntry[]>;
}
