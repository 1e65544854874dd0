import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { openSqliteStore } from '../src/journal/sqlite.js';
import { type SimNetwork, startNetwork } from '../src/sim/network.js';
import { simulators } from '../src/sim/registry.js';
import { ACCESS_PORTS, accessSwitches } from '../src/sim/access-switches.js';
import { parseTopology } from '../src/sim/topology.js';
import { firebreak, json, repo, startCli, waitForEntry } from './helpers/lab.js';

/**
 * The service's findings, reproduced through the CLI as an operator would meet them, on simulated
 * switches (no root): two processes on the same device at once, a run killed with -9, a run
 * stopped with SIGTERM. Every check reads the simulated devices: what they received and show.
 */

const LATENCY_MS = 80;
const SWITCHES = 3;
const PORTS = ACCESS_PORTS['cisco-ios']!.access;

let net: SimNetwork;
let dir: string;
let env: Record<string, string>;
const playbooks = join(repo, 'bench', 'playbooks');

const shutCommands = (i: number) => net.devices[i]!.control.received!().filter((l) => l === 'shutdown').length;
const portsDown = () => net.devices.flatMap((d) => PORTS.map((p) => d.control.snapshot().ports[p]!.adminUp === false));
const journalOf = () => openSqliteStore(env.FIREBREAK_JOURNAL!);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fb-service-'));
  net = await startNetwork(
    parseTopology(
      'service.yaml',
      accessSwitches({ name: 'service', count: SWITCHES, sites: ['north'], latencyMs: LATENCY_MS, address: (i) => `127.44.1.${10 + i}` }),
      { simulators },
    ),
    {
      dir: join(dir, 'sim'),
      ports: { ssh: 10522, snmp: 10561 },
    },
  );
  env = { FIREBREAK_INVENTORY: net.inventoryDir, FIREBREAK_PLAYBOOKS: playbooks, REDIS_URL: '', DATABASE_URL: '' };
}, 60_000);
afterAll(async () => {
  await net?.stop();
  await rm(dir, { recursive: true, force: true });
});
let n = 0;
beforeEach(() => {
  for (const d of net.devices) d.control.reset();
  env.FIREBREAK_JOURNAL = join(dir, `journal-${++n}.db`);
});

const start = (args: string[]) => startCli(args, env);
const waitForIntent = () => waitForEntry(env.FIREBREAK_JOURNAL!, 'action.intent');

describe('device exclusion, interrupted runs, safe stops (local executor, simulated switches)', () => {
  it('two CLI processes contain the same devices at once: each port is shut exactly once, the later run finds it done', async () => {
    const a = start(['run', 'shut-access-ports', '--yes', '--json']);
    const b = start(['run', 'shut-access-ports', '--yes', '--json']);
    const [ra, rb] = [await a.done, await b.done];
    const parse = (r: { stdout: string; stderr: string }) => {
      try {
        return JSON.parse(r.stdout);
      } catch {
        throw new Error(`not JSON: ${r.stdout}\n${r.stderr}`);
      }
    };
    const [va, vb] = [parse(ra), parse(rb)];
    expect([va.state, vb.state], ra.stderr + rb.stderr).toEqual(['contained', 'contained']);
    expect(portsDown().every(Boolean)).toBe(true);
    // Without the device lease both read "up" and both sent the change: 8 shutdowns per switch.
    for (let i = 0; i < SWITCHES; i++) expect(shutCommands(i)).toBe(PORTS.length);
    const states = [...va.actions, ...vb.actions].map((x: { state: string }) => x.state).sort();
    expect(states.filter((s: string) => s === 'verified')).toHaveLength(SWITCHES * PORTS.length);
    expect(states.filter((s: string) => s === 'already')).toHaveLength(SWITCHES * PORTS.length);
  });

  it('a run killed with -9 shows as interrupted; `runs resume` finishes it from the journal and a fresh read; rollback restores', async () => {
    const run = start(['run', 'shut-access-ports', '--yes', '--json']);
    await waitForIntent();
    run.child.kill('SIGKILL');
    await run.done;
    // Its run lease runs out within seconds; then anyone can see the executor is gone.
    let state = '';
    for (const until = Date.now() + 15_000; Date.now() < until && state !== 'interrupted'; ) {
      const list = json(await firebreak(['runs', '--json'], env));
      state = list[0].state;
      if (state !== 'interrupted') await new Promise((r) => setTimeout(r, 250));
    }
    expect(state).toBe('interrupted');
    const runId = json(await firebreak(['runs', '--json'], env))[0].runId;
    const resumed = json(await firebreak(['runs', 'resume', runId, '--json'], env));
    expect(resumed.state).toBe('contained');
    expect(portsDown().every(Boolean)).toBe(true);
    for (let i = 0; i < SWITCHES; i++) expect(shutCommands(i)).toBeLessThanOrEqual(PORTS.length + 1);
    const j = journalOf();
    try {
      const states = (await j.find({ runId, types: ['run.state'] })).map((e) => e.data.state);
      expect(states).toEqual(['running', 'interrupted', 'running', 'contained']);
      expect((await j.verify()).ok).toBe(true);
    } finally {
      await j.close();
    }
    expect(json(await firebreak(['rollback', runId, '--json'], env)).state).toBe('rolled-back');
    expect(portsDown().some(Boolean)).toBe(false);
  });

  it('SIGTERM stops at a safe point: what is in flight is verified, the run is journaled interrupted, and the output says how to go on', async () => {
    const run = start(['run', 'shut-access-ports', '--yes']);
    await waitForIntent();
    run.child.kill('SIGTERM');
    const r = await run.done;
    expect(r.stderr).toMatch(/SIGTERM: stopping the run at a safe point/);
    expect(r.stdout).toMatch(/INTERRUPTED/);
    expect(r.stdout).toMatch(/firebreak runs resume r-/);
    const runId = /runs resume (r-[\w-]+)/.exec(r.stdout)![1]!;
    const shown = json(await firebreak(['runs', 'show', runId, '--json'], env));
    expect(shown.state).toBe('interrupted');
    // Every change that went out was read back: nothing is left applied but unverified.
    expect(shown.actions.filter((a: { state: string }) => a.state === 'applied')).toEqual([]);
    const resumed = json(await firebreak(['runs', 'resume', runId, '--json'], env));
    expect(resumed.state).toBe('contained');
    expect(portsDown().every(Boolean)).toBe(true);
    expect(json(await firebreak(['rollback', runId, '--json'], env)).state).toBe('rolled-back');
  });
});
