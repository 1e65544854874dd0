import type Database from 'better-sqlite3';
import { withWriteLock } from './sqlite-busy.js';

/**
 * Group commit for a SQLite file written with `synchronous = FULL`. better-sqlite3 is synchronous,
 * so every commit's fsync blocks the event loop (about 1 ms here): 200 devices each taking a
 * lease, renewing it and journaling an entry one transaction at a time stalled every other
 * device's session for hundreds of ms. Writes asked for in the same turn of the event loop (every
 * socket event of one poll phase, every timer of one timers phase) run in one BEGIN IMMEDIATE
 * transaction, one fsync; each write is its own savepoint, so one that throws (a unique index
 * refusing it) is undone alone and fails only its own caller. Each promise resolves when its
 * write is durable, as before.
 */
export type GroupCommit = <T>(write: () => T) => Promise<T>;

interface Pending {
  write: () => unknown;
  resolve: (v: unknown) => void;
  reject: (err: unknown) => void;
}

export function groupCommit(db: Database.Database, busyTimeoutMs: number): GroupCommit {
  let queue: Pending[] = [];
  let scheduled = false;
  // Each write in a savepoint of the batch's transaction (better-sqlite3 nests transactions so).
  const one = db.transaction((p: Pending) => p.write());
  const batch = db.transaction((items: Pending[]) =>
    items.map((p) => {
      try {
        return { ok: true as const, value: one(p) };
      } catch (err) {
        return { ok: false as const, err };
      }
    }),
  );
  const flush = async () => {
    scheduled = false;
    const items = queue;
    queue = [];
    try {
      const results = await withWriteLock(busyTimeoutMs, () => {
        if (!db.open) throw new Error(`${db.name}: closed`);
        return batch.immediate(items);
      });
      results.forEach((r, i) => {
        if (r.ok) items[i]!.resolve(r.value);
        else items[i]!.reject(r.err);
      });
    } catch (err) {
      for (const p of items) p.reject(err);
    }
  };
  return <T>(write: () => T) =>
    new Promise<T>((resolve, reject) => {
      queue.push({ write, resolve: resolve as (v: unknown) => void, reject });
      if (!scheduled) {
        scheduled = true;
        setImmediate(() => void flush());
      }
    });
}
