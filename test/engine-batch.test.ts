import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { drivers } from '../src/drivers/registry.js';
import { ALL_BACKENDS } from './helpers/backends.js';
import { servicesReady } from './helpers/services.js';
import { engineOn, type TestEngine } from './helpers/engine.js';
import { loadInventory } from '../src/inventory/load.js';
import { makePlan } from '../src/plan/plan.js';
import { loadPlaybook } from '../src/playbooks/load.js';
import { type SimNetwork, startNetwork } from '../src/sim/network.js';
import { simulators } from '../src/sim/registry.js';
import { parseTopology } from '../src/sim/topology.js';
import { repo } from './helpers/lab.js';

/**
 * The coordinated cut on one device: a stage's changes on a device go out together (one
 * configuration session) where the driver has applyAll, and a batch the device refuses half-way
 * falls back to one action at a time, each read first, so every failure is attributed.
 * Checked on a simulated IOS switch: what it received, what its ports show, what the journal says.
 */

const TOPOLOGY = `name: batch
sites: [s]
devices:
  - id: sw1
    family: cisco-ios
    site: s
    hostname: batch-sw1
    address: 127.0.17.10
    ports:
      Gi1/0/1: { roles: [access], mode: access, vlan: 10 }
      Gi1/0/2: { roles: [access], mode: access, vlan: 10 }
      Gi1/0/3: { roles: [access], mode: access, vlan: 10 }
      Gi1/0/48: { roles: [mgmt] }
    managementPath: { interfaces: [Gi1/0/48] }
`;

let dir: string;
let net: SimNetwork;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fb-batch-'));
  net = await startNetwork(parseTopology('batch.yaml', TOPOLOGY, { simulators }), {
    dir: join(dir, 'sim'),
    ports: { ssh: 10422, snmp: 10461 },
  });
});
afterAll(async () => {
  await net?.stop();
  await rm(dir, { recursive: true, force: true });
});
const sw = () => net.devices[0]!.control;
beforeEach(() => sw().reset());

async function planShut() {
  const playbook = await loadPlaybook(join(repo, 'bench', 'playbooks', 'shut-access-ports.yaml'));
  const inventory = await loadInventory(net.inventoryDir);
  const plan = makePlan({ playbook, params: {}, inventory, drivers });
  expect(plan.errors).toEqual([]);
  return plan;
}

for (const { executor, store } of ALL_BACKENDS) {
  if (!(await servicesReady({ redis: executor === 'queue', postgres: store === 'postgres' }))) continue;
  describe(`the engine on a simulated switch (${executor} executor, ${store} journal)`, () => {
    let engine: TestEngine;
    beforeAll(async () => {
      engine = await engineOn(executor, store, ['s']);
    });
    afterAll(async () => engine?.close());
    // Each test starts with nothing held: what the last one contained is rolled back.
    afterEach(async () => {
      for (const r of await engine.app.listRuns())
        if (r.state === 'contained' || r.state === 'partial') expect((await engine.rollback(r.runId)).state).toBe('rolled-back');
    });

    async function shutAccessPorts() {
      const result = await engine.run(await planShut(), { trigger: { kind: 'test', by: 'engine-batch' } });
      const applied = (await engine.journal.entries(result.runId)).filter((e) => e.type === 'action.applied').map((e) => e.data.output);
      return { result, applied, configures: sw().received!().filter((l) => l === 'configure terminal').length };
    }

    it('three ports shut in one configuration session; all verified on the device', async () => {
      const { result, applied, configures } = await shutAccessPorts();
      expect(result.state).toBe('contained');
      expect(result.actions.map((a) => a.state)).toEqual(['verified', 'verified', 'verified']);
      expect(configures).toBe(1);
      expect(applied.filter((o) => o === '(applied together with a1)')).toHaveLength(2);
      for (const p of ['Gi1/0/1', 'Gi1/0/2', 'Gi1/0/3']) expect(sw().snapshot().ports[p]!.adminUp).toBe(false);
    });

    it('a batch refused half-way falls back to one action at a time: what took effect is not sent again, the refusal is attributed', async () => {
      sw().inject({ kind: 'reject', on: /^interface Gi1\/0\/2$/ });
      const { result, applied, configures } = await shutAccessPorts();
      expect(result.state).toBe('partial');
      const [a1, a2, a3] = result.actions;
      // Gi1/0/1 went down inside the refused batch: read first, found held, not sent again.
      expect(a1!.state).toBe('verified');
      expect(applied[0]).toBe('(held after an earlier attempt)');
      expect(a2!.state).toBe('failed');
      expect(a2!.error).toMatch(/% Invalid input detected/);
      expect(a3!.state).toBe('verified');
      const refused = (await engine.journal.entries(result.runId)).find((e) => e.type === 'batch.refused')!;
      expect(refused.data).toMatchObject({ device: 'sw1', actions: ['a1', 'a2', 'a3'], code: 'COMMAND_REJECTED' });
      expect(refused.data.error).toMatch(/% Invalid input detected/);
      // The batch, then Gi1/0/2 alone (refused each try), then Gi1/0/3 alone.
      expect(configures).toBeGreaterThanOrEqual(3);
      expect(sw().snapshot().ports['Gi1/0/2']!.adminUp).toBe(true);
      expect(sw().snapshot().ports['Gi1/0/3']!.adminUp).toBe(false);
    });

    it('the same run twice: the second finds it done and holds it; rollback of the first keeps the ports down, of the second restores them', async () => {
      const first = await engine.run(await planShut());
      const second = await engine.run(await planShut());
      expect(first.executor).toBe(executor);
      expect([first.state, second.state]).toEqual(['contained', 'contained']);
      expect(second.actions.map((a) => a.state)).toEqual(['already', 'already', 'already']);
      const holds = await engine.app.holds();
      expect(holds.map((h) => h.holders.map((x) => x.runId))).toEqual([0, 1, 2].map(() => [first.runId, second.runId]));
      const rb1 = await engine.rollback(first.runId);
      expect(rb1.actions.map((a) => a.state)).toEqual(['released', 'released', 'released']);
      for (const p of ['Gi1/0/1', 'Gi1/0/2', 'Gi1/0/3']) expect(sw().snapshot().ports[p]!.adminUp).toBe(false);
      const rb2 = await engine.rollback(second.runId);
      expect(rb2.state).toBe('rolled-back');
      expect(rb2.actions.map((a) => a.state)).toEqual(['reverted', 'reverted', 'reverted']);
      for (const p of ['Gi1/0/1', 'Gi1/0/2', 'Gi1/0/3']) expect(sw().snapshot().ports[p]!.adminUp).toBe(true);
      expect(await engine.app.holds()).toEqual([]);
      expect((await engine.journal.verify()).ok).toBe(true);
    });
  });
}
