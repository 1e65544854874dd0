import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { converge, runDriverConformance } from './conformance/driver-conformance.js';
import { describeLab, lab, labSecrets, linkUp, reach, resetLab } from './helpers/lab.js';
import { canReach } from '../src/lab/lab.js';
import { loadInventory } from '../src/inventory/load.js';
import type { Device } from '../src/inventory/types.js';
import type { Action } from '../src/actions.js';
import type { ActionContext } from '../src/drivers/driver.js';
import type { SnmpSession, SshSession } from '../src/transports/types.js';
import { linux } from '../src/drivers/linux.js';
import { snmpIfmib } from '../src/drivers/snmp-ifmib.js';
import { drivers, getDriver } from '../src/drivers/registry.js';
import { openSsh } from '../src/transports/ssh.js';
import { openSnmp } from '../src/transports/snmp.js';
import { AuthFailed, CommandRejected, DeviceTimeout, DeviceUnreachable, HostKeyMismatch, SnmpError, UnknownDriver } from '../src/errors.js';
import { resolveSecret } from '../src/secrets.js';
import { newHostKey } from '../src/sim/cli-server.js';

async function labDevice(id: 'fw' | 'sw'): Promise<Device> {
  const device = (await loadInventory(lab.inventoryDir)).devices.get(id);
  if (!device) throw new Error(`lab inventory has no ${id}`);
  return device;
}
/** The sw also runs sshd: the linux driver can drive the Linux bridge directly. */
async function swOverSsh(): Promise<Device> {
  return { ...(await labDevice('sw')), driver: 'linux', snmp: undefined };
}
const upIn = (ns: string) => (dev: string) => linkUp(ns, dev);

/**
 * snmpd caches IF-MIB: a change made outside SNMP (resetLab uses `ip link`) shows in ifAdminStatus
 * only ~2-3 s later. A SET through SNMP updates its view at once, so the sw is restored through it.
 */
async function restoreSw(): Promise<void> {
  await resetLab();
  const sw = await labDevice('sw');
  const snmp = await openSnmp(sw, resolveSecret);
  try {
    await snmpIfmib.apply(snmp, { kind: 'interface.enable', interface: 'swp2' }, ctxFor(sw));
  } finally {
    await snmp.close();
  }
}
const ctxFor = (device: Device, tag = 'fb:t-1:a1'): ActionContext => ({ device, tag, timeoutMs: 10_000 });

describe('driver registry', () => {
  it('knows linux and snmp-ifmib and names them for an unknown family', () => {
    expect(getDriver('linux')).toBe(linux);
    expect(getDriver('snmp-ifmib')).toBe(snmpIfmib);
    expect(Object.keys(drivers).sort()).toEqual([
      'arista-eos',
      'aruba-aoscx',
      'cisco-ios',
      'fortios',
      'junos',
      'linux',
      'routeros',
      'snmp-cisco-vlan',
      'snmp-ifmib',
      'snmp-pdu',
      'snmp-qbridge',
    ]);
    expect(() => getDriver('cisco-nope')).toThrow(UnknownDriver);
    expect(() => getDriver('cisco-nope')).toThrow(/known: .*linux, .*snmp-ifmib/);
    expect(() => getDriver('toString')).toThrow(UnknownDriver);
  });
});

describeLab('conformance on the lab', () => {
  // Never mgmt0: that is our own path to the device.
  runDriverConformance({
    name: 'linux @ lab fw',
    driver: linux,
    device: () => labDevice('fw'),
    interface: 'eth-uplink',
    adminUp: upIn('fb-fw'),
    restore: resetLab,
  });
  runDriverConformance({
    name: 'linux @ lab sw (ssh)',
    driver: linux,
    device: swOverSsh,
    interface: 'swp2',
    adminUp: upIn('fb-sw'),
    restore: resetLab,
  });
  runDriverConformance({
    name: 'snmp-ifmib @ lab sw',
    driver: snmpIfmib,
    device: () => labDevice('sw'),
    interface: 'swp2',
    adminUp: upIn('fb-sw'),
    restore: restoreSw,
  });
});

describeLab('linux driver on the lab fw, checked by traffic', () => {
  let fw: Device;
  let ssh: SshSession;
  beforeAll(async () => {
    fw = await labDevice('fw');
    ssh = await openSsh(fw, resolveSecret);
    await resetLab();
  });
  afterEach(resetLab);
  afterAll(async () => ssh?.close());

  it('interface.disable eth-uplink cuts h1; its inverse brings back the link and the default route', async () => {
    const ctx = ctxFor(fw);
    const cut = await converge(linux, ssh, { kind: 'interface.disable', interface: 'eth-uplink' }, ctx);
    expect(cut.before).toMatchObject({ adminUp: true, routes: [{ dst: 'default', gateway: '198.51.100.1' }] });
    expect(cut.after).toMatchObject({ adminUp: false, routes: [] }); // the kernel dropped the default route
    expect(await reach('h1')).toBe(false);
    const inverse = linux.invert({ kind: 'interface.disable', interface: 'eth-uplink' }, cut.before, ctx)!;
    expect(inverse).toEqual({ kind: 'interface.enable', interface: 'eth-uplink', routes: [{ dst: 'default', gateway: '198.51.100.1' }] });
    const back = await converge(linux, ssh, inverse, ctx);
    expect(back.after).toEqual(cut.before);
    expect(await reach('h1')).toBe(true);
  });

  it('host.block 10.20.0.11 stops h1 only; host.unblock with the same tag restores it', async () => {
    const ctx = ctxFor(fw, 'fb:t-2:a1');
    const block = { kind: 'host.block', address: '10.20.0.11' } as const;
    expect(await reach('h1')).toBe(true);
    const r = await converge(linux, ssh, block, ctx);
    expect(r.outcome).toBe('verified');
    expect(await reach('h1')).toBe(false);
    expect(await reach('h2')).toBe(true);
    // A second run, under another tag, finds it done.
    expect((await converge(linux, ssh, block, ctxFor(fw, 'fb:t-3:a1'))).outcome).toBe('already');
    const inverse = linux.invert(block, r.before, ctx);
    expect(inverse).toEqual({ kind: 'host.unblock', address: '10.20.0.11' });
    expect(linux.invert(block, r.after, ctx)).toBeNull();
    const back = await converge(linux, ssh, inverse!, ctx);
    expect(back.after).toEqual({ address: '10.20.0.11', rules: [] });
    expect(await reach('h1')).toBe(true);
  });

  it('host.unblock removes only its own tag: overlapping blocks keep the host blocked until the last goes', async () => {
    const block = { kind: 'host.block', address: '10.20.0.11' } as const;
    const unblock = { kind: 'host.unblock', address: '10.20.0.11' } as const;
    const a = ctxFor(fw, 'fb:run-a:a1');
    const b = ctxFor(fw, 'fb:run-b:a1');
    await linux.apply(ssh, block, a);
    await linux.apply(ssh, block, b);
    await converge(linux, ssh, unblock, a);
    expect(linux.holds(block, await linux.read(ssh, block, b), b)).toBe(true);
    expect(await reach('h1')).toBe(false);
    await converge(linux, ssh, unblock, b);
    expect(await reach('h1')).toBe(true);
  });

  it('host.block of an IPv6 prefix writes ip6 rules that read back', async () => {
    const ctx = ctxFor(fw);
    const block = { kind: 'host.block', address: '2001:db8:7::/48' } as const;
    expect(linux.render(block, ctx).join('\n')).toContain('ip6 saddr 2001:db8:7::/48');
    await converge(linux, ssh, block, ctx);
    await converge(linux, ssh, { kind: 'host.unblock', address: '2001:db8:7::/48' }, ctx);
    expect(await reach('h1')).toBe(true);
  });

  it('egress.block lan cuts both hosts; egress.unblock restores them', async () => {
    const ctx = ctxFor(fw);
    const block: Action = { kind: 'egress.block', segment: 'lan', interfaces: ['eth-lan'], uplinks: ['eth-uplink'], allow: [] };
    const r = await converge(linux, ssh, block, ctx);
    expect(await reach('h1')).toBe(false);
    expect(await reach('h2')).toBe(false);
    expect((await converge(linux, ssh, block, ctxFor(fw, 'fb:t-9:a1'))).outcome).toBe('already');
    const inverse = linux.invert(block, r.before, ctx);
    expect(inverse).toEqual({ kind: 'egress.unblock', segment: 'lan' });
    await converge(linux, ssh, inverse!, ctx);
    expect(await reach('h1')).toBe(true);
    expect(await reach('h2')).toBe(true);
  });

  it('egress.block with an allow-list lets the allowed address through and nothing else', async () => {
    const ctx = ctxFor(fw);
    const block: Action = {
      kind: 'egress.block',
      segment: 'lan',
      interfaces: ['eth-lan'],
      uplinks: ['eth-uplink'],
      allow: ['198.51.100.200'],
    };
    await converge(linux, ssh, block, ctx);
    expect(await canReach('fb-h1', '198.51.100.200')).toBe(true);
    expect(await canReach('fb-h1', '198.51.100.1')).toBe(false);
    await converge(linux, ssh, { kind: 'egress.unblock', segment: 'lan' }, ctx);
    expect(await canReach('fb-h1', '198.51.100.1')).toBe(true);
  });
});

describeLab('transports against the lab', () => {
  const errors: string[] = [];
  const wrongAuth = 'wrong-auth-key-' + Math.random().toString(36).slice(2);
  const catchErr = async (p: Promise<unknown>): Promise<Error> => {
    try {
      await p;
    } catch (err) {
      errors.push((err as Error).message);
      return err as Error;
    }
    throw new Error('expected a rejection');
  };
  const acceptedLogins = () => (readFileSync(join(lab.fwDir, 'sshd.log'), 'utf8').match(/Accepted publickey/g) ?? []).length;

  afterAll(async () => {
    await resetLab();
    // Not one secret (lab's or the wrong key we sent) in any error message.
    expect(errors.length).toBeGreaterThan(5);
    for (const secret of [...labSecrets(), wrongAuth]) for (const m of errors) expect(m).not.toContain(secret);
  });

  it('a wrong host-key pin is refused before authentication', async () => {
    const fw = await labDevice('fw');
    const logins = acceptedLogins();
    const bad = 'SHA256:' + 'A'.repeat(43);
    const err = await catchErr(openSsh({ ...fw, ssh: { ...fw.ssh!, hostKey: bad } }, resolveSecret));
    expect(err).toBeInstanceOf(HostKeyMismatch);
    expect(err.message).toContain('fw');
    expect(err.message).toContain(bad);
    expect(err.message).toContain(fw.ssh!.hostKey); // the key it really presented
    expect(acceptedLogins()).toBe(logins); // never logged in, so no command could run
  });

  it('nothing listening -> DeviceUnreachable naming the device, address:port and the cause', async () => {
    const fw = await labDevice('fw');
    const err = await catchErr(openSsh({ ...fw, ssh: { ...fw.ssh!, port: 2222 } }, resolveSecret));
    expect(err).toBeInstanceOf(DeviceUnreachable);
    expect(err.message).toMatch(/fw.*10\.250\.1\.2:2222.*ECONNREFUSED/);
  }, 10_000);

  it('a key the device does not know -> AuthFailed', async () => {
    const fw = await labDevice('fw');
    process.env.FB_TEST_STRANGER_KEY = newHostKey(false);
    const err = await catchErr(openSsh({ ...fw, ssh: { ...fw.ssh!, key: 'env:FB_TEST_STRANGER_KEY' } }, resolveSecret));
    expect(err).toBeInstanceOf(AuthFailed);
    expect(err.message).toContain('10.250.1.2:22');
  });

  it('exec past its timeout -> DeviceTimeout, and the session still works', async () => {
    const ssh = await openSsh(await labDevice('fw'), resolveSecret);
    try {
      const err = await catchErr(ssh.exec('sleep 3', { timeoutMs: 300 }));
      expect(err).toBeInstanceOf(DeviceTimeout);
      expect(err.message).toMatch(/fw .*"sleep 3".*300 ms/);
      expect((await ssh.exec('echo ok')).stdout).toBe('ok');
      // (The remote sleep may run on: OpenSSH refuses signal requests for root logins.)
    } finally {
      await ssh.close();
    }
  });

  it('a connection dropped during exec -> DeviceUnreachable, and the process survives', async () => {
    const ssh = await openSsh(await labDevice('fw'), resolveSecret);
    // Kill the sshd child serving this very connection.
    const err = await catchErr(ssh.exec('kill -TERM $PPID; sleep 5', { timeoutMs: 8000 }));
    expect(err).toBeInstanceOf(DeviceUnreachable);
    expect(await catchErr(ssh.exec('true'))).toBeInstanceOf(DeviceUnreachable);
    await ssh.close();
  });

  // snmpd answers a wrong auth key with a usmStatsWrongDigests report, but a wrong priv key only
  // with silence: one is AuthFailed at once, the other a timeout that says keys may be the cause.
  it('a wrong SNMP v3 auth key -> AuthFailed at open', async () => {
    const sw = await labDevice('sw');
    if (sw.snmp?.version !== '3') throw new Error('lab sw should use SNMP v3');
    process.env.FB_TEST_WRONG_KEY = wrongAuth;
    const bad: Device = {
      ...sw,
      snmp: { ...sw.snmp, timeoutMs: 500, retries: 1, auth: { ...sw.snmp.auth, key: 'env:FB_TEST_WRONG_KEY' } },
    };
    const err = await catchErr(openSnmp(bad, resolveSecret));
    expect(err).toBeInstanceOf(AuthFailed);
    expect(err.message).toMatch(/sw .*firebreak/);
  }, 5_000);

  it('a wrong SNMP v3 priv key -> DeviceUnreachable (a timeout) in bounded time, naming keys as a cause', async () => {
    const sw = await labDevice('sw');
    if (sw.snmp?.version !== '3') throw new Error('lab sw should use SNMP v3');
    process.env.FB_TEST_WRONG_KEY = wrongAuth;
    const bad: Device = {
      ...sw,
      snmp: { ...sw.snmp, timeoutMs: 500, retries: 1, priv: { ...sw.snmp.priv, key: 'env:FB_TEST_WRONG_KEY' } },
    };
    const err = await catchErr(openSnmp(bad, resolveSecret));
    expect(err).toBeInstanceOf(DeviceUnreachable);
    expect(err.message).toMatch(/2 x 500 ms.*wrong community or wrong v3 keys/);
  }, 5_000);

  it('a SET with the v2c read-only community -> CommandRejected (noAccess), port unchanged', async () => {
    const sw = await labDevice('sw');
    const ro: Device = {
      ...sw,
      snmp: { version: '2c', port: 161, community: `file:${lab.secrets.swRoCommunity}`, timeoutMs: 2000, retries: 1 },
    };
    const snmp = await openSnmp(ro, resolveSecret);
    try {
      const ctx = ctxFor(ro);
      const disable = { kind: 'interface.disable', interface: 'swp2' } as const;
      expect(await snmpIfmib.read(snmp, disable, ctx)).toMatchObject({ adminStatus: 1 });
      const err = await catchErr(snmpIfmib.apply(snmp, disable, ctx));
      expect(err).toBeInstanceOf(CommandRejected);
      expect(err.message).toMatch(/noAccess.*1\.3\.6\.1\.2\.1\.2\.2\.1\.7\.\d+/);
      expect(await linkUp('fb-sw', 'swp2')).toBe(true);
    } finally {
      await snmp.close();
    }
  });

  it('SNMP: a missing object -> SnmpError naming the OID; several varbinds in one GET; walk', async () => {
    const snmp: SnmpSession = await openSnmp(await labDevice('sw'), resolveSecret);
    try {
      const err = await catchErr(snmp.get(['1.3.6.1.2.1.1.3.0', '1.3.6.1.2.1.2.2.1.7.999']));
      expect(err).toBeInstanceOf(SnmpError);
      expect(err.message).toContain('1.3.6.1.2.1.2.2.1.7.999');
      const both = await snmp.get(['1.3.6.1.2.1.1.3.0', '1.3.6.1.2.1.1.5.0']);
      expect(String(both.get('1.3.6.1.2.1.1.5.0'))).toBe('sw');
      const names = [...(await snmp.walk('1.3.6.1.2.1.31.1.1.1.1')).values()].map(String);
      expect(names).toEqual(expect.arrayContaining(['swp1', 'swp2', 'swp-up', 'mgmt0']));
    } finally {
      await snmp.close();
    }
  });

  it('an unknown port name lists known ones', async () => {
    const sw = await labDevice('sw');
    const snmp = await openSnmp(sw, resolveSecret);
    try {
      const err = await catchErr(snmpIfmib.read(snmp, { kind: 'interface.disable', interface: 'swp9' }, ctxFor(sw)));
      expect(err).toBeInstanceOf(CommandRejected);
      expect(err.message).toMatch(/swp9.*known: .*swp1/);
    } finally {
      await snmp.close();
    }
  });
});
