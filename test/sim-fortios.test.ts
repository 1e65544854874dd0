import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { converge, runDriverConformance } from './conformance/driver-conformance.js';
import type { Action } from '../src/actions.js';
import type { ActionContext } from '../src/drivers/driver.js';
import { FORTIOS, fortios } from '../src/drivers/fortios.js';
import { getDriver } from '../src/drivers/registry.js';
import { CommandRejected, DeviceTimeout } from '../src/errors.js';
import type { Device } from '../src/inventory/types.js';
import { fortiosSim } from '../src/sim/fortios.js';
import { simulators } from '../src/sim/registry.js';
import type { RunningSim, SimControl, SimDeviceSpec } from '../src/sim/types.js';
import { openSession } from '../src/transports/connect.js';
import type { SshSession } from '../src/transports/types.js';
import { resolveSecret } from '../src/secrets.js';

/** Simulated FortiGates on their own loopback addresses; each test asserts on the sim's snapshot. */
const PASSWORD = 'fgt-sim-pass-3Kp9';
process.env.FB_TEST_FORTIOS_PW = PASSWORD;
const creds = { user: 'admin', password: PASSWORD };

function spec(address: string, extra: Partial<SimDeviceSpec> = {}): SimDeviceSpec {
  return {
    id: `fgt-${address.split('.').pop()}`,
    family: 'fortios',
    site: 'lab',
    hostname: 'FGT-edge.lab-1',
    address,
    sshPort: 10022,
    minuteMs: 200,
    ports: [
      { name: 'port1', roles: ['uplink'] },
      { name: 'port2', roles: ['segment:lan'] },
      { name: 'port3', roles: ['segment:lan'] },
      { name: 'port5' },
      { name: 'port8', adminUp: false },
    ],
    ...extra,
  };
}

function deviceFor(sim: RunningSim, hostKey = sim.hostKey!): Device {
  return {
    id: sim.spec.id,
    site: 'lab',
    driver: 'fortios',
    address: sim.spec.address,
    tags: [],
    ssh: { port: 10022, user: 'admin', password: 'env:FB_TEST_FORTIOS_PW', hostKey, readyTimeoutMs: 5000 },
    managementPath: { interfaces: [], via: [] },
    interfaces: { port1: { roles: ['uplink'] }, port2: { roles: ['segment:lan'] }, port5: { roles: [] } },
  };
}
const ctxOf = (device: Device, tag = 'fb:p1a2b:a3', timeoutMs = 5000): ActionContext => ({ device, tag, timeoutMs });
const open = async (sim: RunningSim) => (await openSession(deviceFor(sim), 'ssh', resolveSecret)) as SshSession;
const policyIds = (sim: RunningSim) => sim.control.snapshot().rules.map((r) => r.id);
const untilTrue = async (check: () => boolean, ms: number) => {
  for (const end = Date.now() + ms; Date.now() < end && !check(); ) await new Promise((r) => setTimeout(r, 25));
  return check();
};

/** The conformance options are built before the sims start: hand the suite a late-bound control. */
function lazyControl(get: () => RunningSim): SimControl {
  return {
    snapshot: () => get().control.snapshot(),
    inject: (f) => get().control.inject(f),
    clearFaults: () => get().control.clearFaults(),
    reset: () => get().control.reset(),
    setLatency: (ms) => get().control.setLatency(ms),
  };
}

let main: RunningSim;
let edge: RunningSim;
beforeAll(async () => {
  main = await fortiosSim(spec('127.0.14.21'), creds, {});
  edge = await fortiosSim(
    spec('127.0.14.22', { hostname: 'fw-02.branch-7.corp', banner: 'WARNING: authorised access only.\nAll sessions are logged.' }),
    creds,
    {},
  );
});
afterAll(async () => {
  await main?.stop();
  await edge?.stop();
});

describe('fortios registration', () => {
  it('is in both registries', () => {
    expect(getDriver('fortios')).toBe(fortios);
    expect(simulators['fortios']).toBe(fortiosSim);
  });
});

runDriverConformance({
  name: 'fortios @ sim',
  driver: fortios,
  device: async () => deviceFor(main),
  interface: 'port5',
  adminUp: async (i) => main.control.snapshot().ports[i]!.adminUp,
  restore: async () => main.control.reset(),
  // vlanPort only picks the port the fault and auto-revert cases take down (port.vlan is not supported).
  extended: {
    sim: lazyControl(() => main),
    deviceWords: /command parse error before '.*' \/ Command fail\. Return code -61/,
    vlanPort: 'port5',
    egress: { segment: 'lan', interfaces: ['port2', 'port3'], uplinks: ['port1'] },
    autoRevertWaitMs: 1200,
  },
});

describe('fortios driver against the simulator', () => {
  let session: SshSession;
  let ctx: ActionContext;
  beforeAll(async () => {
    session = await open(main);
    ctx = ctxOf(deviceFor(main));
  });
  afterEach(() => main.control.reset());
  afterAll(async () => session?.close());

  it('pages long output with --More-- until the console is set to standard, and the shell answers it', async () => {
    const sh = await session.cli(FORTIOS);
    expect(sh.hostname).toBe('FGT-edge.lab-1');
    // reset() brings `set output more` back: the full config is several screens long.
    const text = await sh.send('show', { timeoutMs: 5000 });
    expect(text).not.toMatch(/--More--/);
    expect(text.split('\n').length).toBeGreaterThan(40);
    expect(text.trimEnd().endsWith('end')).toBe(true);
    expect(text).toContain('    edit "port8"\n        set vdom "root"\n        set status down');
  });

  it('host.block adds one tagged address and two deny policies above the operator policy; unblock removes exactly them', async () => {
    const before = main.control.snapshot();
    const block: Action = { kind: 'host.block', address: '10.20.0.11' };
    const r = await converge(fortios, session, block, ctx);
    expect(r.outcome).toBe('verified');
    const snap = main.control.snapshot();
    expect(snap.rules.length).toBe(before.rules.length + 2);
    // Ours are evaluated first; the operator's policy is still there, unchanged, after them.
    expect(snap.rules[0]!.text).toContain('set comments "fb:p1a2b:a3 host.block 10.20.0.11 src"');
    expect(snap.rules[1]!.text).toContain('set comments "fb:p1a2b:a3 host.block 10.20.0.11 dst"');
    expect(snap.rules[2]).toEqual(before.rules[0]);
    expect(snap.rules[0]!.text).toContain('set srcaddr "fb-p1a2b-a3-host"');
    expect(snap.rules[0]!.text).not.toContain('set action'); // deny is the default: `show` leaves it out
    expect(snap.config).toContain('edit "fb-p1a2b-a3-host"\n        set uuid');
    expect(snap.config).toContain('set subnet 10.20.0.11 255.255.255.255');

    const inverse = fortios.invert(block, r.before, ctx);
    expect(inverse).toEqual({ kind: 'host.unblock', address: '10.20.0.11' });
    expect((await converge(fortios, session, inverse!, ctx)).outcome).toBe('verified');
    const after = main.control.snapshot();
    expect(after.rules).toEqual(before.rules);
    expect(after.config).toBe(before.config);
  });

  it('a second run (another tag) finds the host already blocked; its rollback touches nothing', async () => {
    const block: Action = { kind: 'host.block', address: '10.20.0.11' };
    expect((await converge(fortios, session, block, ctx)).outcome).toBe('verified');
    const blocked = main.control.snapshot();
    const other = ctxOf(ctx.device, 'fb:p9z8y:a1');
    const second = await converge(fortios, session, block, other);
    expect(second.outcome).toBe('already');
    expect(fortios.invert(block, second.before, other)).toBeNull();
    // Unblock with the other tag (e.g. a forced rollback) removes nothing of the first run's.
    await fortios.apply(session, { kind: 'host.unblock', address: '10.20.0.11' }, other);
    expect(main.control.snapshot()).toEqual(blocked);
  });

  it('egress.block denies segment -> uplink except the allow-list, above the operator policy; unblock restores the config', async () => {
    const before = main.control.snapshot();
    const egress: Action = {
      kind: 'egress.block',
      segment: 'lan',
      interfaces: ['port2', 'port3'],
      uplinks: ['port1'],
      allow: ['198.51.100.53', '10.99.0.0/16'],
    };
    const r = await converge(fortios, session, egress, ctx);
    expect(r.outcome).toBe('verified');
    const snap = main.control.snapshot();
    expect(snap.rules.length).toBe(before.rules.length + 1);
    const ours = snap.rules[0]!.text;
    expect(ours).toContain('set srcintf "port2" "port3"');
    expect(ours).toContain('set dstintf "port1"');
    expect(ours).toContain('set dstaddr "fb-p1a2b-a3-allow1" "fb-p1a2b-a3-allow2"');
    expect(ours).toContain('set dstaddr-negate enable');
    expect(snap.rules[1]).toEqual(before.rules[0]);
    expect(snap.config).toContain('set subnet 10.99.0.0 255.255.0.0');

    const inverse = fortios.invert(egress, r.before, ctx)!;
    expect(inverse).toEqual({ kind: 'egress.unblock', segment: 'lan' });
    expect((await converge(fortios, session, inverse, ctx)).outcome).toBe('verified');
    expect(main.control.snapshot().config).toBe(before.config);
  });

  it('a reference the device does not know surfaces as CommandRejected in its words, and the half-built policy is discarded', async () => {
    const before = main.control.snapshot();
    const egress: Action = { kind: 'egress.block', segment: 'dmz', interfaces: ['port9'], uplinks: ['port1'], allow: [] };
    const err = await fortios.apply(session, egress, ctx).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CommandRejected);
    expect(String((err as Error).message)).toMatch(/"set srcintf "port9"" refused by the device: entry not found in datasource/);
    expect(main.control.snapshot()).toEqual(before);
    // The shell is back at the top: the next read works.
    expect(await fortios.read(session, { kind: 'interface.disable', interface: 'port5' }, ctx)).toEqual({
      interface: 'port5',
      adminUp: true,
    });
  });

  it('an injected rejection carries the simulator text, and the port stays as it was', async () => {
    main.control.inject({ kind: 'reject', on: /^set status/, once: true });
    const err = await fortios.apply(session, { kind: 'interface.disable', interface: 'port5' }, ctx).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CommandRejected);
    expect(String((err as Error).message)).toContain("command parse error before 'set' / Command fail. Return code -61");
    expect(main.control.snapshot().ports['port5']!.adminUp).toBe(true);
  });

  it('a syslog line inside the output and a slow device do not confuse the read-back', async () => {
    const read: Action = { kind: 'interface.disable', interface: 'port8' };
    main.control.inject({
      kind: 'syslog',
      on: /^show system interface/,
      once: true,
      line: 'date=2024-05-01 time=12:00:01 devname="FGT-edge.lab-1" logid="0100020001" type="event" subtype="system" msg="Interface port3 status changed to up"',
    });
    expect(await fortios.read(session, read, ctx)).toEqual({ interface: 'port8', adminUp: false });
    main.control.setLatency(1500);
    try {
      expect(await fortios.read(session, read, ctxOf(ctx.device, 'fb:x:a1', 8000))).toEqual({ interface: 'port8', adminUp: false });
    } finally {
      main.control.setLatency(0);
    }
  });
});

describe('fortios prompts, questions and failures', () => {
  it('learns a dotted, dashed hostname after a banner and reads the port', async () => {
    const s = await open(edge);
    try {
      const sh = await s.cli(FORTIOS);
      expect(sh.hostname).toBe('fw-02.branch-7.corp');
      expect(sh.level).toBe('exec');
      expect(await fortios.read(s, { kind: 'interface.disable', interface: 'port8' }, ctxOf(deviceFor(edge)))).toEqual({
        interface: 'port8',
        adminUp: false,
      });
    } finally {
      await s.close();
    }
  });

  it('answers a question it expects; an unexpected one is a DeviceTimeout naming it', async () => {
    const s = await open(edge);
    try {
      const sh = await s.cli(FORTIOS);
      await sh.send('execute reboot', { answers: [{ prompt: /\(y\/n\)\s*$/, reply: 'n' }], timeoutMs: 3000 });
      expect(sh.level).toBe('exec');
      await expect(sh.send('execute reboot', { timeoutMs: 800 })).rejects.toThrow(DeviceTimeout);
      await expect(s.cli(FORTIOS).then((x) => x.send('execute reboot', { timeoutMs: 800 }))).rejects.toThrow(
        /Do you want to continue\? \(y\/n\)/,
      );
    } finally {
      await s.close();
    }
  });
});

describe('fortios auto-revert (cfg-save revert)', () => {
  const disable: Action = { kind: 'interface.disable', interface: 'port5' };
  let rv: RunningSim;
  beforeAll(async () => {
    // 1 platform minute = 500 ms: `cfg-revert-timeout 60` fires after half a second.
    rv = await fortiosSim(spec('127.0.14.23', { minuteMs: 500 }), creds, {});
  });
  afterEach(() => rv.control.reset());
  afterAll(async () => rv?.stop());

  it('armed and not confirmed (session gone): the device reverts by itself', async () => {
    const s = await open(rv);
    const ctx = { ...ctxOf(deviceFor(rv)), autoRevert: { minutes: 1 } };
    expect((await converge(fortios, s, disable, ctx)).outcome).toBe('verified');
    await s.close();
    expect(rv.control.snapshot().ports['port5']!.adminUp).toBe(false);
    expect(rv.control.snapshot().config).toContain('set cfg-save revert');
    expect(await untilTrue(() => rv.control.snapshot().ports['port5']!.adminUp, 3000)).toBe(true);
  });

  it('never-confirm: the confirmation is lost and the timer still undoes the change', async () => {
    const s = await open(rv);
    try {
      const ctx = { ...ctxOf(deviceFor(rv)), autoRevert: { minutes: 1 } };
      rv.control.inject({ kind: 'never-confirm' });
      await converge(fortios, s, disable, ctx);
      await fortios.confirm!(s, disable, ctx);
      expect(await untilTrue(() => rv.control.snapshot().ports['port5']!.adminUp, 3000)).toBe(true);
    } finally {
      await s.close();
    }
  });

  it('armed and confirmed: the change stays and the unit is back in automatic mode; confirming again is fine', async () => {
    const s = await open(rv);
    try {
      const ctx = { ...ctxOf(deviceFor(rv)), autoRevert: { minutes: 1 } };
      await converge(fortios, s, disable, ctx);
      expect(await fortios.confirm!(s, disable, ctx)).toContain('config saved.');
      await new Promise((r) => setTimeout(r, 1200));
      const snap = rv.control.snapshot();
      expect(snap.ports['port5']!.adminUp).toBe(false);
      expect(snap.config).not.toContain('set cfg-save revert');
      expect(await fortios.confirm!(s, disable, ctx)).toContain('no config to be saved.');
      expect(policyIds(rv)).toEqual(['policy 1 lan-out']);
    } finally {
      await s.close();
    }
  });
});
