import { spawn, spawnSync } from 'node:child_process';
import { type AddressInfo, createServer } from 'node:net';
import { Redis } from 'ioredis';
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

/** A private redis-server on a free loopback port (the test may stop and restart it), stopped by PID. */
export async function startPrivateRedis(dir: string, opts: { aof?: boolean; port?: number } = {}): Promise<PrivateRedis> {
  const port = opts.port ?? (await freePort());
  const args = ['--bind', '127.0.0.1', '--port', String(port), '--save', '', '--dir', dir];
  args.push(...(opts.aof ? ['--appendonly', 'yes', '--appendfsync', 'always'] : ['--appendonly', 'no']));
  const child = spawn('redis-server', args, { stdio: 'ignore' });
  const url = `redis://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    probe.on('error', () => undefined);
    try {
      await probe.connect();
      await probe.ping();
      probe.disconnect();
      break;
    } catch {
      probe.disconnect();
      if (i > 100 || child.exitCode !== null) throw new Error(`redis-server on ${port} did not start`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return {
    url,
    port,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const gone = new Promise<void>((r) => child.once('exit', () => r()));
      child.kill('SIGTERM');
      await gone;
    },
  };
}

export interface PrivateRedis {
  url: string;
  port: number;
  stop(): Promise<void>;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/**
 * Whether what a backend needs is there: Redis for the queue executor, PostgreSQL for the
 * postgres store, the redis-server program for tests that run their own. Missing: prints why and
 * returns false (the caller skips); under CI=true throws, so CI never passes without them.
 */
export async function servicesReady(needs: { redis?: boolean; postgres?: boolean; redisServer?: boolean }): Promise<boolean> {
  const missing: string[] = [];
  if (needs.redis) {
    const { redisReachable } = await import('../../src/coord/redis.js');
    const r = await redisReachable(redisUrl(), 1500);
    if (!r.ok) missing.push(`Redis not reachable at ${redisUrl()} (${r.error}); set REDIS_URL`);
  }
  if (needs.postgres) {
    try {
      await withPg((c) => c.query('SELECT 1'));
    } catch (err) {
      missing.push(`PostgreSQL not reachable at ${urlForDisplay(pgUrl())} (${(err as Error).message}); set DATABASE_URL`);
    }
  }
  if (needs.redisServer && spawnSync('redis-server', ['--version']).error)
    missing.push('redis-server is not installed (apt-get install redis-server)');
  if (!missing.length) return true;
  const why = missing.join('; ');
  if (process.env.CI === 'true') throw new Error(`CI=true: ${why}`);
  console.warn(`[skip] ${why} (.ci/run installs and starts them)`);
  return false;
}
