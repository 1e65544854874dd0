import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { converge, runDriverConformance } from './conformance/driver-conformance.js';
import type { Action } from '../src/actions.js';
import { aristaEos, EOS_PLATFORM } from '../src/drivers/arista-eos.js';
import type { ActionContext } from '../src/drivers/driver.js';
import { drivers, getDriver } from '../src/drivers/registry.js';
import { createEngine } from './helpers/engine.js';
import { CommandRejected, DeviceTimeout, DeviceUnreachable, HostKeyMismatch } from '../src/errors.js';
import type { Device } from '../src/inventory/types.js';
import { openSqliteJournal } from '../src/journal/sqlite.js';
import type { Plan } from '../src/plan/types.js';
import { aristaEosSim } from '../src/sim/arista-eos.js';
import { simulators } from '../src/sim/registry.js';
import type { RunningSim, SimDeviceSpec } from '../src/sim/types.js';
import { openSession } from '../src/transports/connect.js';
import type { SshSession } from '../src/transports/types.js';
import { resolveSecret } from '../src/secrets.js';
import { batchPlan, ctxOf, holdsAfterRead, lazyControl, oneStagePlan, openSsh, simDevice, tagged } from './helpers/sim.js';

/** Simulated EOS switches, each on its own loopback address; tests assert on the sim's snapshot and the driver's read-back. */
const PASSWORD = 'eos-sim-pass-4Kx9';
const ENABLE = 'eos-enable-8Zp3';
process.env.FB_TEST_ARISTA_EOS_PW = PASSWORD;
process.env.FB_TEST_ARISTA_EOS_EN = ENABLE;
const creds = { user: 'admin', password: PASSWORD };

function spec(address: string, extra: Partial<SimDeviceSpec> = {}): SimDeviceSpec {
  return {
    id: `eos-${address.split('.').pop()}`,
    family: 'arista-eos',
    site: 'lab',
    hostname: 'leaf-1.dc-2.example',
    address,
    sshPort: 10022,
    minuteMs: 200,
    ports: [
      { name: 'Ethernet1', roles: ['uplink'], mode: 'trunk' },
      { name: 'Ethernet2', roles: ['segment:lan'], vlan: 20 },
      { name: 'Ethernet5', vlan: 10, voiceVlan: 40, mode: 'trunk phone' },
      { name: 'Ethernet6', vlan: 10 },
      { name: 'Ethernet8', adminUp: false, vlan: 10 },
    ],
    ...extra,
  };
}

function deviceFor(sim: RunningSim, extra: { hostKey?: string; enable?: boolean } = {}): Device {
  return simDevice(sim, {
    driver: 'arista-eos',
    user: 'admin',
    passwordEnv: 'FB_TEST_ARISTA_EOS_PW',
    ...(extra.enable ? { enableSecret: 'env:FB_TEST_ARISTA_EOS_EN' } : {}),
    hostKey: extra.hostKey,
    interfaces: { Ethernet1: { roles: ['uplink'] }, Ethernet2: { roles: ['segment:lan'] }, Ethernet6: { roles: ['access'] } },
  });
}
const open = async (sim: RunningSim, extra: { enable?: boolean } = {}) => openSsh(deviceFor(sim, extra));

let main: RunningSim;
let edge: RunningSim;
beforeAll(async () => {
  main = await aristaEosSim(spec('127.0.12.11'), creds, {});
  edge = await aristaEosSim(
    spec('127.0.12.12', { hostname: 'spine-2.pod-a.example', banner: 'Authorized access only.\nAll sessions are logged.' }),
    { ...creds, enableSecret: ENABLE },
    {},
  );
});
afterAll(async () => {
  await main?.stop();
  await edge?.stop();
});

describe('arista-eos registration', () => {
  it('is in both registries', () => {
    expect(getDriver('arista-eos')).toBe(aristaEos);
    expect(simulators['arista-eos']).toBe(aristaEosSim);
  });
});

runDriverConformance({
  name: 'arista-eos @ sim',
  driver: aristaEos,
  device: async () => deviceFor(main),
  interface: 'Ethernet6',
  adminUp: async (i) => main.control.snapshot().ports[i]!.adminUp,
  restore: async () => main.control.reset(),
  extended: {
    sim: lazyControl(() => main),
    deviceWords: /% Invalid input \(at token 0: 'show'\)/,
    vlanPort: 'Ethernet5',
    trunkPort: 'Ethernet1',
    quarantineVlan: 999,
    autoRevertWaitMs: 450,
  },
});

describe('arista-eos driver against the simulator', () => {
  let ssh: SshSession;
  let ctx: ActionContext;
  beforeAll(async () => {
    ssh = await open(main);
    ctx = ctxOf(deviceFor(main));
  });
  afterAll(async () => ssh?.close());
  const reset = () => main.control.reset();

  it('interface.disable shows in the running config and the JSON read-back; Et6 and Ethernet6 are the same port', async () => {
    reset();
    const r = await converge(aristaEos, ssh, { kind: 'interface.disable', interface: 'Et6' }, ctx);
    expect(r.before).toEqual({ interface: 'Et6', adminUp: true });
    expect(main.control.snapshot().ports['Ethernet6']!.adminUp).toBe(false);
    expect(main.control.snapshot().config).toMatch(/interface Ethernet6\n {3}shutdown\n {3}switchport access vlan 10\n/);
    const sh = await ssh.cli(EOS_PLATFORM);
    expect(sh.hostname).toBe('leaf-1.dc-2.example');
    expect(sh.level).toBe('privileged');
    expect(await sh.send('show running-config interfaces Ethernet6')).toBe(
      'interface Ethernet6\n   shutdown\n   switchport access vlan 10',
    );
    expect(await sh.send('show interfaces status')).toMatch(/^Port {7}Name {19}Status {7}Vlan {8}Duplex {2}Speed Type\nEt1 .*trunk/);
  });

  it('port.vlan moves a phone port to the quarantine VLAN without its phone VLAN; port.restore puts back exactly what was there', async () => {
    reset();
    const before = main.control.snapshot();
    const action: Action = { kind: 'port.vlan', interface: 'Ethernet5', vlan: 999 };
    const r = await converge(aristaEos, ssh, action, ctx);
    expect(r.before).toEqual({ interface: 'Ethernet5', mode: 'trunk phone', vlan: 10, voiceVlan: 40 });
    expect(main.control.snapshot().ports['Ethernet5']).toEqual({ adminUp: true, mode: 'access', vlan: 999, voiceVlan: null });
    expect((await converge(aristaEos, ssh, action, ctxOf(ctx.device, 'fb:other:a1'))).outcome).toBe('already');
    const inverse = aristaEos.invert(action, r.before, ctx)!;
    expect(inverse).toEqual({ kind: 'port.restore', interface: 'Ethernet5', mode: 'trunk phone', vlan: 10, voiceVlan: 40 });
    expect((await converge(aristaEos, ssh, inverse, ctx)).outcome).toBe('verified');
    expect(main.control.snapshot()).toEqual(before);
  });

  it('port.vlan refuses a trunk port and leaves it alone', async () => {
    reset();
    const before = main.control.snapshot();
    const err = await aristaEos.apply(ssh, { kind: 'port.vlan', interface: 'Ethernet1', vlan: 999 }, ctx).catch((e: Error) => e);
    expect(err).toBeInstanceOf(CommandRejected);
    expect((err as Error).message).toMatch(/Ethernet1 is a trunk port/);
    expect(main.control.snapshot()).toEqual(before);
  });

  it('a line the switch refuses -> CommandRejected in its words; the session is aborted, nothing applied, shell back at #', async () => {
    reset();
    const before = main.control.snapshot();
    main.control.inject({ kind: 'reject', on: /^switchport access vlan/, once: true });
    const err = await aristaEos.apply(ssh, { kind: 'port.vlan', interface: 'Ethernet6', vlan: 999 }, ctx).catch((e: Error) => e);
    expect(err).toBeInstanceOf(CommandRejected);
    expect((err as Error).message).toContain("% Invalid input (at token 0: 'switchport')");
    expect(main.control.snapshot()).toEqual(before); // `switchport mode access` went before, but only into the aborted session
    expect((await ssh.cli(EOS_PLATFORM)).level).toBe('privileged');
    expect((await converge(aristaEos, ssh, { kind: 'port.vlan', interface: 'Ethernet6', vlan: 999 }, ctx)).outcome).toBe('verified');
  });

  it('an unknown Ethernet port is refused from the JSON errors, never configured as a phantom', async () => {
    reset();
    const err = await aristaEos.apply(ssh, { kind: 'interface.disable', interface: 'Ethernet48' }, ctx).catch((e: Error) => e);
    expect(err).toBeInstanceOf(CommandRejected);
    expect((err as Error).message).toMatch(/Ethernet48.*Interface does not exist/);
  });

  it('host.block: our group goes into the operator ACL before its entries and our own ACL elsewhere; a second tag is already; unblock removes exactly ours', async () => {
    reset();
    const sh = await ssh.cli(EOS_PLATFORM);
    // The operator's own ACL on the uplink, which must keep working untouched.
    for (const l of [
      'configure terminal',
      'ip access-list OPS-IN',
      '10 permit tcp any any eq 22',
      '20 deny ip 10.66.0.0/16 any',
      '30 permit ip any any',
      'exit',
    ])
      await sh.send(l);
    for (const l of ['interface Ethernet1', 'ip access-group OPS-IN in', 'end']) await sh.send(l);
    const before = main.control.snapshot();
    const block: Action = { kind: 'host.block', address: '198.51.100.23' };
    const r = await converge(aristaEos, ssh, block, ctx);
    expect(r.outcome).toBe('verified');
    const during = main.control.snapshot();
    for (const rule of before.rules) expect(during.rules).toContainEqual(rule);
    expect(during.rules.filter((x) => !before.rules.some((b) => b.id === x.id))).toEqual([
      { id: 'OPS-IN/1', text: 'remark fb:p1a2b:a3 host.block 198.51.100.23' },
      { id: 'OPS-IN/2', text: 'deny ip host 198.51.100.23 any' },
      { id: 'OPS-IN/3', text: 'deny ip any host 198.51.100.23' },
      { id: 'fb-p1a2b-a3-block/10', text: 'remark fb:p1a2b:a3 host.block 198.51.100.23' },
      { id: 'fb-p1a2b-a3-block/11', text: 'deny ip host 198.51.100.23 any' },
      { id: 'fb-p1a2b-a3-block/12', text: 'deny ip any host 198.51.100.23' },
      { id: 'fb-p1a2b-a3-block/100000', text: 'permit ip any any' },
    ]);
    expect(during.config).toMatch(/interface Ethernet1\n {3}switchport mode trunk\n {3}ip access-group OPS-IN in\n/);
    expect(during.config).toMatch(/interface Ethernet2\n {3}switchport access vlan 20\n {3}ip access-group fb-p1a2b-a3-block in\n/);
    const other = ctxOf(ctx.device, 'fb:q9:a1');
    expect((await converge(aristaEos, ssh, block, other)).outcome).toBe('already');
    // Another host blocked by another run goes into the same ACLs, after ours.
    const second = await converge(aristaEos, ssh, { kind: 'host.block', address: '10.20.0.0/24' }, other);
    expect(second.outcome).toBe('verified');
    expect(
      main.control
        .snapshot()
        .rules.filter((x) => x.text.includes('10.20.0.0/24'))
        .map((x) => x.id),
    ).toEqual(['OPS-IN/4', 'OPS-IN/5', 'OPS-IN/6', 'fb-p1a2b-a3-block/1', 'fb-p1a2b-a3-block/2', 'fb-p1a2b-a3-block/3']);
    const inverse = aristaEos.invert(block, r.before, ctx)!;
    expect(inverse).toEqual({ kind: 'host.unblock', address: '198.51.100.23' });
    expect((await converge(aristaEos, ssh, inverse, ctx)).outcome).toBe('verified');
    // Ours is gone, the other run's block and the operator's entries stay (its ACL too, since it still holds a block).
    const after = main.control.snapshot();
    expect(after.rules.some((x) => x.text.includes('198.51.100.23'))).toBe(false);
    expect(
      aristaEos.holds(
        { kind: 'host.block', address: '10.20.0.0/24' },
        await aristaEos.read(ssh, { kind: 'host.block', address: '10.20.0.0/24' }, other),
        other,
      ),
    ).toBe(true);
    await converge(aristaEos, ssh, { kind: 'host.unblock', address: '10.20.0.0/24' }, other);
    expect(main.control.snapshot().rules).toEqual(before.rules);
    expect(main.control.snapshot().config).toEqual(before.config);
  });

  it('a syslog line inside JSON output is dropped; the read-back still parses', async () => {
    reset();
    main.control.inject({
      kind: 'syslog',
      on: /switchport \| json/,
      line: 'Nov 30 12:00:01 leaf-1 Ebra: %LINEPROTO-5-UPDOWN: Line protocol on Interface Ethernet2, changed state to down',
      once: true,
    });
    expect(await aristaEos.read(ssh, { kind: 'port.vlan', interface: 'Ethernet2', vlan: 999 }, ctx)).toEqual({
      interface: 'Ethernet2',
      mode: 'access',
      vlan: 20,
      voiceVlan: null,
    });
  });
});

describe('arista-eos device-side auto-revert (configure session ... commit timer)', () => {
  const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));
  // 1 platform minute = 200 ms here: `commit timer 00:01:00` fires after 200 ms.
  const armed = (device: Device): ActionContext => ({ ...ctxOf(device), autoRevert: { minutes: 1 } });

  it('armed and confirmed: the change stays after the timer would have fired; confirming again is fine', async () => {
    main.control.reset();
    const ssh = await open(main);
    try {
      const ctx = armed(deviceFor(main));
      const disable: Action = { kind: 'interface.disable', interface: 'Ethernet6' };
      expect(aristaEos.render(disable, ctx)).toEqual([
        'configure session fb-p1a2b-a3',
        'interface Ethernet6',
        'shutdown',
        'commit timer 00:01:00',
      ]);
      await converge(aristaEos, ssh, disable, ctx);
      expect(await aristaEos.confirm!(ssh, disable, ctx)).toMatch(/confirmed fb-p1a2b-a3/);
      await wait(400);
      expect(main.control.snapshot().ports['Ethernet6']!.adminUp).toBe(false);
      expect(await aristaEos.confirm!(ssh, disable, ctx)).toMatch(/nothing pending/);
    } finally {
      await ssh.close();
    }
  });

  it('armed, session killed before confirming: the switch rolls back by itself', async () => {
    main.control.reset();
    const ssh = await open(main);
    const ctx = armed(deviceFor(main));
    await converge(aristaEos, ssh, { kind: 'port.vlan', interface: 'Ethernet6', vlan: 999 }, ctx);
    expect(main.control.snapshot().ports['Ethernet6']!.vlan).toBe(999);
    await ssh.close();
    await wait(400);
    expect(main.control.snapshot().ports['Ethernet6']).toEqual({ adminUp: true, mode: 'access', vlan: 10, voiceVlan: null });
  });

  it('armed, confirmation ignored (never-confirm): confirm says so and the timer still reverts', async () => {
    main.control.reset();
    main.control.inject({ kind: 'never-confirm' });
    const ssh = await open(main);
    try {
      const ctx = armed(deviceFor(main));
      const disable: Action = { kind: 'interface.disable', interface: 'Ethernet6' };
      await converge(aristaEos, ssh, disable, ctx);
      await expect(aristaEos.confirm!(ssh, disable, ctx)).rejects.toThrow(/still pending its commit timer/);
      await wait(400);
      expect(main.control.snapshot().ports['Ethernet6']!.adminUp).toBe(true);
    } finally {
      main.control.clearFaults();
      await ssh.close();
    }
  });
});

describe('arista-eos sessions: prompts, banner, enable secret, faults', () => {
  it('banner, dotted hostname, paging on until terminal length 0, and the enable secret question answered', async () => {
    const ssh = await open(edge, { enable: true });
    try {
      const sh = await ssh.cli({
        ...EOS_PLATFORM,
        levels: EOS_PLATFORM.levels.map((l) => (l.name === 'privileged' ? { ...l, secretPrompt: /^Password:\s?$/ } : l)),
      });
      expect(sh.hostname).toBe('spine-2.pod-a.example');
      expect(sh.level).toBe('privileged');
      const ctx = ctxOf(deviceFor(edge, { enable: true }));
      expect((await converge(aristaEos, ssh, { kind: 'interface.disable', interface: 'Ethernet2' }, ctx)).outcome).toBe('verified');
      expect(edge.control.snapshot().ports['Ethernet2']!.adminUp).toBe(false);
    } finally {
      edge.control.reset();
      await ssh.close();
    }
  });

  it('a slow switch (latency above nothing but the timeout) still answers; a hang -> DeviceTimeout; a drop -> DeviceUnreachable', async () => {
    const ssh = await open(main);
    const ctx = ctxOf(deviceFor(main), 'fb:p1a2b:a3', 1500);
    try {
      main.control.setLatency(700);
      expect(await aristaEos.read(ssh, { kind: 'interface.disable', interface: 'Ethernet6' }, ctx)).toEqual({
        interface: 'Ethernet6',
        adminUp: true,
      });
      main.control.setLatency(0);
      main.control.inject({ kind: 'hang', on: /status \| json/, once: true });
      await expect(aristaEos.read(ssh, { kind: 'interface.disable', interface: 'Ethernet6' }, ctx)).rejects.toBeInstanceOf(DeviceTimeout);
    } finally {
      main.control.setLatency(0);
      await ssh.close();
    }
    const again = await open(main);
    try {
      main.control.inject({ kind: 'drop', on: /^shutdown/, once: true });
      await expect(
        aristaEos.apply(again, { kind: 'interface.disable', interface: 'Ethernet6' }, ctxOf(deviceFor(main))),
      ).rejects.toBeInstanceOf(DeviceUnreachable);
      expect(main.control.snapshot().ports['Ethernet6']!.adminUp).toBe(true);
    } finally {
      main.control.reset();
      await again.close();
    }
  });

  it('a wrong host-key pin -> HostKeyMismatch before login', async () => {
    const bad = 'SHA256:' + 'B'.repeat(43);
    await expect(openSession(deviceFor(main, { hostKey: bad }), 'ssh', resolveSecret)).rejects.toBeInstanceOf(HostKeyMismatch);
  });
});

describe('arista-eos applyAll: one stage on one device, one configure session, one commit', () => {
  let ssh: SshSession;
  let device: Device;
  const received = () => main.control.received!();
  const sessionsOpened = () => received().filter((l) => /^configure session \S+$/.test(l));
  const commits = () => received().filter((l) => /^commit( timer \S+)?$/.test(l));
  /** Two ports shut, a phone port moved to quarantine, one host blocked: each with its own tag, as the planner gives them. */
  const batch = (extra: Partial<ActionContext> = {}) =>
    tagged(
      device,
      [
        { kind: 'interface.disable', interface: 'Ethernet6' },
        { kind: 'interface.disable', interface: 'Ethernet2' },
        { kind: 'port.vlan', interface: 'Ethernet5', vlan: 999 },
        { kind: 'host.block', address: '10.20.0.11' },
      ] as Action[],
      extra,
    );
  const allHold = (items: { action: Action; ctx: ActionContext }[]) => holdsAfterRead(aristaEos, ssh, items);

  beforeAll(async () => {
    device = deviceFor(main);
    ssh = await open(main);
  });
  beforeEach(() => main.control.reset());
  afterAll(async () => {
    await ssh?.close();
    main.control.reset();
  });

  it('two shut ports, a quarantine move and a host.block land in ONE session and ONE commit, each reads back as done', async () => {
    const items = batch();
    await aristaEos.applyAll!(ssh, items);
    expect(sessionsOpened()).toEqual(['configure session fb-pb-a1.a2.a3.a4']);
    expect(commits()).toEqual(['commit']);
    const snap = main.control.snapshot();
    expect(snap.ports['Ethernet6']!.adminUp).toBe(false);
    expect(snap.ports['Ethernet2']!.adminUp).toBe(false);
    expect(snap.ports['Ethernet5']).toEqual({ adminUp: true, mode: 'access', vlan: 999, voiceVlan: null });
    expect(snap.rules.map((r) => r.id)).toEqual(['fb-pb-a4-block/10', 'fb-pb-a4-block/11', 'fb-pb-a4-block/12', 'fb-pb-a4-block/100000']);
    expect(await allHold(items)).toEqual([true, true, true, true]);
    expect((await ssh.cli(EOS_PLATFORM)).level).toBe('privileged');
  });

  it('two host.blocks in one session: the second goes into the ACL the first creates; two unblocks in one session restore the config exactly', async () => {
    const before = main.control.snapshot();
    const blocks = tagged(
      device,
      ['10.20.0.11', '10.20.0.0/24'].map((address) => ({ kind: 'host.block', address }) as Action),
    );
    await aristaEos.applyAll!(ssh, blocks);
    expect(commits()).toEqual(['commit']);
    // As one apply after the other would leave it: one ACL on both interfaces (a second `ip access-group` would replace the first).
    expect(main.control.snapshot().rules.map((r) => r.id)).toEqual([
      'fb-pb-a1-block/1',
      'fb-pb-a1-block/2',
      'fb-pb-a1-block/3',
      'fb-pb-a1-block/10',
      'fb-pb-a1-block/11',
      'fb-pb-a1-block/12',
      'fb-pb-a1-block/100000',
    ]);
    expect(await allHold(blocks)).toEqual([true, true]);
    const unblocks = blocks.map((b) => ({
      action: aristaEos.invert(b.action, { address: '', applied: {}, acls: {}, groups: [] }, b.ctx)!,
      ctx: b.ctx,
    }));
    expect(unblocks.map((u) => u.action.kind)).toEqual(['host.unblock', 'host.unblock']);
    await aristaEos.applyAll!(ssh, unblocks);
    expect(commits()).toEqual(['commit', 'commit']);
    expect(main.control.snapshot().config).toEqual(before.config);
  });

  it('a refused line -> CommandRejected in the switch words, the session aborted, nothing of the batch applied', async () => {
    const before = main.control.snapshot();
    main.control.inject({ kind: 'reject', on: /^switchport access vlan 999$/, once: true });
    const err = await aristaEos.applyAll!(ssh, batch()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CommandRejected);
    expect((err as Error).message).toContain("% Invalid input (at token 0: 'switchport')");
    expect(main.control.snapshot()).toEqual(before); // two shutdowns went before, but only into the aborted session
    expect(commits()).toEqual([]);
    expect(received()).toContain('abort');
    expect((await ssh.cli(EOS_PLATFORM)).level).toBe('privileged');
    // Nothing pending is left behind: the batch again goes out in one new session.
    await aristaEos.applyAll!(ssh, batch());
    expect(commits()).toEqual(['commit']);
    expect(await allHold(batch())).toEqual([true, true, true, true]);
  });

  it('autoRevert on every item -> ONE commit timer; any member confirms it, a non-member does not; disagreeing items go one by one', async () => {
    const items = batch({ autoRevert: { minutes: 1 } });
    await aristaEos.applyAll!(ssh, items);
    expect(commits()).toEqual(['commit timer 00:01:00']);
    const stranger = { ...items[0]!.ctx, tag: 'fb:pb:a9' };
    expect(await aristaEos.confirm!(ssh, items[0]!.action, stranger)).toMatch(/nothing pending/);
    expect(await aristaEos.confirm!(ssh, items[2]!.action, items[2]!.ctx)).toMatch(/confirmed fb-pb-a1\.a2\.a3\.a4/);
    expect(await aristaEos.confirm!(ssh, items[0]!.action, items[0]!.ctx)).toMatch(/nothing pending/);
    await new Promise((res) => setTimeout(res, 400));
    expect(await allHold(items)).toEqual([true, true, true, true]);

    main.control.reset();
    const mixed = batch().map((i, n) => (n === 0 ? { ...i, ctx: { ...i.ctx, autoRevert: { minutes: 1 } } } : i));
    await aristaEos.applyAll!(ssh, mixed.slice(0, 3));
    expect(commits()).toEqual(['commit timer 00:01:00', 'commit', 'commit']);
    await aristaEos.confirm!(ssh, mixed[0]!.action, mixed[0]!.ctx);
  });

  it('through the engine: three actions in one stage -> one commit, journaled "(applied together with a1)", all verified; a refused line falls back to one by one', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fb-eos-batch-'));
    const journal = openSqliteJournal(join(dir, 'journal.db'));
    try {
      const engine = createEngine({ journal, drivers, openSession, resolveSecret });
      const before = main.control.snapshot();
      const three = [batch()[0]!, ...batch().slice(2)];
      const r = await engine.run(planOf(device, three), { trigger: { kind: 'test', by: 'vitest' } });
      expect(r.state).toBe('contained');
      expect(r.actions.map((a) => [a.actionId, a.state])).toEqual([
        ['a1', 'verified'],
        ['a2', 'verified'],
        ['a3', 'verified'],
      ]);
      const applied = (await journal.entries(r.runId)).filter((e) => e.type === 'action.applied');
      expect(applied.map((e) => e.data['output'])).toEqual([
        expect.any(String),
        '(applied together with a1)',
        '(applied together with a1)',
      ]);
      expect(sessionsOpened()).toEqual(['configure session fb-pe-a1.a2.a3']);
      expect(commits()).toEqual(['commit']);
      expect((await engine.rollback(r.runId, { by: 'vitest' })).state).toBe('rolled-back');
      expect(main.control.snapshot().config).toEqual(before.config);

      // The batch is refused once: the engine reads each action and applies it on its own.
      main.control.reset();
      main.control.inject({ kind: 'reject', on: /^10 remark fb:pe2:a3 /, once: true });
      const again = await engine.run(planOf(device, three, 'pe2'), { trigger: { kind: 'test', by: 'vitest' } });
      expect(again.state).toBe('contained');
      expect(again.actions.map((a) => a.state)).toEqual(['verified', 'verified', 'verified']);
      const outputs = (await journal.entries(again.runId)).filter((e) => e.type === 'action.applied').map((e) => e.data['output']);
      expect(outputs.some((o) => String(o).includes('applied together'))).toBe(false);
      expect(commits()).toEqual(['commit', 'commit', 'commit']);
    } finally {
      await journal.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

/** A one-stage plan of these actions on one EOS switch, as the planner would write it (tags `fb:<id>:aN`). */
const planOf = (device: Device, items: { action: Action }[], id = 'pe'): Plan =>
  oneStagePlan(
    aristaEos,
    device,
    items.map((i) => i.action),
    batchPlan(id),
  );
