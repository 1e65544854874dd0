/**
 * Shared plumbing for the queue benches (queue-scale, chaos, redis-outage): their own names in the
 * shared Redis and PostgreSQL, simulated switches in this process, `firebreak worker` and
 * `firebreak run` child processes tracked by PID, and a cleanup that undoes all of it (also on a
 * hard timeout or a signal). Nothing here asserts; the benches print what they measured.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import pg from 'pg';
import { openPostgresJournal } from '../../src/journal/postgres.js';
import type { JournalEntry, JournalStore } from '../../src/journal/types.js';
import { type SimNetwork, startNetwork } from '../../src/sim/network.js';
import { simulators } from '../../src/sim/registry.js';
import { parseTopology } from '../../src/sim/topology.js';
import { root } from './cli-run.js';

export const CLI = join(root, 'dist', 'src', 'cli', 'main.js');
export const PLAYBOOKS = join(root, 'bench', 'playbooks');
export const REDIS_URL = process.env.FB_BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
export const PG_URL = process.env.FB_BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
export const ACCESS_PORTS = ['Gi1/0/1', 'Gi1/0/2', 'Gi1/0/3', 'Gi1/0/4'];
/** Ports the test suite uses (never taken here), plus the privileged ones. */
const RESERVED = new Set([22, 161, 6379, 5432, 10022, 10161, 10322, 10361, 10422, 10461, 10522, 10561]);

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
export const now = () => performance.timeOrigin + performance.now();

/** One bench's own names: Redis key prefix `fbbench-<hex>`, PostgreSQL schema `fbbench_<hex>`, a temp dir. */
export interface BenchEnv {
  id: string;
  prefix: string;
  schema: string;
  dir: string;
  /** Everything started, newest last; cleanup() undoes it in reverse. */
  readonly procs: Set<Proc>;
  onCleanup(fn: () => Promise<unknown> | unknown): void;
  cleanup(): Promise<void>;
}

export function benchEnv(name: string, opts: { hardTimeoutMs: number }): BenchEnv {
  const id = randomBytes(4).toString('hex');
  const dir = mkdtempSync(join(tmpdir(), `fb-${name}-`));
  const procs = new Set<Proc>();
  const hooks: (() => Promise<unknown> | unknown)[] = [];
  let cleaning: Promise<void> | undefined;
  const env: BenchEnv = {
    id,
    prefix: `fbbench-${id}`,
    schema: `fbbench_${id}`,
    dir,
    procs,
    onCleanup: (fn) => hooks.push(fn),
    cleanup() {
      cleaning ??= (async () => {
        // Our children first (by PID), then the hooks (sims, Redis keys, schema), newest first.
        await Promise.all([...procs].map((p) => p.stop(3_000).catch(() => undefined)));
        for (const fn of hooks.reverse()) {
          try {
            await withTimeout(Promise.resolve(fn()), 15_000, 'cleanup step');
          } catch (err) {
            console.error(`cleanup: ${(err as Error).message}`);
          }
        }
        rmSync(dir, { recursive: true, force: true });
      })();
      return cleaning;
    },
  };
  // The whole bench stops by itself: after the hard limit it cleans up and leaves.
  const hard = setTimeout(() => {
    console.error(`\n${name}: hard time limit (${opts.hardTimeoutMs} ms) reached: cleaning up and stopping`);
    void env.cleanup().finally(() => process.exit(3));
  }, opts.hardTimeoutMs);
  hard.unref();
  for (const sig of ['SIGINT', 'SIGTERM'] as const)
    process.once(sig, () => {
      console.error(`\n${name}: ${sig}: cleaning up`);
      void env.cleanup().finally(() => process.exit(130));
    });
  // Last resort (an exception escaped): our children never outlive us.
  process.on('exit', () => {
    for (const p of procs) if (p.alive()) p.child.kill('SIGKILL');
  });
  env.onCleanup(() => dropRedisPrefix(REDIS_URL, env.prefix));
  env.onCleanup(() => dropSchema(env.schema));
  return env;
}

export async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, rej) => (t = setTimeout(() => rej(new Error(`${what}: no end within ${ms} ms`)), ms))),
    ]);
  } finally {
    clearTimeout(t);
  }
}

/** Deletes every key under `prefix:` (SCAN + UNLINK; never a FLUSH). */
export async function dropRedisPrefix(url: string, prefix: string): Promise<number> {
  const r = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null, connectTimeout: 2000 });
  r.on('error', () => undefined);
  let n = 0;
  try {
    await r.connect();
    let cursor = '0';
    do {
      const [next, keys] = await r.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length) n += await r.unlink(...keys);
    } while (cursor !== '0');
  } finally {
    r.disconnect();
  }
  return n;
}

export async function dropSchema(schema: string): Promise<void> {
  if (!/^fbbench_[0-9a-f]+$/.test(schema)) throw new Error(`refusing to drop schema ${schema}`);
  const c = new pg.Client({ connectionString: PG_URL });
  await c.connect();
  try {
    await c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await c.end();
  }
}

export function openBenchJournal(env: BenchEnv): Promise<JournalStore> {
  return openPostgresJournal(PG_URL, { schema: env.schema, poolSize: 2 });
}

/** A child process this bench started; stopped or killed by its PID only. */
export interface Proc {
  name: string;
  child: ChildProcess;
  pid: number;
  startedAt: number;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
  stdout(): string;
  stderr(): string;
  alive(): boolean;
  /** SIGTERM, then SIGKILL after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
  /** kill -9 now; resolves when it is gone. */
  kill9(): Promise<number>;
  /** Resolves when stdout or stderr matches (time of the chunk), rejects on exit or timeout. */
  waitFor(re: RegExp, timeoutMs: number): Promise<number>;
}

export function spawnProc(env: BenchEnv, name: string, command: string, args: string[], childEnv: Record<string, string>): Proc {
  const startedAt = now();
  const child = spawn(command, args, { env: { ...process.env, ...childEnv }, stdio: ['ignore', 'pipe', 'pipe'] });
  if (child.pid === undefined) throw new Error(`${name}: did not start`);
  let out = '';
  let err = '';
  const watchers = new Set<() => void>();
  child.stdout!.on('data', (d) => {
    out += String(d);
    for (const w of watchers) w();
  });
  child.stderr!.on('data', (d) => {
    err += String(d);
    for (const w of watchers) w();
  });
  let isAlive = true;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((resolve) =>
    child.once('exit', (code, signal) => {
      isAlive = false;
      for (const w of watchers) w();
      resolve({ code, signal, at: now() });
    }),
  );
  const p: Proc = {
    name,
    child,
    pid: child.pid,
    startedAt,
    exited,
    stdout: () => out,
    stderr: () => err,
    alive: () => isAlive,
    async stop(graceMs = 5_000) {
      if (!isAlive) return;
      signal(p.pid, 'SIGTERM');
      const t = setTimeout(() => isAlive && signal(p.pid, 'SIGKILL'), graceMs);
      await exited;
      clearTimeout(t);
      env.procs.delete(p);
    },
    async kill9() {
      const at = now();
      if (isAlive) signal(p.pid, 'SIGKILL');
      await exited;
      env.procs.delete(p);
      return at;
    },
    waitFor(re, timeoutMs) {
      return new Promise<number>((resolve, reject) => {
        const check = () => {
          if (re.test(out) || re.test(err)) return done(undefined, now());
          if (!isAlive) done(new Error(`${name} exited before ${re}: ${err.slice(-800)}`));
        };
        const timer = setTimeout(() => done(new Error(`${name}: no ${re} within ${timeoutMs} ms: ${err.slice(-800)}`)), timeoutMs);
        const done = (e?: Error, at?: number) => {
          clearTimeout(timer);
          watchers.delete(check);
          if (e) reject(e);
          else resolve(at!);
        };
        watchers.add(check);
        check();
      });
    },
  };
  env.procs.add(p);
  void exited.then(() => env.procs.delete(p));
  return p;
}

/** kill(2) on our own child's PID; it may have exited a moment ago (ESRCH is not an error here). */
function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}

/** The environment a `firebreak` child needs to use this bench's Redis prefix and PostgreSQL schema. */
export function fbEnv(env: BenchEnv, extra: Record<string, string> = {}): Record<string, string> {
  return {
    REDIS_URL,
    FIREBREAK_REDIS_PREFIX: env.prefix,
    DATABASE_URL: PG_URL,
    FIREBREAK_DATABASE_SCHEMA: env.schema,
    FIREBREAK_PLAYBOOKS: PLAYBOOKS,
    FIREBREAK_JOURNAL: join(env.dir, 'unused-journal.db'),
    ...extra,
  };
}

/** `firebreak worker --site ...` as a child process; resolves once it says ready. */
export async function startWorker(env: BenchEnv, name: string, sites: string[], childEnv: Record<string, string>): Promise<Proc> {
  const p = spawnProc(env, name, process.execPath, [CLI, 'worker', ...sites.flatMap((s) => ['--site', s])], childEnv);
  await p.waitFor(/ready: sites/, 30_000);
  return p;
}

export interface SimDevice {
  id: string;
  site: string;
  address: string;
}

/** Cisco IOS access switches, four access ports each, one mgmt port (bench/scale.ts's topology). */
export function topologyYaml(name: string, devices: SimDevice[], latencyMs: number): string {
  const sites = [...new Set(devices.map((d) => d.site))];
  const lines = [`name: ${name}`, `defaults: { latencyMs: ${latencyMs} }`, `sites: [${sites.join(', ')}]`, 'devices:'];
  for (const d of devices) {
    if (!/^127\.\d+\.\d+\.\d+$/.test(d.address)) throw new Error(`not a loopback address: ${d.address}`);
    lines.push(
      `  - id: ${d.id}`,
      '    family: cisco-ios',
      `    site: ${d.site}`,
      `    hostname: ${d.id.toUpperCase()}`,
      `    address: ${d.address}`,
      '    ports:',
      ...ACCESS_PORTS.map((p) => `      "${p}": { roles: [access], mode: access, vlan: 10 }`),
      '      "Gi1/0/48": { roles: [mgmt] }',
      '    managementPath: { interfaces: ["Gi1/0/48"] }',
    );
  }
  return `${lines.join('\n')}\n`;
}

/** Starts the simulated devices in this process (their received() logs and snapshots stay readable). */
export async function startSims(
  env: BenchEnv,
  name: string,
  devices: SimDevice[],
  latencyMs: number,
  sshPort: number,
): Promise<SimNetwork> {
  if (RESERVED.has(sshPort)) throw new Error(`port ${sshPort} is reserved`);
  const topo = parseTopology(`${name}.yaml`, topologyYaml(name, devices, latencyMs), { simulators });
  const net = await startNetwork(topo, {
    dir: join(env.dir, `sim-${name}`),
    ports: { ssh: sshPort, snmp: sshPort + 39 },
    concurrency: 16,
    startTimeoutMs: 60_000,
  });
  env.onCleanup(() => net.stop());
  return net;
}

/** A free TCP port on 127.0.0.1 (not one the tests or the system use). */
export async function freePort(): Promise<number> {
  for (;;) {
    const port = await new Promise<number>((resolve, reject) => {
      const s = createServer();
      s.once('error', reject);
      s.listen(0, '127.0.0.1', () => {
        const a = s.address();
        s.close(() => resolve(typeof a === 'object' && a ? a.port : 0));
      });
    });
    if (port && !RESERVED.has(port)) return port;
  }
}

/** Lines received by a simulated device, `shutdown` counted per interface (the `interface X` before it). */
export function shutdownsPerPort(lines: string[]): Map<string, number> {
  const m = new Map<string, number>();
  let iface: string | undefined;
  for (const raw of lines) {
    const l = raw.trim();
    const mi = /^interface\s+(\S+)/i.exec(l);
    if (mi) iface = shortIf(mi[1]!);
    else if (l === 'end' || l === 'exit') iface = undefined;
    else if (l === 'shutdown' && iface) m.set(iface, (m.get(iface) ?? 0) + 1);
  }
  return m;
}

function shortIf(name: string): string {
  return name.replace(/^GigabitEthernet/i, 'Gi');
}

/** Polls the journal until `pred` holds on the run's entries (or throws after `timeoutMs`). */
export async function waitJournal(
  j: JournalStore,
  pred: (entries: JournalEntry[]) => boolean,
  timeoutMs: number,
  pollMs = 10,
): Promise<JournalEntry[]> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const all = await j.all();
    if (pred(all)) return all;
    if (Date.now() > until) throw new Error(`journal: condition not met within ${timeoutMs} ms`);
    await sleep(pollMs);
  }
}

export const tsOf = (e: JournalEntry) => Date.parse(e.ts);
export const fmt = (x: number | undefined | null, d = 0) => (x === undefined || x === null || Number.isNaN(x) ? '-' : x.toFixed(d));
