import type { Action, ActionKind } from '../actions.js';
import type { Session, SnmpSession, SnmpValue, SnmpVarbind } from '../transports/types.js';
import type { ActionContext, Driver } from './driver.js';
import { CommandRejected, SnmpError } from '../errors.js';
import { type PortVlanState, restorePort } from './port-state.js';
import { resolveIfIndex, snmpIfmib } from './snmp-ifmib.js';
import { snmpSession, unsupportedAction } from './unsupported.js';
import { checkInterface, checkVlan } from './validate.js';

/**
 * Standard 802.1Q switches (HP/Aruba, Dell, D-Link, ...): ports go down/up as in snmp-ifmib, and
 * an access port moves VLAN through Q-BRIDGE-MIB. Q-BRIDGE is indexed by bridge port, not
 * ifIndex (BRIDGE-MIB dot1dBasePortIfIndex maps them). Agents check the PVID against the
 * membership bitmaps, so both VLANs' bitmaps and the PVID go in ONE SET PDU, as PacketFence does
 * for HP: set separately, the first varbind would be refused as inconsistent.
 */
const FAMILY = 'snmp-qbridge';
const BASE_PORT_IFINDEX = '1.3.6.1.2.1.17.1.4.1.2';
const PVID = '1.3.6.1.2.1.17.7.1.4.5.1.1';
const EGRESS = '1.3.6.1.2.1.17.7.1.4.3.1.2';
const UNTAGGED = '1.3.6.1.2.1.17.7.1.4.3.1.4';
const SUPPORTS = ['interface.disable', 'interface.enable', 'port.vlan', 'port.restore'] as const satisfies readonly ActionKind[];

/** Example: { interface: 'ge-5', ifIndex: 54, basePort: 5, mode: 'access', vlan: 10, voiceVlan: 20, untagged: [10], tagged: [20] } */
export interface QbridgePortState extends PortVlanState {
  ifIndex: number;
  basePort: number;
  /** `trunk` when the port is tagged in more than one VLAN (more than a voice VLAN). */
  mode: 'access' | 'trunk';
  /** The PVID. */
  vlan: number;
  untagged: number[];
  tagged: number[];
}

/** VLAN -> PortList bitmap, as read from dot1qVlanStaticTable. */
interface VlanTable {
  egress: Map<number, Buffer>;
  untagged: Map<number, Buffer>;
}

/** ifIndex -> bridge port, learned once per session (stable while the agent runs). */
const basePortCache = new WeakMap<SnmpSession, Map<number, number>>();

export const snmpQbridge: Driver = {
  family: FAMILY,
  transport: 'snmp',
  supports: SUPPORTS,

  render(action, ctx) {
    const id = ctx.device.id;
    switch (action.kind) {
      case 'interface.disable':
      case 'interface.enable':
        return snmpIfmib.render(action, ctx);
      case 'port.vlan': {
        const name = checkInterface(id, action.interface);
        const vlan = checkVlan(id, action.vlan);
        return [
          `SET (one PDU) ${EGRESS}.<vlan> and ${UNTAGGED}.<vlan>: bridge port of ${name} out of its current VLANs (voice VLAN too), untagged member of VLAN ${vlan}`,
          `  + ${PVID}.<bridge port of ${name}> = Gauge32 ${vlan}`,
        ];
      }
      case 'port.restore': {
        const { name, vlan, voiceVlan } = checkRestore(ctx, action);
        return [
          `SET (one PDU) ${EGRESS}.<vlan> and ${UNTAGGED}.<vlan>: bridge port of ${name} untagged member of VLAN ${vlan}` +
            `${voiceVlan !== null ? `, tagged member of voice VLAN ${voiceVlan}` : ''}, out of every other VLAN`,
          `  + ${PVID}.<bridge port of ${name}> = Gauge32 ${vlan}`,
        ];
      }
      default:
        return unsupported(action, ctx);
    }
  },

  async read(session, action, ctx) {
    if (action.kind === 'interface.disable' || action.kind === 'interface.enable') return snmpIfmib.read(snmpOf(session, ctx), action, ctx);
    if (action.kind !== 'port.vlan' && action.kind !== 'port.restore') return unsupported(action, ctx);
    const snmp = snmpOf(session, ctx);
    return (await readPort(snmp, ctx, checkInterface(ctx.device.id, action.interface))).state;
  },

  holds(action, state, ctx) {
    if (action.kind === 'interface.disable' || action.kind === 'interface.enable') return snmpIfmib.holds(action, state, ctx);
    const s = state as QbridgePortState;
    if (action.kind === 'port.vlan') return isAccessIn(s, action.vlan, null);
    if (action.kind === 'port.restore') return s.mode === action.mode && isAccessIn(s, action.vlan, action.voiceVlan);
    return unsupported(action, ctx);
  },

  async apply(session, action, ctx) {
    if (action.kind === 'interface.disable' || action.kind === 'interface.enable')
      return snmpIfmib.apply(snmpOf(session, ctx), action, ctx);
    if (action.kind !== 'port.vlan' && action.kind !== 'port.restore') return unsupported(action, ctx);
    const id = ctx.device.id;
    // Every value is checked before the device is even read.
    const want =
      action.kind === 'port.vlan'
        ? { name: checkInterface(id, action.interface), vlan: checkVlan(id, action.vlan), voiceVlan: null }
        : checkRestore(ctx, action);
    const snmp = snmpOf(session, ctx);
    const { state, table } = await readPort(snmp, ctx, want.name);
    if (state.mode === 'trunk') {
      throw new CommandRejected(
        `${id}: ${want.name} (bridge port ${state.basePort}) is a trunk (tagged in VLANs ${state.tagged.join(', ')}): ` +
          `${action.kind} changes access ports only`,
      );
    }
    for (const [vlan, what] of [
      [want.vlan, 'VLAN'],
      [want.voiceVlan, 'voice VLAN'],
    ] as const) {
      if (vlan !== null && !table.egress.has(vlan)) {
        const known = [...table.egress.keys()].sort((a, b) => a - b).join(', ');
        throw new CommandRejected(`${id}: ${what} ${vlan} does not exist on the switch (no ${EGRESS}.${vlan}; known: ${known})`);
      }
    }
    const varbinds = membershipVarbinds(table, state.basePort, want.vlan, want.voiceVlan);
    await snmp.set(varbinds);
    return varbinds.map((v) => `SET ${v.oid} = ${describe(v)}`).join('\n') + '\n: ok';
  },

  invert(action, before, ctx) {
    if (action.kind === 'interface.disable') return snmpIfmib.invert(action, before, ctx);
    if (action.kind !== 'port.vlan') return null; // inverses are not inverted again
    const s = before as QbridgePortState;
    // A port that was already in the wanted VLAN stays there after rollback.
    return restorePort(action, s, isAccessIn(s, action.vlan, null));
  },
};

function isAccessIn(s: QbridgePortState, vlan: number | null, voiceVlan: number | null): boolean {
  const tagged = voiceVlan === null ? [] : [voiceVlan];
  return s.mode === 'access' && s.vlan === vlan && s.voiceVlan === voiceVlan && same(s.untagged, [vlan]) && same(s.tagged, tagged);
}

function same(a: readonly (number | null)[], b: readonly (number | null)[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function checkRestore(ctx: ActionContext, action: Extract<Action, { kind: 'port.restore' }>) {
  const id = ctx.device.id;
  const name = checkInterface(id, action.interface);
  if (action.mode !== 'access') {
    throw new CommandRejected(
      `${id}: port.restore ${name}: mode ${JSON.stringify(action.mode)} can't be restored over Q-BRIDGE (access only)`,
    );
  }
  const vlan = checkVlan(id, action.vlan);
  const voiceVlan = action.voiceVlan === null ? null : checkVlan(id, action.voiceVlan, 'voice VLAN');
  if (voiceVlan === vlan) throw new CommandRejected(`${id}: port.restore ${name}: voice VLAN ${vlan} is also the access VLAN`);
  return { name, vlan, voiceVlan };
}

/** Reads what the port looks like in Q-BRIDGE, and the bitmaps apply rewrites. */
async function readPort(snmp: SnmpSession, ctx: ActionContext, name: string): Promise<{ state: QbridgePortState; table: VlanTable }> {
  const id = ctx.device.id;
  const ifIndex = await resolveIfIndex(snmp, ctx, name);
  const basePort = await resolveBasePort(snmp, ctx, name, ifIndex);
  const pvidOid = `${PVID}.${basePort}`;
  const pvid = Number((await snmp.get([pvidOid])).get(pvidOid));
  if (!Number.isInteger(pvid) || pvid < 1 || pvid > 4094) throw new SnmpError(`${id}: dot1qPvid ${pvidOid} is not a VLAN id`);
  const table = await readVlanTable(snmp, ctx);
  const untagged: number[] = [];
  const tagged: number[] = [];
  for (const [vlan, egress] of [...table.egress].sort((a, b) => a[0] - b[0])) {
    if (!hasBit(egress, basePort)) continue;
    if (hasBit(table.untagged.get(vlan), basePort)) untagged.push(vlan);
    else tagged.push(vlan);
  }
  const mode = tagged.length > 1 ? 'trunk' : 'access';
  const voiceVlan = mode === 'access' && tagged.length === 1 ? tagged[0]! : null;
  return { state: { interface: name, ifIndex, basePort, mode, vlan: pvid, voiceVlan, untagged, tagged }, table };
}

async function resolveBasePort(snmp: SnmpSession, ctx: ActionContext, name: string, ifIndex: number): Promise<number> {
  let ports = basePortCache.get(snmp);
  if (!ports?.has(ifIndex)) {
    ports = new Map();
    for (const [oid, value] of await snmp.walk(BASE_PORT_IFINDEX)) {
      const basePort = Number(oid.slice(BASE_PORT_IFINDEX.length + 1));
      if (Number.isInteger(basePort) && typeof value === 'number') ports.set(value, basePort);
    }
    basePortCache.set(snmp, ports);
  }
  const basePort = ports.get(ifIndex);
  if (basePort === undefined) {
    throw new CommandRejected(`${ctx.device.id}: ${name} (ifIndex ${ifIndex}) is not a bridge port (not in ${BASE_PORT_IFINDEX})`);
  }
  return basePort;
}

async function readVlanTable(snmp: SnmpSession, ctx: ActionContext): Promise<VlanTable> {
  const column = async (base: string) => {
    const out = new Map<number, Buffer>();
    for (const [oid, value] of await snmp.walk(base)) {
      const vlan = Number(oid.slice(base.length + 1));
      if (!Number.isInteger(vlan) || vlan < 1 || vlan > 4094) continue;
      if (!Buffer.isBuffer(value)) throw new SnmpError(`${ctx.device.id}: ${oid} is not a PortList (OCTET STRING)`);
      out.set(vlan, value);
    }
    return out;
  };
  return { egress: await column(EGRESS), untagged: await column(UNTAGGED) };
}

/**
 * The varbinds that leave `basePort` untagged in `vlan`, tagged in `voiceVlan` (if any) and in no
 * other VLAN: only the bitmaps that change, each rewritten whole (other ports' bits kept), + PVID.
 */
function membershipVarbinds(table: VlanTable, basePort: number, vlan: number, voiceVlan: number | null): SnmpVarbind[] {
  const out: SnmpVarbind[] = [];
  for (const [vid, egress] of [...table.egress].sort((a, b) => a[0] - b[0])) {
    const untagged = table.untagged.get(vid) ?? Buffer.alloc(egress.length);
    const newEgress = withBit(egress, basePort, vid === vlan || vid === voiceVlan);
    const newUntagged = withBit(untagged, basePort, vid === vlan);
    if (!newEgress.equals(egress)) out.push({ oid: `${EGRESS}.${vid}`, type: 'OctetString', value: newEgress });
    if (!newUntagged.equals(untagged)) out.push({ oid: `${UNTAGGED}.${vid}`, type: 'OctetString', value: newUntagged });
  }
  out.push({ oid: `${PVID}.${basePort}`, type: 'Gauge32', value: vlan });
  return out;
}

/** PortList: the first octet's most significant bit is port 1. */
function hasBit(buf: Buffer | undefined, port: number): boolean {
  const byte = buf?.[(port - 1) >> 3];
  return byte !== undefined && (byte & (0x80 >> ((port - 1) & 7))) !== 0;
}

function withBit(buf: Buffer, port: number, on: boolean): Buffer {
  const out = Buffer.alloc(Math.max(buf.length, ((port - 1) >> 3) + 1));
  buf.copy(out);
  const mask = 0x80 >> ((port - 1) & 7);
  const i = (port - 1) >> 3;
  out[i] = on ? out[i]! | mask : out[i]! & ~mask;
  return out;
}

function describe(v: SnmpVarbind): string {
  return Buffer.isBuffer(v.value) ? `Hex-STRING ${v.value.toString('hex')}` : `${v.type} ${String(v.value satisfies SnmpValue)}`;
}

function snmpOf(session: Session, ctx: ActionContext): SnmpSession {
  return snmpSession(FAMILY, session, ctx);
}

function unsupported(action: unknown, ctx: ActionContext): never {
  return unsupportedAction(FAMILY, SUPPORTS, action, ctx);
}
