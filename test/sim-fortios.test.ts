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
import type { RunningSim, SimDeviceSpec } from '../src/sim/types.js';
import { openSession } from '../src/transports/connect.js';
import type { SshSession } from '../src/transports/types.js';
import { resolveSecret } from '../src/secrets.js';
import { createEngine } from './helpers/engine.js';
import { openSqliteJournal } from '../src/journal/sqlite.js';
import type { Plan } from '../src/plan/types.js';
import { APPLYALL_PLAN, count, ctxOf, lazyControl, oneStagePlan, openSsh, received, simDevice } from './helpers/sim.js';

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
  return simDevice(sim, {
    driver: 'fortios',
    user: 'admin',
    passwordEnv: 'FB_TEST_FORTIOS_PW',
    hostKey,
    interfaces: { port1: { roles: ['uplink'] }, port2: { roles: ['segment:lan'] }, port5: { roles: [] } },
  });
}
const open = async (sim: RunningSim) => openSsh(deviceFor(sim));
const policyIds = (sim: RunningSim) => sim.control.snapshot().rules.map((r) => r.id);
const untilTrue = async (check: () => boolean, ms: number) => {
  for (const end = Date.now() + ms; Date.now() < end && !check(); ) await new Promise((r) => setTimeout(r, 25));
  return check();
};

/** Two interface changes and a block: what one stage may ask of one FortiGate. */
const batch: Action[] = [
  { kind: 'interface.disable', interface: 'port5' },
  { kind: 'interface.disable', interface: 'port3' },
  { kind: 'host.block', address: '10.20.0.11' },
];

/** A one-stage plan of `actions` on one device, as the planner would make it. */
const planOf = (device: Device, actions: Action[]): Plan => oneStagePlan(fortios, device, actions, APPLYALL_PLAN);

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

  it('applyAll arms the revert once for all items, and the timer undoes every one of them', async () => {
    const before = rv.control.snapshot();
    const s = await open(rv);
    try {
      const ctx = { ...ctxOf(deviceFor(rv)), autoRevert: { minutes: 1 } };
      await fortios.applyAll!(
        s,
        batch.map((action) => ({ action, ctx })),
      );
      const snap = rv.control.snapshot();
      expect([snap.ports['port5']!.adminUp, snap.ports['port3']!.adminUp, snap.rules.length]).toEqual([false, false, 3]);
      expect(rv.control.received!().filter((l) => l === 'set cfg-save revert')).toHaveLength(1);
    } finally {
      await s.close();
    }
    // Ports and policies as before (the unit stays in `cfg-save revert` mode: that part was saved).
    const view = ({ ports, rules }: typeof before) => JSON.stringify({ ports, rules });
    expect(await untilTrue(() => view(rv.control.snapshot()) === view(before), 3000)).toBe(true);
  });
});

describe('fortios applyAll: one config system interface block for a stage', () => {
  let session: SshSession;
  let device: Device;
  const items = (actions: Action[]) => actions.map((action) => ({ action, ctx: ctxOf(device) }));
  /** The lines from the first `config system interface` to the `end` after it. */
  const firstBlock = () => {
    const r = received(main);
    const at = r.indexOf('config system interface');
    return r.slice(at, r.indexOf('end', at) + 1);
  };
  const ourBlock = ['config system interface', 'edit "port5"', 'set status down', 'next', 'edit "port3"', 'set status down', 'end'];
  const engineFor = () => {
    const journal = openSqliteJournal(':memory:');
    return { journal, engine: createEngine({ journal, drivers: { fortios }, openSession, resolveSecret }) };
  };
  beforeAll(async () => {
    device = deviceFor(main);
    session = await open(main);
  });
  afterEach(() => main.control.reset());
  afterAll(async () => session?.close());

  it('two interface.disable and a host.block: the ports in ONE block, the block after; all in the snapshot', async () => {
    main.control.reset();
    const before = main.control.snapshot();
    await fortios.applyAll!(session, items(batch));
    const snap = main.control.snapshot();
    expect(snap.ports['port5']!.adminUp).toBe(false);
    expect(snap.ports['port3']!.adminUp).toBe(false);
    expect(snap.rules.map((r) => r.text).join('\n')).toContain('set comments "fb:p1a2b:a3 host.block 10.20.0.11 src"');
    expect(snap.rules.length).toBe(before.rules.length + 2);
    expect(count(main, 'config system interface')).toBe(1);
    expect(firstBlock()).toEqual(ourBlock);
    // Both names checked with one read of the interface table, before the block.
    expect(received(main).filter((l) => l.startsWith('show system interface'))).toEqual(['show system interface']);
    expect(received(main).indexOf('show system interface')).toBeLessThan(received(main).indexOf('config system interface'));
    // The ports went first: the block's lines all come after the interface block's end.
    expect(received(main).indexOf('config firewall address')).toBeGreaterThan(received(main).indexOf('set status down'));
    expect((await session.cli(FORTIOS)).level).toBe('exec');
  });

  it('a refused line inside the block fails the call with the device words; abort drops the half-built entry', async () => {
    main.control.inject({ kind: 'reject', on: /^set status up$/, once: true });
    const two: Action[] = [batch[0]!, { kind: 'interface.enable', interface: 'port8' }];
    const err = await fortios.applyAll!(session, items(two)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CommandRejected);
    expect(String((err as Error).message)).toContain("command parse error before 'set' / Command fail. Return code -61");
    expect((await session.cli(FORTIOS)).level).toBe('exec');
    expect(received(main).slice(-2)).toEqual(['set status up', 'abort']);
    expect(main.control.snapshot().ports['port8']!.adminUp).toBe(false);
    // A name the device does not have stops the whole block before it starts.
    main.control.reset();
    const missing = fortios.applyAll!(session, items([batch[0]!, { kind: 'interface.disable', interface: 'port9' }]));
    await expect(missing).rejects.toThrow(/interface "port9" does not exist/);
    expect(count(main, 'config system interface')).toBe(0);
  });

  it('through the engine: three actions in one stage, the ports in one block, all verified; rollback restores', async () => {
    const before = main.control.snapshot();
    const { journal, engine } = engineFor();
    try {
      const r = await engine.run(planOf(device, batch), { trigger: { kind: 'test', by: 'vitest' } });
      expect(r.state, JSON.stringify(r.notDone)).toBe('contained');
      expect(r.actions.map((a) => a.state)).toEqual(['verified', 'verified', 'verified']);
      const applied = (await journal.entries(r.runId)).filter((e) => e.type === 'action.applied');
      expect(applied.map((e) => [e.data['actionId'], e.data['output']])).toEqual([
        ['a1', expect.any(String)],
        ['a2', '(applied together with a1)'],
        ['a3', '(applied together with a1)'],
      ]);
      expect(count(main, 'config system interface')).toBe(1);
      expect(firstBlock()).toEqual(ourBlock);
      expect((await engine.rollback(r.runId, { by: 'vitest' })).state).toBe('rolled-back');
      const after = main.control.snapshot();
      expect({ ports: after.ports, rules: after.rules }).toEqual({ ports: before.ports, rules: before.rules });
    } finally {
      await journal.close();
    }
  });

  it('through the engine: a block refused half-way is retried one by one, reading first, and ends verified', async () => {
    main.control.inject({ kind: 'reject', on: /^edit "port3"$/, once: true });
    const { journal, engine } = engineFor();
    try {
      const r = await engine.run(planOf(device, batch), { trigger: { kind: 'test', by: 'vitest' } });
      expect(r.state, JSON.stringify(r.notDone)).toBe('contained');
      const applied = (await journal.entries(r.runId)).filter((e) => e.type === 'action.applied');
      // port5 was committed (`next`) before the refusal: found held, not sent again.
      expect(applied.map((e) => e.data['output'])[0]).toBe('(held after an earlier attempt)');
      expect(applied.map((e) => e.data['output'])).not.toContain('(applied together with a1)');
      expect(count(main, 'edit "port5"')).toBe(1);
      expect(count(main, 'config system interface')).toBe(2);
      expect(main.control.snapshot().ports['port3']!.adminUp).toBe(false);
    } finally {
      await journal.close();
    }
  });
});
