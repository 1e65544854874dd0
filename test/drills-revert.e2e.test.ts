import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openApp } from '../src/app/open.js';
import { openSqliteJournal } from '../src/journal/sqlite.js';
import type { JournalEntry, JournalStore } from '../src/journal/types.js';
import { type SimNetwork, startNetwork } from '../src/sim/network.js';
import { simulators } from '../src/sim/registry.js';
import { parseTopology } from '../src/sim/topology.js';
import type { SimSnapshot } from '../src/sim/types.js';
import { cli, cliEnv, firebreak, json, repo } from './helpers/lab.js';
import { settled } from './helpers/sim.js';

/**
 * A live drill's changes armed with the device's own auto-revert and kept armed through the hold
 * (the restore's backstop when every Firebreak process is dead), on the small network's edge
 * router (cisco-ios: `configure terminal revert timer N` / `configure confirm`; its simulator puts
 * back the whole configuration as it was when armed, as IOS's archive rollback does). Everything
 * runs through the CLI as separate processes; each check reads the simulated router itself and
 * the journal. A platform "minute" lasts MINUTE_MS here.
 */
const MINUTE_MS = 1500;
const UPLINK = 'Gi0/0/0';

const PLAYBOOKS: Record<string, string> = {
  'shut-port.yaml': `id: shut-port
title: Shut one port
params:
  port: { type: device-interface, required: true }
policy: { timeoutMs: 3000 }
stages:
  - name: shut it
    steps:
      - { action: interface.disable, on: { interface: "\${port}" } }
`,
  'shut-port-armed.yaml': `id: shut-port-armed
title: Shut one port, armed with the device's auto-revert
params:
  port: { type: device-interface, required: true }
policy: { timeoutMs: 3000, autoRevertMinutes: 8 }
stages:
  - name: shut it
    steps:
      - { action: interface.disable, on: { interface: "\${port}" } }
`,
  'block-at-fw.yaml': `id: block-at-fw
title: Block one host at the firewall
params:
  address: { type: ipv4, required: true }
policy: { timeoutMs: 3000 }
stages:
  - name: block
    steps:
      - { action: host.block, on: { devices: [fw] }, with: { address: "\${address}" } }
`,
  'block-at-edge.yaml': `id: block-at-edge
title: Block one host at the edge router
params:
  address: { type: ipv4, required: true }
policy: { timeoutMs: 3000 }
stages:
  - name: block
    steps:
      - { action: host.block, on: { devices: [edge] }, with: { address: "\${address}" } }
`,
};

// Holds and timers in real time: a device minute is 1.5 s, the hold is in real seconds.
const DRILLS = `drills:
  - { id: dies, playbook: shut-port, params: { port: "edge:${UPLINK}" }, mode: live, holdSeconds: 60, deviceRevertMinutes: 2 }
  - { id: restores, playbook: shut-port, params: { port: "edge:${UPLINK}" }, mode: live, holdSeconds: 2, deviceRevertMinutes: 5 }
  - { id: shared, playbook: shut-port, params: { port: "edge:${UPLINK}" }, mode: live, holdSeconds: 14, deviceRevertMinutes: 6 }
  - { id: fw-dies, playbook: block-at-fw, params: { address: "10.20.0.66" }, mode: live, holdSeconds: 60, deviceRevertMinutes: 2 }
  - { id: stuck, playbook: shut-port, params: { port: "edge:${UPLINK}" }, mode: live, holdSeconds: 9, deviceRevertMinutes: 12 }
`;

let net: SimNetwork;
let dir: string;
let env: Record<string, string>;
let journal: JournalStore;
let initial: SimSnapshot;

const edge = () => net.devices.find((d) => d.spec.id === 'edge')!;
const uplinkUp = () => edge().control.snapshot().ports[UPLINK]!.adminUp;
const edgeRules = () =>
  edge()
    .control.snapshot()
    .rules.map((r) => r.text)
    .join('\n');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fb-drills-revert-'));
  const small = await readFile(join(repo, 'topologies', 'small.yaml'), 'utf8');
  const text = `${small.replace('defaults: { latencyMs: 0 }', `defaults: { latencyMs: 0, minuteMs: ${MINUTE_MS} }`)}\naddressBlock: 127.63.0.0/16\n`;
  const topology = parseTopology('drills-revert.yaml', text, { simulators });
  expect(topology.devices.find((d) => d.id === 'edge')!.minuteMs).toBe(MINUTE_MS);
  net = await startNetwork(topology, { dir: join(dir, 'sim'), ports: { ssh: 12622, snmp: 12661 } });
  const playbooks = join(dir, 'playbooks');
  await mkdir(playbooks);
  for (const [f, t] of Object.entries(PLAYBOOKS)) await writeFile(join(playbooks, f), t);
  await writeFile(join(dir, 'drills.yaml'), DRILLS);
  env = {
    FIREBREAK_INVENTORY: net.inventoryDir,
    FIREBREAK_JOURNAL: join(dir, 'journal.db'),
    FIREBREAK_PLAYBOOKS: playbooks,
    FIREBREAK_DRILLS: join(dir, 'drills.yaml'),
  };
  journal = openSqliteJournal(env.FIREBREAK_JOURNAL!);
  initial = edge().control.snapshot();
}, 60_000);

afterAll(async () => {
  await journal?.close();
  await net?.stop();
  await rm(dir, { recursive: true, force: true });
});

/** `firebreak drill run <id> --json` as its own process; `done` has its report once it exits. */
function startDrill(id: string): { child: ChildProcess; done: Promise<{ code: number | null; report: any; stderr: string }> } {
  const child = spawn(process.execPath, [cli, 'drill', 'run', id, '--json', '--report-dir', join(dir, 'reports')], {
    env: cliEnv(env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (b) => {
    stdout += b;
  });
  child.stderr!.on('data', (b) => {
    stderr += b;
  });
  const done = new Promise<{ code: number | null; report: any; stderr: string }>((resolve) =>
    child.on('exit', (code) => {
      let report: any;
      try {
        report = JSON.parse(stdout);
      } catch {}
      resolve({ code, report, stderr });
    }),
  );
  return { child, done };
}

/** A drill started as its own process and contained (its child killed if it never gets there). */
async function holdDrill(id: string) {
  const started = startDrill(id);
  try {
    return { ...started, runId: await containedRun(id) };
  } catch (err) {
    started.child.kill('SIGKILL');
    throw err;
  }
}

/** The drill's run, once the journal shows it contained (its change verified on the device). */
async function containedRun(drillId: string, timeoutMs = 20_000): Promise<string> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    const created = (await journal.all()).filter(
      (e) => e.type === 'run.created' && (e.data.trigger as { trigger?: string }).trigger === `drill:${drillId}`,
    );
    const runId = created.at(-1)?.runId;
    if (runId && (await journal.entries(runId)).some((e) => e.type === 'run.state' && e.data.state === 'contained')) return runId;
    await sleep(50);
  }
  throw new Error(`drill ${drillId} was not contained within ${timeoutMs} ms`);
}

const of = (entries: JournalEntry[], type: string) => entries.filter((e) => e.type === type);

/** When the device's timer for the drill's change would end (the apply's journal time + its minutes). */
function timerEnds(entries: JournalEntry[], minutes: number): number {
  return Date.parse(of(entries, 'action.applied')[0]!.ts) + minutes * MINUTE_MS;
}

/** The edge router exactly as it started: ports, ACLs. */
function expectEdgeAsBefore(): void {
  const now = edge().control.snapshot();
  expect({ ports: now.ports, rules: now.rules }).toEqual({ ports: initial.ports, rules: initial.rules });
}

describe('a live drill backed by the device-side auto-revert', () => {
  it('every Firebreak process dies during the hold: the router undoes the drill by itself; a later rollback finds it back', async () => {
    const { child, done, runId } = await holdDrill('dies');
    try {
      expect(uplinkUp()).toBe(false);
      // The devices will undo it on their own: keeping or extending it would promise a hold they do not keep.
      const app = await openApp({
        paths: { inventory: env.FIREBREAK_INVENTORY!, playbooks: env.FIREBREAK_PLAYBOOKS!, journal: env.FIREBREAK_JOURNAL! },
        local: true,
      });
      try {
        await expect(app.keep(runId, { by: 'vitest', identity: 'user:vitest' })).rejects.toThrow(
          /devices undo them by themselves.*cannot be kept/,
        );
        await expect(app.extend(runId, { by: 'vitest', identity: 'user:vitest', ttlSeconds: 3600 })).rejects.toThrow(/cannot be extended/);
      } finally {
        await app.close();
      }
      expect(of(await journal.entries(runId), 'run.kept')).toEqual([]);
      child.kill('SIGKILL');
      await done;
    } finally {
      child.kill('SIGKILL');
    }
    const entries = await journal.entries(runId);
    // Still down while the timer runs (not undone early) ...
    expect(uplinkUp()).toBe(false);
    // ... and back once it ends, with nobody left to restore it.
    const ends = timerEnds(entries, 2);
    while (Date.now() < ends + 3_000 && !uplinkUp()) await sleep(100);
    expect(uplinkUp()).toBe(true);
    expect(Date.now()).toBeGreaterThanOrEqual(ends - 200);
    // The journal says why: armed, kept armed, never confirmed.
    expect(of(entries, 'action.intent')[0]!.data.autoRevert).toEqual({ minutes: 2, keepArmed: true });
    // The marker the next run on the router looks for, written with the intent (before the change).
    expect(of(entries, 'device.armed').map((e) => e.data)).toEqual([
      { device: 'edge', actionIds: [of(entries, 'action.intent')[0]!.data.actionId], minutes: 2 },
    ]);
    expect(of(entries, 'device.armed')[0]!.seq).toBeLessThan(of(entries, 'action.applied')[0]!.seq);
    expect(of(entries, 'action.confirmed')).toEqual([]);

    const rb = json(await firebreak(['rollback', runId, '--json'], env));
    expect(rb.state).toBe('rolled-back');
    const after = await journal.entries(runId);
    expect(of(after, 'action.reverted')[0]!.data).toMatchObject({ nothingToDo: true, deviceReverted: true });
    // Found undone: confirmed once more (harmless with nothing pending), so the device leaves any auto-revert mode.
    expect(of(after, 'action.confirmed').map((e) => e.data)).toEqual([
      expect.objectContaining({ by: 'rollback', reason: expect.stringMatching(/undid the change by itself/) }),
    ]);
    expect(of(after, 'action.reverted')[0]!.data.settleError).toBeUndefined();
    expectEdgeAsBefore();
  }, 60_000);

  it('the scheduled restore comes first: it disarms the timer, then reverts; a change made after the restore outlives the timer', async () => {
    const { child, done, runId } = await holdDrill('restores');
    let report: any;
    try {
      expect(uplinkUp()).toBe(false);
      const r = await done;
      expect(r.code, r.stderr).toBe(0);
      report = r.report;
    } finally {
      child.kill('SIGKILL');
    }
    expect(report.run).toMatchObject({ state: 'rolled-back', ok: true });
    expect(report.run.devices).toEqual([expect.objectContaining({ device: 'edge', deviceBacked: true, ok: true })]);
    expect(uplinkUp()).toBe(true);
    const entries = await journal.entries(runId);
    expect(of(entries, 'action.intent')[0]!.data.autoRevert).toEqual({ minutes: 5, keepArmed: true });
    const rbStart = of(entries, 'rollback.started')[0]!;
    expect(rbStart.data.by).toBe('expiry');
    const [confirmed] = of(entries, 'action.confirmed');
    expect(confirmed!.data).toMatchObject({ by: 'rollback' });
    const reverted = of(entries, 'action.reverted')[0]!;
    expect(confirmed!.seq).toBeGreaterThan(rbStart.seq);
    expect(confirmed!.seq).toBeLessThan(reverted.seq);
    expect(reverted.data.deviceReverted).toBeUndefined();
    const shown = (await firebreak(['journal', 'show', runId], env)).stdout;
    expect(shown).toMatch(/device auto-revert armed for 5 min, kept armed \(not confirmed\)/);
    expect(shown).toMatch(/auto-revert disarmed before the restore/);

    // Another run changes the router after the restore, before the drill's timer would have ended.
    const ends = timerEnds(entries, 5);
    const other = json(await firebreak(['run', 'block-at-edge', '--param', 'address=10.20.0.77', '--yes', '--json'], env));
    expect(other.state).toBe('contained');
    expect(edgeRules()).toContain('10.20.0.77');
    expect(Date.now()).toBeLessThan(ends);
    await sleep(Math.max(0, ends - Date.now()) + 1_500);
    // The timer was disarmed: the router did not fall back to the config of the drill's arming.
    expect(edgeRules()).toContain('10.20.0.77');
    expect(uplinkUp()).toBe(true);
    // Nothing of the drill was left for the other run to disarm.
    expect(of(await journal.entries(runId), 'action.confirmed')).toHaveLength(1);
    expect(json(await firebreak(['rollback', other.runId, '--json'], env)).state).toBe('rolled-back');
    expectEdgeAsBefore();
  }, 60_000);

  it('another run changing the router during the hold disarms the drill first; its change survives the timer; the drill still restores only its own', async () => {
    const { child, done, runId } = await holdDrill('shared');
    let other: any;
    try {
      expect(uplinkUp()).toBe(false);
      other = json(await firebreak(['run', 'block-at-edge', '--param', 'address=10.20.0.88', '--yes', '--json'], env));
      expect(other.state).toBe('contained');
      expect(edgeRules()).toContain('10.20.0.88');

      const ends = timerEnds(await journal.entries(runId), 6);
      expect(Date.now()).toBeLessThan(ends);
      // Past the drill's timer, still in its hold: both changes are on the router.
      await sleep(Math.max(0, ends - Date.now()) + 1_500);
      expect(edgeRules()).toContain('10.20.0.88');
      expect(uplinkUp()).toBe(false);

      // Because the other run disarmed the drill's timer before it changed anything, in the drill's stream.
      const confirmed = of(await journal.entries(runId), 'action.confirmed');
      expect(confirmed).toHaveLength(1);
      expect(confirmed[0]!.data).toMatchObject({ by: other.runId, reason: `disarmed: run ${other.runId} changes this device` });
      const otherApplied = of(await journal.entries(other.runId), 'action.applied')[0]!;
      expect(confirmed[0]!.seq).toBeLessThan(otherApplied.seq);
    } catch (err) {
      child.kill('SIGKILL');
      throw err;
    }
    const { report } = await done;
    expect(report.run).toMatchObject({ state: 'rolled-back', ok: true });
    // The restore came at the drill's time to live and took back only the drill's change.
    const entries = await journal.entries(runId);
    expect(of(entries, 'rollback.started')[0]!.data.by).toBe('expiry');
    expect(of(entries, 'action.confirmed')).toHaveLength(1);
    expect(of(entries, 'action.reverted')[0]!.data.deviceReverted).toBeUndefined();
    expect((await firebreak(['journal', 'show', runId], env)).stdout).toContain(
      `auto-revert disarmed by run ${other.runId} before it changed this device`,
    );
    expect(uplinkUp()).toBe(true);
    expect(edgeRules()).toContain('10.20.0.88');
    expect(json(await firebreak(['rollback', other.runId, '--json'], env)).state).toBe('rolled-back');
    expectEdgeAsBefore();
  }, 60_000);

  it('a drill that cannot be disarmed: the other run changes nothing on the router and says why', async () => {
    const { child, done, runId } = await holdDrill('stuck');
    try {
      const rulesBefore = edgeRules();
      // The router never answers a confirm: the drill's timer cannot be disarmed.
      edge().control.inject({ kind: 'hang', on: /^configure confirm/ });
      const r = await firebreak(['run', 'block-at-edge', '--param', 'address=10.20.0.99', '--yes', '--json'], env);
      edge().control.clearFaults();
      const other = json(r);
      expect(other.state).toBe('failed');
      const failed = of(await journal.entries(other.runId), 'action.failed')[0]!;
      expect(failed.data).toMatchObject({ phase: 'disarm', code: 'DEVICE_TIMEOUT' });
      expect(String(failed.data.error)).toContain(`the auto-revert that run ${runId} (a1) keeps armed on edge could not be disarmed`);
      // Nothing of the other run reached the router: no intent, no ACL; the drill holds as it was.
      expect(of(await journal.entries(other.runId), 'action.intent')).toEqual([]);
      expect(edgeRules()).toBe(rulesBefore);
      expect(edgeRules()).not.toContain('10.20.0.99');
      expect(uplinkUp()).toBe(false);
      expect(of(await journal.entries(runId), 'action.confirmed')).toEqual([]);
    } finally {
      edge().control.clearFaults();
    }
    const { report } = await done;
    child.kill('SIGKILL');
    expect(report.run).toMatchObject({ state: 'rolled-back', ok: true });
    const entries = await journal.entries(runId);
    expect(of(entries, 'action.confirmed')[0]!.data).toMatchObject({ by: 'rollback' });
    expectEdgeAsBefore();
  }, 60_000);
  it('a FortiGate that undid a drill by itself stays in cfg-save revert; the rollback confirms it back, so the next containment there stays', async () => {
    const fw = () => net.devices.find((d) => d.spec.id === 'fw')!;
    const fwRules = () =>
      fw()
        .control.snapshot()
        .rules.map((r) => r.text)
        .join('\n');
    const { child, done, runId } = await holdDrill('fw-dies');
    try {
      expect(fwRules()).toContain('10.20.0.66');
      child.kill('SIGKILL');
      await done;
    } finally {
      child.kill('SIGKILL');
    }
    const ends = timerEnds(await journal.entries(runId), 2);
    while (Date.now() < ends + 3_000 && fwRules().includes('10.20.0.66')) await sleep(100);
    expect(fwRules()).not.toContain('10.20.0.66');
    const rb = json(await firebreak(['rollback', runId, '--json'], env));
    expect(rb.state).toBe('rolled-back');
    const after = await journal.entries(runId);
    expect(of(after, 'action.reverted')[0]!.data).toMatchObject({ deviceReverted: true });
    expect(of(after, 'action.reverted')[0]!.data.settleError).toBeUndefined();
    // A real containment on the firewall afterwards: it must outlive the revert timeout, not vanish with it.
    const other = json(await firebreak(['run', 'block-at-fw', '--param', 'address=10.20.0.67', '--yes', '--json'], env));
    expect(other.state).toBe('contained');
    expect(fwRules()).toContain('10.20.0.67');
    await sleep(2 * 2 * MINUTE_MS + 1_000);
    expect(fwRules()).toContain('10.20.0.67');
    // Because the rollback confirmed the firewall back out of its revert mode.
    expect(of(after, 'action.confirmed')[0]!.data).toMatchObject({ by: 'rollback' });
    expect(json(await firebreak(['rollback', other.runId, '--json'], env)).state).toBe('rolled-back');
    expect(fwRules()).not.toContain('10.20.0.67');
  }, 60_000);
  it('not only drills: a run that died before its confirm leaves the router armed; the next run there disarms it first, and its change outlives that timer', async () => {
    edge().control.inject({ kind: 'hang', on: /^configure confirm/ }); // we die waiting for the confirm
    const earlier = new Set((await journal.runs()).map((r) => r.runId));
    const child = spawn(process.execPath, [cli, 'run', 'shut-port-armed', '--param', `port=edge:${UPLINK}`, '--yes', '--json'], {
      env: cliEnv(env),
      stdio: 'ignore',
    });
    let dead: string | undefined;
    try {
      for (let i = 0; i < 200 && !dead; i++) {
        await sleep(50);
        dead = (await journal.all()).find((e) => e.type === 'action.verified' && !earlier.has(e.runId))?.runId;
      }
      expect(dead).toBeDefined();
    } finally {
      child.kill('SIGKILL');
      await settled(edge().control); // a confirm sent just before the kill takes its hang first
      edge().control.clearFaults();
    }
    const entries = await journal.entries(dead!);
    expect(of(entries, 'action.confirmed')).toEqual([]);
    expect(uplinkUp()).toBe(false);
    const ends = timerEnds(entries, 8);
    // Another run changes the router while the dead run's timer is still running.
    const other = json(await firebreak(['run', 'block-at-edge', '--param', 'address=10.20.0.99', '--yes', '--json'], env));
    expect(other.state).toBe('contained');
    expect(Date.now()).toBeLessThan(ends);
    await sleep(Math.max(0, ends - Date.now()) + 1_500);
    // The timer was disarmed: the router kept both changes.
    expect(edgeRules()).toContain('10.20.0.99');
    expect(uplinkUp()).toBe(false);
    // Found through the mark the dead run wrote before its change.
    expect(of(entries, 'device.armed').map((e) => e.data)).toEqual([{ device: 'edge', actionIds: ['a1'], minutes: 8 }]);
    expect(of(await journal.entries(dead!), 'action.confirmed').map((e) => e.data)).toEqual([expect.objectContaining({ by: other.runId })]);
    expect(json(await firebreak(['rollback', other.runId, '--json'], env)).state).toBe('rolled-back');
    expect(json(await firebreak(['rollback', dead!, '--json'], env)).state).toBe('rolled-back');
    expectEdgeAsBefore();
  }, 60_000);
});
