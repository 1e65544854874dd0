import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { InventoryInvalid, ParamInvalid, PlaybookInvalid } from '../src/errors.js';
import { InventoryCache } from '../src/inventory/cache.js';
import { loadInventory, loadInventoryFiles, parseInventory } from '../src/inventory/load.js';
import { listPlaybooks, loadPlaybook, loadPlaybookById, loadPlaybooks } from '../src/playbooks/load.js';
import { checkValue, validateParams, validateValue } from '../src/playbooks/params.js';
import type { ParamType } from '../src/playbooks/types.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const corpus = join(root, 'test', 'malformed');

/**
 * Each malformed file says what it expects: `# expect: <substring>` on its first line and a
 * `# <-` comment on the line the error must point at (`# secret: <value>` if it must not be echoed).
 */
interface Expectation {
  file: string;
  substring: string;
  line: number;
  secret?: string;
}

async function expectationOf(file: string): Promise<Expectation | undefined> {
  const lines = (await readFile(file, 'utf8')).split('\n');
  const substring = /^# expect: (.*)$/.exec(lines[0] ?? '')?.[1];
  if (substring === undefined) return undefined;
  const marker = lines.findIndex((l, i) => i > 0 && l.includes('# <-'));
  const secret = lines.map((l) => /^# secret: (.*)$/.exec(l)?.[1]).find((s) => s !== undefined);
  return { file, substring, line: marker >= 0 ? marker + 1 : 1, secret };
}

async function caught(fn: () => Promise<unknown>): Promise<unknown> {
  try {
    await fn();
  } catch (err) {
    return err;
  }
  return undefined;
}

function checkPlaced(err: unknown, cls: new (...a: never[]) => Error, exp: Expectation): void {
  expect(err, `${exp.file} should not load`).toBeInstanceOf(cls);
  expect(err).not.toBeInstanceOf(TypeError);
  const message = (err as Error).message;
  const lines = message.split('\n');
  // Every line is placed: file:line:col, and the first names a file of this case.
  for (const l of lines) expect(l).toMatch(/^\S+:\d+:\d+[ :]/);
  const hit = lines.find((l) => l.startsWith(`${exp.file}:${exp.line}:`) && l.includes(exp.substring));
  expect(hit, `want ${exp.file}:${exp.line}: ...${exp.substring}... in:\n${message}`).toBeDefined();
  if (exp.secret) expect(message).not.toContain(exp.secret);
}

const playbookCases = (await readdir(join(corpus, 'playbooks'))).sort().map((n) => join(corpus, 'playbooks', n));
const deviceCases = (await readdir(join(corpus, 'devices'))).sort().map((n) => join(corpus, 'devices', n));
const inventoryCases = (await readdir(join(corpus, 'inventories'))).sort().map((n) => join(corpus, 'inventories', n));

describe('malformed corpus', () => {
  it('has at least 35 cases', () => {
    expect(playbookCases.length + deviceCases.length + inventoryCases.length).toBeGreaterThanOrEqual(35);
  });

  it.each(playbookCases)('playbook %s is refused at the right place', async (file) => {
    const exp = (await expectationOf(file))!;
    expect(exp, `${file} lacks its # expect: line`).toBeDefined();
    checkPlaced(await caught(() => loadPlaybook(file)), PlaybookInvalid, exp);
  });

  it.each(deviceCases)('device %s is refused at the right place', async (file) => {
    const exp = (await expectationOf(file))!;
    expect(exp, `${file} lacks its # expect: line`).toBeDefined();
    checkPlaced(await caught(() => loadInventoryFiles([file])), InventoryInvalid, exp);
  });

  it.each(inventoryCases)('inventory directory %s is refused at the right place', async (dir) => {
    const err = await caught(() => loadInventory(dir));
    const files = (await readdir(dir)).sort().map((n) => join(dir, n));
    const exps = (await Promise.all(files.map(expectationOf))).filter((e) => e !== undefined);
    expect(exps.length).toBeGreaterThan(0);
    for (const exp of exps) checkPlaced(err, InventoryInvalid, exp);
  });
});

describe('shipped files', () => {
  it('example devices load with defaults filled', async () => {
    const inv = await loadInventory(join(root, 'devices'));
    expect([...inv.devices.keys()].sort()).toEqual(['access-sw', 'edge-fw']);
    const fw = inv.devices.get('edge-fw')!;
    expect(fw.ssh).toMatchObject({ port: 22, readyTimeoutMs: 5000, user: 'root' });
    expect(fw.source).toBe(join(root, 'devices', 'edge-fw.yaml'));
    const sw = inv.devices.get('access-sw')!;
    expect(sw.snmp).toMatchObject({ version: '3', port: 161, timeoutMs: 2000, retries: 1 });
    expect(sw.managementPath.via).toEqual(['edge-fw:eth-lan']);
    expect(inv.orchestratorAddresses).toEqual([]);
  });

  it('shipped playbooks load, with policy defaults and ids equal to file names', async () => {
    const dir = join(root, 'playbooks');
    expect(await listPlaybooks(dir)).toEqual(['drop-internet-uplinks', 'isolate-host', 'isolate-segment']);
    const all = await loadPlaybooks(dir);
    for (const p of all) {
      expect(p.policy).toEqual({ approval: 'none', rollbackApproval: 'none', onFailure: 'continue', timeoutMs: 10_000, retries: 1 });
      expect(p.source.sha256).toMatch(/^[0-9a-f]{64}$/);
    }
    const host = all.find((p) => p.id === 'isolate-host')!;
    expect(host.stages.map((s) => s.when)).toEqual(['address', 'port']);
    expect(host.stages[1]!.steps[0]).toEqual({
      action: 'port.vlan',
      on: { interface: '${port}' },
      with: { vlan: '${quarantineVlan}' },
      fallback: 'interface.disable',
    });
    const uplinks = all.find((p) => p.id === 'drop-internet-uplinks')!;
    expect(uplinks.stages[0]!.steps[0]!.on).toEqual({ role: 'uplink' });
    const seg = all.find((p) => p.id === 'isolate-segment')!;
    expect(seg.params.segment).toMatchObject({ type: 'segment', required: true });
    expect(seg.stages[0]!.steps[0]!.with).toEqual({ segment: '${segment}', allow: '${allow}' });
  });

  it('loadPlaybookById lists known ids and refuses path tricks', async () => {
    const dir = join(root, 'playbooks');
    expect((await loadPlaybookById(dir, 'isolate-host')).id).toBe('isolate-host');
    for (const id of ['isolate-hots', '../devices/edge-fw', 'isolate-host.yaml']) {
      const err = await caught(() => loadPlaybookById(dir, id));
      expect(err).toBeInstanceOf(PlaybookInvalid);
      expect((err as Error).message).toContain('known: drop-internet-uplinks, isolate-host, isolate-segment');
    }
  });

  it('the inventory the lab writes loads (format of lab-spec.md)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fb-inv-'));
    try {
      await writeFile(
        join(dir, 'fw.yaml'),
        [
          'id: fw',
          'site: lab',
          'driver: linux',
          'address: 10.250.1.2',
          'tags: [firewall, edge]',
          `ssh: { user: root, key: "file:${dir}/keys/orchestrator", hostKey: "SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s" }`,
          'managementPath: { interfaces: [mgmt0], via: [] }',
          'interfaces:',
          '  eth-uplink: { roles: [uplink] }',
          '  eth-lan: { roles: ["segment:lan"] }',
          '  mgmt0: { roles: [mgmt] }',
          '',
        ].join('\n'),
      );
      await writeFile(
        join(dir, 'sw.yaml'),
        [
          'id: sw',
          'site: lab',
          'driver: snmp-ifmib',
          'address: 10.250.2.2',
          'tags: [switch, access]',
          'snmp:',
          '  version: "3"',
          '  user: firebreak',
          `  auth: { protocol: sha, key: "file:${dir}/secrets/sw-auth" }`,
          `  priv: { protocol: aes, key: "file:${dir}/secrets/sw-priv" }`,
          'managementPath: { interfaces: [mgmt0], via: [] }',
          'interfaces:',
          '  swp1: { roles: [access, "segment:lan"] }',
          '  swp2: { roles: [access, "segment:lan"] }',
          '  swp-up: { roles: [trunk] }',
          '  mgmt0: { roles: [mgmt] }',
          '',
        ].join('\n'),
      );
      await writeFile(join(dir, '_orchestrator.yaml'), 'addresses: [10.250.1.1, 10.250.2.1]\n');
      const inv = await loadInventory(dir);
      expect([...inv.devices.keys()].sort()).toEqual(['fw', 'sw']);
      expect(inv.orchestratorAddresses).toEqual(['10.250.1.1', '10.250.2.1']);
      expect(Object.keys(inv.devices.get('sw')!.interfaces)).toEqual(['swp1', 'swp2', 'swp-up', 'mgmt0']);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('an empty or missing inventory directory is an InventoryInvalid, not a crash', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fb-inv-'));
    try {
      await expect(loadInventory(dir)).rejects.toThrow(InventoryInvalid);
      await expect(loadInventory(join(dir, 'nope'))).rejects.toThrow(/cannot read inventory directory/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('a literal secret is refused and never echoed, every problem on its own line', () => {
    const text = [
      'id: fw',
      'site: lab',
      'driver: linux',
      'address: 10.250.1.2',
      'ssh: { user: root, password: "correct horse battery", hostKey: "SHA256:short" }',
      'managementPath: { interfaces: [mgmt0] }',
      'interfaces: { mgmt0: { roles: [mgmt] } }',
      '',
    ].join('\n');
    let err: unknown;
    try {
      parseInventory([{ file: 'inline/fw.yaml', text }]);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(InventoryInvalid);
    const message = (err as Error).message;
    expect(message).not.toContain('correct horse');
    expect(message.split('\n')).toEqual([
      expect.stringMatching(/^inline\/fw\.yaml:5:\d+ ssh\.password: must be a secret reference .*not the secret itself/),
      expect.stringMatching(/^inline\/fw\.yaml:5:\d+ ssh\.hostKey: must be an OpenSSH fingerprint/),
    ]);
  });
});

describe('parameter validation', () => {
  const good: [ParamType, string][] = [
    ['ipv4', '10.20.0.11'],
    ['ipv6', '2001:db8::1'],
    ['ip', '10.20.0.11'],
    ['ip', 'fe80::1'],
    ['ipv4-prefix', '10.20.0.0/24'],
    ['ipv4-prefix', '0.0.0.0/0'],
    ['ipv6-prefix', '2001:db8::/32'],
    ['prefix', '198.51.100.0/24'],
    ['address', '10.20.0.11'],
    ['address', '10.20.0.0/16'],
    ['ipv4', '10.20.0.255'], // a subnet's broadcast is unknowable without its prefix: left to the operator
    ['ipv4', '1.0.0.1'],
    ['ipv4', '223.255.255.255'],
    ['prefix-list', '10.1.2.3,198.51.100.0/24,2001:db8::/48'],
    ['interface', 'Gi1/0/7'],
    ['interface', 'ge-0/0/0:1'],
    ['device-interface', 'access-3:Gi1/0/7'],
    ['device-interface', 'sw:swp1'],
    ['segment', 'lan'],
    ['device', 'edge-fw'],
    ['vlan', '1'],
    ['vlan', '4094'],
  ];
  it.each(good)('%s accepts %j', (type, value) => {
    expect(checkValue(type, value)).toBeUndefined();
    expect(validateValue(type, value)).toBe(value);
  });

  const bad: [ParamType, string][] = [
    ['ipv4', '10.20.0.11; reboot'],
    ['interface', 'swp1\nshutdown'],
    ['ip', '$(id)'],
    ['device-interface', 'fw:swp1;reboot'],
    ['ipv4-prefix', '10.20.0.11/33'],
    ['ipv4', "' or 1=1"],
    ['ipv4', '10.20.0.256'],
    ['ipv4', '010.20.0.1'],
    ['ipv4', '10.20.0.11 '],
    ['ipv6', 'fe80::1%eth0'],
    ['ipv4-prefix', '10.20.0.0'],
    ['ipv4-prefix', '10.20.0.1/24'],
    ['ipv6-prefix', '10.0.0.0/8'],
    ['prefix-list', '10.0.0.0/8, 10.1.0.0/16'],
    ['prefix-list', '10.0.0.0/8,'],
    ['interface', 'eth0`reboot`'],
    ['interface', 'a'.repeat(65)],
    ['interface', '-eth0'],
    ['device-interface', 'swp1'],
    ['device-interface', 'Fw:swp1'],
    ['segment', 'LAN'],
    ['segment', 'lan|x'],
    ['device', 'fw>out'],
    ['vlan', '0'],
    ['vlan', '4095'],
    ['vlan', '1e3'],
    ['ipv4', '10.20.0.11\\'],
    ['ipv4', '10.20.0.11&'],
    ['ipv4', ''],
    ['ipv4', '10.20.0.1\u0000'],
    ['interface', 'eth0\u200b'],
    ['ip', '"10.0.0.1"'],
    ['interface', 'eth0<x'],
    // not a unicast host: blocking it means nothing, or cuts the device off from itself
    ['ipv4', '0.0.0.0'],
    ['ipv4', '255.255.255.255'],
    ['ipv4', '0.1.2.3'],
    ['ipv4', '127.0.0.1'],
    ['ip', '224.0.0.251'],
    ['ipv6', '::'],
    ['ipv6', '::1'],
    ['ipv6', 'ff02::1'],
    ['ip', '::ffff:127.0.0.1'],
    ['address', '0.0.0.0'],
    ['address', '255.255.255.255/32'],
  ];
  it.each(bad)('%s refuses %j', (type, value) => {
    expect(checkValue(type, value)).toEqual(expect.any(String));
    expect(() => validateValue(type, value, 'p')).toThrow(ParamInvalid);
  });

  it('names the parameter, its type and why', async () => {
    const pb = await loadPlaybookById(join(root, 'playbooks'), 'isolate-host');
    expect(() => validateParams(pb, { address: '10.20.0.11; reboot' })).toThrow(
      'param "address" (ipv4): "10.20.0.11; reboot" is not an IPv4 address',
    );
    expect(() => validateParams(pb, { port: 'sw:swp1\nshutdown' })).toThrow(
      'param "port" (device-interface): "sw:swp1\\nshutdown" is not a device:interface',
    );
    expect(() => validateParams(pb, { address: '0.0.0.0' })).toThrow(
      'param "address" (ipv4): "0.0.0.0" is the unspecified address, not a unicast host address',
    );
    expect(() => validateParams(pb, { adress: '10.20.0.11' })).toThrow(
      'unknown param "adress" for playbook isolate-host (known: address, port, quarantineVlan)',
    );
    expect(validateParams(pb, { address: '10.20.0.11' })).toEqual({ address: '10.20.0.11', quarantineVlan: '999' });
    expect(validateParams(pb, { address: '10.20.0.11', port: 'sw:swp1' })).toEqual({
      address: '10.20.0.11',
      port: 'sw:swp1',
      quarantineVlan: '999',
    });
  });

  it('reports missing required params and every problem at once; applies defaults', async () => {
    const seg = await loadPlaybookById(join(root, 'playbooks'), 'isolate-segment');
    expect(() => validateParams(seg, {})).toThrow('param "segment" (segment) is required');
    let message = '';
    try {
      validateParams(seg, { segment: 'lan;', allow: '10.0.0.0/33', extra: 'x' });
    } catch (e) {
      expect(e).toBeInstanceOf(ParamInvalid);
      message = (e as Error).message;
    }
    expect(message.split('\n')).toHaveLength(3);
    expect(validateParams(seg, { segment: 'lan' })).toEqual({ segment: 'lan' });
    const withDefault = {
      ...seg,
      params: { ...seg.params, allow: { type: 'prefix-list' as const, required: false, default: '10.66.0.0/24' } },
    };
    expect(validateParams(withDefault, { segment: 'lan' })).toEqual({ segment: 'lan', allow: '10.66.0.0/24' });
  });

  it('refuses non-string values and prototype keys without crashing', async () => {
    const pb = await loadPlaybookById(join(root, 'playbooks'), 'isolate-host');
    const raw = JSON.parse('{"address": 5, "__proto__": "x"}') as Record<string, string>;
    expect(() => validateParams(pb, raw)).toThrow(ParamInvalid);
  });
});

describe('inventory cache (long-running processes)', () => {
  it('parses once while the files are unchanged, again after an edit, and never serves an invalid edit', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fb-invcache-'));
    try {
      const shipped = join(dirname(fileURLToPath(import.meta.url)), '..', 'devices');
      for (const f of await readdir(shipped)) await writeFile(join(dir, f), await readFile(join(shipped, f)));
      const cache = new InventoryCache();
      const first = await cache.load(dir);
      expect(await cache.load(dir)).toBe(first);
      const file = join(dir, 'edge-fw.yaml');
      const text = await readFile(file, 'utf8');
      await writeFile(file, text.replace(/^site: .*$/m, 'site: elsewhere'));
      const edited = await cache.load(dir);
      expect(edited).not.toBe(first);
      expect(edited.devices.get('edge-fw')!.site).toBe('elsewhere');
      await writeFile(file, `${text}\nbogus: [`);
      await expect(cache.load(dir)).rejects.toBeInstanceOf(InventoryInvalid);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
