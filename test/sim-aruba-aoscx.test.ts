import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { converge, runDriverConformance } from './conformance/driver-conformance.js';
import type { Action } from '../src/actions.js';
import { ARUBA_AOSCX, arubaAoscx } from '../src/drivers/aruba-aoscx.js';
import type { ActionContext } from '../src/drivers/driver.js';
import { getDriver } from '../src/drivers/registry.js';
import { CommandRejected, DeviceTimeout, DeviceUnreachable, HostKeyMismatch } from '../src/errors.js';
import type { Device } from '../src/inventory/types.js';
import { arubaAoscxSim } from '../src/sim/aruba-aoscx.js';
import { simulators } from '../src/sim/registry.js';
import type { RunningSim, SimDeviceSpec } from '../src/sim/types.js';
import { openSession } from '../src/transports/connect.js';
import type { SshSession } from '../src/transports/types.js';
import { resolveSecret } from '../src/secrets.js';
import { createEngine } from './helpers/engine.js';
import { openSqliteJournal } from '../src/journal/sqlite.js';
import type { Plan } from '../src/plan/types.js';
import { APPLYALL_PLAN, count, ctxOf, lazyControl, oneStagePlan, openSsh, received, simDevice } from './helpers/sim.js';

/** Simulated AOS-CX switches on their own loopback addresses; each test asserts on the sim's snapshot. */
const PASSWORD = 'cx-sim-pass-7Q2w';
process.env.FB_TEST_ARUBA_AOSCX_PW = PASSWORD;
const creds = { user: 'admin', password: PASSWORD };

function spec(address: string, extra: Partial<SimDeviceSpec> = {}): SimDeviceSpec {
  return {
    id: `cx-${address.split('.').pop()}`,
    family: 'aruba-aoscx',
    site: 'lab',
    hostname: 'core-sw.lab-1',
    address,
    sshPort: 10022,
    minuteMs: 1000,
    ports: [
      { name: '1/1/1', roles: ['uplink'], mode: 'trunk', vlan: 1 },
      { name: '1/1/2', roles: ['segment:lan'], vlan: 20 },
      { name: '1/1/5', vlan: 10 },
      { name: '1/1/7', mode: 'trunk', vlan: 10 },
      { name: '1/1/8', adminUp: false, vlan: 10 },
    ],
    ...extra,
  };
}

function deviceFor(sim: RunningSim, hostKey = sim.hostKey!): Device {
  return simDevice(sim, {
    driver: 'aruba-aoscx',
    user: 'admin',
    passwordEnv: 'FB_TEST_ARUBA_AOSCX_PW',
    hostKey,
    interfaces: { '1/1/1': { roles: ['uplink'] }, '1/1/2': { roles: ['segment:lan'] }, '1/1/5': { roles: ['access'] } },
  });
}
const open = async (sim: RunningSim) => openSsh(deviceFor(sim));

let main: RunningSim;
let edge: RunningSim;
beforeAll(async () => {
  main = await arubaAoscxSim(spec('127.0.16.211'), creds, {});
  edge = await arubaAoscxSim(
    spec('127.0.16.212', { hostname: 'edge-cx.site-2.example', banner: 'Authorized use only.\nAll sessions are logged.' }),
    creds,
    {},
  );
});
afterAll(async () => {
  await main?.stop();
  await edge?.stop();
});

describe('aruba-aoscx registration', () => {
  it('is in both registries', () => {
    expect(getDriver('aruba-aoscx')).toBe(arubaAoscx);
    expect(simulators['aruba-aoscx']).toBe(arubaAoscxSim);
  });
});

runDriverConformance({
  name: 'aruba-aoscx @ sim',
  driver: arubaAoscx,
  device: async () => deviceFor(main),
  interface: '1/1/5',
  adminUp: async (i) => main.control.snapshot().ports[i]!.adminUp,
  restore: async () => main.control.reset(),
  extended: {
    sim: lazyControl(() => main),
    deviceWords: /Invalid input: /,
    vlanPort: '1/1/5',
    trunkPort: '1/1/7',
    quarantineVlan: 999,
    autoRevertWaitMs: 1500,
  },
});

describe('aruba-aoscx driver on the simulator', () => {
  let ssh: SshSession;
  let device: Device;
  beforeAll(async () => {
    device = deviceFor(main);
    ssh = await open(main);
  });
  afterEach(() => main.control.reset());
  afterAll(async () => ssh?.close());

  it('render is pure, deterministic and carries no secret', () => {
    const ctx = ctxOf(device);
    const actions: Action[] = [
      { kind: 'interface.disable', interface: '1/1/5' },
      { kind: 'port.vlan', interface: '1/1/5', vlan: 999 },
      { kind: 'port.restore', interface: '1/1/5', mode: 'access', vlan: 10, voiceVlan: null },
      { kind: 'host.block', address: '10.20.0.11' },
      { kind: 'host.unblock', address: '10.20.0.11' },
    ];
    for (const a of actions) {
      const lines = arubaAoscx.render(a, ctx);
      expect(arubaAoscx.render(structuredClone(a), { ...ctx, device: structuredClone(device) })).toEqual(lines);
      expect(lines.join('\n')).not.toContain(PASSWORD);
    }
    expect(arubaAoscx.render(actions[3]!, ctx)).toContain('apply access-list ip FB-fb-p1a2b-a3 in');
  });

  it('port.vlan moves an access port and its inverse restores exactly', async () => {
    const before = main.control.snapshot();
    const ctx = ctxOf(device);
    const action: Action = { kind: 'port.vlan', interface: '1/1/5', vlan: 999 };
    const r = await converge(arubaAoscx, ssh, action, ctx);
    expect(r.outcome).toBe('verified');
    expect(r.before).toMatchObject({ mode: 'access', vlan: 10, voiceVlan: null });
    expect(main.control.snapshot().ports['1/1/5']).toMatchObject({ mode: 'access', vlan: 999 });
    expect(main.control.snapshot().config).toMatch(/interface 1\/1\/5\n {4}no shutdown\n {4}vlan access 999\n/);
    expect((await converge(arubaAoscx, ssh, action, ctx)).outcome).toBe('already');
    const inverse = arubaAoscx.invert(action, r.before, ctx)!;
    expect(inverse).toEqual({ kind: 'port.restore', interface: '1/1/5', mode: 'access', vlan: 10, voiceVlan: null });
    expect((await converge(arubaAoscx, ssh, inverse, ctx)).outcome).toBe('verified');
    expect(main.control.snapshot()).toEqual(before);
  });

  it('refuses to move a trunk port and leaves it alone', async () => {
    const before = main.control.snapshot();
    const p = arubaAoscx.apply(ssh, { kind: 'port.vlan', interface: '1/1/7', vlan: 999 }, ctxOf(device));
    await expect(p).rejects.toBeInstanceOf(CommandRejected);
    await expect(p).rejects.toThrow(/1\/1\/7 is a trunk port/);
    expect(main.control.snapshot()).toEqual(before);
  });

  it('host.block adds one tagged ACL on the uplink/segment ports; a second tag finds it; the inverse removes exactly it', async () => {
    const before = main.control.snapshot();
    const block: Action = { kind: 'host.block', address: '10.20.0.11' };
    const r = await converge(arubaAoscx, ssh, block, ctxOf(device, 'fb:p1:a1'));
    expect(r.outcome).toBe('verified');
    const snap = main.control.snapshot();
    const ours = snap.rules.filter((x) => x.text.includes('fb:p1:a1 host.block 10.20.0.11'));
    expect(ours.map((x) => x.id)).toEqual(['FB-fb-p1-a1/10', 'FB-fb-p1-a1/20', 'FB-fb-p1-a1/30']);
    expect(snap.rules).toHaveLength(3);
    expect(snap.config).toContain('    10 deny any 10.20.0.11 any');
    expect(snap.config).toMatch(/interface 1\/1\/1\n[\s\S]*?apply access-list ip FB-fb-p1-a1 in/);
    expect(snap.config).toMatch(/interface 1\/1\/2\n[\s\S]*?apply access-list ip FB-fb-p1-a1 in/);
    expect((await converge(arubaAoscx, ssh, block, ctxOf(device, 'fb:p2:a1'))).outcome).toBe('already');
    const inverse = arubaAoscx.invert(block, r.before, ctxOf(device, 'fb:p1:a1'))!;
    expect(inverse).toEqual({ kind: 'host.unblock', address: '10.20.0.11' });
    expect((await converge(arubaAoscx, ssh, inverse, ctxOf(device, 'fb:p1:a1'))).outcome).toBe('verified');
    expect(main.control.snapshot()).toEqual(before);
  });

  it("keeps the operator's ACL applied: our entries go in front of it and only they are removed", async () => {
    const sh = await ssh.cli(ARUBA_AOSCX);
    await sh.moveTo('config');
    for (const l of [
      'access-list ip OPS-IN',
      '10 comment operator rule',
      '10 permit any 10.9.0.0/16 any',
      '20 deny any any any',
      'exit',
      'interface 1/1/1',
      'apply access-list ip OPS-IN in',
    ])
      await sh.send(l);
    await sh.moveTo('manager');
    const before = main.control.snapshot();
    expect(before.config).toContain('    10 permit any 10.9.0.0/255.255.0.0 any');
    const ctx = ctxOf(device, 'fb:p3:a1');
    const block: Action = { kind: 'host.block', address: '10.20.0.11' };
    const r = await converge(arubaAoscx, ssh, block, ctx);
    expect(r.outcome).toBe('verified');
    const snap = main.control.snapshot();
    // The operator's ACL is still the one on 1/1/1, with our two denies before its entries.
    expect(snap.config).toMatch(/interface 1\/1\/1\n[\s\S]*?apply access-list ip OPS-IN in/);
    expect(snap.rules.filter((x) => x.id.startsWith('OPS-IN/')).map((x) => x.id)).toEqual([
      'OPS-IN/1',
      'OPS-IN/2',
      'OPS-IN/10',
      'OPS-IN/20',
    ]);
    expect(snap.rules.find((x) => x.id === 'OPS-IN/1')!.text).toContain('fb:p3:a1 host.block 10.20.0.11 src');
    expect(snap.rules.find((x) => x.id === 'OPS-IN/10')!.text).toBe('comment operator rule / permit any 10.9.0.0/255.255.0.0 any');
    // 1/1/2 had none: it gets ours.
    expect(snap.config).toMatch(/interface 1\/1\/2\n[\s\S]*?apply access-list ip FB-fb-p3-a1 in/);
    const inverse = arubaAoscx.invert(block, r.before, ctx)!;
    expect((await converge(arubaAoscx, ssh, inverse, ctx)).outcome).toBe('verified');
    expect(main.control.snapshot()).toEqual(before);
  });

  it('a refused command surfaces as CommandRejected with the device words, and config mode is left', async () => {
    main.control.inject({ kind: 'reject', on: /^shutdown$/, once: true });
    const p = arubaAoscx.apply(ssh, { kind: 'interface.disable', interface: '1/1/5' }, ctxOf(device));
    await expect(p).rejects.toBeInstanceOf(CommandRejected);
    await expect(p).rejects.toThrow(/Invalid input: shutdown/);
    expect((await ssh.cli(ARUBA_AOSCX)).level).toBe('manager');
    expect(main.control.snapshot().ports['1/1/5']!.adminUp).toBe(true);
    // A port the device does not have: its own words too.
    await expect(arubaAoscx.read(ssh, { kind: 'interface.disable', interface: '1/1/99' }, ctxOf(device))).rejects.toThrow(
      /Invalid input: 1\/1\/99/,
    );
  });

  it('reads through a syslog line in the middle of the output and through a slow answer', async () => {
    main.control.inject({
      kind: 'syslog',
      on: /^show running-config interface/,
      once: true,
      line: '2026-11-30T12:00:01.123+00:00 core-sw.lab-1 intfd[642]: Event|403|LOG_INFO|AMM|1/1|Link status for interface 1/1/3 is down',
    });
    const read = () => arubaAoscx.read(ssh, { kind: 'interface.disable', interface: '1/1/5' }, ctxOf(device));
    expect(await read()).toEqual({ interface: '1/1/5', adminUp: true, mode: 'access', vlan: 10, voiceVlan: null, aclIn: null });
    main.control.setLatency(1800);
    expect(await read()).toMatchObject({ adminUp: true, vlan: 10 });
    main.control.setLatency(0);
  });

  it('answers the pager when paging is still on', async () => {
    const s = await open(main);
    try {
      const sh = await s.cli({ ...ARUBA_AOSCX, name: 'aruba-aoscx-paged', onOpen: [] });
      const out = await sh.send('show running-config');
      expect(out).toContain('interface 1/1/8');
      expect(out).not.toContain('-- MORE --');
      expect(out.split('\n').length).toBeGreaterThan(24);
    } finally {
      await s.close();
    }
  });

  it('auto-revert: a confirm the switch ignores (never-confirm) still ends in the revert', async () => {
    main.control.inject({ kind: 'never-confirm' });
    const ctx = { ...ctxOf(device), autoRevert: { minutes: 1 } };
    const action: Action = { kind: 'port.vlan', interface: '1/1/5', vlan: 999 };
    await arubaAoscx.apply(ssh, action, ctx);
    await arubaAoscx.confirm!(ssh, action, ctx);
    expect(main.control.snapshot().ports['1/1/5']!.vlan).toBe(999);
    await new Promise((r) => setTimeout(r, 1500));
    expect(main.control.snapshot().ports['1/1/5']!.vlan).toBe(10);
  });
});

describe('aruba-aoscx transport failures and prompts', () => {
  afterEach(() => main.control.reset());

  it('hang -> DeviceTimeout, drop -> DeviceUnreachable', async () => {
    const a = await open(main);
    main.control.inject({ kind: 'hang', on: /^show running-config interface 1\/1\/5$/, once: true });
    await expect(
      arubaAoscx.read(a, { kind: 'interface.disable', interface: '1/1/5' }, ctxOf(deviceFor(main), 'fb:t:a1', 700)),
    ).rejects.toBeInstanceOf(DeviceTimeout);
    await a.close();
    const b = await open(main);
    main.control.inject({ kind: 'drop', on: /^show running-config interface/, once: true });
    await expect(arubaAoscx.read(b, { kind: 'interface.disable', interface: '1/1/5' }, ctxOf(deviceFor(main)))).rejects.toBeInstanceOf(
      DeviceUnreachable,
    );
    await b.close();
  });

  it('a wrong host-key pin -> HostKeyMismatch', async () => {
    const bad = deviceFor(main, 'SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA');
    await expect(openSession(bad, 'ssh', resolveSecret)).rejects.toBeInstanceOf(HostKeyMismatch);
  });

  it('learns a hostname with dots and dashes behind a banner, and drives it', async () => {
    const s = (await openSession(deviceFor(edge), 'ssh', resolveSecret)) as SshSession;
    try {
      const sh = await s.cli(ARUBA_AOSCX);
      expect(sh.hostname).toBe('edge-cx.site-2.example');
      const r = await converge(arubaAoscx, s, { kind: 'interface.disable', interface: '1/1/2' }, ctxOf(deviceFor(edge)));
      expect(r.outcome).toBe('verified');
      expect(edge.control.snapshot().ports['1/1/2']!.adminUp).toBe(false);
      expect(sh.level).toBe('manager');
    } finally {
      await s.close();
      edge.control.reset();
    }
  });
});

/** A one-stage plan of `actions` on one device, as the planner would make it. */
const planOf = (device: Device, actions: Action[], driver = arubaAoscx): Plan => oneStagePlan(driver, device, actions, APPLYALL_PLAN);

describe('aruba-aoscx applyAll: one configuration session for a stage', () => {
  let ssh: SshSession;
  let device: Device;
  const items = (actions: Action[], extra: Partial<ActionContext> = {}) =>
    actions.map((action) => ({ action, ctx: { ...ctxOf(device), ...extra } }));
  const three: Action[] = [
    { kind: 'interface.disable', interface: '1/1/5' },
    { kind: 'interface.disable', interface: '1/1/2' },
    { kind: 'port.vlan', interface: '1/1/8', vlan: 999 },
  ];
  /** What the three go out as, in one configuration session (`exit` is the shell's way back to the manager prompt). */
  const ourBlock = ['interface 1/1/5', 'shutdown', 'interface 1/1/2', 'shutdown', 'interface 1/1/8', 'vlan access 999', 'exit'];
  /** The lines between the first `configure terminal` and the `end` after it. */
  const firstBlock = () => {
    const r = received(main);
    const at = r.indexOf('configure terminal');
    return r.slice(at + 1, r.indexOf('end', at));
  };
  beforeAll(async () => {
    device = deviceFor(main);
    ssh = await open(main);
  });
  afterEach(() => main.control.reset());
  afterAll(async () => ssh?.close());

  it('two interface.disable and a port.vlan go out in ONE configure terminal ... end, and all show in the snapshot', async () => {
    main.control.reset();
    await arubaAoscx.applyAll!(ssh, items(three));
    const snap = main.control.snapshot();
    expect(snap.ports['1/1/5']).toMatchObject({ adminUp: false, vlan: 10 });
    expect(snap.ports['1/1/2']).toMatchObject({ adminUp: false, vlan: 20 });
    expect(snap.ports['1/1/8']).toMatchObject({ adminUp: false, mode: 'access', vlan: 999 });
    expect(count(main, 'configure terminal')).toBe(1);
    expect(count(main, 'end')).toBe(1);
    expect(firstBlock()).toEqual(ourBlock);
    // The VLAN change's trunk check reads the port before the session, not inside it.
    expect(received(main).indexOf('show running-config interface 1/1/8')).toBeLessThan(received(main).indexOf('configure terminal'));
    expect((await ssh.cli(ARUBA_AOSCX)).level).toBe('manager');
  });

  it('auto-revert: checkpoint auto is armed once for all; the ACL change follows in its own session; the timer undoes everything', async () => {
    const before = main.control.snapshot();
    const actions: Action[] = [three[0]!, { kind: 'host.block', address: '10.20.0.11' }, three[2]!];
    await arubaAoscx.applyAll!(ssh, items(actions, { autoRevert: { minutes: 1 } }));
    const snap = main.control.snapshot();
    expect(snap.ports['1/1/5']!.adminUp).toBe(false);
    expect(snap.ports['1/1/8']!.vlan).toBe(999);
    expect(snap.rules.map((r) => r.id)).toEqual(['FB-fb-p1a2b-a3/10', 'FB-fb-p1a2b-a3/20', 'FB-fb-p1a2b-a3/30']);
    expect(count(main, 'checkpoint auto 1')).toBe(1);
    expect(received(main).indexOf('checkpoint auto 1')).toBeLessThan(received(main).indexOf('configure terminal'));
    // Ports first, together; then the ACL (it reads the running config it extends).
    expect(count(main, 'configure terminal')).toBe(2);
    expect(firstBlock()).toEqual(['interface 1/1/5', 'shutdown', 'interface 1/1/8', 'vlan access 999', 'exit']);
    await new Promise((r) => setTimeout(r, 1500));
    expect(main.control.snapshot()).toEqual(before);
  });

  it('items that disagree on auto-revert go one by one, each in its own session', async () => {
    await arubaAoscx.applyAll!(ssh, [...items(three.slice(0, 2)), ...items(three.slice(2), { autoRevert: { minutes: 5 } })]);
    expect(count(main, 'configure terminal')).toBe(3);
    expect(count(main, 'checkpoint auto 5')).toBe(1);
    expect(main.control.snapshot().ports['1/1/8']!.vlan).toBe(999);
  });

  it('a refused line fails the whole call with the device words, and the shell is back at the manager prompt', async () => {
    main.control.inject({ kind: 'reject', on: /^vlan access 999$/, once: true });
    const err = await arubaAoscx.applyAll!(ssh, items(three)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CommandRejected);
    expect(String((err as Error).message)).toMatch(/Invalid input: vlan/);
    expect((await ssh.cli(ARUBA_AOSCX)).level).toBe('manager');
    expect(received(main).at(-1)).toBe('end');
    expect(main.control.snapshot().ports['1/1/8']!.vlan).toBe(10);
    // A trunk in the batch is refused before anything is sent.
    main.control.reset();
    const trunk = arubaAoscx.applyAll!(ssh, items([three[0]!, { kind: 'port.vlan', interface: '1/1/7', vlan: 999 }]));
    await expect(trunk).rejects.toThrow(/1\/1\/7 is a trunk port/);
    expect(count(main, 'configure terminal')).toBe(0);
    expect(main.control.snapshot().ports['1/1/5']!.adminUp).toBe(true);
  });

  it('through the engine: three actions in one stage strike in one session, all verified; rollback restores', async () => {
    const before = main.control.snapshot();
    const journal = openSqliteJournal(':memory:');
    const engine = createEngine({ journal, drivers: { 'aruba-aoscx': arubaAoscx }, openSession, resolveSecret });
    try {
      const r = await engine.run(planOf(device, three), { trigger: { kind: 'test', by: 'vitest' } });
      expect(r.state, JSON.stringify(r.notDone)).toBe('contained');
      expect(r.actions.map((a) => a.state)).toEqual(['verified', 'verified', 'verified']);
      const applied = (await journal.entries(r.runId)).filter((e) => e.type === 'action.applied');
      expect(applied.map((e) => [e.data['actionId'], e.data['output']])).toEqual([
        ['a1', expect.any(String)],
        ['a2', '(applied together with a1)'],
        ['a3', '(applied together with a1)'],
      ]);
      expect(count(main, 'configure terminal')).toBe(1);
      expect(firstBlock()).toEqual(ourBlock);
      expect((await engine.rollback(r.runId, { by: 'vitest' })).state).toBe('rolled-back');
      expect(main.control.snapshot()).toEqual(before);
    } finally {
      await journal.close();
    }
  });

  it('through the engine: a batch refused half-way is retried one by one, reading first, and ends verified', async () => {
    main.control.inject({ kind: 'reject', on: /^vlan access 999$/, once: true });
    const journal = openSqliteJournal(':memory:');
    const engine = createEngine({ journal, drivers: { 'aruba-aoscx': arubaAoscx }, openSession, resolveSecret });
    try {
      const r = await engine.run(planOf(device, three), { trigger: { kind: 'test', by: 'vitest' } });
      expect(r.state, JSON.stringify(r.notDone)).toBe('contained');
      const applied = (await journal.entries(r.runId)).filter((e) => e.type === 'action.applied');
      // The two shutdowns took effect in the refused batch: found held, not sent again.
      expect(applied.map((e) => e.data['output'])).toEqual([
        '(held after an earlier attempt)',
        '(held after an earlier attempt)',
        expect.any(String),
      ]);
      expect(count(main, 'shutdown')).toBe(2);
      expect(count(main, 'configure terminal')).toBe(2);
      expect(main.control.snapshot().ports['1/1/8']!.vlan).toBe(999);
    } finally {
      await journal.close();
    }
  });
});
