import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadHosts } from '../src/inventory/hosts.js';
import { loadInventory } from '../src/inventory/load.js';
import { repo } from './helpers/lab.js';

/** `_hosts.yaml`: the hosts the console offers by name, checked against the inventory, mistakes placed. */
let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fb-hosts-'));
  await cp(join(repo, 'devices'), dir, { recursive: true });
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('_hosts.yaml', () => {
  it('is optional, and when there the device files still load as the inventory', async () => {
    const inv = await loadInventory(dir);
    expect(await loadHosts(dir, inv)).toEqual([]);
    await writeFile(
      join(dir, '_hosts.yaml'),
      'hosts:\n  - { name: reception-pc, address: 10.20.0.11, port: "access-sw:Gi1/0/1", segment: lan }\n  - { name: printer, address: "2001:db8::5" }\n',
    );
    const again = await loadInventory(dir);
    expect([...again.devices.keys()].sort()).toEqual([...inv.devices.keys()].sort());
    expect(await loadHosts(dir, again)).toEqual([
      { name: 'reception-pc', address: '10.20.0.11', port: 'access-sw:Gi1/0/1', segment: 'lan' },
      { name: 'printer', address: '2001:db8::5' },
    ]);
  });

  it('places each mistake: a port or segment the inventory does not have, a duplicate, an address that is not one', async () => {
    const inv = await loadInventory(dir);
    await writeFile(
      join(dir, '_hosts.yaml'),
      [
        'hosts:',
        '  - { name: a, address: 10.20.0.1, port: "nope:Gi1/0/1" }',
        '  - { name: b, address: 10.20.0.2, port: "access-sw:Gi9/9/9" }',
        '  - { name: c, address: 10.20.0.3, segment: guest }',
        '  - { name: c, address: 10.20.0.4 }',
        '',
      ].join('\n'),
    );
    const err = await loadHosts(dir, inv).catch((e: Error) => e);
    expect(String((err as Error).message)).toMatch(/_hosts\.yaml:2:\d+ hosts\[0\]\.port: no device "nope"/);
    expect(String((err as Error).message)).toMatch(/_hosts\.yaml:3:\d+ hosts\[1\]\.port: device access-sw has no interface "Gi9\/9\/9"/);
    expect(String((err as Error).message)).toMatch(/_hosts\.yaml:4:\d+ hosts\[2\]\.segment: no interface has the role segment:guest/);
    expect(String((err as Error).message)).toMatch(/_hosts\.yaml:5:\d+ hosts\[3\]\.name: duplicate host "c"/);
    await writeFile(join(dir, '_hosts.yaml'), 'hosts:\n  - { name: x, address: "10.20.0.1; reboot" }\n');
    await expect(loadHosts(dir, inv)).rejects.toThrow(/_hosts\.yaml:2:\d+ hosts\[0\]\.address: an IPv4 or IPv6 address/);
  });
});
