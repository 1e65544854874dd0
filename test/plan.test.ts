import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { drivers } from '../src/drivers/registry.js';
import { loadInventory } from '../src/inventory/load.js';
import { makePlan } from '../src/plan/plan.js';
import { loadPlaybook, loadPlaybookById } from '../src/playbooks/load.js';
import { validateParams } from '../src/playbooks/params.js';

const fixtures = join(import.meta.dirname, 'fixtures');
const shipped = join(import.meta.dirname, '..', 'playbooks');

async function plan(playbookFile: string, params: Record<string, string> = {}, allowLockout = false) {
  const playbook = await loadPlaybook(playbookFile);
  const inventory = await loadInventory(join(fixtures, 'chain'));
  return makePlan({ playbook, params: validateParams(playbook, params), inventory, drivers, allowLockout, id: 'ptest' });
}

describe('planner', () => {
  it('expands role selectors into one action per interface, with rendered commands and tags', async () => {
    const p = await plan(join(shipped, 'drop-internet-uplinks.yaml'));
    expect(p.errors).toEqual([]);
    expect(p.actions.map((a) => `${a.device}:${a.action.kind}:${'interface' in a.action ? a.action.interface : ''}`)).toEqual([
      'core:interface.disable:eth-uplink',
      'edge:interface.disable:eth-uplink',
    ]);
    expect(p.actions[0]!.commands).toEqual(['ip link set dev eth-uplink down']);
    expect(p.actions[1]!.tag).toBe('fb:ptest:a2');
    expect(Object.keys(p.devices).sort()).toEqual(['core', 'edge']);
    expect(JSON.parse(JSON.stringify(p))).toEqual(p); // plain JSON
  });

  it('changes devices reached through a link before the link itself', async () => {
    const p = await plan(join(fixtures, 'playbooks', 'cut-distribution.yaml'));
    expect(p.errors).toEqual([]);
    const trunk = p.actions.find((a) => a.device === 'core' && a.action.kind === 'interface.disable' && a.action.interface === 'eth-dist')!;
    const farther = p.actions.filter((a) => a.device === 'edge' || a.device === 'acc');
    expect(farther.length).toBe(3);
    for (const a of farther) expect(a.stage).toBeLessThan(trunk.stage);
    expect(p.stages.at(-1)!.actionIds).toEqual([trunk.id]);
    expect(p.warnings.map((w) => w.message).join('\n')).toMatch(
      /core:eth-dist cuts the management path to acc, edge, pdu; it runs after their actions \(acc, edge\)/,
    );
  });

  it("refuses to cut a device's own management interface unless overridden, then plans it last", async () => {
    const file = join(shipped, 'isolate-host.yaml');
    const refused = await plan(file, { port: 'core:mgmt0', address: '10.20.0.11' });
    expect(refused.errors.map((e) => e.code)).toEqual(['LOCKOUT']);
    expect(refused.errors[0]!.message).toMatch(/mgmt0 cuts the orchestrator's management connection to core/);
    const allowed = await plan(file, { port: 'core:mgmt0', address: '10.20.0.11' }, true);
    expect(allowed.errors).toEqual([]);
    const cut = allowed.actions.find((a) => a.action.kind === 'interface.disable')!;
    expect(cut.lockoutOverride).toBeTruthy();
    expect(cut.stage).toBe(allowed.stages.length - 1);
    expect(allowed.overrides).toHaveLength(1);
  });

  it('refuses to block a device management address or the orchestrator', async () => {
    const p = await plan(join(shipped, 'isolate-host.yaml'), { address: '10.9.0.2' });
    expect(p.errors[0]!.message).toMatch(/management address of edge/);
  });

  it('refuses a host.block target that is no unicast host, even when handed params it did not validate', async () => {
    const playbook = await loadPlaybook(join(shipped, 'isolate-host.yaml'));
    const inventory = await loadInventory(join(fixtures, 'chain'));
    for (const address of ['255.255.255.255', '::1']) {
      const p = makePlan({ playbook, params: { address, quarantineVlan: '999' }, inventory, drivers, id: 'ptest' });
      expect(p.actions).toEqual([]);
      expect(p.errors.map((e) => `${e.at} ${e.message}`)).toEqual([
        expect.stringMatching(
          /^stages\[0\]\.steps\[0\] param "stages\[0\]\.steps\[0\]\.with\.address" \(address\): .* not a unicast host address$/,
        ),
      ]);
    }
  });

  it('reports an interface missing from the inventory and a driver that cannot do the action', async () => {
    const missing = await plan(join(shipped, 'isolate-host.yaml'), { port: 'acc:Gi1/0/9' });
    expect(missing.errors[0]!.message).toMatch(/device acc has no interface "Gi1\/0\/9"/);
    const seg = await plan(join(shipped, 'isolate-segment.yaml'), { segment: 'lan' });
    expect(seg.errors).toEqual([]);
    expect(seg.actions.map((a) => a.device)).toEqual(['edge']); // only edge routes lan out of an uplink
    expect(seg.actions[0]!.action).toEqual({
      kind: 'egress.block',
      segment: 'lan',
      interfaces: ['eth-lan'],
      uplinks: ['eth-uplink'],
      allow: [],
    });
  });

  it('plans nothing and says so when no parameter selects anything', async () => {
    const p = await plan(join(shipped, 'isolate-host.yaml'), {});
    expect(p.actions).toEqual([]);
    expect(p.errors.map((e) => e.code)).toEqual(['NOTHING_TO_DO']);
  });

  it('isolate-host by port: a switch that cannot move VLANs gets the fallback (port shut), and the plan says so', async () => {
    const p = await plan(join(shipped, 'isolate-host.yaml'), { port: 'acc:Gi1/0/1' });
    expect(p.errors).toEqual([]);
    expect(p.actions.map((a) => a.action)).toEqual([{ kind: 'interface.disable', interface: 'Gi1/0/1' }]);
    expect(p.warnings.map((w) => w.code)).toContain('FALLBACK');
    expect(p.warnings.find((w) => w.code === 'FALLBACK')!.message).toMatch(
      /acc \(snmp-ifmib\) cannot move Gi1\/0\/1 to VLAN 999: it is shut instead/,
    );
  });

  it('power.off follows the outlet to the device it feeds: that device and those reached through it are changed first', async () => {
    const file = join(fixtures, 'playbooks', 'power-off-with-uplinks.yaml');
    const p = await plan(file, { outlet: 'pdu:outlet2' });
    expect(p.errors).toEqual([]);
    const off = p.actions.find((a) => a.action.kind === 'power.off')!;
    const edgeUplink = p.actions.find((a) => a.device === 'edge')!;
    expect(off.action).toEqual({ kind: 'power.off', outlet: 'outlet2' });
    expect(edgeUplink.stage).toBeLessThan(off.stage);
    expect(p.warnings.map((w) => w.message).join('\n')).toMatch(
      /power\.off pdu:outlet2 powers off edge, which cuts the management path to edge/,
    );
    // An outlet that feeds no declared device cuts no path: it stays in its stage.
    const plain = await plan(file, { outlet: 'pdu:outlet3' });
    expect(plain.actions.find((a) => a.action.kind === 'power.off')!.stage).toBe(0);
  });

  it('refuses to power off the device the orchestrator reaches the PDU through, unless overridden', async () => {
    const file = join(fixtures, 'playbooks', 'power-off-with-uplinks.yaml');
    const refused = await plan(file, { outlet: 'pdu:outlet1' });
    expect(refused.errors.map((e) => e.code)).toEqual(['LOCKOUT']);
    expect(refused.errors[0]!.message).toMatch(/power\.off outlet1 powers off core, which the orchestrator's connection to pdu crosses/);
    const allowed = await plan(file, { outlet: 'pdu:outlet1' }, true);
    expect(allowed.errors).toEqual([]);
    expect(allowed.actions.find((a) => a.action.kind === 'power.off')!.stage).toBe(allowed.stages.length - 1);
  });

  it('loads shipped playbooks by id', async () => {
    expect((await loadPlaybookById(shipped, 'isolate-segment')).params.segment?.type).toBe('segment');
  });
});
