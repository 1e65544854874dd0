import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { drivers } from '../src/drivers/registry.js';
import { decideRelease, holdTable } from '../src/engine/holds.js';
import { canTransition, TRANSITIONS } from '../src/engine/lifecycle.js';
import { loadInventory } from '../src/inventory/load.js';
import type { JournalEntry } from '../src/journal/types.js';
import { makePlan } from '../src/plan/plan.js';
import { loadPlaybook } from '../src/playbooks/load.js';
import { ACCESS_PORTS, accessSwitches } from '../src/sim/access-switches.js';
import { type SimNetwork, startNetwork } from '../src/sim/network.js';
import { simulators } from '../src/sim/registry.js';
import { parseTopology } from '../src/sim/topology.js';
import { engineOn, type TestEngine } from './helpers/engine.js';
import { repo } from './helpers/lab.js';

/**
 * The application layer's own promises, on one simulated switch with the local executor and a
 * SQLite journal: idempotency keys, following a run, the lifecycle table refusing wrong moves.
 * And the hold rules as pure functions over journal entries.
 */

let dir: string;
let net: SimNetwork;
let engine: TestEngine;
const PORTS = ACCESS_PORTS['cisco-ios']!.access;

async function plan() {
  const playbook = await loadPlaybook(join(repo, 'bench', 'playbooks', 'shut-access-ports.yaml'));
  return makePlan({ playbook, params: {}, inventory: await loadInventory(net.inventoryDir), drivers });
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fb-app-'));
  const topology = accessSwitches({ name: 'app', count: 1, sites: ['s'], latencyMs: 0, address: () => '127.44.3.10' });
  net = await startNetwork(parseTopology('app.yaml', topology, { simulators }), {
    dir: join(dir, 'sim'),
    ports: { ssh: 10922, snmp: 10961 },
  });
  engine = await engineOn('local', 'sqlite', ['s']);
}, 60_000);
afterAll(async () => {
  await engine?.close();
  await net?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('the application layer', () => {
  it('an idempotency key given twice gives the first run back, never a second run or a second change', async () => {
    const trigger = { kind: 'test' as const, by: 'vitest' };
    const first = await engine.app.run(await plan(), { trigger, idempotencyKey: 'alert-4711' });
    const again = await engine.app.run(await plan(), { trigger, idempotencyKey: 'alert-4711' });
    expect(again.runId).toBe(first.runId);
    expect(again.state).toBe('contained');
    expect((await engine.app.listRuns()).filter((r) => r.runId === first.runId)).toHaveLength(1);
    expect((await engine.app.listRuns()).length).toBe(1);
    expect(net.devices[0]!.control.received!().filter((l) => l === 'shutdown')).toHaveLength(PORTS.length);
    expect((await engine.rollback(first.runId)).state).toBe('rolled-back');
  });

  it('follow yields the run entries as they are written and ends when the run is at rest', async () => {
    const { runId } = await engine.app.createRun(await plan(), { trigger: { kind: 'test', by: 'vitest' } });
    const seen: JournalEntry[] = [];
    const following = (async () => {
      for await (const e of engine.app.follow(runId, { pollMs: 10 })) seen.push(e);
    })();
    const result = await engine.app.execute(runId);
    await following;
    expect(result.state).toBe('contained');
    const types = seen.map((e) => e.type);
    expect(types[0]).toBe('run.created');
    expect(types.filter((t) => t === 'action.verified')).toHaveLength(PORTS.length);
    expect(seen.at(-1)).toMatchObject({ type: 'run.state', data: { state: 'contained', from: 'running' } });
    expect(seen.map((e) => e.seq)).toEqual([...seen.map((e) => e.seq)].sort((a, b) => a - b));
    expect((await engine.rollback(runId)).state).toBe('rolled-back');
  });

  it('the lifecycle refuses wrong moves, naming what the run can become', async () => {
    const r = await engine.app.run(await plan(), { trigger: { kind: 'test', by: 'vitest' } });
    await expect(engine.app.resume(r.runId)).rejects.toThrow(/is contained: only an interrupted run can be resumed/);
    expect((await engine.rollback(r.runId)).state).toBe('rolled-back');
    await expect(engine.rollback(r.runId)).rejects.toMatchObject({
      code: 'RUN_STATE_CONFLICT',
      message: expect.stringMatching(
        /is rolled-back: it cannot become rolling-back \(from rolled-back it can become nothing: it is finished\)/,
      ),
    });
    const states = (await engine.journal.find({ runId: r.runId, types: ['run.state'] })).map((e) => [e.data.from, e.data.state]);
    expect(states).toEqual([
      ['planned', 'running'],
      ['running', 'contained'],
      ['contained', 'rolling-back'],
      ['rolling-back', 'rolled-back'],
    ]);
    for (const [from, tos] of Object.entries(TRANSITIONS)) for (const to of tos) expect(canTransition(from as never, to)).toBe(true);
    expect(canTransition('rolled-back', 'running')).toBe(false);
  });
});

describe('hold rules over journal entries', () => {
  let seq = 0;
  const entry = (runId: string, type: JournalEntry['type'], data: Record<string, unknown>): JournalEntry => ({
    seq: ++seq,
    runId,
    ts: new Date(0).toISOString(),
    type,
    data,
    prevHash: '',
    hash: '',
  });
  const target = 'fw / host.block 10.20.0.11';
  const intent = (runId: string) =>
    entry(runId, 'action.intent', {
      actionId: 'a1',
      device: 'fw',
      target,
      driver: 'linux',
      tag: `fb:${runId}:a1`,
      inverse: { kind: 'host.unblock', address: '10.20.0.11' },
    });

  it('the last holder reverts with the first change of ours; others keep it; a target we never changed is left alone', () => {
    const log = [intent('A'), entry('B', 'action.already', { actionId: 'a1', device: 'fw', target })];
    const keep = decideRelease(holdTable(log), 'A', 'a1', target);
    expect(keep).toMatchObject({ kind: 'keep', heldBy: [{ runId: 'B' }] });
    log.push(entry('A', 'hold.released', { actionId: 'a1', device: 'fw', target, heldBy: [{ runId: 'B', actionId: 'a1' }] }));
    const last = decideRelease(holdTable(log), 'B', 'a1', target);
    expect(last).toMatchObject({ kind: 'revert', change: { runId: 'A', tag: 'fb:A:a1' } });
    log.push(entry('B', 'action.reverted', { actionId: 'a1', device: 'fw', target, undid: [{ runId: 'A', actionId: 'a1' }] }));
    expect(holdTable(log).holders.size).toBe(0);
    expect(holdTable(log).changes.size).toBe(0);
    // Found so, no change of ours open on it: it was so before us.
    const before = [entry('C', 'action.already', { actionId: 'a1', device: 'fw', target })];
    expect(decideRelease(holdTable(before), 'C', 'a1', target)).toEqual({ kind: 'nothing' });
    // A run rolled back by an older build (no per-hold release) holds nothing.
    expect(holdTable(log.concat(before), new Set(['C'])).holders.get(target)).toBeUndefined();
  });
});
