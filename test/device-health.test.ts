import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkDevice, checkInventory } from '../src/app/device-health.js';
import type { Device, Inventory } from '../src/inventory/types.js';
import { loadInventory } from '../src/inventory/load.js';
import { resolveSecret } from '../src/secrets.js';
import { type SimNetwork, startNetwork } from '../src/sim/network.js';
import { simulators } from '../src/sim/registry.js';
import { parseTopology } from '../src/sim/topology.js';
import { openSession } from '../src/transports/connect.js';
import { repo } from './helpers/lab.js';

/**
 * Device health as the console shows it, against simulated devices: reachable, logged in, host
 * key as pinned; and each way it goes wrong (password changed, host key changed, SNMP credentials
 * wrong, device gone) named by its code, with nothing changed on the device.
 */
let dir: string;
let net: SimNetwork;
let inv: Inventory;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fb-health-'));
  const topology = `${await readFile(join(repo, 'topologies', 'small.yaml'), 'utf8')}\naddressBlock: 127.55.0.0/16\n`;
  net = await startNetwork(parseTopology('health.yaml', topology, { simulators }), {
    dir: join(dir, 'sim'),
    ports: { ssh: 11822, snmp: 11861 },
  });
  inv = await loadInventory(net.inventoryDir);
}, 60_000);
afterAll(async () => {
  await net?.stop();
  await rm(dir, { recursive: true, force: true });
});

const device = (id: string): Device => structuredClone(inv.devices.get(id)!);
const sim = (id: string) => net.devices.find((d) => d.spec.id === id)!;

describe('device health', () => {
  it('every device of the simulated network: reachable, authenticated, host key as pinned', async () => {
    const configs = net.devices.map((d) => d.control.snapshot().config);
    const all = await checkInventory(inv, openSession, resolveSecret);
    expect(all.map((h) => [h.device, h.transport, h.reachable, h.authenticated, h.hostKeyOk])).toEqual(
      [
        ['edge', 'ssh', true, true, true],
        ['fw', 'ssh', true, true, true],
        ['sw', 'snmp', true, true, null],
      ].sort(),
    );
    expect(net.devices.map((d) => d.control.snapshot().config)).toEqual(configs);
  });

  it('a changed password: reachable, not authenticated (AUTH_FAILED)', async () => {
    sim('fw').control.inject({ kind: 'refuse-auth' });
    try {
      const h = await checkDevice(device('fw'), openSession, resolveSecret);
      expect([h.reachable, h.authenticated, h.hostKeyOk, h.code]).toEqual([true, false, true, 'AUTH_FAILED']);
    } finally {
      sim('fw').control.clearFaults();
    }
  });

  it('a host key that is not the pinned one is refused (HOST_KEY_MISMATCH), before any password is sent', async () => {
    const fw = device('fw');
    fw.ssh!.hostKey = `SHA256:${Buffer.alloc(32, 7).toString('base64').replace(/=+$/, '')}`;
    const h = await checkDevice(fw, openSession, resolveSecret);
    expect([h.reachable, h.authenticated, h.hostKeyOk, h.code]).toEqual([true, false, false, 'HOST_KEY_MISMATCH']);
  });

  it('SNMP credentials the agent does not take (it stays silent), and a device that is gone', async () => {
    const sw = device('sw');
    const secret = join(dir, 'wrong-secret');
    await writeFile(secret, 'not-the-key-at-all');
    if (sw.snmp!.version === '3') {
      sw.snmp!.auth.key = `file:${secret}`;
    } else sw.snmp!.community = `file:${secret}`;
    sw.snmp!.timeoutMs = 500;
    sw.snmp!.retries = 0;
    const bad = await checkDevice(sw, openSession, resolveSecret);
    // An SNMPv3 agent drops what fails its authentication: wrong keys look like silence.
    expect(bad.authenticated).toBe(false);
    expect(['SNMP_ERROR', 'DEVICE_UNREACHABLE']).toContain(bad.code);
    const gone = device('edge');
    gone.address = '127.55.250.250';
    gone.ssh!.readyTimeoutMs = 1_000;
    const h = await checkDevice(gone, openSession, resolveSecret);
    expect([h.reachable, h.authenticated, h.code]).toEqual([false, false, 'DEVICE_UNREACHABLE']);
  });
});
