import { expect } from 'vitest';
import type { Action } from '../../src/actions.js';
import type { ActionContext, Driver } from '../../src/drivers/driver.js';
import type { Device } from '../../src/inventory/types.js';
import type { SimControl, SimSnapshot } from '../../src/sim/types.js';
import type { SecretResolver, Session } from '../../src/transports/types.js';
import { CommandRejected, DeviceTimeout, DeviceUnreachable, HostKeyMismatch } from '../../src/errors.js';
import { openSession } from '../../src/transports/connect.js';
import { converge } from './driver-conformance.js';

/**
 * The conformance cases beyond a port going down: quarantine VLANs, filters, PDU outlets, device
 * errors in the device's words, timeouts, dropped connections, host keys and device-side
 * auto-revert. Each asserts on what the device shows (the simulator's snapshot, an independent
 * view), not on what the driver says. A case the driver or the device cannot do is skipped with
 * its reason.
 */
export const EXTENDED_TESTS = [
  'port.vlan moves the port and its inverse restores vlan, mode and voice vlan',
  'port.vlan on a trunk is refused and changes nothing',
  'host.block adds only ours; a second run is already; the inverse removes exactly ours',
  'egress.block adds only ours; the inverse removes exactly ours',
  'power.off switches the outlet off; the inverse switches it on',
  "a refused command surfaces in the device's words",
  'a command that never returns -> timeout',
  'a connection dropped mid-command -> DeviceUnreachable',
  'a wrong host key is refused',
  'auto-revert: an unconfirmed change is undone by the device',
  'auto-revert: a confirmed change stays',
] as const;
export type ExtendedTest = (typeof EXTENDED_TESTS)[number];

export interface ExtendedOptions {
  /** The simulated device behind the driver: faults and the independent view. */
  sim?: SimControl;
  /** What the device prints for a refused command (the `reject` fault's output), e.g. /% Invalid input/. */
  deviceWords?: RegExp;
  /** An access port for port.vlan (ideally with a voice VLAN), and a trunk port it must refuse. */
  vlanPort?: string;
  trunkPort?: string;
  quarantineVlan?: number;
  /** An egress.block that fits this device (its segment interfaces and uplinks). */
  egress?: { segment: string; interfaces: string[]; uplinks: string[] };
  /** A PDU outlet the suite may switch off and on. */
  outlet?: string;
  /** How long the device takes to undo an unconfirmed change armed with `minutes: 1`. */
  autoRevertWaitMs?: number;
}

interface Suite {
  driver: Driver;
  name: string;
  resolve: SecretResolver;
  device: () => Device;
  session: () => Session;
  test: (name: ExtendedTest, fn: () => Promise<void>, notApplicable?: string) => void;
  opts: ExtendedOptions;
}

const BLOCKED = '198.51.100.77';

export function extendedCases(s: Suite): void {
  const { driver, opts, test } = s;
  const sim = opts.sim;
  const ctx = (tag = 'fb:conf:a1', extra: Partial<ActionContext> = {}): ActionContext => ({
    device: s.device(),
    tag,
    timeoutMs: 5_000,
    ...extra,
  });
  const can = (kind: Action['kind']) => (driver.supports.includes(kind) ? undefined : `${driver.family} does not support ${kind}`);
  const needs = (what: unknown, why: string) => (what === undefined ? why : undefined);
  const snap = (): SimSnapshot => sim!.snapshot();
  /** The forward action the fault cases use: whatever this driver does first. */
  const sample = (): Action | undefined => {
    if (driver.supports.includes('interface.disable') && opts.vlanPort) return { kind: 'interface.disable', interface: opts.vlanPort };
    if (driver.supports.includes('host.block')) return { kind: 'host.block', address: BLOCKED };
    if (opts.outlet) return { kind: 'power.off', outlet: opts.outlet };
    return undefined;
  };
  const noSample = needs(sample(), 'no action to try (give vlanPort or outlet)');

  /**
   * A fresh session for cases that break theirs, already past its login and first read, so an
   * injected fault hits the driver's change and not the session's set-up commands.
   */
  const fresh = async () => {
    const session = await openSession(s.device(), driver.transport, s.resolve);
    await driver.read(session, sample()!, ctx());
    return session;
  };
  const noSim = needs(sim, 'not a simulated device (faults and an independent view need one)');

  test(
    'port.vlan moves the port and its inverse restores vlan, mode and voice vlan',
    async () => {
      const port = opts.vlanPort!;
      const q = opts.quarantineVlan ?? 999;
      const before = snap().ports[port]!;
      expect(before.vlan).not.toBe(q);
      const move: Action = { kind: 'port.vlan', interface: port, vlan: q };
      const r = await converge(driver, s.session(), move, ctx());
      expect(r.outcome).toBe('verified');
      expect(snap().ports[port]).toMatchObject({ vlan: q, voiceVlan: null, adminUp: before.adminUp });
      expect((await converge(driver, s.session(), move, ctx('fb:conf:b1'))).outcome).toBe('already');
      expect(driver.invert(move, r.after, ctx())).toBeNull();
      const inverse = driver.invert(move, r.before, ctx());
      expect(inverse?.kind).toBe('port.restore');
      expect(JSON.parse(JSON.stringify(inverse))).toEqual(inverse);
      expect((await converge(driver, s.session(), inverse!, ctx())).outcome).toBe('verified');
      expect(snap().ports[port]).toEqual(before);
    },
    can('port.vlan') ?? noSim ?? needs(opts.vlanPort, 'no vlanPort given'),
  );

  test(
    'port.vlan on a trunk is refused and changes nothing',
    async () => {
      const before = snap();
      const move: Action = { kind: 'port.vlan', interface: opts.trunkPort!, vlan: opts.quarantineVlan ?? 999 };
      const err = await converge(driver, s.session(), move, ctx()).catch((e: Error) => e);
      expect(err).toBeInstanceOf(CommandRejected);
      expect((err as Error).message).toMatch(/trunk/i);
      expect(snap().ports).toEqual(before.ports);
    },
    can('port.vlan') ?? noSim ?? needs(opts.trunkPort, 'no trunkPort given'),
  );

  test(
    'host.block adds only ours; a second run is already; the inverse removes exactly ours',
    async () => {
      const before = snap();
      const block: Action = { kind: 'host.block', address: BLOCKED };
      const r = await converge(driver, s.session(), block, ctx());
      expect(r.outcome).toBe('verified');
      const during = snap();
      expect(during.rules.length).toBeGreaterThan(before.rules.length);
      // Nothing of the operator's was removed or changed.
      for (const rule of before.rules) expect(during.rules).toContainEqual(rule);
      expect(
        during.rules
          .filter((x) => !before.rules.some((b) => b.id === x.id && b.text === x.text))
          .map((x) => x.text)
          .join('\n'),
      ).toContain(BLOCKED);
      expect((await converge(driver, s.session(), block, ctx('fb:conf:b1'))).outcome).toBe('already');
      const inverse = driver.invert(block, r.before, ctx());
      expect(inverse).toEqual({ kind: 'host.unblock', address: BLOCKED });
      expect((await converge(driver, s.session(), inverse!, ctx())).outcome).toBe('verified');
      expect(snap().rules).toEqual(before.rules);
    },
    can('host.block') ?? noSim,
  );

  test(
    'egress.block adds only ours; the inverse removes exactly ours',
    async () => {
      const before = snap();
      const block: Action = { kind: 'egress.block', allow: [], ...opts.egress! };
      const r = await converge(driver, s.session(), block, ctx());
      expect(r.outcome).toBe('verified');
      const during = snap();
      expect(during.rules.length).toBeGreaterThan(before.rules.length);
      for (const rule of before.rules) expect(during.rules).toContainEqual(rule);
      const inverse = driver.invert(block, r.before, ctx());
      expect(inverse).toEqual({ kind: 'egress.unblock', segment: opts.egress!.segment });
      expect((await converge(driver, s.session(), inverse!, ctx())).outcome).toBe('verified');
      expect(snap().rules).toEqual(before.rules);
    },
    can('egress.block') ?? noSim ?? needs(opts.egress, 'no egress sample given'),
  );

  test(
    'power.off switches the outlet off; the inverse switches it on',
    async () => {
      const outlet = opts.outlet!;
      expect(snap().outlets?.[outlet]).toBe(true);
      const off: Action = { kind: 'power.off', outlet };
      const r = await converge(driver, s.session(), off, ctx());
      expect(r.outcome).toBe('verified');
      expect(snap().outlets?.[outlet]).toBe(false);
      const inverse = driver.invert(off, r.before, ctx());
      expect(inverse).toEqual({ kind: 'power.on', outlet });
      await converge(driver, s.session(), inverse!, ctx());
      expect(snap().outlets?.[outlet]).toBe(true);
    },
    can('power.off') ?? noSim ?? needs(opts.outlet, 'no outlet given'),
  );

  test(
    "a refused command surfaces in the device's words",
    async () => {
      const before = snap();
      const session = await fresh();
      sim!.inject({ kind: 'reject', on: /./, once: true });
      try {
        const err = await driver.apply(session, sample()!, ctx()).catch((e: Error) => e);
        expect(err).toBeInstanceOf(CommandRejected);
        expect((err as Error).message).toMatch(opts.deviceWords!);
      } finally {
        sim!.clearFaults();
        await session.close();
      }
      expect(snap().ports).toEqual(before.ports);
    },
    noSim ?? noSample ?? needs(opts.deviceWords, 'no deviceWords given'),
  );

  test(
    'a command that never returns -> timeout',
    async () => {
      const session = await fresh();
      sim!.inject({ kind: 'hang', on: /./ });
      try {
        const t0 = Date.now();
        const err = await driver.apply(session, sample()!, ctx('fb:conf:a1', { timeoutMs: 800 })).catch((e: Error) => e);
        // SNMP has no connection: an unanswered request is the same timeout, reported as unreachable.
        expect(err).toBeInstanceOf(driver.transport === 'snmp' ? DeviceUnreachable : DeviceTimeout);
        expect(Date.now() - t0).toBeLessThan(8_000);
      } finally {
        sim!.clearFaults();
        await session.close();
      }
    },
    noSim ?? noSample,
  );

  test(
    'a connection dropped mid-command -> DeviceUnreachable',
    async () => {
      const session = await fresh();
      sim!.inject({ kind: 'drop', on: /./ });
      try {
        const err = await driver.apply(session, sample()!, ctx('fb:conf:a1', { timeoutMs: 2_000 })).catch((e: Error) => e);
        expect(err).toBeInstanceOf(DeviceUnreachable);
      } finally {
        sim!.clearFaults();
        await session.close();
      }
    },
    noSim ?? noSample,
  );

  test(
    'a wrong host key is refused',
    async () => {
      const d = s.device();
      const bad: Device = { ...d, ssh: { ...d.ssh!, hostKey: `SHA256:${'C'.repeat(43)}` } };
      expect(await openSession(bad, 'ssh', s.resolve).catch((e) => e)).toBeInstanceOf(HostKeyMismatch);
    },
    driver.transport === 'ssh' ? undefined : 'SNMP has no host key',
  );

  const noRevert = driver.confirm
    ? (noSim ?? noSample ?? needs(opts.autoRevertWaitMs, 'no autoRevertWaitMs given'))
    : `${driver.family} has no device-side auto-revert`;
  test(
    'auto-revert: an unconfirmed change is undone by the device',
    async () => {
      const before = snap();
      const action = sample()!;
      const c = ctx('fb:conf:a1', { autoRevert: { minutes: 1 } });
      const r = await converge(driver, s.session(), action, c);
      expect(r.outcome).toBe('verified');
      expect(snap().config).not.toEqual(before.config);
      // Firebreak "dies" here: no confirm. The device puts itself back.
      await new Promise((res) => setTimeout(res, opts.autoRevertWaitMs));
      expect(snap().ports).toEqual(before.ports);
      expect(snap().rules).toEqual(before.rules);
      const session = await fresh();
      try {
        expect(driver.holds(action, await driver.read(session, action, c), c)).toBe(false);
      } finally {
        await session.close();
      }
    },
    noRevert,
  );

  test(
    'auto-revert: a confirmed change stays',
    async () => {
      const action = sample()!;
      const c = ctx('fb:conf:a1', { autoRevert: { minutes: 1 } });
      expect((await converge(driver, s.session(), action, c)).outcome).toBe('verified');
      await driver.confirm!(s.session(), action, c);
      // Confirming again (nothing pending) is fine.
      await driver.confirm!(s.session(), action, c);
      await new Promise((res) => setTimeout(res, opts.autoRevertWaitMs));
      expect(driver.holds(action, await driver.read(s.session(), action, c), c)).toBe(true);
    },
    noRevert,
  );
}
