import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { IdempotencyTaken, JournalCorrupt } from '../errors.js';
import { redactor as processRedactor, type Redactor } from '../secrets.js';
import { entryHashCanonical, type ChainHead, verifyRows } from './chain.js';
import { encodeData, type EncodedData } from './plain.js';
import { findSql } from './query.js';
import { runSummaries } from './runs.js';
import type { EntryType, JournalEntry, JournalQuery, JournalStore, RunSummary, VerifyReport } from './types.js';
import { journalWriter } from './writer.js';
import { retryBusySync, SQLITE_BUSY_WAIT_MS } from '../sqlite-busy.js';
import { groupCommit } from '../sqlite-group-commit.js';

/**
 * The embedded journal store: one SQLite file, WAL, fsync on every commit. Several processes
 * may append to the same file; each append takes the write lock first (BEGIN IMMEDIATE), so the
 * chain stays one line. The store keeps exactly what it is given: redaction is journalWriter's.
 */

const SCHEMA_VERSION = 1;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS entries (
  seq       INTEGER PRIMARY KEY,
  run_id    TEXT NOT NULL,
  ts        TEXT NOT NULL,
  type      TEXT NOT NULL,
  data      TEXT NOT NULL,
  prev_hash TEXT NOT NULL,
  hash      TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS entries_run_id ON entries (run_id, seq);
-- A device's entries (its holds) without a full scan; the same expression find() uses.
CREATE INDEX IF NOT EXISTS entries_device ON entries (json_extract(data, '$.device'), seq);
-- A device's entries in one run (a rollback reads them for each device): without it SQLite walked
-- the device's whole history, which grows with every drill.
CREATE INDEX IF NOT EXISTS entries_run_device ON entries (run_id, json_extract(data, '$.device'), seq);
CREATE INDEX IF NOT EXISTS entries_type ON entries (type, seq);
-- One run per idempotency key, whichever process asks (two API servers, a server and the CLI).
CREATE UNIQUE INDEX IF NOT EXISTS entries_idempotency ON entries (json_extract(data, '$.idempotencyKey'))
  WHERE type = 'run.created' AND json_extract(data, '$.idempotencyKey') IS NOT NULL;
CREATE TABLE IF NOT EXISTS head (
  id   INTEGER PRIMARY KEY CHECK (id = 1),
  seq  INTEGER NOT NULL,
  hash TEXT NOT NULL
);
INSERT OR IGNORE INTO head (id, seq, hash) VALUES (1, 0, '');
-- Append-only: these stop accidents; a deliberate tamperer can drop them, which verify catches.
CREATE TRIGGER IF NOT EXISTS entries_no_update BEFORE UPDATE ON entries
  BEGIN SELECT RAISE(ABORT, 'journal entries are append-only'); END;
CREATE TRIGGER IF NOT EXISTS entries_no_delete BEFORE DELETE ON entries
  BEGIN SELECT RAISE(ABORT, 'journal entries are append-only'); END;
CREATE TRIGGER IF NOT EXISTS head_no_delete BEFORE DELETE ON head
  BEGIN SELECT RAISE(ABORT, 'journal head cannot be deleted'); END;
CREATE TRIGGER IF NOT EXISTS head_forward_only BEFORE UPDATE ON head WHEN NEW.seq <> OLD.seq + 1
  BEGIN SELECT RAISE(ABORT, 'journal head only moves forward by one'); END;
`;

interface EntryRow {
  seq: number;
  run_id: string;
  ts: string;
  type: string;
  data: string;
  prev_hash: string;
  hash: string;
}

export interface SqliteStoreOptions {
  /** How long an append waits for another process's write lock, ms (default 10000). */
  busyTimeoutMs?: number;
}

export interface SqliteJournalOptions extends SqliteStoreOptions {
  /** Scrubs secrets from `data` before it is hashed or stored (default: the process-wide one). */
  redactor?: Redactor;
}

/**
 * Compatibility path for callers from before journalWriter: the SQLite store wrapped in a writer
 * that redacts with `opts.redactor`, by default the process-wide redactor. New code: openJournal.
 * @deprecated use openJournal({ file }, redactor) (open.ts), or openSqliteStore + journalWriter.
 */
export function openSqliteJournal(file: string, opts: SqliteJournalOptions = {}): JournalStore {
  return journalWriter(openSqliteStore(file, opts), opts.redactor ?? processRedactor);
}

/** The unique index on idempotency keys refusing a second run: a typed error the application answers. */
function idempotent<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (
      (err as { code?: string }).code === 'SQLITE_CONSTRAINT_UNIQUE' &&
      /entries_idempotency|idempotencyKey/.test(String((err as Error).message))
    )
      throw new IdempotencyTaken('a run with this idempotency key is in the journal already', { cause: err });
    throw err;
  }
}

/** The SQLite store itself: stores exactly what it is given (see journalWriter for redaction). */
export function openSqliteStore(file: string, opts: SqliteStoreOptions = {}): JournalStore {
  if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true });
  const busyTimeoutMs = opts.busyTimeoutMs ?? 10_000;
  const db = new Database(file, { timeout: busyTimeoutMs });
  retryBusySync(busyTimeoutMs, () => db.pragma('journal_mode = WAL'));
  // FULL: the WAL is fsynced at every commit, so an append is durable when it returns.
  db.pragma('synchronous = FULL');
  db.pragma('foreign_keys = ON');
  const migrate = db.transaction(() => {
    db.exec(SCHEMA);
    const v = db.pragma('user_version', { simple: true }) as number;
    if (v === 0) db.pragma(`user_version = ${SCHEMA_VERSION}`);
    else if (v !== SCHEMA_VERSION) throw new JournalCorrupt(`journal ${file}: schema version ${v}, this build knows ${SCHEMA_VERSION}`);
  });
  retryBusySync(busyTimeoutMs, () => migrate.immediate());
  // From here SQLite's own busy wait is short: it blocks the event loop and backs off up to
  // 100 ms a sleep; appends wait for the lock asynchronously instead (see groupCommit).
  db.pragma(`busy_timeout = ${SQLITE_BUSY_WAIT_MS}`);

  const readHead = db.prepare<[], ChainHead>('SELECT seq, hash FROM head WHERE id = 1');
  const insertEntry = db.prepare(
    'INSERT INTO entries (seq, run_id, ts, type, data, prev_hash, hash) VALUES (@seq, @run_id, @ts, @type, @data, @prev_hash, @hash)',
  );
  const moveHead = db.prepare('UPDATE head SET seq = @seq, hash = @hash WHERE id = 1');
  const selectRun = db.prepare<[string], EntryRow>('SELECT * FROM entries WHERE run_id = ? ORDER BY seq');
  const selectAll = db.prepare<[], EntryRow>('SELECT * FROM entries ORDER BY seq');
  const selectRunEvents = db.prepare<[], EntryRow>(
    "SELECT * FROM entries WHERE type IN ('run.created', 'run.state', 'rollback.finished') ORDER BY seq",
  );

  const appendRow = (runId: string, type: EntryType, data: EncodedData, ts: string): JournalEntry => {
    const head = readHead.get();
    if (!head) throw new JournalCorrupt(`journal ${file}: head record missing; run verify`);
    const seq = head.seq + 1;
    const entry: JournalEntry = { seq, runId, ts, type, data: data.value, prevHash: head.hash, hash: '' };
    entry.hash = entryHashCanonical(entry.prevHash, entry, data.json);
    insertEntry.run({ seq, run_id: runId, ts, type, data: data.json, prev_hash: entry.prevHash, hash: entry.hash });
    moveHead.run({ seq, hash: entry.hash });
    return entry;
  };
  // Appends from many devices in one turn of the event loop share one transaction and one fsync.
  const commit = groupCommit(db, busyTimeoutMs);
  // Prepared once per distinct filter shape (a follower polls with the same one).
  const finders = new Map<string, Database.Statement<unknown[], EntryRow>>();
  const find = (q: JournalQuery): JournalEntry[] => {
    const query = findSql(q, 'entries', () => '?');
    if (!query) return [];
    let stmt = finders.get(query.sql);
    if (!stmt) {
      stmt = db.prepare<unknown[], EntryRow>(query.sql);
      finders.set(query.sql, stmt);
    }
    return stmt.all(...query.params).map(toEntry);
  };

  const snapshot = db.transaction(() => ({ rows: selectAll.all(), head: readHead.get() ?? null }));

  const store: JournalStore = {
    async append(runId, type, data) {
      const c = encodeData(data);
      const ts = new Date().toISOString();
      return commit(() => idempotent(() => appendRow(runId, type, c, ts)));
    },
    async appendMany(items) {
      if (!items.length) return [];
      const c = items.map((i) => ({ runId: i.runId, type: i.type, data: encodeData(i.data) }));
      const ts = new Date().toISOString();
      return commit(() => idempotent(() => c.map((i) => appendRow(i.runId, i.type, i.data, ts))));
    },
    async entries(runId) {
      return selectRun.all(runId).map(toEntry);
    },
    async find(q) {
      return find(q);
    },
    async all() {
      return selectAll.all().map(toEntry);
    },
    async runs(): Promise<RunSummary[]> {
      return runSummaries(selectRunEvents.all().map(toEntry));
    },
    async verify(): Promise<VerifyReport> {
      const { rows, head } = snapshot.deferred();
      return verifyRows(rows, toEntry, head);
    },
    async close() {
      if (db.open) db.close();
    },
  };
  return store;
}

function toEntry(row: EntryRow): JournalEntry {
  return {
    seq: row.seq,
    runId: row.run_id,
    ts: row.ts,
    type: row.type as EntryType,
    data: JSON.parse(row.data) as Record<string, unknown>,
    prevHash: row.prev_hash,
    hash: row.hash,
  };
}
