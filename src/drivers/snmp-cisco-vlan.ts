import type { Action, ActionKind } from '../actions.js';
import type { Session, SnmpSession } from '../transports/types.js';
import type { ActionContext, Driver } from './driver.js';
import { CommandRejected, SnmpError } from '../errors.js';
import { type PortVlanState, portVlanHolds, restorePort } from './port-state.js';
import { resolveIfIndex, snmpIfmib } from './snmp-ifmib.js';
import { snmpSession, unsupportedAction } from './unsupported.js';
import { checkInterface, checkVlan } from './validate.js';

/**
 * Cisco IOS switches over SNMP: ports down/up as in snmp-ifmib; access VLAN and voice VLAN through
 * CISCO-VLAN-MEMBERSHIP-MIB, indexed by ifIndex. Trunk ports have no vmMembershipTable row
 * (PacketFence and NAV rely on this too). Changes are running-config only, like any SNMP SET on IOS.
 */
const FAMILY = 'snmp-cisco-vlan';
const VM_VLAN = '1.3.6.1.4.1.9.9.68.1.2.2.1.2';
const VM_VOICE_VLAN = '1.3.6.1.4.1.9.9.68.1.5.1.1.1';
/** CISCO-VTP-MIB vtpVlanState, management domain 1: which VLANs exist. */
const VTP_VLAN_STATE = '1.3.6.1.4.1.9.9.46.1.3.1.1.2.1';
/** vmVoiceVlanId 4096: no voice VLAN (range 0..4096; 0 = dot1p, 4095 = untagged voice). */
const VOICE_NONE = 4096;
const SUPPORTS = ['interface.disable', 'interface.enable', 'port.vlan', 'port.restore'] as const satisfies readonly ActionKind[];

/** Example: { interface: 'Gi1/0/5', ifIndex: 10105, mode: 'access', vlan: 10, voiceVlan: 20 } */
export interface CiscoVlanPortState extends PortVlanState {
  ifIndex: number;
  mode: 'access' | 'trunk';
  /** null when vmVoiceVlanId is 4096 (none); 0 and 4095 are kept as the device says them. */
  voiceVlan: number | null;
}

export const snmpCiscoVlan: Driver = {
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
          `SET (one PDU) ${VM_VLAN}.<ifIndex of ${name}> = INTEGER ${vlan}, ${VM_VOICE_VLAN}.<ifIndex of ${name}> = INTEGER ${VOICE_NONE} (none)`,
        ];
      }
      case 'port.restore': {
        const { name, vlan, voice } = checkRestore(ctx, action);
        return [
          `SET (one PDU) ${VM_VLAN}.<ifIndex of ${name}> = INTEGER ${vlan}, ${VM_VOICE_VLAN}.<ifIndex of ${name}> = INTEGER ${voice}`,
        ];
      }
      default:
        return unsupported(action, ctx);
    }
  },

  async read(session, action, ctx) {
    if (action.kind === 'interface.disable' || action.kind === 'interface.enable') return snmpIfmib.read(snmpOf(session, ctx), action, ctx);
    if (action.kind !== 'port.vlan' && action.kind !== 'port.restore') return unsupported(action, ctx);
    return readPort(snmpOf(session, ctx), ctx, checkInterface(ctx.device.id, action.interface));
  },

  holds(action, state, ctx) {
    if (action.kind === 'interface.disable' || action.kind === 'interface.enable') return snmpIfmib.holds(action, state, ctx);
    if (action.kind === 'port.vlan' || action.kind === 'port.restore') return portVlanHolds(action, state);
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
        ? { name: checkInterface(id, action.interface), vlan: checkVlan(id, action.vlan), voice: VOICE_NONE }
        : checkRestore(ctx, action);
    const snmp = snmpOf(session, ctx);
    const state = await readPort(snmp, ctx, want.name);
    if (state.mode === 'trunk') {
      throw new CommandRejected(
        `${id}: ${want.name} (ifIndex ${state.ifIndex}) is a trunk (no ${VM_VLAN}.${state.ifIndex} row): ${action.kind} changes access ports only`,
      );
    }
    const existing = await knownVlans(snmp);
    // An agent without CISCO-VTP-MIB lists nothing: then the device's own answer decides.
    for (const [vlan, what] of [
      [want.vlan, 'VLAN'],
      [want.voice >= 1 && want.voice <= 4094 ? want.voice : null, 'voice VLAN'],
    ] as const) {
      if (vlan !== null && existing.size > 0 && !existing.has(vlan)) {
        throw new CommandRejected(`${id}: ${what} ${vlan} does not exist on the switch (no ${VTP_VLAN_STATE}.${vlan})`);
      }
    }
    const vlanOid = `${VM_VLAN}.${state.ifIndex}`;
    const voiceOid = `${VM_VOICE_VLAN}.${state.ifIndex}`;
    await snmp.set([
      { oid: vlanOid, type: 'Integer', value: want.vlan },
      { oid: voiceOid, type: 'Integer', value: want.voice },
    ]);
    return `SET ${vlanOid} = INTEGER ${want.vlan}, ${voiceOid} = INTEGER ${want.voice}: ok`;
  },

  invert(action, before, ctx) {
    if (action.kind === 'interface.disable') return snmpIfmib.invert(action, before, ctx);
    if (action.kind !== 'port.vlan') return null; // inverses are not inverted again
    // A port that was already in the wanted VLAN (and had no voice VLAN) stays so after rollback.
    return restorePort(action, before as CiscoVlanPortState, portVlanHolds(action, before));
  },
};

function checkRestore(ctx: ActionContext, action: Extract<Action, { kind: 'port.restore' }>) {
  const id = ctx.device.id;
  const name = checkInterface(id, action.interface);
  if (action.mode !== 'access') {
    throw new CommandRejected(
      `${id}: port.restore ${name}: mode ${JSON.stringify(action.mode)} can't be restored over vmVlan (access only)`,
    );
  }
  const vlan = checkVlan(id, action.vlan);
  const v = action.voiceVlan;
  const voice = v === null ? VOICE_NONE : v === 0 || v === 4095 ? v : checkVlan(id, v, 'voice VLAN');
  return { name, vlan, voice };
}

async function readPort(snmp: SnmpSession, ctx: ActionContext, name: string): Promise<CiscoVlanPortState> {
  const id = ctx.device.id;
  const ifIndex = await resolveIfIndex(snmp, ctx, name);
  // Walked rather than fetched: a missing row (a trunk) is an answer here, not an error.
  const vlanOid = `${VM_VLAN}.${ifIndex}`;
  const vlanValue = (await snmp.walk(VM_VLAN)).get(vlanOid);
  if (vlanValue === undefined) return { interface: name, ifIndex, mode: 'trunk', vlan: null, voiceVlan: null };
  const vlan = Number(vlanValue);
  if (!Number.isInteger(vlan) || vlan < 1 || vlan > 4094) throw new SnmpError(`${id}: vmVlan ${vlanOid} is not a VLAN id`);
  const voiceOid = `${VM_VOICE_VLAN}.${ifIndex}`;
  const voice = Number((await snmp.get([voiceOid])).get(voiceOid));
  if (!Number.isInteger(voice) || voice < 0 || voice > VOICE_NONE) throw new SnmpError(`${id}: vmVoiceVlanId ${voiceOid} is not 0-4096`);
  return { interface: name, ifIndex, mode: 'access', vlan, voiceVlan: voice === VOICE_NONE ? null : voice };
}

async function knownVlans(snmp: SnmpSession): Promise<Set<number>> {
  const out = new Set<number>();
  for (const oid of (await snmp.walk(VTP_VLAN_STATE)).keys()) {
    const vlan = Number(oid.slice(VTP_VLAN_STATE.length + 1));
    if (Number.isInteger(vlan)) out.add(vlan);
  }
  return out;
}

function snmpOf(session: Session, ctx: ActionContext): SnmpSession {
  return snmpSession(FAMILY, session, ctx);
}

function unsupported(action: unknown, ctx: ActionContext): never {
  return unsupportedAction(FAMILY, SUPPORTS, action, ctx);
}
