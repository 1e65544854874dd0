import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createApp } from '../src/app/app.js';
import { planFromFiles } from '../src/app/open.js';
import { monotonicClock } from '../src/engine/clock.js';
import { openSqliteStore } from '../src/journal/sqlite.js';
import { journalWriter } from '../src/journal/writer.js';
import { Redactor } from '../src/secrets.js';
import { connectQueue } from '../src/queue/client.js';
import { type SimNetwork, startNetwork } from '../src/sim/network.js';
import { simulators } from '../src/sim/registry.js';
import { ACCESS_PORTS, accessSwitches } from '../src/sim/access-switches.js';
import { parseTopology } from '../src/sim/topology.js';
import { startWorkerProcess, stopProcess } from './helpers/backends.js';
import { firebreak, json, repo, startCli, waitForEntry } from './helpers/lab.js';
import { freePort, type PrivateRedis, servicesReady, startPrivateRedis } from './helpers/services.js';

/**
 * The queue path under trouble, through the CLI and `firebreak worker` processes, on simulated
 * switches and a private redis-server this file starts and stops (no root): Redis down (break-
 * glass), Redis restarted mid-run, a site without a worker at the barrier.
 */

const PORTS = ACCESS_PORTS['cisco-ios']!.access;
const SITES = ['north', 'north', 'south'];

let net: SimNetwork;
let dir: string;
let redis: PrivateRedis;
let env: Record<string, string>;
const workers: ChildProcess[] = [];
const down = (i: number) => PORTS.map((p) => net.devices[i]!.control.snapshot().ports[p]!.adminUp === false);

const haveRedis = await servicesReady({ redisServer: true });

beforeAll(async () => {
  if (!haveRedis) return;
  dir = await mkdtemp(join(tmpdir(), 'fb-queue-'));
  net = await startNetwork(
    parseTopology(
      'queue.yaml',
      accessSwitches({ name: 'queue', count: SITES.length, sites: SITES, latencyMs: 60, address: (i) => `127.44.2.${10 + i}` }),
      { simulators },
    ),
    {
      dir: join(dir, 'sim'),
      ports: { ssh: 10622, snmp: 10661 },
    },
  );
  // AOF with fsync always, as production Redis for Firebreak must run: a restart keeps the jobs.
  redis = await startPrivateRedis(dir, { aof: true });
}, 60_000);
afterAll(async () => {
  for (const w of workers) await stopProcess(w);
  await redis?.stop();
  await net?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});
let n = 0;
beforeEach(async () => {
  for (const w of workers.splice(0)) await stopProcess(w);
  for (const d of net.devices) d.control.reset();
  n++;
  env = {
    FIREBREAK_INVENTORY: net.inventoryDir,
    FIREBREAK_PLAYBOOKS: join(repo, 'bench', 'playbooks'),
    FIREBREAK_JOURNAL: join(dir, `journal-${n}.db`),
    REDIS_URL: redis.url,
    FIREBREAK_REDIS_PREFIX: `fbtest-queue-${n}`,
    DATABASE_URL: '',
  };
});

describe.skipIf(!haveRedis)('the queue under trouble', () => {
  it('Redis down: `firebreak run` contains through the local executor, says so loudly, and the journal records break-glass', async () => {
    const r = await firebreak(['run', 'shut-access-ports', '--yes', '--json'], {
      ...env,
      REDIS_URL: `redis://127.0.0.1:${await freePort()}`,
    });
    const result = json(r);
    expect(result.state).toBe('contained');
    expect(result.executor).toBe('local');
    expect(result.breakGlass).toMatch(/queue unreachable .*ran in-process \(break-glass\)/);
    expect(r.stderr).toMatch(/BREAK-GLASS/);
    expect(SITES.every((_, i) => down(i).every(Boolean))).toBe(true);
    const list = json(await firebreak(['runs', '--json'], env));
    expect(list[0].executor).toBe('local (break-glass)');
  });

  it('a site without a worker does not hold the others past the barrier deadline: they strike, it is recorded late and not done', async () => {
    workers.push(await startWorkerProcess({ ...env, FIREBREAK_BARRIER_DEADLINE_MS: '1500' }, ['--site', 'north']));
    const r = await firebreak(['run', 'shut-access-ports', '--yes', '--json'], env);
    const result = json(r);
    expect(result.executor).toBe('queue');
    expect(result.state, r.stderr).toBe('partial');
    expect([down(0), down(1), down(2)]).toEqual([PORTS.map(() => true), PORTS.map(() => true), PORTS.map(() => false)]);
    expect(new Set(result.notDone.map((a: { device: string }) => a.device))).toEqual(new Set(['sw2']));
    const j = openSqliteStore(env.FIREBREAK_JOURNAL!);
    try {
      const barrier = (await j.find({ runId: result.runId, types: ['stage.barrier'] }))[0]!;
      expect(barrier.data).toMatchObject({ ready: expect.arrayContaining(['sw0', 'sw1']), late: ['sw2'] });
    } finally {
      await j.close();
    }
    expect(json(await firebreak(['rollback', result.runId, '--json'], env)).state).toBe('rolled-back');
    expect(down(0).some(Boolean)).toBe(false);
  });

  it('Redis gone after the client connected: enqueueing fails at once with a clear error, the run is failed, nothing changed', async () => {
    const gone = await startPrivateRedis(dir);
    const q = await connectQueue(gone.url, 'fbtest-enqueue');
    if (!q.ok) throw new Error(q.error);
    const journal = openSqliteStore(env.FIREBREAK_JOURNAL!);
    const paths = { inventory: env.FIREBREAK_INVENTORY!, playbooks: env.FIREBREAK_PLAYBOOKS!, journal: env.FIREBREAK_JOURNAL! };
    const executor = q.executor(journal);
    const app = createApp({ journal, leases: q.leases, executor, planner: (req) => planFromFiles(paths, req), clock: monotonicClock });
    try {
      const plan = await app.preview({ playbook: 'shut-access-ports', params: {} });
      await gone.stop();
      const err = await app.run(plan, { trigger: { kind: 'test', by: 'vitest' } }).catch((e: Error) => e);
      expect(err).toBeInstanceOf(Error);
      expect((err as Error & { code?: string }).code).toBe('QUEUE_UNAVAILABLE');
      expect((err as Error).message).toMatch(/cannot queue run r-.*nothing was changed \(run it in-process with --local\)/);
      const [run] = await app.listRuns();
      expect(run!.state).toBe('failed');
      expect(SITES.every((_, i) => down(i).some(Boolean))).toBe(false);
    } finally {
      await app.close();
      await journal.close();
    }
  });

  it('a worker killed with -9 mid-run: the other takes its steps over from the journal and a fresh read; contained, each port shut once', async () => {
    for (const d of net.devices) d.control.setLatency(150);
    const a = await startWorkerProcess(env, ['--site', 'north', '--site', 'south']);
    const b = await startWorkerProcess(env, ['--site', 'north', '--site', 'south']);
    workers.push(a, b);
    const client = startCli(['run', 'shut-access-ports', '--yes', '--json'], env);
    await waitForEntry(env.FIREBREAK_JOURNAL!, 'action.intent');
    a.kill('SIGKILL');
    const { code, stdout } = await client.done;
    expect(code).toBe(0);
    const result = JSON.parse(stdout);
    expect(result.state).toBe('contained');
    expect(SITES.every((_, i) => down(i).every(Boolean))).toBe(true);
    // Taken over from the intent and a fresh read: no port got a second shutdown.
    for (const d of net.devices) expect(d.control.received!().filter((l) => l === 'shutdown').length).toBeLessThanOrEqual(PORTS.length);
    const j = openSqliteStore(env.FIREBREAK_JOURNAL!);
    try {
      expect((await j.verify()).ok).toBe(true);
    } finally {
      await j.close();
    }
    for (const d of net.devices) d.control.setLatency(60);
    expect(json(await firebreak(['rollback', result.runId, '--json'], env)).state).toBe('rolled-back');
  });

  it('a run accepted and queued whose job was lost (Redis restarted empty, client gone) is queued again by a worker and contained', async () => {
    // What an empty Redis leaves behind: the journal says queued, no job anywhere.
    const journal = journalWriter(openSqliteStore(env.FIREBREAK_JOURNAL!), new Redactor());
    const paths = { inventory: env.FIREBREAK_INVENTORY!, playbooks: env.FIREBREAK_PLAYBOOKS!, journal: env.FIREBREAK_JOURNAL! };
    const plan = await planFromFiles(paths, { playbook: 'shut-access-ports', params: {} });
    const runId = 'r-orphan-1';
    await journal.append(runId, 'run.created', { plan, trigger: { kind: 'test', by: 'vitest' }, triggerAt: Date.now(), executor: 'queue' });
    await journal.append(runId, 'run.state', { state: 'queued', from: 'planned' });
    workers.push(await startWorkerProcess({ ...env, FIREBREAK_ORPHAN_AFTER_MS: '1' }, ['--site', 'north', '--site', 'south']));
    let state = 'queued';
    for (const until = Date.now() + 30_000; Date.now() < until && !['contained', 'partial', 'failed'].includes(state); ) {
      await new Promise((r) => setTimeout(r, 100));
      state = String((await journal.find({ runId, types: ['run.state'] })).at(-1)!.data.state);
    }
    await journal.close();
    expect(state).toBe('contained');
    expect(SITES.every((_, i) => down(i).every(Boolean))).toBe(true);
    expect(json(await firebreak(['rollback', runId, '--json'], env)).state).toBe('rolled-back');
  });

  it('Redis stopped for several seconds mid-run, then back: the run completes and every port is in its target state', async () => {
    for (const d of net.devices) d.control.setLatency(150);
    workers.push(await startWorkerProcess(env, ['--site', 'north', '--site', 'south']));
    const client = startCli(['run', 'shut-access-ports', '--yes', '--json'], env);
    // Stop Redis once the first intents are journaled (the devices are being changed).
    await waitForEntry(env.FIREBREAK_JOURNAL!, 'action.intent');
    const port = redis.port;
    await redis.stop();
    await new Promise((r) => setTimeout(r, 3_000));
    redis = await startPrivateRedis(dir, { aof: true, port });
    const { code, stdout, stderr } = await client.done;
    const result = JSON.parse(stdout);
    expect(result.state, `${JSON.stringify(result).slice(0, 1500)}\n${stderr.slice(-1500)}`).toBe('contained');
    expect(code).toBe(0);
    expect(SITES.every((_, i) => down(i).every(Boolean))).toBe(true);
    for (const d of net.devices) d.control.setLatency(60);
    expect(json(await firebreak(['rollback', result.runId, '--json'], env)).state).toBe('rolled-back');
  });
});
