import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { converge, runDriverConformance } from './conformance/driver-conformance.js';
import type { Action } from '../src/actions.js';
import { CISCO_IOS, ciscoIos, saveConfig } from '../src/drivers/cisco-ios.js';
import type { ActionContext } from '../src/drivers/driver.js';
import { getDriver } from '../src/drivers/registry.js';
import { CommandRejected, DeviceTimeout, DeviceUnreachable, HostKeyMismatch } from '../src/errors.js';
import type { Device } from '../src/inventory/types.js';
import { ciscoIosSim } from '../src/sim/cisco-ios.js';
import { simulators } from '../src/sim/registry.js';
import type { RunningSim, SimControl, SimDeviceSpec } from '../src/sim/types.js';
import type { SshSession } from '../src/transports/types.js';
import { lazyControl, openSsh, simDevice } from './helpers/sim.js';

/** Simulated IOS-XE switches on their own loopback addresses; tests assert on the sim's snapshot. */
const PASSWORD = 'ios-sim-pass-4Kx9';
const ENABLE = 'ios-enable-8Vt3';
process.env.FB_TEST_CISCO_IOS_PW = PASSWORD;
process.env.FB_TEST_CISCO_IOS_ENABLE = ENABLE;
process.env.FB_TEST_CISCO_IOS_BAD_ENABLE = 'not-the-enable-6Zq1';

function spec(address: string, extra: Partial<SimDeviceSpec> = {}): SimDeviceSpec {
  return {
    id: `ios-${address.split('.').pop()}`,
    family: 'cisco-ios',
    site: 'lab',
    hostname: 'acc-sw1.city-hall',
    address,
    sshPort: 10022,
    minuteMs: 1000,
    ports: [
      { name: 'GigabitEthernet1/0/1', roles: ['uplink'], mode: 'routed' },
      { name: 'GigabitEthernet1/0/2', roles: ['segment:lan'], mode: 'access', vlan: 20 },
      { name: 'GigabitEthernet1/0/5', mode: 'access', vlan: 10, voiceVlan: 110 },
      { name: 'GigabitEthernet1/0/6' },
      { name: 'GigabitEthernet1/0/7', mode: 'trunk' },
      { name: 'GigabitEthernet1/0/8', adminUp: false, mode: 'access', vlan: 10 },
    ],
    ...extra,
  };
}

function deviceFor(sim: RunningSim, over: { hostKey?: string; enable?: string } = {}): Device {
  return simDevice(sim, {
    driver: 'cisco-ios',
    user: 'netops',
    passwordEnv: 'FB_TEST_CISCO_IOS_PW',
    enableSecret: over.enable ?? 'env:FB_TEST_CISCO_IOS_ENABLE',
    hostKey: over.hostKey,
    // Inventory names may be abbreviated; the driver matches them to what the device prints.
    interfaces: { 'Gi1/0/1': { roles: ['uplink'] }, 'Gi1/0/2': { roles: ['segment:lan'] }, 'Gi1/0/5': { roles: ['access'] } },
  });
}
const ctxOf = (device: Device, tag = 'fb:p1a2b:a3', extra: Partial<ActionContext> = {}): ActionContext => ({
  device,
  tag,
  timeoutMs: 5000,
  ...extra,
});
const open = async (sim: RunningSim, over: { hostKey?: string; enable?: string } = {}) => openSsh(deviceFor(sim, over));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let main: RunningSim;
let edge: RunningSim;
beforeAll(async () => {
  main = await ciscoIosSim(spec('127.0.11.21'), { user: 'netops', password: PASSWORD, enableSecret: ENABLE }, {});
  // No enable secret: the login lands in privileged EXEC at once, after a two-line banner.
  edge = await ciscoIosSim(
    spec('127.0.11.22', {
      hostname: 'edge-rtr.north-1.example',
      banner: 'Authorized access only.\nDisconnect now if you are not.',
      oneExecThenClose: true,
    }),
    { user: 'netops', password: PASSWORD },
    {},
  );
});
afterAll(async () => {
  await main?.stop();
  await edge?.stop();
});

/** main starts in beforeAll; the suite's options are read before that. */
const mainControl: SimControl = lazyControl(() => main);

describe('cisco-ios registry', () => {
  it('registers the driver and the simulator', () => {
    expect(getDriver('cisco-ios')).toBe(ciscoIos);
    expect(simulators['cisco-ios']).toBe(ciscoIosSim);
  });
});

runDriverConformance({
  name: 'cisco-ios @ sim',
  driver: ciscoIos,
  device: async () => deviceFor(main),
  interface: 'GigabitEthernet1/0/5',
  adminUp: async (i) => main.control.snapshot().ports[i]!.adminUp,
  restore: async () => main.control.reset(),
  extended: {
    sim: mainControl,
    deviceWords: /% Invalid input detected at '\^' marker\./,
    vlanPort: 'GigabitEthernet1/0/5',
    trunkPort: 'GigabitEthernet1/0/7',
    egress: { segment: 'lan', interfaces: ['Gi1/0/2'], uplinks: ['Gi1/0/1'] },
    autoRevertWaitMs: 1500,
  },
});

describe('cisco-ios driver on the simulator', () => {
  let ssh: SshSession;
  let ctx: ActionContext;
  const operatorAcl = async () => {
    const sh = await ssh.cli(CISCO_IOS);
    for (const l of [
      'configure terminal',
      'ip access-list extended EDGE-IN',
      '10 permit tcp any any established',
      '20 permit ip any any',
      'exit',
      'interface Gi1/0/1',
      'ip access-group EDGE-IN in',
      'end',
    ]) {
      await sh.send(l);
    }
  };
  beforeAll(async () => {
    ssh = await open(main);
    ctx = ctxOf(deviceFor(main));
  });
  afterEach(() => main.control.reset());
  afterAll(async () => ssh?.close());

  it('port.vlan moves a voice port to the quarantine VLAN; its inverse restores mode, VLAN and voice VLAN exactly', async () => {
    const before = main.control.snapshot();
    const action: Action = { kind: 'port.vlan', interface: 'Gi1/0/5', vlan: 999 };
    const r = await converge(ciscoIos, ssh, action, ctx);
    expect(r.before).toEqual({ interface: 'Gi1/0/5', mode: 'access', vlan: 10, voiceVlan: 110 });
    expect(main.control.snapshot().ports['GigabitEthernet1/0/5']).toMatchObject({ mode: 'access', vlan: 999, voiceVlan: null });
    const inverse = ciscoIos.invert(action, r.before, ctx)!;
    expect(inverse).toEqual({ kind: 'port.restore', interface: 'Gi1/0/5', mode: 'access', vlan: 10, voiceVlan: 110 });
    expect((await converge(ciscoIos, ssh, inverse, ctx)).outcome).toBe('verified');
    expect(main.control.snapshot()).toEqual(before);
  });

  it('a port in the default mode (dynamic auto, VLAN 1) comes back to defaults, config text and all', async () => {
    const before = main.control.snapshot();
    const action: Action = { kind: 'port.vlan', interface: 'GigabitEthernet1/0/6', vlan: 999 };
    const r = await converge(ciscoIos, ssh, action, ctx);
    expect(r.before).toMatchObject({ mode: 'dynamic auto', vlan: 1, voiceVlan: null });
    await converge(ciscoIos, ssh, ciscoIos.invert(action, r.before, ctx)!, ctx);
    expect(main.control.snapshot()).toEqual(before);
  });

  it('a trunk port is refused, nothing changes and the shell is back in privileged EXEC', async () => {
    const before = main.control.snapshot();
    const err = await ciscoIos.apply(ssh, { kind: 'port.vlan', interface: 'Gi1/0/7', vlan: 999 }, ctx).catch((e: Error) => e);
    expect(err).toBeInstanceOf(CommandRejected);
    expect((err as Error).message).toMatch(/Gi1\/0\/7 is a trunk port/);
    expect(main.control.snapshot()).toEqual(before);
    expect((await ssh.cli(CISCO_IOS)).level).toBe('privileged');
  });

  it("host.block adds one tagged group per ACL, inside the operator's ACL before its entries, and unblock removes exactly it", async () => {
    await operatorAcl();
    const before = main.control.snapshot();
    const block: Action = { kind: 'host.block', address: '10.20.0.11' };
    const r = await converge(ciscoIos, ssh, block, ctx);
    expect(r.outcome).toBe('verified');
    const after = main.control.snapshot();
    const ours = after.rules.filter((x) => !before.rules.some((b) => b.id === x.id && b.text === x.text));
    expect(ours).toEqual([
      { id: 'EDGE-IN/1', text: 'remark fb:p1a2b:a3 host.block 10.20.0.11 (2 entries)' },
      { id: 'EDGE-IN/2', text: 'deny ip host 10.20.0.11 any' },
      { id: 'EDGE-IN/3', text: 'deny ip any host 10.20.0.11' },
      { id: 'FB_fb_p1a2b_a3/1', text: 'remark fb:p1a2b:a3 host.block 10.20.0.11 (2 entries)' },
      { id: 'FB_fb_p1a2b_a3/2', text: 'deny ip host 10.20.0.11 any' },
      { id: 'FB_fb_p1a2b_a3/3', text: 'deny ip any host 10.20.0.11' },
      { id: 'FB_fb_p1a2b_a3/10000', text: 'permit ip any any' },
    ]);
    // The operator's entries and access-group stay; the segment port got our own ACL.
    expect(after.rules).toEqual(expect.arrayContaining(before.rules));
    expect(after.config).toContain('interface GigabitEthernet1/0/1\n no switchport\n ip access-group EDGE-IN in');
    expect(after.config).toMatch(/interface GigabitEthernet1\/0\/2\n(?: .*\n)* ip access-group FB_fb_p1a2b_a3 in/);
    // A second run under another tag finds it blocked.
    expect((await converge(ciscoIos, ssh, block, ctxOf(ctx.device, 'fb:other:a1'))).outcome).toBe('already');
    const inverse = ciscoIos.invert(block, r.before, ctx)!;
    expect(inverse).toEqual({ kind: 'host.unblock', address: '10.20.0.11' });
    expect((await converge(ciscoIos, ssh, inverse, ctx)).outcome).toBe('verified');
    expect(main.control.snapshot()).toEqual(before);
  });

  it('egress.block puts the allow-list before a deny on the segment port; a second tag says already; unblock restores', async () => {
    const before = main.control.snapshot();
    const block: Action = {
      kind: 'egress.block',
      segment: 'lan',
      interfaces: ['Gi1/0/2'],
      uplinks: ['Gi1/0/1'],
      allow: ['198.51.100.53', '10.99.0.0/16'],
    };
    const r = await converge(ciscoIos, ssh, block, ctx);
    expect(main.control.snapshot().rules.map((x) => `${x.id} ${x.text}`)).toEqual([
      'FB_fb_p1a2b_a3/1 remark fb:p1a2b:a3 egress.block lan (3 entries)',
      'FB_fb_p1a2b_a3/2 permit ip any host 198.51.100.53',
      'FB_fb_p1a2b_a3/3 permit ip any 10.99.0.0 0.0.255.255',
      'FB_fb_p1a2b_a3/4 deny ip any any',
      'FB_fb_p1a2b_a3/10000 permit ip any any',
    ]);
    expect((await converge(ciscoIos, ssh, block, ctxOf(ctx.device, 'fb:other:a2'))).outcome).toBe('already');
    await converge(ciscoIos, ssh, ciscoIos.invert(block, r.before, ctx)!, ctx);
    expect(main.control.snapshot()).toEqual(before);
  });

  it('overlapping blocks from two runs: the first rollback keeps the host blocked, the last removes everything', async () => {
    const before = main.control.snapshot();
    const block: Action = { kind: 'host.block', address: '10.20.0.0/24' };
    const unblock: Action = { kind: 'host.unblock', address: '10.20.0.0/24' };
    const a = ctxOf(ctx.device, 'fb:run-a:a1');
    const b = ctxOf(ctx.device, 'fb:run-b:a1');
    await ciscoIos.apply(ssh, block, a);
    await ciscoIos.apply(ssh, block, b); // forced, as if both had raced past `holds`
    await converge(ciscoIos, ssh, unblock, a);
    expect(ciscoIos.holds(block, await ciscoIos.read(ssh, block, b), b)).toBe(true);
    await converge(ciscoIos, ssh, unblock, b);
    expect(main.control.snapshot()).toEqual(before);
  });

  it("a command the device rejects surfaces as CommandRejected in the device's words; config mode is left", async () => {
    main.control.inject({ kind: 'reject', on: /^ip access-group/, once: true });
    const err = await ciscoIos.apply(ssh, { kind: 'host.block', address: '10.20.0.12' }, ctx).catch((e: Error) => e);
    expect(err).toBeInstanceOf(CommandRejected);
    expect((err as Error).message).toContain("% Invalid input detected at '^' marker.");
    expect((err as Error).message).toContain('ip access-group FB_fb_p1a2b_a3 in');
    expect((await ssh.cli(CISCO_IOS)).level).toBe('privileged');
    // Rollback cleans up the half-done block: the ACL it made is ours by name and remark.
    await converge(ciscoIos, ssh, { kind: 'host.unblock', address: '10.20.0.12' }, ctx);
    expect(main.control.snapshot().rules).toEqual([]);
  });

  it('IOS error texts: ambiguous and incomplete commands are refused with the device words', async () => {
    const sh = await ssh.cli(CISCO_IOS);
    await expect(sh.send('c')).rejects.toThrow(/% Ambiguous command: {2}"c"/);
    await expect(sh.send('show ip')).rejects.toThrow(/% Incomplete command\./);
    await expect(ciscoIos.apply(ssh, { kind: 'host.block', address: '2001:db8::1' }, ctx)).rejects.toThrow(/IPv4 only/);
  });

  it('a missing VLAN is created with an informational % line that is not an error', async () => {
    await converge(ciscoIos, ssh, { kind: 'port.vlan', interface: 'Gi1/0/2', vlan: 3999 }, ctx);
    expect(main.control.snapshot().ports['GigabitEthernet1/0/2']).toMatchObject({ vlan: 3999 });
  });

  it('the expected question of copy running-config is answered; an unexpected one is a timeout naming it', async () => {
    expect(await saveConfig(ssh, ctx)).toContain('[OK]');
    const fresh = await open(main);
    try {
      const sh = await fresh.cli(CISCO_IOS);
      const err = await sh.send('copy running-config startup-config', { timeoutMs: 400 }).catch((e: Error) => e);
      expect(err).toBeInstanceOf(DeviceTimeout);
      expect((err as Error).message).toContain('Destination filename [startup-config]?');
    } finally {
      await fresh.close();
    }
  });

  it('paging stays on until terminal length 0: a shell that never sends it still reads the whole config past --More--', async () => {
    const sh = await ssh.cli({ ...CISCO_IOS, name: 'cisco-ios-paged', onOpen: [] });
    const out = await sh.send('show running-config');
    expect(out).not.toContain('--More--');
    expect(out).toContain('interface GigabitEthernet1/0/8\n switchport access vlan 10\n switchport mode access\n shutdown');
    expect(out.trimEnd().endsWith('end')).toBe(true);
  });
});

describe('cisco-ios sessions and faults', () => {
  afterEach(() => {
    main.control.reset();
    edge.control.reset();
    main.control.setLatency(0);
  });

  it('hostname with dots and dashes, a banner, no enable secret needed: reads work', async () => {
    const ssh = await open(edge);
    try {
      const sh = await ssh.cli(CISCO_IOS);
      expect(sh.hostname).toBe('edge-rtr.north-1.example');
      expect(sh.level).toBe('privileged');
      expect(await ciscoIos.read(ssh, { kind: 'interface.disable', interface: 'Gi1/0/8' }, ctxOf(deviceFor(edge)))).toEqual({
        interface: 'Gi1/0/8',
        adminUp: false,
      });
    } finally {
      await ssh.close();
    }
  });

  it('a syslog line inside the output is dropped as noise', async () => {
    const ssh = await open(main);
    try {
      main.control.inject({ kind: 'syslog', on: /show running-config interface/ });
      const sh = await ssh.cli(CISCO_IOS);
      const out = await sh.send('show running-config interface Gi1/0/5');
      expect(out).not.toContain('%LINK-3-UPDOWN');
      expect(await ciscoIos.read(ssh, { kind: 'port.vlan', interface: 'Gi1/0/5', vlan: 999 }, ctxOf(deviceFor(main)))).toEqual({
        interface: 'Gi1/0/5',
        mode: 'access',
        vlan: 10,
        voiceVlan: 110,
      });
    } finally {
      await ssh.close();
    }
  });

  it('a slow device (latency above any read window) is waited for by its prompt, not a timer', async () => {
    const ssh = await open(main);
    try {
      await ssh.cli(CISCO_IOS);
      main.control.setLatency(1800);
      expect(await ciscoIos.read(ssh, { kind: 'interface.disable', interface: 'Gi1/0/5' }, ctxOf(deviceFor(main)))).toEqual({
        interface: 'Gi1/0/5',
        adminUp: true,
      });
    } finally {
      await ssh.close();
    }
  });

  it('a wrong enable secret is refused with the device words and never echoed', async () => {
    const ssh = await open(main, { enable: 'env:FB_TEST_CISCO_IOS_BAD_ENABLE' });
    try {
      const err = await ssh.cli(CISCO_IOS).catch((e: Error) => e);
      expect(err).toBeInstanceOf(CommandRejected);
      expect((err as Error).message).toMatch(/% Bad secrets/);
      expect((err as Error).message).not.toContain('not-the-enable-6Zq1');
    } finally {
      await ssh.close();
    }
  });

  it('hang -> DeviceTimeout; drop -> DeviceUnreachable; wrong host key -> HostKeyMismatch', async () => {
    const ctx = ctxOf(deviceFor(main), 'fb:p1a2b:a3', { timeoutMs: 500 });
    const disable: Action = { kind: 'interface.disable', interface: 'Gi1/0/5' };
    const a = await open(main);
    await a.cli(CISCO_IOS);
    main.control.inject({ kind: 'hang', on: /show running-config/, once: true });
    await expect(ciscoIos.read(a, disable, ctx)).rejects.toBeInstanceOf(DeviceTimeout);
    await a.close();
    const b = await open(main);
    await b.cli(CISCO_IOS);
    main.control.inject({ kind: 'drop', on: /^shutdown/, once: true });
    await expect(ciscoIos.apply(b, disable, ctx)).rejects.toBeInstanceOf(DeviceUnreachable);
    await b.close();
    expect(main.control.snapshot().ports['GigabitEthernet1/0/5']!.adminUp).toBe(true);
    await expect(open(main, { hostKey: `SHA256:${'A'.repeat(43)}` })).rejects.toBeInstanceOf(HostKeyMismatch);
  });

  it('IOS serves one exec per connection and then closes it', async () => {
    const ssh = await open(edge);
    try {
      expect((await ssh.execChannel('show version')).stdout).toContain('Cisco IOS XE Software');
      await sleep(50);
      await expect(ssh.execChannel('show version')).rejects.toBeInstanceOf(DeviceUnreachable);
    } finally {
      await ssh.close();
    }
  });
});

describe('cisco-ios device-side auto-revert (revert timer, 1 platform minute = 1 s)', () => {
  const disable: Action = { kind: 'interface.disable', interface: 'Gi1/0/5' };
  let ssh: SshSession;
  let ctx: ActionContext;
  beforeAll(async () => {
    ssh = await open(main);
    ctx = ctxOf(deviceFor(main), 'fb:p1a2b:a3', { autoRevert: { minutes: 1 } });
  });
  afterEach(() => main.control.reset());
  afterAll(async () => ssh?.close());

  it('armed and never confirmed: the device reverts by itself when the timer ends', async () => {
    await converge(ciscoIos, ssh, disable, ctx);
    expect(main.control.snapshot().ports['GigabitEthernet1/0/5']!.adminUp).toBe(false);
    expect(await (await ssh.cli(CISCO_IOS)).send('show archive config rollback timer')).toMatch(/Timer value: 1 min/);
    main.control.inject({ kind: 'never-confirm' });
    await ciscoIos.confirm!(ssh, disable, ctx);
    await sleep(1400);
    expect(main.control.snapshot().ports['GigabitEthernet1/0/5']!.adminUp).toBe(true);
  });

  it('armed and confirmed: the change stays; confirming again says nothing is pending', async () => {
    await converge(ciscoIos, ssh, disable, ctx);
    expect(await ciscoIos.confirm!(ssh, disable, ctx)).toBe('confirmed');
    await sleep(1400);
    expect(main.control.snapshot().ports['GigabitEthernet1/0/5']!.adminUp).toBe(false);
    expect(await ciscoIos.confirm!(ssh, disable, ctx)).toMatch(/nothing pending/);
  });

  it('without archive the device refuses the revert timer, and nothing changes', async () => {
    const sh = await ssh.cli(CISCO_IOS);
    for (const l of ['configure terminal', 'no archive', 'end']) await sh.send(l);
    await expect(ciscoIos.apply(ssh, disable, ctx)).rejects.toThrow(/Turn config archive on/);
    expect(main.control.snapshot().ports['GigabitEthernet1/0/5']!.adminUp).toBe(true);
    expect(sh.level).toBe('privileged');
  });
});
