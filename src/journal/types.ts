/**
 * The journal: append-only, hash-chained entries. Every change is preceded by an
 * `action.intent` entry holding the observed pre-state and the inverse (write-ahead).
 *
 * Entry types and their `data`:
 *   run.created        { plan, trigger: { kind, by, reason } }
 *   lockout.overridden { actionId, message }
 *   run.state          { state, reason?, timeToContainMs?, notDone?: [{actionId, error}] }
 *   stage.prepared     { stage, ms }
 *   stage.struck       { stage, cutSkewMs, firstApplyAt, lastApplyAt }
 *   action.intent      { actionId, device, action, before, inverse, autoRevert?: { minutes } (armed with the change) }
 *   action.already     { actionId, device, before }
 *   action.applied     { actionId, device, output }
 *   batch.refused      { device, actions, code, error }   (a device refused its changes together; sent one by one)
 *   action.verified    { actionId, device, after, ms }
 *   action.confirmed   { actionId, device, output }   (device-side auto-revert disarmed after the read-back)
 *   action.failed      { actionId, device, phase, code, error }
 *   rollback.started   { by, reason }
 *   action.reverted    { actionId, device, inverse, after, nothingToDo?, deviceReverted? (armed, unconfirmed, found undone) }
 *   action.revert-failed { actionId, device, inverse, code, error }
 *   rollback.finished  { state, reverted, failed }
 */
export type EntryType =
  | 'run.created'
  | 'lockout.overridden'
  | 'run.state'
  | 'stage.prepared'
  | 'stage.struck'
  | 'action.intent'
  | 'action.already'
  | 'action.applied'
  | 'batch.refused'
  | 'action.verified'
  | 'action.confirmed'
  | 'action.failed'
  | 'rollback.started'
  | 'action.reverted'
  | 'action.revert-failed'
  | 'rollback.finished';

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

export interface JournalStore {
  /** Durable when the promise resolves (synchronous write for SQLite). Data is redacted first. */
  append(runId: string, type: EntryType, data: Record<string, unknown>): Promise<JournalEntry>;
  /**
   * Group commit: several entries, chained in order, durable together in one write (one fsync).
   * The engine flushes a stage's entries this way at its phase boundaries (write-ahead still
   * holds: the intents are durable before the strike).
   */
  appendMany(items: { runId: string; type: EntryType; data: Record<string, unknown> }[]): Promise<JournalEntry[]>;
  entries(runId: string): Promise<JournalEntry[]>;
  /** Every entry in order (for export and verify). */
  all(): Promise<JournalEntry[]>;
  runs(): Promise<RunSummary[]>;
  verify(): Promise<VerifyReport>;
  close(): Promise<void>;
}
