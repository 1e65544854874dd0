import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Action } from '../src/actions.js';
import type { ActionContext, Driver } from '../src/drivers/driver.js';
import type { Device } from '../src/inventory/types.js';
import type { RunningSim, SimCredentials, SimDeviceSpec, SimFactory } from '../src/sim/types.js';
import type { SnmpSession } from '../src/transports/types.js';
import { converge, runDriverConformance } from './conformance/driver-conformance.js';
import { snmpCiscoVlanSim, snmpIfmibSim, snmpPduSim, snmpQbridgeSim } from '../src/sim/snmp-agent.js';
import { simulators } from '../src/sim/registry.js';
import { snmpIfmib } from '../src/drivers/snmp-ifmib.js';
import { snmpQbridge } from '../src/drivers/snmp-qbridge.js';
import { snmpCiscoVlan } from '../src/drivers/snmp-cisco-vlan.js';
import { snmpPdu } from '../src/drivers/snmp-pdu.js';
import { openSnmp } from '../src/transports/snmp.js';
import { resolveSecret } from '../src/secrets.js';
import { CommandRejected, DeviceUnreachable } from '../src/errors.js';

/**
 * The SNMP simulators (net-snmp Agent) and the SNMP drivers against them, through the real
 * transport, without root: each simulator on its own 127.0.5.x address, UDP port 10161.
 */
const SNMP_PORT = 10161;
const secret = () => randomBytes(12).toString('hex');
const CREDS: SimCredentials = {
  user: 'unused',
  password: 'unused',
  community: secret(),
  snmpUser: 'firebreak',
  authKey: secret(),
  privKey: secret(),
};
process.env.FB_SIMSNMP_COMMUNITY = CREDS.community;
process.env.FB_SIMSNMP_AUTH = CREDS.authKey;
process.env.FB_SIMSNMP_PRIV = CREDS.privKey;
process.env.FB_SIMSNMP_WRONG = 'not-the-community';

const PDU_OUTLETS = [{ name: 'fw-edge' }, { name: 'sw-core' }, { name: 'spare', adminUp: false }];
const SPECS = {
  ifmib: spec('ifm1', 'snmp-ifmib', '127.0.5.1', [{ name: 'eth1' }, { name: 'eth2' }, { name: 'mgmt0' }]),
  qbridge: spec('qb1', 'snmp-qbridge', '127.0.5.2', [
    { name: 'ge-1', vlan: 10, voiceVlan: 20 },
    { name: 'ge-2', vlan: 10 },
    { name: 'ge-3', vlan: 999 },
    { name: 'up-1', mode: 'trunk', vlan: 1 },
    { name: 'ge-5', vlan: 30, adminUp: false },
  ]),
  cisco: spec('cs1', 'snmp-cisco-vlan', '127.0.5.3', [
    { name: 'Gi1/0/1', vlan: 10, voiceVlan: 20 },
    { name: 'Gi1/0/2', vlan: 10 },
    { name: 'Gi1/0/3', vlan: 999 },
    { name: 'Gi1/0/24', mode: 'trunk', vlan: 1 },
  ]),
  apc: { ...spec('pdu-a', 'snmp-pdu', '127.0.5.4', PDU_OUTLETS), pduMib: 'apc' as const },
  cyberpower: { ...spec('pdu-c', 'snmp-pdu', '127.0.5.5', PDU_OUTLETS), pduMib: 'cyberpower' as const },
};
type SimName = keyof typeof SPECS;
const FACTORIES: Record<SimName, SimFactory> = {
  ifmib: snmpIfmibSim,
  qbridge: snmpQbridgeSim,
  cisco: snmpCiscoVlanSim,
  apc: snmpPduSim,
  cyberpower: snmpPduSim,
};
const sims = new Map<SimName, RunningSim>();
const sessions: SnmpSession[] = [];

function spec(id: string, family: string, address: string, ports: SimDeviceSpec['ports']): SimDeviceSpec {
  return { id, family, site: 'sim', hostname: id, address, snmpPort: SNMP_PORT, ports };
}

/** v3 authPriv for the Q-BRIDGE switch (proves SHA+AES end to end), v2c for the rest. */
function deviceFor(name: SimName, driver: Driver, over: { timeoutMs?: number; retries?: number; community?: string } = {}): Device {
  const s = SPECS[name];
  const timing = { timeoutMs: over.timeoutMs ?? 500, retries: over.retries ?? 1 };
  const snmp: Device['snmp'] =
    name === 'qbridge' && !over.community
      ? {
          version: '3',
          port: SNMP_PORT,
          user: 'firebreak',
          auth: { protocol: 'sha', key: 'env:FB_SIMSNMP_AUTH' },
          priv: { protocol: 'aes', key: 'env:FB_SIMSNMP_PRIV' },
          ...timing,
        }
      : { version: '2c', port: SNMP_PORT, community: over.community ?? 'env:FB_SIMSNMP_COMMUNITY', ...timing };
  return {
    id: s.id,
    site: 'sim',
    driver: driver.family,
    address: s.address,
    tags: [],
    snmp,
    managementPath: { interfaces: [], via: [] },
    interfaces: {},
  };
}

const sim = (name: SimName): RunningSim => {
  const running = sims.get(name);
  if (!running) throw new Error(`sim ${name} is not running`);
  return running;
};
const ctxFor = (device: Device): ActionContext => ({ device, tag: 'fb:t-snmp:a1', timeoutMs: 5_000 });
async function session(name: SimName, driver: Driver, over?: Parameters<typeof deviceFor>[2]): Promise<SnmpSession> {
  const s = await openSnmp(deviceFor(name, driver, over), resolveSecret);
  sessions.push(s);
  return s;
}
async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    if (err instanceof Error) return err;
    throw new Error(`non-Error thrown: ${String(err)}`);
  }
  throw new Error('expected a rejection');
}

// Started at load time: the conformance suite reads its simulator while it collects its cases.
for (const [name, s] of Object.entries(SPECS) as [SimName, SimDeviceSpec][]) sims.set(name, await FACTORIES[name](s, CREDS, {}));
afterAll(async () => {
  for (const s of sessions) await s.close();
  for (const s of sims.values()) await s.stop();
});

describe('simulator registry and safety', () => {
  it('registers one factory per SNMP family', () => {
    expect(simulators['snmp-ifmib']).toBe(snmpIfmibSim);
    expect(simulators['snmp-qbridge']).toBe(snmpQbridgeSim);
    expect(simulators['snmp-cisco-vlan']).toBe(snmpCiscoVlanSim);
    expect(simulators['snmp-pdu']).toBe(snmpPduSim);
  });

  it('refuses any address that is not 127.x.y.z, before binding', async () => {
    for (const address of ['10.1.2.3', '0.0.0.0', '::1', '127.0.0', 'localhost']) {
      const bad = { ...SPECS.ifmib, address };
      await expect(snmpIfmibSim(bad, CREDS, {})).rejects.toThrow(/not a 127\.x\.y\.z loopback/);
    }
  });
});

const independentUp = (name: SimName) => async (iface: string) => {
  const port = sim(name).control.snapshot().ports[iface];
  if (!port) throw new Error(`${iface} not in the ${name} snapshot`);
  return port.adminUp;
};
const restore = (name: SimName) => async () => sim(name).control.reset();

runDriverConformance({
  name: 'snmp-ifmib @ sim',
  driver: snmpIfmib,
  device: async () => deviceFor('ifmib', snmpIfmib),
  interface: 'eth1',
  adminUp: independentUp('ifmib'),
  restore: restore('ifmib'),
  extended: { sim: sim('ifmib').control, vlanPort: 'eth1', deviceWords: /genErr \(5\)/ },
});
runDriverConformance({
  name: 'snmp-qbridge @ sim (v3)',
  driver: snmpQbridge,
  device: async () => deviceFor('qbridge', snmpQbridge),
  interface: 'ge-2',
  adminUp: independentUp('qbridge'),
  restore: restore('qbridge'),
  extended: {
    sim: sim('qbridge').control,
    vlanPort: 'ge-1',
    trunkPort: 'up-1',
    quarantineVlan: 999,
    deviceWords: /genErr \(5\)/,
  },
});
runDriverConformance({
  name: 'snmp-cisco-vlan @ sim',
  driver: snmpCiscoVlan,
  device: async () => deviceFor('cisco', snmpCiscoVlan),
  interface: 'Gi1/0/2',
  adminUp: independentUp('cisco'),
  restore: restore('cisco'),
  extended: {
    sim: sim('cisco').control,
    vlanPort: 'Gi1/0/1',
    trunkPort: 'Gi1/0/24',
    quarantineVlan: 999,
    deviceWords: /genErr \(5\)/,
  },
});
for (const name of ['apc', 'cyberpower'] as const) {
  runDriverConformance({
    name: `snmp-pdu (${name}) @ sim`,
    driver: snmpPdu,
    device: async () => deviceFor(name, snmpPdu),
    interface: 'fw-edge',
    restore: restore(name),
    extended: { sim: sim(name).control, outlet: 'fw-edge', deviceWords: /genErr \(5\)/ },
  });
}

describe('snmp-qbridge on the simulated switch', () => {
  const device = deviceFor('qbridge', snmpQbridge);
  const ctx = ctxFor(device);
  const control = () => sim('qbridge').control;
  let snmp: SnmpSession;
  beforeAll(async () => {
    snmp = await session('qbridge', snmpQbridge);
  });
  afterEach(() => control().reset());

  it('port.vlan moves an access port with a voice VLAN in one PDU; its inverse restores exactly the snapshot', async () => {
    const before = control().snapshot();
    expect(before.ports['ge-1']).toEqual({ adminUp: true, mode: 'access', vlan: 10, voiceVlan: 20 });
    const move: Action = { kind: 'port.vlan', interface: 'ge-1', vlan: 999 };
    const r = await converge(snmpQbridge, snmp, move, ctx);
    expect(r.outcome).toBe('verified');
    // Bridge port 1 is ifIndex 50: a driver that mixed them up would have moved nothing (or another port).
    expect(r.before).toMatchObject({ ifIndex: 50, basePort: 1, mode: 'access', vlan: 10, voiceVlan: 20, untagged: [10], tagged: [20] });
    const during = control().snapshot();
    expect(during.ports['ge-1']).toEqual({ adminUp: true, mode: 'access', vlan: 999, voiceVlan: null });
    // Only ge-1 changed; the trunk still carries VLAN 999 tagged (other ports' bits were kept).
    for (const name of ['ge-2', 'ge-3', 'up-1', 'ge-5']) expect(during.ports[name]).toEqual(before.ports[name]);
    expect(during.config).toMatch(/^vlan 999 name "quarantine" untagged 1,3 tagged 4$/m);
    const inverse = snmpQbridge.invert(move, r.before, ctx);
    expect(inverse).toEqual({ kind: 'port.restore', interface: 'ge-1', mode: 'access', vlan: 10, voiceVlan: 20 });
    expect((await converge(snmpQbridge, snmp, inverse!, ctx)).outcome).toBe('verified');
    const after = control().snapshot();
    expect(after.ports).toEqual(before.ports);
    expect(after.config).toBe(before.config);
  });

  it('a port already in the quarantine VLAN is `already` and its inverse is null', async () => {
    const move: Action = { kind: 'port.vlan', interface: 'ge-3', vlan: 999 };
    const r = await converge(snmpQbridge, snmp, move, ctx);
    expect(r.outcome).toBe('already');
    expect(snmpQbridge.invert(move, r.before, ctx)).toBeNull();
    expect(control().snapshot().ports['ge-3']).toEqual({ adminUp: true, mode: 'access', vlan: 999, voiceVlan: null });
  });

  it('a trunk is refused by name, and nothing changes', async () => {
    const before = control().snapshot();
    const err = await rejection(snmpQbridge.apply(snmp, { kind: 'port.vlan', interface: 'up-1', vlan: 999 }, ctx));
    expect(err).toBeInstanceOf(CommandRejected);
    expect(err.message).toMatch(/qb1: up-1 \(bridge port 4\) is a trunk/);
    expect(control().snapshot()).toEqual(before);
  });

  it('a bad VLAN is refused before any SET reaches the device', async () => {
    const before = control().snapshot();
    // Any SET would now fail with genErr: seeing our own message proves none was sent.
    control().inject({ kind: 'reject', on: /./, once: true });
    for (const vlan of [0, 4095, 1.5, -1, Number.NaN, '999' as unknown as number]) {
      const bad = { kind: 'port.vlan', interface: 'ge-1', vlan } as Action;
      expect(() => snmpQbridge.render(bad, ctx)).toThrow(CommandRejected);
      const err = await rejection(snmpQbridge.apply(snmp, bad, ctx));
      expect(err).toBeInstanceOf(CommandRejected);
      expect(err.message).toMatch(/is not a VLAN id/);
    }
    // A well-formed VLAN the switch does not have: refused from what was read, not by the agent.
    const missing = await rejection(snmpQbridge.apply(snmp, { kind: 'port.vlan', interface: 'ge-1', vlan: 3000 }, ctx));
    expect(missing).toBeInstanceOf(CommandRejected);
    expect(missing.message).toMatch(
      /VLAN 3000 does not exist on the switch \(no 1\.3\.6\.1\.2\.1\.17\.7\.1\.4\.3\.1\.2\.3000; known: 1, 10, 20, 30, 999\)/,
    );
    expect(control().snapshot()).toEqual(before);
    // The one-shot reject is still armed: the next real SET is the one that meets it.
    const first = await rejection(snmpQbridge.apply(snmp, { kind: 'port.vlan', interface: 'ge-1', vlan: 999 }, ctx));
    expect(first.message).toMatch(/genErr \(5\)/);
  });

  it('the agent is realistic: a lone PVID SET (bitmaps untouched) is refused with inconsistentValue and applies nothing', async () => {
    const before = control().snapshot();
    const pvid = '1.3.6.1.2.1.17.7.1.4.5.1.1.1';
    const err = await rejection(snmp.set([{ oid: pvid, type: 'Gauge32', value: 999 }]));
    expect(err).toBeInstanceOf(CommandRejected);
    expect(err.message).toContain(`inconsistentValue (12) on ${pvid}`);
    // A PDU with a good varbind and a bad one applies neither.
    const mixed = await rejection(
      snmp.set([
        { oid: '1.3.6.1.2.1.2.2.1.7.51', type: 'Integer', value: 2 },
        { oid: '1.3.6.1.2.1.2.2.1.7.50', type: 'Integer', value: 3 },
      ]),
    );
    expect(mixed.message).toMatch(/wrongValue \(10\) on 1\.3\.6\.1\.2\.1\.2\.2\.1\.7\.50/);
    // Writing to a VLAN that does not exist: no row, no creation.
    const ghost = await rejection(snmp.set([{ oid: '1.3.6.1.2.1.17.7.1.4.3.1.2.3000', type: 'OctetString', value: Buffer.from([0x80]) }]));
    expect(ghost.message).toMatch(/noCreation \(11\)/);
    expect(control().snapshot()).toEqual(before);
  });

  it('a device error surfaces with the SNMP status and OID, and the whole PDU is refused', async () => {
    const before = control().snapshot();
    control().inject({ kind: 'reject', on: /^1\.3\.6\.1\.2\.1\.17\.7\.1\.4\.5\.1\.1\./ });
    const err = await rejection(snmpQbridge.apply(snmp, { kind: 'port.vlan', interface: 'ge-1', vlan: 999 }, ctx));
    expect(err).toBeInstanceOf(CommandRejected);
    expect(err.message).toMatch(
      /^qb1 \(127\.0\.5\.2:10161 udp, SNMP v3\): SET refused: genErr \(5\) on 1\.3\.6\.1\.2\.1\.17\.7\.1\.4\.5\.1\.1\.1 \(PDU: /,
    );
    control().clearFaults();
    control().inject({ kind: 'reject', on: /^1\.3\.6\.1\.2\.1\.2\.2\.1\.7\./, message: 'notWritable' });
    const ro = await rejection(snmpQbridge.apply(snmp, { kind: 'interface.disable', interface: 'ge-2' }, ctx));
    expect(ro.message).toMatch(/notWritable \(17\) on 1\.3\.6\.1\.2\.1\.2\.2\.1\.7\.51/);
    expect(control().snapshot()).toEqual(before);
  });

  it('a request that is never answered -> DeviceUnreachable after timeout x tries, with nothing changed', async () => {
    const fast = await session('qbridge', snmpQbridge, { timeoutMs: 300, retries: 1 });
    await snmpQbridge.read(fast, { kind: 'port.vlan', interface: 'ge-1', vlan: 999 }, ctx); // names and bridge ports learned
    const before = control().snapshot();
    control().inject({ kind: 'hang', on: /^SET 1\.3\.6\.1\.2\.1\.17\.7\.1\.4\.5\.1\.1\./ });
    const t0 = Date.now();
    const err = await rejection(snmpQbridge.apply(fast, { kind: 'port.vlan', interface: 'ge-1', vlan: 999 }, ctx));
    const ms = Date.now() - t0;
    expect(err).toBeInstanceOf(DeviceUnreachable);
    expect(err.message).toMatch(/no answer to (GET|SET) .* after 2 x 300 ms/);
    expect(ms).toBeLessThan(5_000); // bounded: 2 x 300 ms plus the reads before it
    console.info(`[sim-snmp] hang -> DeviceUnreachable after ${ms} ms (timeout 300 ms, 1 retry)`);
    expect(control().snapshot()).toEqual(before);
  });

  it('a dropped answer -> DeviceUnreachable, yet the SET was applied: only a read-back tells', async () => {
    const fast = await session('qbridge', snmpQbridge, { timeoutMs: 300, retries: 1 });
    const move: Action = { kind: 'port.vlan', interface: 'ge-2', vlan: 999 };
    await snmpQbridge.read(fast, move, ctx);
    // Not `once`: the transport's retry would meet an answering agent and succeed.
    control().inject({ kind: 'drop', on: /^SET 1\.3\.6\.1\.2\.1\.17\.7\.1\.4\.5\.1\.1\./ });
    const err = await rejection(snmpQbridge.apply(fast, move, ctx));
    expect(err).toBeInstanceOf(DeviceUnreachable);
    control().clearFaults();
    expect(control().snapshot().ports['ge-2']).toMatchObject({ vlan: 999, mode: 'access' });
    expect(snmpQbridge.holds(move, await snmpQbridge.read(fast, move, ctx), ctx)).toBe(true);
  });

  it('a wrong community, or an agent refusing everyone, is a timeout (SNMP answers nothing)', async () => {
    const wrong = await rejection(
      openSnmp(deviceFor('qbridge', snmpQbridge, { community: 'env:FB_SIMSNMP_WRONG', timeoutMs: 300 }), resolveSecret),
    );
    expect(wrong).toBeInstanceOf(DeviceUnreachable);
    expect(wrong.message).toMatch(/after 2 x 300 ms \(a wrong community or wrong v3 keys also show as a timeout\)/);
    expect(wrong.message).not.toContain('not-the-community');
    // The right community works, until the agent refuses every login.
    await (await session('qbridge', snmpQbridge, { community: 'env:FB_SIMSNMP_COMMUNITY', timeoutMs: 300 })).close();
    control().inject({ kind: 'refuse-auth' });
    const refused = await rejection(openSnmp(deviceFor('qbridge', snmpQbridge, { timeoutMs: 300 }), resolveSecret));
    expect(refused).toBeInstanceOf(DeviceUnreachable);
  });

  it('latency is added to every answer', async () => {
    control().setLatency(150);
    const t0 = Date.now();
    const state = await snmpQbridge.read(snmp, { kind: 'port.vlan', interface: 'ge-1', vlan: 999 }, ctx);
    const ms = Date.now() - t0;
    expect(state).toMatchObject({ vlan: 10 });
    console.info(`[sim-snmp] port.vlan read with 150 ms latency per answer: ${ms} ms`);
    control().setLatency(0);
  });

  it('port.restore puts back a port whose voice VLAN was removed by hand (memberships and PVID in one PDU)', async () => {
    const before = control().snapshot();
    await converge(snmpQbridge, snmp, { kind: 'port.vlan', interface: 'ge-2', vlan: 30 }, ctx);
    expect(control().snapshot().ports['ge-2']).toEqual({ adminUp: true, mode: 'access', vlan: 30, voiceVlan: null });
    const back = await converge(
      snmpQbridge,
      snmp,
      { kind: 'port.restore', interface: 'ge-2', mode: 'access', vlan: 10, voiceVlan: 20 },
      ctx,
    );
    expect(back.outcome).toBe('verified');
    expect(control().snapshot().ports['ge-2']).toEqual({ adminUp: true, mode: 'access', vlan: 10, voiceVlan: 20 });
    expect(control().snapshot().ports['ge-1']).toEqual(before.ports['ge-1']);
    const trunk = await rejection(
      snmpQbridge.apply(snmp, { kind: 'port.restore', interface: 'ge-2', mode: 'trunk', vlan: 1, voiceVlan: null }, ctx),
    );
    expect(trunk.message).toMatch(/mode "trunk" can't be restored over Q-BRIDGE/);
  });
});

describe('snmp-cisco-vlan on the simulated Catalyst', () => {
  const device = deviceFor('cisco', snmpCiscoVlan);
  const ctx = ctxFor(device);
  const control = () => sim('cisco').control;
  let snmp: SnmpSession;
  beforeAll(async () => {
    snmp = await session('cisco', snmpCiscoVlan);
  });
  afterEach(() => control().reset());

  it('port.vlan sets vmVlan and clears the voice VLAN (4096); the inverse restores both', async () => {
    const before = control().snapshot();
    const move: Action = { kind: 'port.vlan', interface: 'Gi1/0/1', vlan: 999 };
    const r = await converge(snmpCiscoVlan, snmp, move, ctx);
    expect(r.before).toEqual({ interface: 'Gi1/0/1', ifIndex: 10101, mode: 'access', vlan: 10, voiceVlan: 20 });
    expect(control().snapshot().ports['Gi1/0/1']).toEqual({ adminUp: true, mode: 'access', vlan: 999, voiceVlan: null });
    expect(String((await snmp.get(['1.3.6.1.4.1.9.9.68.1.5.1.1.1.10101'])).get('1.3.6.1.4.1.9.9.68.1.5.1.1.1.10101'))).toBe('4096');
    const inverse = snmpCiscoVlan.invert(move, r.before, ctx);
    expect(inverse).toEqual({ kind: 'port.restore', interface: 'Gi1/0/1', mode: 'access', vlan: 10, voiceVlan: 20 });
    await converge(snmpCiscoVlan, snmp, inverse!, ctx);
    expect(control().snapshot()).toEqual(before);
  });

  it('already in the VLAN -> `already`, null inverse; a trunk (no vmVlan row) is refused by name', async () => {
    const move: Action = { kind: 'port.vlan', interface: 'Gi1/0/3', vlan: 999 };
    const r = await converge(snmpCiscoVlan, snmp, move, ctx);
    expect(r.outcome).toBe('already');
    expect(snmpCiscoVlan.invert(move, r.before, ctx)).toBeNull();
    const before = control().snapshot();
    const err = await rejection(snmpCiscoVlan.apply(snmp, { kind: 'port.vlan', interface: 'Gi1/0/24', vlan: 999 }, ctx));
    expect(err).toBeInstanceOf(CommandRejected);
    expect(err.message).toMatch(/cs1: Gi1\/0\/24 \(ifIndex 10104\) is a trunk \(no 1\.3\.6\.1\.4\.1\.9\.9\.68\.1\.2\.2\.1\.2\.10104 row\)/);
    expect(control().snapshot()).toEqual(before);
  });

  it('a VLAN missing from vtpVlanState is refused before the SET; the agent itself refuses one too', async () => {
    const before = control().snapshot();
    control().inject({ kind: 'reject', on: /./, once: true });
    const err = await rejection(snmpCiscoVlan.apply(snmp, { kind: 'port.vlan', interface: 'Gi1/0/2', vlan: 3000 }, ctx));
    expect(err.message).toMatch(/VLAN 3000 does not exist on the switch \(no 1\.3\.6\.1\.4\.1\.9\.9\.46\.1\.3\.1\.1\.2\.1\.3000\)/);
    control().clearFaults();
    const raw = await rejection(snmp.set([{ oid: '1.3.6.1.4.1.9.9.68.1.2.2.1.2.10102', type: 'Integer', value: 3000 }]));
    expect(raw.message).toMatch(/inconsistentValue \(12\)/);
    expect(control().snapshot()).toEqual(before);
  });
});

describe('snmp-pdu on simulated APC and CyberPower PDUs', () => {
  for (const name of ['apc', 'cyberpower'] as const) {
    it(`${name}: power.off then its inverse, checked in the outlet table; MIB picked from sysObjectID`, async () => {
      const device = deviceFor(name, snmpPdu);
      const ctx = ctxFor(device);
      const snmp = await session(name, snmpPdu);
      const control = sim(name).control;
      try {
        const off: Action = { kind: 'power.off', outlet: 'sw-core' };
        const r = await converge(snmpPdu, snmp, off, ctx);
        expect(r.before).toEqual({ outlet: 'sw-core', index: 2, mib: name, on: true });
        expect(control.snapshot().outlets).toEqual({ 'fw-edge': true, 'sw-core': false, spare: false });
        const inverse = snmpPdu.invert(off, r.before, ctx);
        expect(inverse).toEqual({ kind: 'power.on', outlet: 'sw-core' });
        await converge(snmpPdu, snmp, inverse!, ctx);
        expect(control.snapshot().outlets).toEqual({ 'fw-edge': true, 'sw-core': true, spare: false });
        // By number too; an outlet already off is `already` and stays off after rollback.
        const spare: Action = { kind: 'power.off', outlet: 'outlet-3' };
        const again = await converge(snmpPdu, snmp, spare, ctx);
        expect(again.outcome).toBe('already');
        expect(snmpPdu.invert(spare, again.before, ctx)).toBeNull();
        const ghost = await rejection(snmpPdu.apply(snmp, { kind: 'power.off', outlet: 'outlet-9' }, ctx));
        expect(ghost).toBeInstanceOf(CommandRejected);
        expect(ghost.message).toMatch(/no outlet named "outlet-9" .*known: fw-edge, sw-core, spare/);
        const hostile = await rejection(snmpPdu.apply(snmp, { kind: 'power.off', outlet: 'x"; reboot' }, ctx));
        expect(hostile).toBeInstanceOf(CommandRejected);
        expect(control.snapshot().outlets).toEqual({ 'fw-edge': true, 'sw-core': true, spare: false });
      } finally {
        control.reset();
      }
    });
  }

  it('a PDU whose sysObjectID is not a known PDU is refused (an IF-MIB switch here)', async () => {
    const device = deviceFor('ifmib', snmpPdu);
    const snmp = await session('ifmib', snmpPdu);
    const err = await rejection(snmpPdu.read(snmp, { kind: 'power.off', outlet: 'outlet-1' }, ctxFor(device)));
    expect(err.message).toMatch(/sysObjectID\.0 1\.3\.6\.1\.4\.1\.8072\.3\.2\.10 is not a PDU this driver knows/);
  });
});
