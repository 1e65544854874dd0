import pg from 'pg';
import { ConfigInvalid, IdempotencyTaken, JournalCorrupt } from '../errors.js';
import { urlForDisplay, urlPassword } from '../secrets.js';
import { entryHashCanonical, type ChainHead, verifyRows } from './chain.js';
import { journalError } from './pg-errors.js';
import { migrate, validSchemaName } from './pg-schema.js';
import { encodeData, type EncodedData } from './plain.js';
import { findSql } from './query.js';
import { runSummaries } from './runs.js';
import type { EntryType, JournalEntry, JournalStore, VerifyReport } from './types.js';

/**
 * The shared journal store: one PostgreSQL schema that many writers (processes, hosts) append to.
 * The same hash chain as SQLite. Each append is one transaction that locks the head row
 * (SELECT ... FOR UPDATE), chains onto it, inserts and moves the head: writers take turns, the
 * chain stays one line with no seq gaps, and a failed append leaves nothing behind. appendMany is
 * one such transaction for the whole group (one commit). Within one store instance appends are
 * also chained in call order.
 *
 * The store keeps exactly what it is given: redaction is journalWriter's (open.ts wraps it).
 */

export interface PostgresJournalOptions {
  /** Schema holding the journal's tables; created if missing (default `firebreak`). */
  schema?: string;
  /** Connections per store instance (default 4). */
  poolSize?: number;
  /** How long an append waits for another writer's hold on the head, ms (default 10000). */
  lockTimeoutMs?: number;
  /** How long to wait for a connection, ms (default 10000). */
  connectTimeoutMs?: number;
}

interface EntryRow {
  seq: string;
  run_id: string;
  ts: string;
  type: string;
  data: string;
  prev_hash: string;
  hash: string;
}

interface Item {
  runId: string;
  type: EntryType;
  data: EncodedData;
}

export async function openPostgresJournal(url: string, opts: PostgresJournalOptions = {}): Promise<JournalStore> {
  const schema = opts.schema ?? 'firebreak';
  const where = `journal ${urlForDisplay(url)}${schema === 'firebreak' ? '' : ` (schema ${schema})`}`;
  if (!validSchemaName(schema)) {
    throw new ConfigInvalid(`${where}: schema name "${schema}" must be lower case letters, digits and _ (at most 63)`);
  }
  const secret = urlPassword(url);
  const wrap = (doing: string, err: unknown) => journalError(where, doing, err, secret);
  const pool = new pg.Pool({
    connectionString: url,
    max: opts.poolSize ?? 4,
    connectionTimeoutMillis: opts.connectTimeoutMs ?? 10_000,
    lock_timeout: opts.lockTimeoutMs ?? 10_000,
    application_name: 'firebreak-journal',
  });
  // An idle connection that drops (server restart) is discarded; the next query opens a new one.
  pool.on('error', () => undefined);

  const t = { entries: `"${schema}".entries`, head: `"${schema}".head` };

  try {
    const client = await pool.connect();
    try {
      await migrate(client, schema);
    } finally {
      client.release();
    }
  } catch (err) {
    await pool.end().catch(() => undefined);
    throw wrap('opening and migrating the journal', err);
  }

  /** One connection for `fn`; a connection left unusable (ROLLBACK failed) is discarded, not pooled. */
  async function withClient<T>(doing: string, fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    let client: pg.PoolClient;
    try {
      client = await pool.connect();
    } catch (err) {
      throw wrap(doing, err);
    }
    let broken = false;
    try {
      return await fn(client);
    } catch (err) {
      broken = !(await client.query('ROLLBACK').then(
        () => true,
        () => false,
      ));
      throw wrap(doing, err);
    } finally {
      client.release(broken);
    }
  }

  /**
   * Two round trips: the first opens the transaction and locks the head; the second inserts the
   * entries, moves the head and commits. The head is held for one round trip (and the commit's
   * flush): that bounds how fast writers can take turns.
   */
  const appendRows = (items: Item[]) =>
    withClient('appending', async (c) => {
      // A writer that stalls holding the head (stopped, partitioned) is cut off by the server after
      // 5 s, well inside the others' lock_timeout, so they carry on.
      const begun = (await c.query(
        `BEGIN; SET LOCAL idle_in_transaction_session_timeout = '5s'; SELECT seq, hash FROM ${t.head} WHERE id = 1 FOR UPDATE`,
      )) as unknown as pg.QueryResult[];
      const head = begun[2]?.rows[0] as { seq: string; hash: string } | undefined;
      if (!head) throw new JournalCorrupt(`${where}: head record missing; run \`firebreak journal verify\``);
      // Taken once the head is ours: timestamps follow the chain's order (up to clock skew between hosts).
      const ts = new Date().toISOString();
      let seq = Number(head.seq);
      let prevHash = head.hash;
      const entries = items.map((i) => {
        seq += 1;
        const e: JournalEntry = { seq, runId: i.runId, ts, type: i.type, data: i.data.value, prevHash, hash: '' };
        e.hash = entryHashCanonical(prevHash, e, i.data.json);
        prevHash = e.hash;
        return e;
      });
      try {
        await c.query(writeSql(t, entries, items));
      } catch (err) {
        // Without an SQLSTATE the connection failed: COMMIT may have reached the server, or not.
        if (!/^[0-9A-Z]{5}$/.test(String((err as { code?: unknown }).code))) {
          throw journalError(`${where}`, 'appending (outcome unknown: read the journal back before appending again)', err, secret);
        }
        throw err;
      }
      return entries;
    });

  /**
   * Group commit: appends asked for while one is being written go together in the next
   * transaction, in call order: one head lock and one commit flush for all of them. Taking turns
   * one append at a time, 200 devices journaling at once waited ~1 ms each for the one before. Each
   * append resolves with its own entries once they are committed. A batch refused for an
   * idempotency key is written again one append at a time, so only the append that asked for the
   * taken key fails.
   */
  const MAX_BATCH = 1000;
  const queued: { items: Item[]; resolve: (e: JournalEntry[]) => void; reject: (err: unknown) => void }[] = [];
  let writing = false;
  let tail: Promise<void> = Promise.resolve();
  const drain = async () => {
    try {
      while (queued.length) {
        // Up to MAX_BATCH entries a transaction (a single larger append goes alone).
        const batch: typeof queued = [];
        let n = 0;
        while (queued.length && (n === 0 || n + queued[0]!.items.length <= MAX_BATCH)) {
          const next = queued.shift()!;
          batch.push(next);
          n += next.items.length;
        }
        try {
          const entries = await appendRows(batch.flatMap((b) => b.items));
          let at = 0;
          for (const b of batch) {
            b.resolve(entries.slice(at, at + b.items.length));
            at += b.items.length;
          }
        } catch (err) {
          if (batch.length > 1 && err instanceof IdempotencyTaken) {
            for (const b of batch) await appendRows(b.items).then(b.resolve, b.reject);
          } else for (const b of batch) b.reject(err);
        }
      }
    } finally {
      // Synchronously after the queue was seen empty: an append asked for later starts a new drain.
      writing = false;
    }
  };
  const append = (items: Item[]) => {
    // escapeLiteral (writeSql) turns a non-string into '' silently: refuse before taking the head.
    for (const i of items)
      if (typeof i.runId !== 'string' || typeof i.type !== 'string') throw new TypeError('journal append: runId and type must be strings');
    return new Promise<JournalEntry[]>((resolve, reject) => {
      queued.push({ items, resolve, reject });
      if (!writing) {
        writing = true;
        tail = drain();
      }
    });
  };

  const select = async (doing: string, text: string, values: unknown[] = []): Promise<JournalEntry[]> => {
    try {
      return (await pool.query<EntryRow>(text, values)).rows.map(toEntry);
    } catch (err) {
      throw wrap(doing, err);
    }
  };
  // bigint (seq) comes back as a string: toEntry converts it.
  const cols = 'seq, run_id, ts, type, data, prev_hash, hash';
  let closed: Promise<void> | undefined;

  return {
    async append(runId, type, data) {
      const [e] = await append([{ runId, type, data: encodeData(data) }]);
      return e!;
    },
    async appendMany(items) {
      if (!items.length) return [];
      return append(items.map((i) => ({ runId: i.runId, type: i.type, data: encodeData(i.data) })));
    },
    entries(runId) {
      return select('reading a run', `SELECT ${cols} FROM ${t.entries} WHERE run_id = $1 ORDER BY seq`, [runId]);
    },
    async find(query) {
      const sql = findSql(query, t.entries, (n) => `$${n}`, cols, 'device');
      return sql ? select('finding entries', sql.sql, sql.params) : [];
    },
    all() {
      return select('reading the journal', `SELECT ${cols} FROM ${t.entries} ORDER BY seq`);
    },
    async runs() {
      const types = ['run.created', 'run.state', 'rollback.finished'];
      return runSummaries(await select('listing runs', `SELECT ${cols} FROM ${t.entries} WHERE type = ANY($1) ORDER BY seq`, [types]));
    },
    async verify(): Promise<VerifyReport> {
      // One snapshot for the head and the entries: appends going on meanwhile do not show as problems.
      const { rows, head } = await withClient('verifying', async (c) => {
        await c.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
        const h = await c.query<{ seq: string; hash: string }>(`SELECT seq, hash FROM ${t.head} WHERE id = 1`);
        const r = await c.query<EntryRow>(`SELECT ${cols} FROM ${t.entries} ORDER BY seq`);
        await c.query('COMMIT');
        const first = h.rows[0];
        return { rows: r.rows, head: first ? ({ seq: Number(first.seq), hash: first.hash } satisfies ChainHead) : null };
      });
      return verifyRows(rows, toEntry, head);
    },
    close() {
      closed ??= tail.then(() => pool.end());
      return closed;
    },
  };
}

function toEntry(row: EntryRow): JournalEntry {
  return {
    // bigint comes back from pg as a string.
    seq: Number(row.seq),
    runId: row.run_id,
    ts: row.ts,
    type: row.type as EntryType,
    data: JSON.parse(row.data) as Record<string, unknown>,
    prevHash: row.prev_hash,
    hash: row.hash,
  };
}

/**
 * INSERT the entries, move the head, COMMIT: one simple-protocol message, so one round trip while
 * the head is locked (parameters would need a second one for COMMIT). Every value goes through
 * pg's escapeLiteral; seq values are integers this store computed.
 */
function writeSql(t: { entries: string; head: string }, entries: JournalEntry[], items: Item[]): string {
  const lit = pg.escapeLiteral;
  const last = entries[entries.length - 1]!;
  for (const e of entries) if (!Number.isSafeInteger(e.seq)) throw new JournalCorrupt(`journal seq ${e.seq} is not a safe integer`);
  const rows = entries.map((e, k) => {
    const device = typeof e.data.device === 'string' ? lit(e.data.device) : 'NULL';
    return `(${e.seq}, ${lit(e.runId)}, ${lit(e.ts)}, ${lit(e.type)}, ${lit(items[k]!.data.json)}, ${lit(e.prevHash)}, ${lit(e.hash)}, ${device})`;
  });
  return `INSERT INTO ${t.entries} (seq, run_id, ts, type, data, prev_hash, hash, device) VALUES ${rows.join(', ')};
UPDATE ${t.head} SET seq = ${last.seq}, hash = ${lit(last.hash)} WHERE id = 1;
COMMIT`;
}
