import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { urlForDisplay } from '../../src/secrets.js';

/**
 * The services tests share (PostgreSQL, Redis), on loopback. Each test works in its own
 * PostgreSQL schema or Redis key prefix and removes it afterwards. When a service is not there
 * the tests that need it skip with a printed reason; under CI=true that is an error instead.
 */

export function pgUrl(): string {
  return process.env.DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/postgres';
}

export function redisUrl(): string {
  return process.env.REDIS_URL || 'redis://127.0.0.1:6379';
}

const random = () => randomBytes(5).toString('hex');

/** A unique Redis key prefix for one test: `fbtest-<name>-<random>`. */
export function testPrefix(name: string): string {
  return `fbtest-${name}-${random()}`;
}

/** A unique schema name (`<prefix>_<random>`, created by whoever opens it) and how to drop it. */
export function freshSchema(prefix = 'fbtest'): { schema: string; drop(): Promise<void> } {
  const schema = `${prefix.toLowerCase().replace(/[^a-z0-9_]/g, '_')}_${random()}`;
  return {
    schema,
    drop: () => withPg((c) => c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)).then(() => undefined),
  };
}

/** Runs `fn` on a fresh connection to pgUrl() (a superuser on the test database, as in CI). */
export async function withPg<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: pgUrl(), connectionTimeoutMillis: 5000 });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

/**
 * Whether PostgreSQL answers at pgUrl(). Not there: prints why and returns false, so the caller
 * skips; under CI=true throws, so a CI run without its database fails instead of passing empty.
 */
export async function pgAvailable(): Promise<boolean> {
  try {
    await withPg((c) => c.query('SELECT 1'));
    return true;
  } catch (err) {
    const why = `PostgreSQL not reachable at ${urlForDisplay(pgUrl())} (${(err as Error).message || (err as { code?: string }).code}); set DATABASE_URL`;
    if (process.env.CI === 'true') throw new Error(`CI=true: ${why}`);
    console.warn(`[skip] ${why}`);
    return false;
  }
}
