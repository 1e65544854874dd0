import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { ConfigInvalid, FirebreakError } from '../errors.js';
import { journalError } from '../journal/pg-errors.js';
import { validSchemaName } from '../journal/pg-schema.js';
import { urlForDisplay, urlPassword } from '../secrets.js';
import { retryBusySync, SQLITE_BUSY_WAIT_MS, withWriteLock } from '../sqlite-busy.js';

/**
 * The identity stores' database (tokens, console users and sessions, OIDC sign-ins): one SQLite
 * file (`tokens.db` next to the journal) or tables in the journal's PostgreSQL schema. The two
 * backends differ only here: SQL with `?` placeholders in, rows and changed-row counts out; each
 * store brings its own tables (`ddl`, given the qualified name of a table).
 */
export interface IdentityDb {
  /** The qualified name of one of the store's tables (`"firebreak".api_tokens`, `api_tokens`). */
  table(name: string): string;
  all<R = Record<string, unknown>>(sql: string, params: unknown[]): Promise<R[]>;
  run(sql: string, params: unknown[]): Promise<number>;
  close(): Promise<void>;
}

export interface IdentityDbOptions {
  url?: string;
  schema?: string;
  file: string;
  /** What the store is, for error messages (`tokens`, `users`). */
  what: string;
  /** CREATE TABLE / INDEX statements, given a table's qualified name. */
  ddl: (table: (name: string) => string) => string[];
  /** Wraps a store failure in the store's own error class. */
  unavailable: (message: string, cause: unknown) => FirebreakError;
  /** PostgreSQL connections (every API request reads its token: more than a trickle). */
  poolSize?: number;
}

export function isUniqueViolation(err: unknown): boolean {
  const code = (err as { code?: unknown })?.code;
  return code === '23505' || code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY';
}

export async function openIdentityDb(o: IdentityDbOptions): Promise<IdentityDb> {
  const url = o.url?.trim();
  if (url && !/^postgres(ql)?:\/\//i.test(url))
    throw new ConfigInvalid(
      `${o.what} ${urlForDisplay(url)}: unsupported URL (known: postgres://, postgresql://; no URL means the SQLite file)`,
    );
  return url ? postgresDb(url, o.schema ?? 'firebreak', o) : sqliteDb(o.file, o);
}

function sqliteDb(file: string, o: IdentityDbOptions): IdentityDb {
  mkdirSync(dirname(file), { recursive: true });
  const busyMs = 10_000;
  const db = new Database(file, { timeout: busyMs });
  retryBusySync(busyMs, () => db.pragma('journal_mode = WAL'));
  // FULL: a revocation or a sign-out that returned is on disk.
  db.pragma('synchronous = FULL');
  retryBusySync(busyMs, () => db.exec(o.ddl((n) => n).join(';\n')));
  // Waits for another process's write lock happen in withWriteLock, without blocking the event loop.
  db.pragma(`busy_timeout = ${SQLITE_BUSY_WAIT_MS}`);
  const statements = new Map<string, Database.Statement<unknown[], unknown>>();
  const prepared = (sql: string) => {
    if (!db.open) throw o.unavailable(`${o.what} ${file}: closed`, undefined);
    const st = statements.get(sql) ?? db.prepare<unknown[], unknown>(sql);
    statements.set(sql, st);
    return st;
  };
  // Disk and lock errors under the store's code; a unique violation is the caller's to explain (name taken).
  const guard = async <T>(doing: string, fn: () => T): Promise<T> => {
    try {
      return await withWriteLock(busyMs, fn);
    } catch (err) {
      if (err instanceof FirebreakError || isUniqueViolation(err)) throw err;
      throw o.unavailable(`${o.what} ${file}: ${doing} failed: ${(err as Error).message}`, err);
    }
  };
  return {
    table: (n) => n,
    all: <R>(sql: string, params: unknown[]) => guard(`reading ${o.what}`, () => prepared(sql).all(...params) as R[]),
    run: (sql, params) => guard(`writing ${o.what}`, () => prepared(sql).run(...params).changes),
    async close() {
      if (db.open) db.close();
    },
  };
}

async function postgresDb(url: string, schema: string, o: IdentityDbOptions): Promise<IdentityDb> {
  const where = `${o.what} ${urlForDisplay(url)}${schema === 'firebreak' ? '' : ` (schema ${schema})`}`;
  if (!validSchemaName(schema)) throw new ConfigInvalid(`${where}: schema name "${schema}" must be lower case letters, digits and _`);
  const secret = urlPassword(url);
  // The journal's wording (no password in it), under the store's own code.
  const wrap = (doing: string, err: unknown) =>
    err instanceof FirebreakError ? err : o.unavailable(journalError(where, doing, err, secret).message, err);
  const pool = new pg.Pool({
    connectionString: url,
    max: o.poolSize ?? 4,
    connectionTimeoutMillis: 10_000,
    application_name: `firebreak-${o.what}`,
  });
  // An idle connection that drops (server restart) is discarded; the next query opens a new one.
  pool.on('error', () => undefined);
  const table = (n: string) => `"${schema}".${n}`;
  const numbered = (sql: string) => {
    let n = 0;
    return sql.replace(/\?/g, () => `$${++n}`);
  };
  try {
    const c = await pool.connect();
    try {
      // Two processes starting at once on a new schema: the second waits here, then finds it made.
      await c.query('BEGIN');
      await c.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [`firebreak.${o.what}.migrate:${schema}`]);
      const found = await c.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [schema]);
      if (!found.rowCount) await c.query(`CREATE SCHEMA "${schema}"`);
      for (const stmt of o.ddl(table)) await c.query(stmt);
      await c.query('COMMIT');
    } catch (err) {
      await c.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      c.release();
    }
  } catch (err) {
    await pool.end().catch(() => undefined);
    throw wrap(`creating the ${o.what} tables`, err);
  }
  return {
    table,
    async all<R>(sql: string, params: unknown[]) {
      try {
        return (await pool.query(numbered(sql), params)).rows as R[];
      } catch (err) {
        throw wrap(`reading ${o.what}`, err);
      }
    },
    async run(sql, params) {
      try {
        return (await pool.query(numbered(sql), params)).rowCount ?? 0;
      } catch (err) {
        // A unique violation is the caller's to explain (name taken).
        if (isUniqueViolation(err)) throw err;
        throw wrap(`writing ${o.what}`, err);
      }
    },
    async close() {
      await pool.end();
    },
  };
}
