import ssh2 from 'ssh2';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Action } from '../src/actions.js';
import type { ActionContext } from '../src/drivers/driver.js';
import { JUNOS, junos } from '../src/drivers/junos.js';
import { drivers, getDriver } from '../src/drivers/registry.js';
import { createEngine } from './helpers/engine.js';
import { CommandRejected, DeviceTimeout, DeviceUnreachable, HostKeyMismatch } from '../src/errors.js';
import type { Device } from '../src/inventory/types.js';
import { openSqliteJournal } from '../src/journal/sqlite.js';
import type { Plan } from '../src/plan/types.js';
import { junosSim } from '../src/sim/junos.js';
import { simulators } from '../src/sim/registry.js';
import type { RunningSim, SimDeviceSpec } from '../src/sim/types.js';
import { resolveSecret } from '../src/secrets.js';
import { openSession } from '../src/transports/connect.js';
import type { SshSession } from '../src/transports/types.js';
import { converge, runDriverConformance } from './conformance/driver-conformance.js';
import { batchPlan, ctxOf, holdsAfterRead, lazyControl, oneStagePlan, openSsh, simDevice, tagged } from './helpers/sim.js';

/** Simulated Junos boxes on their own loopback addresses; every test asserts on the sim's snapshot. */
const PASSWORD = 'junos-sim-pass-4Rt9';
process.env.FB_TEST_JUNOS_PW = PASSWORD;
const creds = { user: 'netops', password: PASSWORD };

function spec(address: string, extra: Partial<SimDeviceSpec> = {}): SimDeviceSpec {
  return {
    id: `jn-${address.split('.').pop()}`,
    family: 'junos',
    site: 'lab',
    hostname: 'ex4300-01.site-2.lab',
    address,
    sshPort: 10022,
    minuteMs: 400,
    tags: ['virtual-chassis'],
    ports: [
      { name: 'ge-0/0/0', mode: 'routed', roles: ['uplink'] },
      { name: 'ge-0/0/1', mode: 'routed', roles: ['segment:lan'] },
      { name: 'ge-0/0/5', vlan: 10, voiceVlan: 20 },
      { name: 'ge-0/0/7', mode: 'trunk', vlan: 1 },
      { name: 'ge-0/0/8', adminUp: false, vlan: 10 },
      { name: 'ge-0/0/9', mode: 'routed', roles: ['mgmt'] },
    ],
    ...extra,
  };
}

function deviceFor(sim: RunningSim, hostKey = sim.hostKey!): Device {
  return simDevice(sim, {
    driver: 'junos',
    user: 'netops',
    passwordEnv: 'FB_TEST_JUNOS_PW',
    hostKey,
    managementInterfaces: ['ge-0/0/9'],
    interfaces: {
      'ge-0/0/0': { roles: ['uplink'] },
      'ge-0/0/1': { roles: ['segment:lan'] },
      'ge-0/0/5': { roles: ['access'] },
      'ge-0/0/9': { roles: ['mgmt'] },
    },
  });
}
const open = async (sim: RunningSim) => openSsh(deviceFor(sim));

let main: RunningSim;
let edge: RunningSim;
beforeAll(async () => {
  main = await junosSim(spec('127.0.13.21'), creds, {});
  const many = Array.from({ length: 14 }, (_, i) => ({ name: `ge-0/0/${20 + i}`, vlan: 10 }));
  edge = await junosSim(
    spec('127.0.13.22', {
      hostname: 'srx-edge.dc-1.example',
      tags: [],
      banner: 'Authorized use only.\nAll sessions are logged.',
      ports: [...spec('x').ports, ...many],
    }),
    creds,
    {},
  );
});
afterAll(async () => {
  await main?.stop();
  await edge?.stop();
});

describe('junos registration', () => {
  it('is in both registries', () => {
    expect(getDriver('junos')).toBe(junos);
    expect(simulators.junos).toBe(junosSim);
  });
});

runDriverConformance({
  name: 'junos @ sim',
  driver: junos,
  device: async () => deviceFor(main),
  interface: 'ge-0/0/5',
  adminUp: async (i) => main.control.snapshot().ports[i]!.adminUp,
  restore: async () => main.control.reset(),
  extended: {
    sim: lazyControl(() => main),
    deviceWords: /unknown command\.|syntax error\./,
    vlanPort: 'ge-0/0/5',
    trunkPort: 'ge-0/0/7',
    quarantineVlan: 999,
    egress: { segment: 'lan', interfaces: ['ge-0/0/1'], uplinks: ['ge-0/0/0'] },
    autoRevertWaitMs: 1200,
  },
});

/** Configures the box by hand, as an operator would have before the incident. */
async function operatorConfig(ssh: SshSession, lines: string[]): Promise<void> {
  const sh = await ssh.cli(JUNOS);
  await sh.moveTo('config');
  for (const l of lines) await sh.send(l);
  await sh.send('commit');
  await sh.moveTo('operational');
}

describe('junos driver on the simulator', () => {
  let ssh: SshSession;
  let device: Device;
  beforeAll(async () => {
    device = deviceFor(main);
    ssh = await open(main);
  });
  afterEach(() => {
    main.control.reset();
    main.control.setLatency(0);
  });
  afterAll(async () => ssh?.close());

  it('render is pure, deterministic and carries no secret', () => {
    const ctx = ctxOf(device);
    const actions: Action[] = [
      { kind: 'interface.disable', interface: 'ge-0/0/5' },
      { kind: 'port.vlan', interface: 'ge-0/0/5', vlan: 999 },
      { kind: 'port.restore', interface: 'ge-0/0/5', mode: 'access', vlan: 10, voiceVlan: 20 },
      { kind: 'host.block', address: '10.20.0.11' },
      { kind: 'egress.block', segment: 'lan', interfaces: ['ge-0/0/1'], uplinks: ['ge-0/0/0'], allow: ['10.50.0.0/16'] },
    ];
    for (const a of actions) {
      const lines = junos.render(a, ctx);
      expect(junos.render(structuredClone(a), { ...ctx, device: structuredClone(device) })).toEqual(lines);
      expect(lines.join('\n')).not.toContain(PASSWORD);
    }
    expect(junos.render(actions[3]!, ctx)).toContain(
      'set firewall family inet filter fb-p1a2b-a3 term src from source-address 10.20.0.11/32',
    );
    expect(() =>
      junos.render({ kind: 'port.restore', interface: 'ge-0/0/5', mode: 'dynamic auto', vlan: 1, voiceVlan: null }, ctx),
    ).toThrow(CommandRejected);
  });

  it('port.vlan moves an access port off its voice VLAN and the inverse restores the whole device exactly', async () => {
    const before = main.control.snapshot();
    const ctx = ctxOf(device);
    const action: Action = { kind: 'port.vlan', interface: 'ge-0/0/5', vlan: 999 };
    const r = await converge(junos, ssh, action, ctx);
    expect(r.outcome).toBe('verified');
    expect(r.before).toMatchObject({ mode: 'access', vlan: 10, voiceVlan: 20 });
    expect(main.control.snapshot().ports['ge-0/0/5']).toEqual({ adminUp: true, mode: 'access', vlan: 999, voiceVlan: null });
    expect(main.control.snapshot().config).toContain('set interfaces ge-0/0/5 unit 0 family ethernet-switching vlan members QUARANTINE');
    expect(main.control.snapshot().config).not.toContain('voip interface ge-0/0/5.0');
    const inverse = junos.invert(action, r.before, ctx)!;
    expect(inverse).toEqual({ kind: 'port.restore', interface: 'ge-0/0/5', mode: 'access', vlan: 10, voiceVlan: 20 });
    expect((await converge(junos, ssh, inverse, ctx)).outcome).toBe('verified');
    expect(main.control.snapshot()).toEqual(before);
  });

  it('refuses a trunk port and a VLAN the switch does not have, changing nothing', async () => {
    const before = main.control.snapshot();
    await expect(junos.apply(ssh, { kind: 'port.vlan', interface: 'ge-0/0/7', vlan: 999 }, ctxOf(device))).rejects.toThrow(
      /ge-0\/0\/7 is a trunk port/,
    );
    await expect(junos.apply(ssh, { kind: 'port.vlan', interface: 'ge-0/0/5', vlan: 3999 }, ctxOf(device))).rejects.toThrow(
      /VLAN 3999 is not defined/,
    );
    expect(main.control.snapshot()).toEqual(before);
  });

  it("host.block goes first in front of the operator's filter, a second tag is already, the inverse restores the config exactly", async () => {
    await operatorConfig(ssh, [
      'set firewall family inet filter OPS-IN term mgmt from source-address 10.9.0.0/16',
      'set firewall family inet filter OPS-IN term mgmt then accept',
      'set interfaces ge-0/0/0 unit 0 family inet filter input OPS-IN',
    ]);
    const before = main.control.snapshot();
    const ctx = ctxOf(device, 'fb:p1:a1');
    const block: Action = { kind: 'host.block', address: '10.20.0.11' };
    const r = await converge(junos, ssh, block, ctx);
    expect(r.outcome).toBe('verified');
    const snap = main.control.snapshot();
    expect(snap.rules.map((x) => x.id)).toEqual([
      'firewall family inet filter OPS-IN term mgmt',
      'firewall family inet filter fb-p1-a1 term src',
      'firewall family inet filter fb-p1-a1 term dst',
      'firewall family inet filter fb-pass term all',
    ]);
    expect(snap.rules[0]).toEqual(before.rules[0]);
    // ge-0/0/0: ours, then the operator's filter (still the last, so its implicit discard still applies).
    expect(snap.config).toMatch(/filter input-list fb-p1-a1\nset interfaces ge-0\/0\/0 unit 0 family inet filter input-list OPS-IN\n/);
    expect(snap.config).toMatch(
      /ge-0\/0\/1 unit 0 family inet filter input-list fb-p1-a1\nset interfaces ge-0\/0\/1 unit 0 family inet filter input-list fb-pass\n/,
    );
    // Neither the management interface nor a switch port gets a filter.
    expect(snap.config).not.toMatch(/ge-0\/0\/(?:9|5) unit 0 family inet filter/);
    expect((await converge(junos, ssh, block, ctxOf(device, 'fb:p2:a1'))).outcome).toBe('already');
    const inverse = junos.invert(block, r.before, ctx)!;
    expect(inverse).toEqual({ kind: 'host.unblock', address: '10.20.0.11' });
    expect((await converge(junos, ssh, inverse, ctx)).outcome).toBe('verified');
    expect(main.control.snapshot()).toEqual(before);
  });

  it('egress.block drops the segment towards the uplink except the allow-list; the inverse removes exactly it', async () => {
    const before = main.control.snapshot();
    const ctx = ctxOf(device, 'fb:p3:a2');
    const block: Action = {
      kind: 'egress.block',
      segment: 'lan',
      interfaces: ['ge-0/0/1'],
      uplinks: ['ge-0/0/0'],
      allow: ['10.50.0.0/16'],
    };
    expect((await converge(junos, ssh, block, ctx)).outcome).toBe('verified');
    const snap = main.control.snapshot();
    const ours = snap.rules.find((x) => x.id === 'firewall family inet filter fb-p3-a2 term egress-lan')!;
    expect(ours.text.split('\n')).toEqual([
      'set firewall family inet filter fb-p3-a2 term egress-lan from interface ge-0/0/1.0',
      'set firewall family inet filter fb-p3-a2 term egress-lan from destination-address 0.0.0.0/0',
      'set firewall family inet filter fb-p3-a2 term egress-lan from destination-address 10.50.0.0/16 except',
      'set firewall family inet filter fb-p3-a2 term egress-lan then discard',
    ]);
    expect(snap.config).toContain('set interfaces ge-0/0/0 unit 0 family inet filter output-list fb-p3-a2');
    expect((await converge(junos, ssh, block, ctxOf(device, 'fb:p4:a2'))).outcome).toBe('already');
    expect((await converge(junos, ssh, { kind: 'egress.unblock', segment: 'lan' }, ctx)).outcome).toBe('verified');
    expect(main.control.snapshot()).toEqual(before);
  });

  it('a commit the device refuses surfaces in its words; nothing is committed and config mode is left', async () => {
    const before = main.control.snapshot();
    const words = "[edit interfaces ge-0/0/5]\n  'disable'\n    Interface is in use by 802.1X\nerror: configuration check-out failed";
    main.control.inject({ kind: 'reject', on: /^commit/, message: words, once: true });
    const p = junos.apply(ssh, { kind: 'interface.disable', interface: 'ge-0/0/5' }, ctxOf(device));
    await expect(p).rejects.toBeInstanceOf(CommandRejected);
    await expect(p).rejects.toThrow(/Interface is in use by 802\.1X \/ error: configuration check-out failed/);
    expect((await ssh.cli(JUNOS)).level).toBe('operational');
    expect(main.control.snapshot()).toEqual(before);
    // The private candidate was discarded: the next change commits only itself.
    expect((await converge(junos, ssh, { kind: 'interface.disable', interface: 'ge-0/0/5' }, ctxOf(device))).outcome).toBe('verified');
  });

  it('when the discard itself fails, the exit question is answered and nothing is committed', async () => {
    const before = main.control.snapshot();
    main.control.inject({ kind: 'reject', on: /^commit$/, once: true });
    main.control.inject({ kind: 'reject', on: /^rollback 0$/, message: 'error: rollback failed', once: true });
    await expect(junos.apply(ssh, { kind: 'interface.disable', interface: 'ge-0/0/5' }, ctxOf(device))).rejects.toThrow(/syntax error\./);
    const sh = await ssh.cli(JUNOS);
    expect(sh.level).toBe('operational');
    expect(main.control.snapshot()).toEqual(before);
  });

  it('an unknown interface is refused in the device words', async () => {
    await expect(junos.read(ssh, { kind: 'interface.disable', interface: 'ge-0/0/44' }, ctxOf(device))).rejects.toThrow(
      /error: device ge-0\/0\/44 not found/,
    );
  });

  it('a hang or a drop during commit -> DeviceTimeout / DeviceUnreachable, and the private candidate is never committed', async () => {
    const before = main.control.snapshot();
    for (const [kind, err] of [
      ['hang', DeviceTimeout],
      ['drop', DeviceUnreachable],
    ] as const) {
      const s = await open(main);
      try {
        await junos.read(s, { kind: 'interface.disable', interface: 'ge-0/0/5' }, ctxOf(device));
        main.control.inject({ kind, on: /^commit/ });
        await expect(
          junos.apply(s, { kind: 'interface.disable', interface: 'ge-0/0/5' }, ctxOf(device, 'fb:t:1', 300)),
        ).rejects.toBeInstanceOf(err);
      } finally {
        main.control.clearFaults();
        await s.close();
      }
    }
    expect(main.control.snapshot()).toEqual(before);
  });

  it('auto-revert: a confirm that never reaches the device lets the device roll back by itself', async () => {
    const before = main.control.snapshot();
    const ctx: ActionContext = { ...ctxOf(device), autoRevert: { minutes: 1 } };
    const disable: Action = { kind: 'interface.disable', interface: 'ge-0/0/5' };
    expect((await converge(junos, ssh, disable, ctx)).outcome).toBe('verified');
    expect(main.control.snapshot().ports['ge-0/0/5']!.adminUp).toBe(false);
    main.control.inject({ kind: 'never-confirm' });
    expect(await junos.confirm!(ssh, disable, ctx)).toMatch(/^pending commit confirmed/);
    await new Promise((res) => setTimeout(res, 900));
    expect(main.control.snapshot().ports).toEqual(before.ports);
    main.control.clearFaults();
    expect(junos.holds(disable, await junos.read(ssh, disable, ctx), ctx)).toBe(false);
    expect(await junos.confirm!(ssh, disable, ctx)).toMatch(/^nothing was pending/);
  });

  it('auto-revert: a confirmed change stays past the timer', async () => {
    const ctx: ActionContext = { ...ctxOf(device), autoRevert: { minutes: 1 } };
    const disable: Action = { kind: 'interface.disable', interface: 'ge-0/0/5' };
    await converge(junos, ssh, disable, ctx);
    expect(await junos.confirm!(ssh, disable, ctx)).toMatch(/^pending commit confirmed/);
    await new Promise((res) => setTimeout(res, 900));
    expect(main.control.snapshot().ports['ge-0/0/5']!.adminUp).toBe(false);
  });

  it('a wrong host key is refused before any login', async () => {
    const bad = deviceFor(main, `SHA256:${'A'.repeat(43)}`);
    await expect(openSession(bad, 'ssh', resolveSecret)).rejects.toBeInstanceOf(HostKeyMismatch);
  });
});

describe('junos prompts and output on the edge cases', () => {
  let ssh: SshSession;
  let device: Device;
  const disable: Action = { kind: 'interface.disable', interface: 'ge-0/0/5' };
  beforeAll(async () => {
    device = deviceFor(edge);
    ssh = await open(edge);
  });
  afterEach(() => {
    edge.control.reset();
    edge.control.setLatency(0);
  });
  afterAll(async () => ssh?.close());

  it('learns a hostname with dots and dashes behind a banner', async () => {
    const sh = await ssh.cli(JUNOS);
    expect(sh.hostname).toBe('srx-edge.dc-1.example');
    expect(sh.level).toBe('operational');
    expect(await junos.read(ssh, disable, ctxOf(device))).toEqual({ interface: 'ge-0/0/5', adminUp: true });
  });

  it('a syslog line inside the output does not confuse the read-back', async () => {
    edge.control.inject({
      kind: 'syslog',
      on: /^show configuration interfaces ge-0\/0\/5/,
      line: 'Message from syslogd@srx-edge.dc-1.example at Nov 30 12:00:01  ...',
    });
    edge.control.inject({
      kind: 'syslog',
      on: /^show interfaces ge-0\/0\/5 terse/,
      line: 'Nov 30 12:00:01  srx-edge mgd[4711]: UI_COMMIT: User netops requested commit',
    });
    const r = await junos.read(ssh, { kind: 'port.vlan', interface: 'ge-0/0/5', vlan: 999 }, ctxOf(device));
    expect(r).toEqual({ interface: 'ge-0/0/5', mode: 'access', vlan: 10, voiceVlan: 20 });
  });

  it('a slow device (latency above any read window) is waited for by its prompt, not a timer', async () => {
    await junos.apply(ssh, disable, ctxOf(device));
    edge.control.setLatency(1500);
    expect(await junos.read(ssh, disable, ctxOf(device, 'fb:s:1', 4000))).toEqual({ interface: 'ge-0/0/5', adminUp: false });
  });

  it('pages with ---(more)--- until `set cli screen-length 0`; the session answers the pager either way', async () => {
    const raw = await rawShell(edge, 'show configuration | display set\n', /---\(more\)---/);
    expect(raw).toContain('---(more)---');
    const paged = await ssh.cli({ ...JUNOS, name: 'junos-paged', onOpen: [] });
    const out = await paged.send('show configuration | display set');
    expect(out.split('\n')).toEqual(edge.control.snapshot().config.split('\n'));
    expect(out).not.toContain('more');
  });
});

/** A bare ssh2 shell, to see the bytes a real terminal would (the pager is answered by nobody). */
function rawShell(sim: RunningSim, input: string, until: RegExp): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = new ssh2.Client();
    let buf = '';
    const timer = setTimeout(() => {
      c.end();
      reject(new Error(`no ${until} in: ${buf.slice(-300)}`));
    }, 4000);
    c.on('ready', () =>
      c.shell({ rows: 24, cols: 200, term: 'vt100' }, (err, ch) => {
        if (err) return reject(err);
        let sent = false;
        ch.on('data', (d: Buffer) => {
          buf += d.toString();
          if (!sent && /> $/.test(buf)) {
            sent = true;
            ch.write(input);
          }
          if (sent && until.test(buf)) {
            clearTimeout(timer);
            c.end();
            resolve(buf);
          }
        });
      }),
    );
    c.on('error', reject);
    c.connect({ host: sim.spec.address, port: 10022, username: creds.user, password: PASSWORD, hostVerifier: () => true });
  });
}

describe('junos applyAll: one stage on one device, one private candidate, one commit', () => {
  let ssh: SshSession;
  let device: Device;
  const commits = () => main.control.received!().filter((l) => /^commit( confirmed \d+)?$/.test(l));
  /** Two ports shut, one moved to quarantine, one host blocked: each with its own tag, as the planner gives them. */
  const batch = (extra: Partial<ActionContext> = {}) =>
    tagged(
      device,
      [
        { kind: 'interface.disable', interface: 'ge-0/0/0' },
        { kind: 'interface.disable', interface: 'ge-0/0/1' },
        { kind: 'port.vlan', interface: 'ge-0/0/5', vlan: 999 },
        { kind: 'host.block', address: '10.20.0.11' },
      ] as Action[],
      extra,
    );
  const allHold = (items: { action: Action; ctx: ActionContext }[]) => holdsAfterRead(junos, ssh, items);

  beforeAll(async () => {
    device = deviceFor(main);
    ssh = await open(main);
  });
  beforeEach(() => main.control.reset());
  afterAll(async () => {
    await ssh?.close();
    main.control.reset();
  });

  it('two shut ports, a quarantine move and a host.block land in ONE commit, each reads back as done', async () => {
    const items = batch();
    await junos.applyAll!(ssh, items);
    expect(commits()).toEqual(['commit']);
    expect(main.control.received!().filter((l) => l === 'configure private')).toHaveLength(1);
    const snap = main.control.snapshot();
    expect(snap.ports['ge-0/0/0']!.adminUp).toBe(false);
    expect(snap.ports['ge-0/0/1']!.adminUp).toBe(false);
    expect(snap.ports['ge-0/0/5']).toEqual({ adminUp: true, mode: 'access', vlan: 999, voiceVlan: null });
    expect(snap.rules.map((r) => r.id)).toEqual([
      'firewall family inet filter fb-pb-a4 term src',
      'firewall family inet filter fb-pb-a4 term dst',
      'firewall family inet filter fb-pass term all',
    ]);
    expect(await allHold(items)).toEqual([true, true, true, true]);
    expect((await ssh.cli(JUNOS)).level).toBe('operational');
  });

  it('two host.blocks in one commit both sit before fb-pass; two unblocks in one commit restore the config exactly', async () => {
    const before = main.control.snapshot();
    const blocks = tagged(
      device,
      ['10.20.0.11', '10.20.0.12'].map((address) => ({ kind: 'host.block', address }) as Action),
    );
    await junos.applyAll!(ssh, blocks);
    expect(commits()).toEqual(['commit']);
    for (const unit of ['ge-0/0/0', 'ge-0/0/1']) {
      const list = main.control
        .snapshot()
        .config.split('\n')
        .map((l) => new RegExp(`^set interfaces ${unit} unit 0 family inet filter input-list (\\S+)$`).exec(l)?.[1])
        .filter(Boolean);
      // Each as one apply after the other would leave it: the later one first, the accept-all last.
      expect(list).toEqual(['fb-pb-a2', 'fb-pb-a1', 'fb-pass']);
    }
    expect(await allHold(blocks)).toEqual([true, true]);
    const unblocks = blocks.map((b) => ({ action: junos.invert(b.action, { key: '', rules: [] }, b.ctx)!, ctx: b.ctx }));
    expect(unblocks.map((u) => u.action.kind)).toEqual(['host.unblock', 'host.unblock']);
    await junos.applyAll!(ssh, unblocks);
    expect(commits()).toEqual(['commit', 'commit']);
    expect(main.control.snapshot()).toEqual(before);
  });

  it('a refused line or a refused commit -> CommandRejected in the device words, the candidate is discarded, nothing of the batch committed', async () => {
    const before = main.control.snapshot();
    const words = "[edit interfaces ge-0/0/5]\n  'unit'\n    Interface is in use by 802.1X\nerror: configuration check-out failed";
    for (const [fault, said] of [
      [{ kind: 'reject', on: /^set interfaces ge-0\/0\/5 unit 0 family ethernet-switching vlan members/, once: true }, /syntax error\./],
      [{ kind: 'reject', on: /^commit$/, message: words, once: true }, /Interface is in use by 802\.1X/],
    ] as const) {
      main.control.reset();
      main.control.inject(fault);
      const err = await junos.applyAll!(ssh, batch()).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(CommandRejected);
      expect((err as Error).message).toMatch(said);
      expect(main.control.snapshot()).toEqual(before);
      expect(main.control.received!()).toContain('rollback 0');
      expect((await ssh.cli(JUNOS)).level).toBe('operational');
    }
    // The discarded candidate leaves nothing behind: the batch again commits exactly itself.
    await junos.applyAll!(ssh, batch());
    expect(commits()).toEqual(['commit', 'commit']);
    expect(await allHold(batch())).toEqual([true, true, true, true]);
  });

  it('autoRevert on every item -> ONE commit confirmed; confirm (any item) keeps it past the timer; disagreeing items go one by one', async () => {
    const items = batch({ autoRevert: { minutes: 1 } });
    await junos.applyAll!(ssh, items);
    expect(commits()).toEqual(['commit confirmed 1']);
    expect(await junos.confirm!(ssh, items[2]!.action, items[2]!.ctx)).toMatch(/^pending commit confirmed/);
    await new Promise((res) => setTimeout(res, 900));
    expect(await allHold(items)).toEqual([true, true, true, true]);

    main.control.reset();
    const mixed = batch().map((i, n) => (n === 0 ? { ...i, ctx: { ...i.ctx, autoRevert: { minutes: 1 } } } : i));
    await junos.applyAll!(ssh, mixed.slice(0, 3));
    expect(commits()).toEqual(['commit confirmed 1', 'commit', 'commit']);
  });

  it('through the engine: three actions in one stage -> one commit, journaled "(applied together with a1)", all verified; a refused line falls back to one by one', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fb-junos-batch-'));
    const journal = openSqliteJournal(join(dir, 'journal.db'));
    try {
      const engine = createEngine({ journal, drivers, openSession, resolveSecret });
      const before = main.control.snapshot();
      const plan = planOf(device, batch().slice(1));
      const r = await engine.run(plan, { trigger: { kind: 'test', by: 'vitest' } });
      expect(r.state).toBe('contained');
      expect(r.actions.map((a) => [a.actionId, a.state])).toEqual([
        ['a1', 'verified'],
        ['a2', 'verified'],
        ['a3', 'verified'],
      ]);
      const applied = (await journal.entries(r.runId)).filter((e) => e.type === 'action.applied');
      expect(applied.map((e) => e.data['output'])).toEqual([
        expect.stringContaining('commit complete'),
        '(applied together with a1)',
        '(applied together with a1)',
      ]);
      expect(commits()).toEqual(['commit']);
      expect((await engine.rollback(r.runId, { by: 'vitest' })).state).toBe('rolled-back');
      expect(main.control.snapshot().ports).toEqual(before.ports);
      expect(main.control.snapshot().rules).toEqual(before.rules);

      // The batch is refused once: the engine reads each action and applies it on its own.
      main.control.reset();
      main.control.inject({ kind: 'reject', on: /^set firewall family inet filter fb-pe2-a3 term src then discard$/, once: true });
      const again = await engine.run(planOf(device, batch().slice(1), 'pe2'), { trigger: { kind: 'test', by: 'vitest' } });
      expect(again.state).toBe('contained');
      expect(again.actions.map((a) => a.state)).toEqual(['verified', 'verified', 'verified']);
      const outputs = (await journal.entries(again.runId)).filter((e) => e.type === 'action.applied').map((e) => e.data['output']);
      expect(outputs.every((o) => typeof o === 'string' && !o.includes('applied together'))).toBe(true);
      expect(commits()).toEqual(['commit', 'commit', 'commit']);
    } finally {
      await journal.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

/** A one-stage plan of these actions on one junos device, as the planner would write it (tags `fb:<id>:aN`). */
const planOf = (device: Device, items: { action: Action }[], id = 'pe'): Plan =>
  oneStagePlan(
    junos,
    device,
    items.map((i) => i.action),
    batchPlan(id),
  );
