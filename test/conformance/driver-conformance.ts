import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ACTION_KINDS, type Action, type ActionKind } from '../../src/actions.js';
import type { ActionContext, Driver, State } from '../../src/drivers/driver.js';
import type { Device } from '../../src/inventory/types.js';
import type { SecretResolver, Session } from '../../src/transports/types.js';
import { CommandRejected, UnsupportedAction, VerifyMismatch } from '../../src/errors.js';
import { resolveSecret as defaultResolver } from '../../src/secrets.js';
import { openSession } from '../../src/transports/connect.js';
import { EXTENDED_TESTS, type ExtendedOptions, extendedCases } from './extended-cases.js';

/**
 * The one suite every driver passes, against a real device (lab or simulator). Each test can
 * fail: it asserts on what the device shows after the driver acted.
 */
export const CONFORMANCE_TESTS = [
  'render is pure',
  'read is plain JSON',
  'disable holds after apply',
  'idempotent',
  'invert restores an up port',
  'invert of a down port is null',
  'unknown interface',
  'hostile interface name',
  'unsupported actions',
  ...EXTENDED_TESTS,
] as const;
export type ConformanceTest = (typeof CONFORMANCE_TESTS)[number];

export interface ConformanceOptions {
  name: string;
  driver: Driver;
  device: () => Promise<Device>;
  /** A port the suite may take down and bring up again. Never the management interface. */
  interface: string;
  resolveSecret?: SecretResolver;
  /** Independent view of the port (e.g. /sys in the namespace), to check the driver's read against. */
  adminUp?: (iface: string) => Promise<boolean>;
  /** Puts the device back as it was before each test. */
  restore?: () => Promise<void>;
  skip?: { reason: string; tests: ConformanceTest[] }[];
  /** More cases (VLANs, filters, power, faults, auto-revert): see extended-cases.ts for what each needs. */
  extended?: ExtendedOptions;
}

const ALL_KINDS: readonly ActionKind[] = ACTION_KINDS;
/** The cases that need a port the suite may take down. */
const PORT_TESTS: readonly ConformanceTest[] = [
  'read is plain JSON',
  'disable holds after apply',
  'idempotent',
  'invert restores an up port',
  'invert of a down port is null',
  'unknown interface',
  'hostile interface name',
];

/** Sample actions of every kind, to check `supports` against. */
export const SAMPLES: Record<ActionKind, Action> = {
  'interface.disable': { kind: 'interface.disable', interface: 'eth0' },
  'interface.enable': { kind: 'interface.enable', interface: 'eth0' },
  'host.block': { kind: 'host.block', address: '198.51.100.7' },
  'host.unblock': { kind: 'host.unblock', address: '198.51.100.7' },
  'egress.block': { kind: 'egress.block', segment: 'lan', interfaces: ['eth0'], uplinks: ['eth1'], allow: [] },
  'egress.unblock': { kind: 'egress.unblock', segment: 'lan' },
  'port.vlan': { kind: 'port.vlan', interface: 'eth0', vlan: 999 },
  'port.restore': { kind: 'port.restore', interface: 'eth0', mode: 'access', vlan: 10, voiceVlan: null },
  'power.off': { kind: 'power.off', outlet: 'outlet-1' },
  'power.on': { kind: 'power.on', outlet: 'outlet-1' },
};

/** What the engine does for one action: read, skip if it holds, apply, read back, verify. */
export async function converge(driver: Driver, session: Session, action: Action, ctx: ActionContext) {
  const before = await driver.read(session, action, ctx);
  if (driver.holds(action, before, ctx)) return { outcome: 'already' as const, before, after: before };
  await driver.apply(session, action, ctx);
  const after = await driver.read(session, action, ctx);
  if (!driver.holds(action, after, ctx)) throw new VerifyMismatch(`${action.kind}: read-back does not show it: ${JSON.stringify(after)}`);
  return { outcome: 'verified' as const, before, after };
}

/** Secret values a device refers to, split into lines so that private keys are checked piecewise. */
export async function deviceSecrets(device: Device, resolve: SecretResolver): Promise<string[]> {
  const refs = [device.ssh?.key, device.ssh?.password];
  if (device.snmp?.version === '2c') refs.push(device.snmp.community);
  if (device.snmp?.version === '3') refs.push(device.snmp.auth.key, device.snmp.priv.key);
  const out: string[] = [];
  for (const ref of refs) {
    if (!ref) continue;
    const value = await resolve(ref);
    for (const line of value.split('\n').map((l) => l.trim())) if (line.length >= 8 && !line.startsWith('-----')) out.push(line);
  }
  return out;
}

export function runDriverConformance(opts: ConformanceOptions): void {
  const { driver } = opts;
  const resolve = opts.resolveSecret ?? defaultResolver;
  const skipped = new Map<string, string>();
  for (const s of opts.skip ?? []) for (const t of s.tests) skipped.set(t, s.reason);
  const noPorts = driver.supports.includes('interface.disable') ? undefined : `${driver.family} has no interface.disable`;
  const test = (name: ConformanceTest, fn: () => Promise<void>, notApplicable?: string) => {
    const reason = skipped.get(name) ?? notApplicable ?? (PORT_TESTS.includes(name) ? noPorts : undefined);
    if (reason) {
      console.warn(`[skip] ${opts.name}: ${name}: ${reason}`);
      it.skip(`${name} (skipped: ${reason})`, fn);
    } else it(name, fn);
  };

  describe(`driver conformance: ${opts.name}`, () => {
    let device: Device;
    let session: Session;
    let ctx: ActionContext;
    const disable: Action = { kind: 'interface.disable', interface: opts.interface };
    const enable: Action = { kind: 'interface.enable', interface: opts.interface };
    const readPort = () => driver.read(session, disable, ctx);
    const independentUp = async (want: boolean) => {
      if (opts.adminUp) expect(await opts.adminUp(opts.interface)).toBe(want);
    };

    beforeAll(async () => {
      device = await opts.device();
      session = await openSession(device, driver.transport, resolve);
      ctx = { device, tag: 'fb:conf:a1', timeoutMs: 10_000 };
      await opts.restore?.();
    });
    afterEach(async () => {
      await opts.restore?.();
    });
    afterAll(async () => {
      await session?.close();
    });

    test('render is pure', async () => {
      const secrets = await deviceSecrets(device, resolve);
      for (const kind of driver.supports) {
        const action = { ...SAMPLES[kind], ...('interface' in SAMPLES[kind] ? { interface: opts.interface } : {}) } as Action;
        const a = driver.render(action, ctx);
        const b = driver.render(structuredClone(action), { ...ctx, device: structuredClone(device) });
        expect(a.length).toBeGreaterThan(0);
        expect(b).toEqual(a);
        for (const s of secrets) expect(a.join('\n')).not.toContain(s);
      }
    });

    test('read is plain JSON', async () => {
      const state = await readPort();
      expect(JSON.parse(JSON.stringify(state))).toEqual(state);
    });

    test('disable holds after apply', async () => {
      const before = await readPort();
      expect(driver.holds(disable, before, ctx)).toBe(false);
      await driver.apply(session, disable, ctx);
      const after = await readPort();
      expect(driver.holds(disable, after, ctx)).toBe(true);
      await independentUp(false);
    });

    test('idempotent', async () => {
      const first = await converge(driver, session, disable, ctx);
      expect(first.outcome).toBe('verified');
      const second = await converge(driver, session, disable, ctx);
      expect(second.outcome).toBe('already');
      expect(second.before).toEqual(first.after);
      // Applying again by hand changes nothing either.
      await driver.apply(session, disable, ctx);
      expect(await readPort()).toEqual(first.after);
    });

    test('invert restores an up port', async () => {
      const { before } = await converge(driver, session, disable, ctx);
      const inverse = driver.invert(disable, before, ctx);
      expect(inverse).not.toBeNull();
      expect(JSON.parse(JSON.stringify(inverse))).toEqual(inverse);
      const back = await converge(driver, session, inverse!, ctx);
      expect(back.outcome).toBe('verified');
      expect(driver.holds(enable, back.after, ctx)).toBe(true);
      await independentUp(true);
      expect(stripVolatile(await readPort())).toEqual(stripVolatile(before));
    });

    test('invert of a down port is null', async () => {
      await driver.apply(session, disable, ctx);
      const before = await readPort();
      expect(driver.holds(disable, before, ctx)).toBe(true);
      expect(driver.invert(disable, before, ctx)).toBeNull();
      // The engine reports `already` and never touches it; rollback has nothing to undo.
      expect((await converge(driver, session, disable, ctx)).outcome).toBe('already');
      expect(driver.holds(disable, await readPort(), ctx)).toBe(true);
      await independentUp(false);
    });

    test('unknown interface', async () => {
      const before = await readPort();
      const ghost: Action = { kind: 'interface.disable', interface: 'fbghost9' };
      await expect(driver.read(session, ghost, ctx)).rejects.toBeInstanceOf(CommandRejected);
      await expect(driver.apply(session, ghost, ctx)).rejects.toThrow(/fbghost9/);
      await expect(driver.apply(session, ghost, ctx)).rejects.toBeInstanceOf(CommandRejected);
      expect(await readPort()).toEqual(before);
    });

    test('hostile interface name', async () => {
      const before = await readPort();
      for (const name of ['eth0; reboot', 'x$(id)', '-a', '', 'a'.repeat(80)]) {
        const bad = { kind: 'interface.disable', interface: name } as Action;
        expect(() => driver.render(bad, ctx)).toThrow(CommandRejected);
        await expect(driver.apply(session, bad, ctx)).rejects.toBeInstanceOf(CommandRejected);
      }
      expect(await readPort()).toEqual(before);
    });

    extendedCases({ driver, name: opts.name, resolve, device: () => device, session: () => session, test, opts: opts.extended ?? {} });

    test('unsupported actions', async () => {
      expect(driver.supports.length).toBeGreaterThan(0);
      for (const kind of driver.supports) expect(ALL_KINDS).toContain(kind);
      for (const kind of ALL_KINDS.filter((k) => !driver.supports.includes(k))) {
        expect(() => driver.render(SAMPLES[kind], ctx)).toThrow(UnsupportedAction);
        await expect(driver.apply(session, SAMPLES[kind], ctx)).rejects.toBeInstanceOf(UnsupportedAction);
      }
    });
  });
}

/** Counters and similar fields may move between reads; the rest must come back exactly. */
function stripVolatile(s: State): State {
  return JSON.parse(JSON.stringify(s, (k, v) => (k === 'packets' || k === 'bytes' ? undefined : v))) as State;
}
