import { type ChildProcess, spawn } from 'node:child_process';
import { Redis } from 'ioredis';
import { cli, cliEnv } from './lab.js';
import { freshSchema, pgUrl, redisUrl, testPrefix } from './services.js';

/**
 * The executor x journal store combinations the engine and containment tests run against with
 * the same assertions: `local` (in the CLI process) on SQLite, `queue` (a `firebreak worker`
 * process, BullMQ on Redis) on PostgreSQL, and the two crossed. Each queue backend has its own
 * Redis prefix and each PostgreSQL one its own schema, removed afterwards.
 */
export interface Backend {
  name: string;
  executor: 'local' | 'queue';
  store: 'sqlite' | 'postgres';
  /** Environment for every CLI call of the test (merged over the test's own). */
  env(base: Record<string, string>): Record<string, string>;
  /** Starts the worker (queue) with the test's environment. */
  start(base: Record<string, string>): Promise<void>;
  stop(): Promise<void>;
}

export const BACKENDS: readonly { executor: 'local' | 'queue'; store: 'sqlite' | 'postgres' }[] = [
  { executor: 'local', store: 'sqlite' },
  { executor: 'queue', store: 'postgres' },
];

export const ALL_BACKENDS: readonly { executor: 'local' | 'queue'; store: 'sqlite' | 'postgres' }[] = [
  ...BACKENDS,
  { executor: 'local', store: 'postgres' },
  { executor: 'queue', store: 'sqlite' },
];

export function backend(executor: 'local' | 'queue', store: 'sqlite' | 'postgres'): Backend {
  const name = `${executor} executor, ${store} journal`;
  const schema = store === 'postgres' ? freshSchema('fbtest_e2e') : undefined;
  const prefix = executor === 'queue' ? testPrefix('e2e') : undefined;
  let worker: ChildProcess | undefined;
  const env = (base: Record<string, string>): Record<string, string> => ({
    ...base,
    REDIS_URL: executor === 'queue' ? redisUrl() : '',
    FIREBREAK_REDIS_PREFIX: prefix ?? '',
    DATABASE_URL: store === 'postgres' ? pgUrl() : '',
    FIREBREAK_DATABASE_SCHEMA: schema?.schema ?? '',
  });
  return {
    name,
    executor,
    store,
    env,
    async start(base) {
      if (executor !== 'queue') return;
      worker = await startWorkerProcess(env(base));
    },
    async stop() {
      if (worker) await stopProcess(worker);
      worker = undefined;
      if (prefix) await dropPrefix(prefix);
      await schema?.drop();
    },
  };
}

/** A `firebreak worker` child process, resolved once it says it is ready. */
export async function startWorkerProcess(env: Record<string, string>, args: string[] = []): Promise<ChildProcess> {
  const child = spawn(process.execPath, [cli, 'worker', ...args], { env: cliEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d) => {
    err += String(d);
  });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`worker not ready in 20 s: ${err}`)), 20_000);
    child.stdout!.on('data', (d) => {
      if (/ready/.test(String(d))) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`worker exited (${code}) before ready: ${err}`));
    });
  });
  return child;
}

/** SIGTERM, then SIGKILL after 10 s; resolves when the process is gone. */
export async function stopProcess(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await gone;
  clearTimeout(timer);
}

export async function dropPrefix(prefix: string): Promise<void> {
  const redis = new Redis(redisUrl(), { lazyConnect: true, maxRetriesPerRequest: 1 });
  redis.on('error', () => undefined);
  try {
    await redis.connect();
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length) await redis.del(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}
