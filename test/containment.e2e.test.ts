import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { backend, BACKENDS } from './helpers/backends.js';
import { servicesReady } from './helpers/services.js';
import {
  describeLab,
  firebreak,
  json,
  linkUp,
  reach,
  reachWithin,
  resetLab,
  scratch,
  setLink,
  waitSwitchAgentAgrees,
} from './helpers/lab.js';

/**
 * The main job, end to end through the CLI (each call a fresh process, so every rollback works
 * from the journal alone), proven by traffic in the lab.
 */
for (const { executor, store } of BACKENDS) {
  const b = backend(executor, store);
  if (!(await servicesReady({ redis: executor === 'queue', postgres: store === 'postgres' }))) continue;
  describeLab(`containment on the lab, proven by traffic (${b.name})`, () => {
    const s = scratch();
    const env = b.env({ FIREBREAK_INVENTORY: s.inventory, FIREBREAK_JOURNAL: s.journal });
    beforeAll(async () => {
      await resetLab();
      await b.start(env);
    });
    afterEach(resetLab);
    afterAll(async () => {
      await b.stop();
      s.done();
    });

    it('drop-internet-uplinks cuts h1 off the internet and rollback restores it (default route included)', async () => {
      expect(await reachWithin('h1')).toBe(true);
      const run = await firebreak(['run', 'drop-internet-uplinks', '--yes', '--json'], env);
      const result = json(run);
      expect(result.state, run.stderr).toBe('contained');
      expect(result.actions.map((a: any) => [a.device, a.what, a.state])).toEqual([['fw', 'interface.disable eth-uplink', 'verified']]);
      expect(await linkUp('fb-fw', 'eth-uplink')).toBe(false);
      expect(await reach('h1')).toBe(false);
      expect(await reach('h2')).toBe(false);

      // A fresh process that has the journal and nothing else: no inventory, no playbooks.
      const rb = json(
        await firebreak(['rollback', result.runId, '--json'], {
          ...env,
          FIREBREAK_INVENTORY: '/nonexistent',
          FIREBREAK_PLAYBOOKS: '/nonexistent',
        }),
      );
      expect(rb.state).toBe('rolled-back');
      expect(await linkUp('fb-fw', 'eth-uplink')).toBe(true);
      expect(await reachWithin('h1')).toBe(true); // 198.51.100.200 is behind fw's default route: it came back too
    });

    it('isolate-host by address blocks h1 both ways at the firewall, not h2; rollback unblocks', async () => {
      const result = json(await firebreak(['run', 'isolate-host', '--param', 'address=10.20.0.11', '--yes', '--json'], env));
      expect(result.state).toBe('contained');
      expect(await reach('h1')).toBe(false);
      expect(await reach('h2')).toBe(true);
      expect(json(await firebreak(['rollback', result.runId, '--json'], env)).state).toBe('rolled-back');
      expect(await reachWithin('h1')).toBe(true);
    });

    it('isolate-host by switch port shuts swp1 over SNMP; h2 keeps working; rollback brings it up', async () => {
      const result = json(await firebreak(['run', 'isolate-host', '--param', 'port=sw:swp1', '--yes', '--json'], env));
      expect(result.state).toBe('contained');
      expect(result.actions[0]).toMatchObject({ device: 'sw', what: 'interface.disable swp1', state: 'verified' });
      expect(await linkUp('fb-sw', 'swp1')).toBe(false);
      expect(await reach('h1')).toBe(false);
      expect(await reachWithin('h2')).toBe(true);
      expect(json(await firebreak(['rollback', result.runId, '--json'], env)).state).toBe('rolled-back');
      expect(await linkUp('fb-sw', 'swp1')).toBe(true);
      expect(await reachWithin('h1')).toBe(true);
    });

    it('restores the observed pre-state: a port down before the run stays down after rollback', async () => {
      await setLink('fb-sw', 'swp2', 'down'); // taken down before the incident, at the console
      await waitSwitchAgentAgrees();
      const fixtures = { ...env, FIREBREAK_PLAYBOOKS: `${import.meta.dirname}/fixtures/playbooks` };
      const result = json(await firebreak(['run', 'shut-segment-ports', '--param', 'segment=lan', '--yes', '--json'], fixtures));
      expect(result.state).toBe('contained');
      const states = Object.fromEntries(result.actions.map((a: any) => [a.what, a.state]));
      expect(states).toEqual({ 'interface.disable swp1': 'verified', 'interface.disable swp2': 'already' });
      expect(json(await firebreak(['rollback', result.runId, '--json'], fixtures)).state).toBe('rolled-back');
      expect(await linkUp('fb-sw', 'swp1')).toBe(true);
      expect(await linkUp('fb-sw', 'swp2')).toBe(false);
    });

    it('running a playbook twice: the second run is all already and holds; rolling it back first changes nothing (the first still holds)', async () => {
      const args = ['run', 'isolate-host', '--param', 'address=10.20.0.11', '--param', 'port=sw:swp1', '--yes', '--json'];
      const first = json(await firebreak(args, env));
      expect(first.state).toBe('contained');
      const second = json(await firebreak(args, env));
      expect(second.state).toBe('contained');
      expect(second.actions.map((a: any) => a.state)).toEqual(['already', 'already']);
      const rb2 = json(await firebreak(['rollback', second.runId, '--json'], env));
      expect(rb2.state).toBe('rolled-back');
      expect(rb2.actions.map((a: any) => a.state)).toEqual(['released', 'released']);
      expect(await reach('h1')).toBe(false);
      expect(await linkUp('fb-sw', 'swp1')).toBe(false);
      expect(json(await firebreak(['rollback', first.runId, '--json'], env)).state).toBe('rolled-back');
      expect(await reachWithin('h1')).toBe(true);
    });

    it('holds: two runs block h1, rolling back the first keeps h1 blocked while the second holds it; the last one lets it go', async () => {
      const args = ['run', 'isolate-host', '--param', 'address=10.20.0.11', '--yes', '--json'];
      const a = json(await firebreak(args, env));
      const b = json(await firebreak(args, env));
      expect([a.state, b.state]).toEqual(['contained', 'contained']);
      expect(b.actions.map((x: any) => x.state)).toEqual(['already']);
      const holds = json(await firebreak(['holds', '--json'], env));
      expect(holds).toEqual([
        expect.objectContaining({
          target: 'fw / host.block 10.20.0.11',
          changedByUs: true,
          holders: [expect.objectContaining({ runId: a.runId, how: 'changed' }), expect.objectContaining({ runId: b.runId, how: 'found' })],
        }),
      ]);
      const rbA = json(await firebreak(['rollback', a.runId, '--json'], env));
      expect(rbA.state).toBe('rolled-back');
      expect(rbA.actions.map((x: any) => x.state)).toEqual(['released']);
      expect(await reach('h1')).toBe(false); // run B still holds it: before holds, h1 was free here
      expect(json(await firebreak(['holds', '--json'], env)).map((h: any) => h.holders.map((x: any) => x.runId))).toEqual([[b.runId]]);
      const rbB = json(await firebreak(['rollback', b.runId, '--json'], env));
      expect(rbB.actions.map((x: any) => [x.state, x.what])).toEqual([['reverted', 'host.unblock 10.20.0.11']]);
      expect(await reachWithin('h1')).toBe(true);
      expect(json(await firebreak(['holds', '--json'], env))).toEqual([]);
      const shown = json(await firebreak(['runs', 'show', b.runId, '--json'], env));
      expect(shown.executor).toBe(executor);
      expect(shown.actions[0]).toMatchObject({ state: 'already', rollback: { state: 'reverted' } });
    });

    it('progress lines on a terminal-style run name each action and the final state', async () => {
      const r = await firebreak(['run', 'isolate-host', '--param', 'address=10.20.0.12', '--yes'], env);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/a1\s+fw\s+host\.block 10\.20\.0\.12\s+verified \(\d+(\.\d+)? ms\)/);
      expect(r.stdout).toMatch(/CONTAINED \((local|queue)\): time to contain \d+ ms, cut skew [\d.]+ ms/);
      const runId = /rollback (r-[\w-]+)/.exec(r.stdout)![1]!;
      expect((await firebreak(['rollback', runId], env)).code).toBe(0);
      expect(await reachWithin('h2')).toBe(true);
    });
  });
}
