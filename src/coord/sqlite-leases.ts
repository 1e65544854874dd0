import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { acquireByPolling, checkTtl } from './acquire.js';
import type { Attempt, Lease, LeaseHolder, Leases } from './types.js';
import { retryBusySync, SQLITE_BUSY_WAIT_MS, withWriteLock } from '../sqlite-busy.js';
import { groupCommit } from '../sqlite-group-commit.js';

/**
 * Leases for the local executor: exclusion between processes on one host through one SQLite
 * file (WAL). Every check-and-change runs in a BEGIN IMMEDIATE transaction (shared by those asked
 * for in one turn of the event loop: groupCommit); while another process
 * holds the write lock we wait asynchronously (the event loop keeps turning). One row per key
 * keeps the fencing counter (`fence`) for good, across releases and expiries; a row is held
 * while `owner` is set and `expires_at` (wall clock, epoch ms: one host, one clock) is ahead.
 */

const SCHEMA = `
CREATE TABLE IF NOT EXISTS leases (
  key        TEXT PRIMARY KEY,
  fence      INTEGER NOT NULL,
  owner      TEXT,
  expires_at INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
`;

interface Row {
  key: string;
  fence: number;
  owner: string | null;
  expires_at: number;
}

export interface SqliteLeasesOptions {
  /** How long an operation waits for another process's write lock, ms (default 10000). */
  busyTimeoutMs?: number;
}

export function sqliteLeases(file: string, opts: SqliteLeasesOptions = {}): Leases {
  if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true });
  const busyTimeoutMs = opts.busyTimeoutMs ?? 10_000;
  const db = new Database(file, { timeout: busyTimeoutMs });
  retryBusySync(busyTimeoutMs, () => db.pragma('journal_mode = WAL'));
  // FULL: a fence number handed out is on disk, so a power cut can never hand it out again.
  db.pragma('synchronous = FULL');
  retryBusySync(busyTimeoutMs, () => db.exec(SCHEMA));
  // From here SQLite's own busy wait (which blocks the event loop) is short; see withWriteLock.
  db.pragma(`busy_timeout = ${SQLITE_BUSY_WAIT_MS}`);

  const select = db.prepare<[string], Row>('SELECT * FROM leases WHERE key = ?');
  const take = db.prepare(
    `INSERT INTO leases (key, fence, owner, expires_at) VALUES (@key, 1, @owner, @expires)
     ON CONFLICT (key) DO UPDATE SET fence = fence + 1, owner = @owner, expires_at = @expires`,
  );
  const extend = db.prepare(
    'UPDATE leases SET expires_at = @expires WHERE key = @key AND owner = @owner AND fence = @token AND expires_at > @now',
  );
  const free = db.prepare('UPDATE leases SET owner = NULL, expires_at = 0 WHERE key = @key AND owner = @owner AND fence = @token');
  const live = db.prepare<[string, string, number], Row>(
    'SELECT * FROM leases WHERE substr(key, 1, length(?)) = ? AND owner IS NOT NULL AND expires_at > ? ORDER BY key',
  );

  const attemptRow = (key: string, owner: string, ttlMs: number): Attempt => {
    const now = Date.now();
    const row = select.get(key);
    if (row?.owner != null && row.expires_at > now) return { lease: null, holder: holderOf(row) };
    const expires = now + ttlMs;
    take.run({ key, owner, expires });
    return { lease: { key, owner, token: (row?.fence ?? 0) + 1, expiresAt: expires } };
  };
  // Leases taken, renewed and freed in one turn of the event loop (200 devices at the go) share
  // one transaction and one fsync.
  const commit = groupCommit(db, busyTimeoutMs);

  const open = () => {
    if (!db.open) throw new Error(`leases ${file}: closed`);
  };
  const attempt = (key: string, owner: string, ttlMs: number): Promise<Attempt> => {
    checkTtl(ttlMs);
    open();
    return commit(() => attemptRow(key, owner, ttlMs));
  };
  const write = (fn: () => number): Promise<number> => {
    open();
    return commit(fn);
  };
  const read = <T>(fn: () => T): Promise<T> => {
    open();
    return withWriteLock(busyTimeoutMs, fn);
  };

  return {
    async tryAcquire(key, owner, ttlMs) {
      return (await attempt(key, owner, ttlMs)).lease;
    },
    acquire(key, owner, ttlMs, waitMs) {
      return acquireByPolling(() => attempt(key, owner, ttlMs), key, owner, waitMs);
    },
    async renew(lease: Lease, ttlMs: number) {
      checkTtl(ttlMs);
      const n = await write(() => {
        const now = Date.now();
        return extend.run({ key: lease.key, owner: lease.owner, token: lease.token, now, expires: now + ttlMs }).changes;
      });
      return n === 1;
    },
    async release(lease: Lease) {
      await write(() => free.run({ key: lease.key, owner: lease.owner, token: lease.token }).changes);
    },
    async holder(key) {
      return read(() => {
        const row = select.get(key);
        return row?.owner != null && row.expires_at > Date.now() ? holderOf(row) : null;
      });
    },
    async list(prefix) {
      return read(() => live.all(prefix, prefix, Date.now()).map((row) => ({ key: row.key, ...holderOf(row) })));
    },
    async close() {
      if (db.open) db.close();
    },
  };
}

function holderOf(row: Row): LeaseHolder {
  return { owner: row.owner ?? '', token: row.fence, expiresAt: row.expires_at };
}
