import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openSqliteJournal } from '../src/journal/sqlite.js';
import { type SimNetwork, startNetwork } from '../src/sim/network.js';
import { simulators } from '../src/sim/registry.js';
import { loadTopology } from '../src/sim/topology.js';
import type { SimSnapshot } from '../src/sim/types.js';
import { firebreak, json, repo } from './helpers/lab.js';
import { cli, cliEnv } from './helpers/lab.js';
import { settled } from './helpers/sim.js';
import { spawn } from 'node:child_process';

/**
 * The shipped playbooks on the simulated municipal network (18 devices, every driver family),
 * run through the CLI as an operator would. Every check reads the simulated devices themselves:
 * what changed during the run, and that rollback put every port's admin state, mode, VLAN and
 * voice VLAN, every filter and every outlet back exactly as they were before. No root needed.
 */

/** How long a platform "minute" lasts on these simulated devices (auto-revert timers). */
const MINUTE_MS = 1500;
let net: SimNetwork;
let dir: string;
let env: Record<string, string>;
let before: Map<string, SimSnapshot>;

const snap = () => new Map(net.devices.map((s) => [s.spec.id, s.control.snapshot()]));
const device = (id: string) => net.devices.find((s) => s.spec.id === id)!;
const port = (id: string, name: string) => device(id).control.snapshot().ports[name]!;

/** Every device exactly as before the first run: ports, filters, outlets. */
function expectRestored(): void {
  const now = snap();
  for (const [id, was] of before) {
    const is = now.get(id)!;
    expect({ id, ports: is.ports, rules: is.rules, outlets: is.outlets }).toEqual({
      id,
      ports: was.ports,
      rules: was.rules,
      outlets: was.outlets,
    });
  }
}

async function runAndCheck(
  args: string[],
): Promise<{ runId: string; state: string; actions: { device: string; what: string; state: string }[] }> {
  const r = await firebreak(['run', ...args, '--yes', '--json'], env);
  const result = json(r);
  expect(result.state, `${args.join(' ')}: ${r.stderr}\n${JSON.stringify(result.notDone, null, 1)}`).toBe('contained');
  return result;
}

async function rollBack(runId: string): Promise<void> {
  const rb = json(await firebreak(['rollback', runId, '--json'], env));
  expect(rb.state, JSON.stringify(rb.notReverted)).toBe('rolled-back');
  expectRestored();
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fb-municipal-'));
  const topology = await loadTopology(join(repo, 'topologies', 'municipal.yaml'), { simulators });
  for (const d of topology.devices) d.minuteMs = MINUTE_MS;
  net = await startNetwork(topology, { dir: join(dir, 'sim'), ports: { ssh: 10322, snmp: 10361 } });
  env = { FIREBREAK_INVENTORY: net.inventoryDir, FIREBREAK_JOURNAL: join(dir, 'journal.db') };
  before = snap();
}, 120_000);

afterAll(async () => {
  await net?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('the simulated municipal network, through the CLI', () => {
  it('drop-internet-uplinks cuts every uplink, leaves the already-shut backup line as it was, and rollback restores all', async () => {
    const r = await runAndCheck(['drop-internet-uplinks']);
    expect(r.actions.find((a) => a.device === 'ch-edge' && a.what.includes('Gi0/0/1'))!.state).toBe('already');
    for (const [id, name] of [
      ['core-fw', 'wan1'],
      ['ch-edge', 'Gi0/0/0'],
      ['ch-edge', 'Gi0/0/1'],
      ['lib-edge', 'ether1'],
    ] as const)
      expect(port(id, name).adminUp, `${id}:${name}`).toBe(false);
    await rollBack(r.runId);
    // The backup line was shut before the incident: it stays shut.
    expect(port('ch-edge', 'Gi0/0/1').adminUp).toBe(false);
    expect(port('ch-edge', 'Gi0/0/0').adminUp).toBe(true);
  });

  it('isolate-segment staff drops the staff segment at the firewall, and only adds rules of ours', async () => {
    const r = await runAndCheck(['isolate-segment', '--param', 'segment=staff', '--param', 'allow=198.51.100.53/32']);
    const rules = device('core-fw').control.snapshot().rules;
    expect(rules.length).toBeGreaterThan(before.get('core-fw')!.rules.length);
    for (const rule of before.get('core-fw')!.rules) expect(rules).toContainEqual(rule);
    await rollBack(r.runId);
  });

  it('isolate-host by address blocks it at the firewall; by port moves the port to the quarantine VLAN on every switch family', async () => {
    const byAddress = await runAndCheck(['isolate-host', '--param', 'address=10.10.0.50']);
    expect(
      device('core-fw')
        .control.snapshot()
        .rules.map((x) => x.text)
        .join('\n'),
    ).toContain('10.10.0.50');
    await rollBack(byAddress.runId);

    for (const [id, name] of [
      ['ch-acc1', 'Gi1/0/1'], // cisco-ios, with a voice VLAN
      ['ch-acc2', '1/1/2'], // aruba-aoscx
      ['ch-acc3', 'Ethernet1'], // arista-eos
      ['ch-acc4', 'ge-0/0/0'], // junos, with a voice VLAN
      ['ch-acc5', 'port1'], // snmp-qbridge
      ['ch-acc6', 'Fa0/1'], // snmp-cisco-vlan, with a voice VLAN
      ['lib-acc1', 'Fa0/2'], // legacy-only cisco-ios that closes after one exec
    ] as const) {
      const r = await runAndCheck(['isolate-host', '--param', `port=${id}:${name}`]);
      expect(port(id, name), `${id}:${name}`).toMatchObject({ vlan: 999, voiceVlan: null, adminUp: true });
      await rollBack(r.runId);
    }
  });

  it('isolate-host by address and port together, then all restored', async () => {
    const r = await runAndCheck(['isolate-host', '--param', 'address=10.10.0.51', '--param', 'port=lib-acc2:ge-0/0/1']);
    expect(port('lib-acc2', 'ge-0/0/1').vlan).toBe(999);
    await rollBack(r.runId);
  });
});

describe('the PDU as a last resort', () => {
  const playbooks = { FIREBREAK_PLAYBOOKS: join(repo, 'test', 'fixtures', 'playbooks') };

  it("refuses to power off the firewall the PDU itself is managed through; powers off the edge router's outlet after the uplinks, and back on", async () => {
    const refused = await firebreak(['plan', 'power-off-with-uplinks', '--param', 'outlet=ch-pdu:outlet1'], { ...env, ...playbooks });
    expect(refused.code).toBe(4);
    expect(refused.stdout).toMatch(/power\.off outlet1 powers off core-fw, which the orchestrator's connection to ch-pdu crosses/);
    expect(device('ch-pdu').control.snapshot().outlets?.outlet1).toBe(true);

    const r = json(
      await firebreak(['run', 'power-off-with-uplinks', '--param', 'outlet=ch-pdu:outlet3', '--yes', '--json'], { ...env, ...playbooks }),
    );
    expect(r.state).toBe('contained');
    expect(device('ch-pdu').control.snapshot().outlets?.outlet3).toBe(false);
    const order = r.actions.map((a: { device: string; what: string }) => `${a.device} ${a.what}`);
    // ch-edge's own changes go out before the outlet that powers it.
    expect(order.findIndex((x: string) => x.startsWith('ch-pdu'))).toBeGreaterThan(order.findIndex((x: string) => x.startsWith('ch-edge')));
    await rollBack(r.runId);
    expect(device('ch-pdu').control.snapshot().outlets?.outlet3).toBe(true);
  });
});

describe('device-side auto-revert when Firebreak dies between apply and confirm', () => {
  it('the device undoes the change by itself; the journal shows it armed and never confirmed; rollback finds it already back', async () => {
    const sw = device('ch-acc4'); // junos: commit confirmed, confirmed by a plain `commit`
    sw.control.inject({ kind: 'hang', on: /^commit$/ }); // the confirm never comes back: we die waiting
    const playbooks = join(repo, 'test', 'fixtures', 'playbooks');
    const journal = openSqliteJournal(env.FIREBREAK_JOURNAL!);
    const earlier = new Set((await journal.runs()).map((r) => r.runId));
    const child = spawn(process.execPath, [cli, 'run', 'shut-port-armed', '--param', 'port=ch-acc4:ge-0/0/1', '--yes', '--json'], {
      env: cliEnv({ ...env, FIREBREAK_PLAYBOOKS: playbooks }),
      stdio: 'ignore',
    });
    try {
      // Kill the process once the change is verified on the device and the confirm is in flight.
      let runId: string | undefined;
      for (let i = 0; i < 200 && !runId; i++) {
        await new Promise((r) => setTimeout(r, 50));
        runId = (await journal.all()).find((e) => e.type === 'action.verified' && !earlier.has(e.runId))?.runId;
      }
      expect(runId).toBeDefined();
      child.kill('SIGKILL');
      expect(port('ch-acc4', 'ge-0/0/1').adminUp).toBe(false);
      const entries = await journal.entries(runId!);
      expect(entries.find((e) => e.type === 'action.intent')!.data.autoRevert).toEqual({ minutes: 1 });
      expect(entries.some((e) => e.type === 'action.confirmed')).toBe(false);
      await settled(sw.control); // a confirm sent just before the kill takes its hang first
      sw.control.clearFaults();

      // One platform minute later the switch has put the port back by itself.
      await new Promise((r) => setTimeout(r, MINUTE_MS + 1000));
      expect(port('ch-acc4', 'ge-0/0/1').adminUp).toBe(true);

      const rb = json(await firebreak(['rollback', runId!, '--json'], env));
      expect(rb.state).toBe('rolled-back');
      const reverted = (await journal.entries(runId!)).find((e) => e.type === 'action.reverted')!;
      expect(reverted.data).toMatchObject({ nothingToDo: true, deviceReverted: true });
      expect((await firebreak(['journal', 'show', runId!], env)).stdout).toMatch(/already back: the device's own auto-revert undid it/);
      expectRestored();
    } finally {
      child.kill('SIGKILL');
      sw.control.clearFaults();
      await journal.close();
    }
  });
});
