import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { converge, runDriverConformance } from './conformance/driver-conformance.js';
import type { Action } from '../src/actions.js';
import { getDriver } from '../src/drivers/registry.js';
import { parseTerse, ROUTEROS_PLATFORM, routeros } from '../src/drivers/routeros.js';
import { CommandRejected, DeviceTimeout, DeviceUnreachable, HostKeyMismatch } from '../src/errors.js';
import type { Device } from '../src/inventory/types.js';
import { simulators } from '../src/sim/registry.js';
import { routerosSim } from '../src/sim/routeros.js';
import type { RunningSim, SimDeviceSpec } from '../src/sim/types.js';
import { openSession } from '../src/transports/connect.js';
import type { SshSession } from '../src/transports/types.js';
import { resolveSecret } from '../src/secrets.js';
import { ctxOf, lazyControl, openSsh, simDevice } from './helpers/sim.js';

/** Simulated RouterOS boxes on 127.0.15.x:10022; tests assert on the sim's snapshot and the driver's read-back. */
const PASSWORD = 'ros-sim-pass-7Qw2';
process.env.FB_TEST_ROUTEROS_PW = PASSWORD;

function spec(address: string, extra: Partial<SimDeviceSpec> = {}): SimDeviceSpec {
  return {
    id: `ros-${address.split('.').pop()}`,
    family: 'routeros',
    site: 'lab',
    hostname: 'edge-gw.site-3.example',
    address,
    sshPort: 10022,
    ports: [
      { name: 'ether1', roles: ['uplink'] },
      { name: 'ether2', roles: ['access'], mode: 'access', vlan: 10, voiceVlan: 40 },
      { name: 'ether3', roles: ['access'], mode: 'access', vlan: 10 },
      { name: 'ether4', roles: ['trunk'], mode: 'trunk', vlan: 1 },
      { name: 'ether5', roles: ['segment:lan'] },
      { name: 'ether8', adminUp: false },
    ],
    ...extra,
  };
}

/** `user` is the inventory's login name: `admin+cte` turns colours off, plain `admin` gets them. */
function deviceFor(sim: RunningSim, user = 'admin+cte', hostKey = sim.hostKey!): Device {
  return simDevice(sim, {
    driver: 'routeros',
    user,
    passwordEnv: 'FB_TEST_ROUTEROS_PW',
    hostKey,
    interfaces: { ether1: { roles: ['uplink'] }, ether5: { roles: ['segment:lan'] } },
  });
}

let main: RunningSim;
let colour: RunningSim;
let banner: RunningSim;
beforeAll(async () => {
  // The shared sim server matches the login name exactly, so each sim is told the name it is logged in with.
  main = await routerosSim(spec('127.0.15.11'), { user: 'admin', password: PASSWORD }, {});
  colour = await routerosSim(spec('127.0.15.12', { hostname: 'MikroTik' }), { user: 'admin', password: PASSWORD }, {});
  banner = await routerosSim(
    spec('127.0.15.13', { hostname: 'core-rtr.b-2', banner: '  MikroTik RouterOS 7.15.3 (c) 1999-2024       https://www.mikrotik.com/\n' }),
    { user: 'admin', password: PASSWORD },
    {},
  );
});
afterAll(async () => {
  await Promise.all([main?.stop(), colour?.stop(), banner?.stop()]);
});
const open = async (sim: RunningSim, user?: string) => openSsh(deviceFor(sim, user));

describe('routeros registration', () => {
  it('is in both registries', () => {
    expect(getDriver('routeros')).toBe(routeros);
    expect(simulators.routeros).toBe(routerosSim);
  });
});

runDriverConformance({
  name: 'routeros @ sim',
  driver: routeros,
  device: async () => deviceFor(main),
  interface: 'ether3',
  adminUp: async (iface) => main.control.snapshot().ports[iface]!.adminUp,
  restore: async () => main.control.reset(),
  extended: {
    // The sim starts in beforeAll; the suite is declared before that.
    sim: lazyControl(() => main),
    deviceWords: /syntax error \(line 1 column \d+\)/,
    vlanPort: 'ether2',
    trunkPort: 'ether4',
    quarantineVlan: 999,
    egress: { segment: 'lan', interfaces: ['ether5'], uplinks: ['ether1'] },
  },
});

describe('routeros driver against the simulator', () => {
  let ssh: SshSession;
  let device: Device;
  beforeAll(async () => {
    device = deviceFor(main);
    ssh = await open(main);
  });
  afterAll(async () => ssh?.close());
  const fresh = () => main.control.reset();

  it('port.vlan quarantines a voice port, read-back agrees with the sim, and the inverse restores it exactly', async () => {
    fresh();
    const before = main.control.snapshot();
    const ctx = ctxOf(device);
    const move: Action = { kind: 'port.vlan', interface: 'ether2', vlan: 999 };
    const r = await converge(routeros, ssh, move, ctx);
    expect(r.before).toMatchObject({ mode: 'admit-all', vlan: 10, voiceVlan: 40 });
    expect(r.after).toMatchObject({ mode: 'admit-only-untagged-and-priority-tagged', vlan: 999, voiceVlan: null, tagged: [] });
    expect(main.control.snapshot().ports.ether2).toEqual({
      adminUp: true,
      mode: 'admit-only-untagged-and-priority-tagged',
      vlan: 999,
      voiceVlan: null,
    });
    // The voice VLAN entry keeps its other members.
    expect(main.control.snapshot().config).toMatch(/add bridge=bridge1 tagged=bridge1 untagged="" vlan-ids=40/);
    const inverse = routeros.invert(move, r.before, ctx)!;
    expect(inverse).toEqual({ kind: 'port.restore', interface: 'ether2', mode: 'admit-all', vlan: 10, voiceVlan: 40 });
    expect((await converge(routeros, ssh, inverse, ctx)).outcome).toBe('verified');
    expect(main.control.snapshot()).toEqual(before);
  });

  it('port.vlan refuses a trunk and a routed port, changing nothing', async () => {
    fresh();
    const before = main.control.snapshot();
    const ctx = ctxOf(device);
    await expect(routeros.apply(ssh, { kind: 'port.vlan', interface: 'ether4', vlan: 999 }, ctx)).rejects.toThrow(/trunk/);
    await expect(routeros.read(ssh, { kind: 'port.vlan', interface: 'ether1', vlan: 999 }, ctx)).rejects.toThrow(/not a bridge port/);
    await expect(routeros.read(ssh, { kind: 'port.vlan', interface: 'ether77', vlan: 999 }, ctx)).rejects.toThrow(CommandRejected);
    expect(main.control.snapshot()).toEqual(before);
  });

  it('host.block adds one tagged set in front of the operator rules; a second tag is already; unblock removes exactly it', async () => {
    fresh();
    const before = main.control.snapshot();
    const block: Action = { kind: 'host.block', address: '10.20.0.11' };
    const r = await converge(routeros, ssh, block, ctxOf(device));
    expect(r.outcome).toBe('verified');
    const during = main.control.snapshot();
    const ours = during.rules.filter((x) => x.id === 'fb:p1a2b:a3 host.block 10.20.0.11');
    expect(ours.map((x) => x.text)).toEqual([
      expect.stringMatching(/^\/ip firewall filter add action=drop chain=forward comment=".*" src-address-list=fb-p1a2b-a3$/),
      expect.stringMatching(/^\/ip firewall filter add action=drop chain=forward comment=".*" dst-address-list=fb-p1a2b-a3$/),
      expect.stringMatching(/^\/ip firewall address-list add address=10\.20\.0\.11 comment=".*" list=fb-p1a2b-a3$/),
    ]);
    expect(during.rules.length).toBe(before.rules.length + 3);
    // Ours come first in the forward chain; the operator's rules follow unchanged and in order.
    expect(during.config.indexOf('fb:p1a2b:a3')).toBeLessThan(during.config.indexOf('defconf: accept established'));
    for (const rule of before.rules) expect(during.rules).toContainEqual(rule);
    expect((await converge(routeros, ssh, block, ctxOf(device, 'fb:other:a1'))).outcome).toBe('already');
    const back = await converge(routeros, ssh, routeros.invert(block, r.before, ctxOf(device))!, ctxOf(device));
    expect(back.after).toMatchObject({ rules: [], entries: [] });
    expect(main.control.snapshot()).toEqual(before);
  });

  it('host.block of an IPv6 prefix goes to /ipv6 firewall', async () => {
    fresh();
    const block: Action = { kind: 'host.block', address: '2001:db8:7::/48' };
    expect(routeros.render(block, ctxOf(device)).join('\n')).toContain('/ipv6 firewall address-list add');
    await converge(routeros, ssh, block, ctxOf(device));
    expect(main.control.snapshot().rules.filter((x) => x.text.startsWith('/ipv6 firewall filter')).length).toBe(2);
    await converge(routeros, ssh, { kind: 'host.unblock', address: '2001:db8:7::/48' }, ctxOf(device));
    expect(main.control.snapshot().rules.some((x) => x.text.startsWith('/ipv6'))).toBe(false);
  });

  it('egress.block with an allow-list: a drop per family that spares the allow-list; unblock removes exactly ours', async () => {
    fresh();
    const before = main.control.snapshot();
    const block: Action = { kind: 'egress.block', segment: 'lan', interfaces: ['ether5'], uplinks: ['ether1'], allow: ['198.51.100.200'] };
    const r = await converge(routeros, ssh, block, ctxOf(device));
    const ours = main.control.snapshot().rules.filter((x) => x.id === 'fb:p1a2b:a3 egress.block lan');
    expect(ours.map((x) => x.text).sort()).toEqual([
      expect.stringMatching(/^\/ip firewall address-list add address=198\.51\.100\.200 comment=".*" list=fb-p1a2b-a3-allow$/),
      expect.stringMatching(
        /^\/ip firewall filter add action=drop chain=forward comment=".*" dst-address-list=!fb-p1a2b-a3-allow in-interface=ether5 out-interface=ether1$/,
      ),
      expect.stringMatching(/^\/ipv6 firewall filter add action=drop chain=forward comment=".*" in-interface=ether5 out-interface=ether1$/),
    ]);
    expect((await converge(routeros, ssh, block, ctxOf(device, 'fb:other:a2'))).outcome).toBe('already');
    await converge(routeros, ssh, routeros.invert(block, r.before, ctxOf(device))!, ctxOf(device));
    expect(main.control.snapshot()).toEqual(before);
  });

  it('a retried apply under the same tag replaces its own leftovers instead of failing on a duplicate entry', async () => {
    fresh();
    const block: Action = { kind: 'host.block', address: '10.20.0.12' };
    await routeros.apply(ssh, block, ctxOf(device));
    await routeros.apply(ssh, block, ctxOf(device));
    expect(main.control.snapshot().rules.filter((x) => x.id.startsWith('fb:p1a2b:a3')).length).toBe(3);
  });

  it('the device refusing a command surfaces its own words', async () => {
    fresh();
    const sh = await ssh.cli(ROUTEROS_PLATFORM);
    await expect(sh.send('/interface frobnicate ether3')).rejects.toThrow(/bad command name frobnicate \(line 1 column 12\)/);
    await expect(sh.send('/interface bridge port set [find interface=ether3] pvid=5000')).rejects.toThrow(/value of pvid out of range/);
    await expect(sh.send('/ip firewall address-list add list=mgmt address=10.250.0.0/24')).rejects.toThrow(
      /failure: already have such entry/,
    );
    await expect(routeros.apply(ssh, { kind: 'interface.disable', interface: 'ether77' }, ctxOf(device))).rejects.toThrow(
      /ether77.*no such item/,
    );
    // An empty [find] is silent on RouterOS: the driver reads first, so a ghost port is still refused.
    await expect(routeros.apply(ssh, { kind: 'port.vlan', interface: 'ether77', vlan: 999 }, ctxOf(device))).rejects.toThrow(
      /does not exist/,
    );
  });

  it('paging: a long print without without-paging is paged at the PTY height and the session answers the pager', async () => {
    const sh = await ssh.cli(ROUTEROS_PLATFORM);
    for (let i = 0; i < 30; i++) await sh.send(`/ip firewall address-list add list=many address=10.99.0.${i}`);
    const out = await sh.send('/ip firewall address-list print terse');
    expect(parseTerse(out).filter((x) => x.f.list === 'many')).toHaveLength(30);
    expect(out).not.toContain('Q quit');
    fresh();
  });
});

describe('routeros session edge cases', () => {
  it('colours on (login without +cte): prompts and rows carry ANSI codes, the driver still reads and acts', async () => {
    const ssh = await open(colour, 'admin');
    try {
      const sh = await ssh.cli(ROUTEROS_PLATFORM);
      expect(sh.hostname).toBe('MikroTik');
      const d = deviceFor(colour, 'admin');
      const r = await converge(routeros, ssh, { kind: 'interface.disable', interface: 'ether3' }, ctxOf(d));
      expect(r.after).toEqual({ interface: 'ether3', adminUp: false });
      expect(colour.control.snapshot().ports.ether3!.adminUp).toBe(false);
      expect(await routeros.read(ssh, { kind: 'interface.disable', interface: 'ether3' }, ctxOf(d))).toEqual({
        interface: 'ether3',
        adminUp: false,
      });
    } finally {
      colour.control.reset();
      await ssh.close();
    }
  });

  it('a hostname with dots and dashes behind a banner; menu prompts and Safe-Mode-style prompts are recognised', async () => {
    const ssh = await open(banner);
    try {
      const sh = await ssh.cli(ROUTEROS_PLATFORM);
      expect(sh.hostname).toBe('core-rtr.b-2');
      await sh.send('/interface bridge');
      expect(await sh.send('print terse')).toMatch(/name=bridge1 .*vlan-filtering=yes/);
      // Absolute paths work from inside a menu.
      const r = await converge(routeros, ssh, { kind: 'interface.disable', interface: 'ether5' }, ctxOf(deviceFor(banner)));
      expect(r.outcome).toBe('verified');
      await sh.send('/');
      const prompt = ROUTEROS_PLATFORM.levels[0]!.prompt('core-rtr\\.b-2');
      for (const p of [
        '[admin@core-rtr.b-2] > ',
        '[admin@core-rtr.b-2] /interface bridge port> ',
        '[admin@core-rtr.b-2] <SAFE> ',
        '[admin@core-rtr.b-2] /ip firewall<SAFE> ',
      ]) {
        expect(p).toMatch(prompt);
      }
      expect('[admin@core-rtr.b-22] > ').not.toMatch(prompt);
    } finally {
      banner.control.reset();
      await ssh.close();
    }
  });

  it('a syslog line inside output is ignored by the read-back', async () => {
    const ssh = await open(main);
    try {
      const d = deviceFor(main);
      await routeros.read(ssh, { kind: 'interface.disable', interface: 'ether3' }, ctxOf(d));
      main.control.inject({
        kind: 'syslog',
        on: /print/,
        line: '12:01:07 system,info,account user admin logged in from 10.1.1.1 via ssh',
        once: true,
      });
      expect(await routeros.read(ssh, { kind: 'host.block', address: '10.20.0.11' }, ctxOf(d))).toEqual({
        subject: 'host.block 10.20.0.11',
        rules: [],
        entries: [],
      });
      main.control.inject({ kind: 'syslog', on: /print/, line: '12:01:08 interface,info ether3 link down', once: true });
      expect(await routeros.read(ssh, { kind: 'interface.disable', interface: 'ether3' }, ctxOf(d))).toEqual({
        interface: 'ether3',
        adminUp: true,
      });
    } finally {
      main.control.reset();
      await ssh.close();
    }
  });

  it('a slow device (latency above any fixed read window) is waited for, up to the timeout', async () => {
    const ssh = await open(main);
    try {
      const d = deviceFor(main);
      await ssh.cli(ROUTEROS_PLATFORM);
      main.control.setLatency(1200);
      expect(await routeros.read(ssh, { kind: 'interface.disable', interface: 'ether3' }, ctxOf(d, 'fb:p:a', 4000))).toEqual({
        interface: 'ether3',
        adminUp: true,
      });
      await expect(routeros.read(ssh, { kind: 'interface.disable', interface: 'ether3' }, ctxOf(d, 'fb:p:a', 500))).rejects.toBeInstanceOf(
        DeviceTimeout,
      );
    } finally {
      main.control.setLatency(0);
      await ssh.close();
    }
  });

  it('a question the caller expects is answered; one it does not expect ends in a timeout that quotes it', async () => {
    const ssh = await open(main);
    try {
      const sh = await ssh.cli(ROUTEROS_PLATFORM);
      expect(await sh.send('/system reboot', { answers: [{ prompt: /Reboot, yes\? \[y\/N\]:\s*$/, reply: 'n' }] })).toContain(
        'action cancelled',
      );
      const err = await sh.send('/system reboot', { timeoutMs: 500 }).catch((e: Error) => e);
      expect(err).toBeInstanceOf(DeviceTimeout);
      expect((err as Error).message).toContain('Reboot, yes? [y/N]:');
    } finally {
      await ssh.close();
    }
  });

  it('hang -> DeviceTimeout, drop -> DeviceUnreachable, wrong pin -> HostKeyMismatch', async () => {
    const d = deviceFor(main);
    for (const [fault, want] of [
      ['hang', DeviceTimeout],
      ['drop', DeviceUnreachable],
    ] as const) {
      const ssh = await open(main);
      try {
        await routeros.read(ssh, { kind: 'interface.disable', interface: 'ether3' }, ctxOf(d));
        main.control.inject({ kind: fault, on: /disable/ });
        await expect(
          routeros.apply(ssh, { kind: 'interface.disable', interface: 'ether3' }, ctxOf(d, 'fb:p:a', 800)),
        ).rejects.toBeInstanceOf(want);
      } finally {
        main.control.reset();
        await ssh.close();
      }
    }
    expect(main.control.snapshot().ports.ether3!.adminUp).toBe(true);
    const bad = deviceFor(main, 'admin+cte', `SHA256:${'B'.repeat(43)}`);
    await expect(openSession(bad, 'ssh', resolveSecret)).rejects.toBeInstanceOf(HostKeyMismatch);
  });

  it('auto-revert is not claimed: RouterOS has no commit timer, and autoRevert changes nothing in what is sent', () => {
    expect(routeros.confirm).toBeUndefined();
    const d = deviceFor(main);
    const a: Action = { kind: 'interface.disable', interface: 'ether3' };
    expect(routeros.render(a, { ...ctxOf(d), autoRevert: { minutes: 5 } })).toEqual(routeros.render(a, ctxOf(d)));
  });
});
