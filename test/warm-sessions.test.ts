import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CISCO_IOS } from '../src/drivers/cisco-ios.js';
import type { SessionOpener } from '../src/engine/sessions.js';
import { WarmSessions, type WarmOptions } from '../src/engine/warm-sessions.js';
import { DeviceUnreachable, HostKeyMismatch } from '../src/errors.js';
import type { Device } from '../src/inventory/types.js';
import { resolveSecret } from '../src/secrets.js';
import { ciscoIosSim } from '../src/sim/cisco-ios.js';
import { newHostKey } from '../src/sim/cli-server.js';
import type { RunningSim, SimDeviceSpec } from '../src/sim/types.js';
import { openSession } from '../src/transports/connect.js';
import type { Session, SnmpSession, SshSession } from '../src/transports/types.js';
import { count, simDevice } from './helpers/sim.js';

/** Warm sessions against simulated IOS switches on 127.0.18.x: reuse, drops, host keys, bounds. */
const PASSWORD = 'warm-sim-pass-7Qw2';
process.env.FB_TEST_WARM_PW = PASSWORD;
process.env.FB_TEST_WARM_PW_COPY = PASSWORD;
const LOGIN = 'terminal length 0'; // sent once per CLI shell: one per login here

const spec = (address: string): SimDeviceSpec => ({
  id: `warm-${address.split('.').pop()}`,
  family: 'cisco-ios',
  site: 'lab',
  hostname: `warm-sw${address.split('.').pop()}`,
  address,
  sshPort: 10022,
  ports: [{ name: 'GigabitEthernet1/0/1', mode: 'access', vlan: 10 }],
});
const startSim = (address: string, hostKey?: string) =>
  ciscoIosSim(spec(address), { user: 'netops', password: PASSWORD }, hostKey ? { hostKey } : {});
const deviceOf = (sim: RunningSim, over: { hostKey?: string; passwordEnv?: string } = {}): Device =>
  simDevice(sim, {
    driver: 'cisco-ios',
    user: 'netops',
    passwordEnv: over.passwordEnv ?? 'FB_TEST_WARM_PW',
    hostKey: over.hostKey,
    interfaces: { 'Gi1/0/1': { roles: ['access'] } },
  });
const ask = async (s: Session, line = 'show version') => (await (s as SshSession).cli(CISCO_IOS)).send(line, { timeoutMs: 5000 });
const alive = (s: Session) => (s as SshSession).alive?.() ?? true;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until(cond: () => boolean, ms = 5000): Promise<void> {
  for (const end = Date.now() + ms; !cond(); await sleep(10)) if (Date.now() > end) throw new Error('condition not met in time');
}

/** A cache over the real opener that counts connection attempts; closed after each test. */
let made: WarmSessions[] = [];
let opened: string[] = [];
function warmCache(opts: WarmOptions = {}, opener: SessionOpener = openSession): WarmSessions {
  const w = new WarmSessions(
    (d, t, r) => {
      opened.push(d.id);
      return opener(d, t, r);
    },
    resolveSecret,
    opts,
  );
  made.push(w);
  return w;
}

let main: RunningSim;
let lru: RunningSim[] = [];
beforeAll(async () => {
  main = await startSim('127.0.18.11');
  lru = await Promise.all(['127.0.18.21', '127.0.18.22', '127.0.18.23'].map((a) => startSim(a)));
});
afterAll(async () => {
  await Promise.all([main, ...lru].map((s) => s?.stop()));
});
beforeEach(() => {
  main.control.reset();
  opened = [];
});
afterEach(async () => {
  await Promise.all(made.map((w) => w.closeAll()));
  made = [];
});

describe('WarmSessions', () => {
  it('keeps one login across two runs; a run view closeAll keeps it warm', async () => {
    const warm = warmCache();
    const device = deviceOf(main);
    const run1 = warm.forRun();
    const s1 = await run1.get(device, 'ssh', 5000);
    expect(await ask(s1)).toContain('Cisco IOS XE');
    await run1.closeAll();
    // The plan carries its own copy of the inventory entry: equal settings, another object.
    const run2 = warm.forRun();
    const s2 = await run2.get(structuredClone(device), 'ssh', 5000);
    expect(s2).toBe(s1);
    expect(await ask(s2)).toContain('Cisco IOS XE');
    await run2.closeAll();
    expect(alive(s1)).toBe(true);
    expect(opened).toEqual([device.id]);
    expect(count(main, LOGIN)).toBe(1);
    expect(count(main, 'show version')).toBe(2);
    expect(warm.stats()).toMatchObject({ open: 1, opening: 0, reconnects: 0 });
    await warm.closeAll();
    expect(alive(s1)).toBe(false);
    expect(warm.stats().open).toBe(0);
  });

  it('shares one opening between concurrent gets, and times each run view from its first get', async () => {
    let now = 1000;
    const warm = warmCache({ clock: () => now });
    const run = warm.forRun();
    expect(run.firstOpenAt).toBeUndefined();
    const all = await Promise.all([1, 2, 3, 4, 5].map(() => run.get(deviceOf(main), 'ssh', 5000)));
    expect(new Set(all).size).toBe(1);
    expect(opened).toHaveLength(1);
    expect(run.firstOpenAt).toBe(1000);
    now = 2500;
    const next = warm.forRun();
    await next.get(deviceOf(main), 'ssh', 5000);
    expect(next.firstOpenAt).toBe(2500);
    expect(run.firstOpenAt).toBe(1000);
  });

  it('reconnects after the device drops the connection, without a discard', async () => {
    const warm = warmCache();
    const device = deviceOf(main);
    const run = warm.forRun();
    const s1 = await run.get(device, 'ssh', 5000);
    main.control.inject({ kind: 'drop', on: /WARM-DROP/, once: true });
    await expect(ask(s1, 'show ip access-lists WARM-DROP')).rejects.toBeInstanceOf(DeviceUnreachable);
    await run.closeAll();
    await until(() => warm.stats().open === 0);
    expect(alive(s1)).toBe(false);
    const s2 = await warm.forRun().get(device, 'ssh', 5000);
    expect(s2).not.toBe(s1);
    expect(await ask(s2)).toContain('Cisco IOS XE');
    expect(warm.stats()).toMatchObject({ open: 1, dropped: 1, reconnects: 1 });
  });

  it('discard closes for real; the next get opens a new session', async () => {
    const warm = warmCache();
    const run = warm.forRun();
    const s1 = await run.get(deviceOf(main), 'ssh', 5000);
    await run.discard(deviceOf(main).id);
    expect(alive(s1)).toBe(false);
    const s2 = await run.get(deviceOf(main), 'ssh', 5000);
    expect(s2).not.toBe(s1);
    expect(await ask(s2)).toContain('Cisco IOS XE');
    expect(warm.stats()).toMatchObject({ open: 1, reconnects: 1 });
  });

  it('reopens when the inventory entry changed (credential reference), closing the old session', async () => {
    const warm = warmCache();
    const s1 = await warm.forRun().get(deviceOf(main), 'ssh', 5000);
    const s2 = await warm.forRun().get(deviceOf(main, { passwordEnv: 'FB_TEST_WARM_PW_COPY' }), 'ssh', 5000);
    expect(s2).not.toBe(s1);
    expect(alive(s1)).toBe(false);
    expect(await ask(s2)).toContain('Cisco IOS XE');
    const moved = { ...deviceOf(main, { passwordEnv: 'FB_TEST_WARM_PW_COPY' }), address: '127.0.18.12' };
    await expect(warm.get(moved, 'ssh', 5000)).rejects.toBeInstanceOf(DeviceUnreachable); // nothing listens there
    expect(alive(s2)).toBe(false);
    expect(opened).toHaveLength(3);
  });

  it('closes the least recently used idle session past maxSessions, never a held one', async () => {
    const warm = warmCache({ maxSessions: 2 });
    const [a, b, c] = lru.map((s) => deviceOf(s)) as [Device, Device, Device];
    const run1 = warm.forRun();
    const sa = await run1.get(a, 'ssh', 5000);
    const sb = await run1.get(b, 'ssh', 5000);
    await run1.closeAll();
    const run2 = warm.forRun();
    await run2.get(a, 'ssh', 5000); // a is now more recent than b
    await run2.closeAll();
    const sc = await warm.forRun().get(c, 'ssh', 5000);
    expect(warm.stats()).toMatchObject({ open: 2, evicted: 1 });
    expect(alive(sb)).toBe(false);
    expect(alive(sa) && alive(sc)).toBe(true);
    // Held by a run, nothing is closed: the bound gives way until the run hands them back.
    const run3 = warm.forRun();
    await Promise.all([a, b, c].map((d) => run3.get(d, 'ssh', 5000)));
    expect(warm.stats()).toMatchObject({ open: 3, evicted: 1 });
    await run3.closeAll();
    expect(warm.stats()).toMatchObject({ open: 2, evicted: 2 });
  });

  it('closes a session idle longer than idleMs, but not one a run holds', async () => {
    const warm = warmCache({ idleMs: 150 });
    const run = warm.forRun();
    const s1 = await run.get(deviceOf(main), 'ssh', 5000);
    await sleep(300);
    expect(alive(s1)).toBe(true);
    await run.closeAll();
    await until(() => !alive(s1), 2000);
    expect(warm.stats()).toMatchObject({ open: 0, expired: 1 });
    const s2 = await warm.forRun().get(deviceOf(main), 'ssh', 5000);
    expect(await ask(s2)).toContain('Cisco IOS XE');
    expect(warm.stats().reconnects).toBe(1);
  });

  it('treats an SNMP session as alive until closed', async () => {
    let closed = 0;
    const fake = (): SnmpSession => ({
      kind: 'snmp',
      get: async () => new Map(),
      set: async () => undefined,
      walk: async () => new Map(),
      close: async () => void closed++,
    });
    const warm = warmCache({ maxSessions: 1 }, async () => fake());
    const device: Device = {
      ...deviceOf(main),
      ssh: undefined,
      snmp: { version: '2c', port: 1161, community: 'env:X', timeoutMs: 500, retries: 0 },
    };
    const run1 = warm.forRun();
    const s1 = await run1.get(device, 'snmp', 1000);
    await run1.closeAll();
    const run2 = warm.forRun();
    expect(await run2.get(device, 'snmp', 1000)).toBe(s1);
    await run2.closeAll();
    await warm.get({ ...device, id: 'other' }, 'snmp', 1000);
    expect(closed).toBe(1);
    expect(warm.stats()).toMatchObject({ open: 1, evicted: 1 });
  });

  it('gives each get its own timeout on a shared opening; a session arriving after discard is closed', async () => {
    let arrive!: (s: SnmpSession) => void;
    let closed = 0;
    const session = { kind: 'snmp', close: async () => void closed++ } as SnmpSession;
    const warm = warmCache({}, () => new Promise((r) => (arrive = r)));
    const device: Device = { ...deviceOf(main), snmp: { version: '2c', port: 1161, community: 'env:X', timeoutMs: 500, retries: 0 } };
    const patient = warm.get(device, 'snmp', 5000);
    await expect(warm.get(device, 'snmp', 20)).rejects.toThrow(/connect to warm-11: no result within 20 ms/);
    expect(warm.stats().opening).toBe(1);
    arrive(session);
    expect(await patient).toBe(session);
    const late = warm.get({ ...device, id: 'late' }, 'snmp', 5000);
    await warm.discard('late');
    arrive(session);
    expect(await late).toBe(session);
    expect(closed).toBe(1);
    expect(warm.stats()).toMatchObject({ open: 1, opening: 0 });
  });
});

describe('WarmSessions: reconnects check the pinned host key again', () => {
  const address = '127.0.18.12';
  const firstKey = newHostKey(false);
  let sim: RunningSim | undefined;
  afterEach(async () => {
    await sim?.stop();
    sim = undefined;
  });

  it('reconnects after the device restarts with the same key', async () => {
    sim = await startSim(address, firstKey);
    const warm = warmCache();
    const device = deviceOf(sim);
    const s1 = await warm.forRun().get(device, 'ssh', 5000);
    await sim.stop();
    await until(() => !alive(s1));
    sim = await startSim(address, firstKey);
    const s2 = await warm.forRun().get(device, 'ssh', 5000);
    expect(await ask(s2)).toContain('Cisco IOS XE');
    expect(warm.stats()).toMatchObject({ open: 1, dropped: 1, reconnects: 1 });
  });

  it('refuses the reconnect when the device comes back with another host key', async () => {
    sim = await startSim(address, firstKey);
    const warm = warmCache();
    const device = deviceOf(sim);
    const s1 = await warm.forRun().get(device, 'ssh', 5000);
    await sim.stop();
    await until(() => !alive(s1));
    sim = await startSim(address, newHostKey(false));
    expect(sim.hostKey).not.toBe(device.ssh!.hostKey);
    const err = await warm
      .forRun()
      .get(device, 'ssh', 5000)
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HostKeyMismatch);
    expect((err as Error).message).toContain(`expected ${device.ssh!.hostKey}, presented ${sim.hostKey}`);
    expect(warm.stats()).toMatchObject({ open: 0, opening: 0, reconnects: 1 });
    // Refused again on the next try: nothing about the failed attempt is kept.
    await expect(warm.forRun().get(device, 'ssh', 5000)).rejects.toBeInstanceOf(HostKeyMismatch);
  });
});
