import type { Action } from '../actions.js';
import type { State } from './driver.js';

/**
 * What `holds` and `invert` mean for ports and blocks, the same on every family that reads a port
 * back as these states. A family whose state says it in other words (RouterOS frame-types,
 * Q-BRIDGE bitmaps, IF-MIB ifAdminStatus) keeps its own `holds` and hands the verdict in here.
 */

/** Example: { interface: 'Gi1/0/5', adminUp: true } */
export interface LinkState extends State {
  interface: string;
  adminUp: boolean;
}

/** Example: { interface: 'Gi1/0/5', mode: 'access', vlan: 10, voiceVlan: 110 } (mode in the platform's own word). */
export interface PortVlanState extends State {
  interface: string;
  mode: string;
  vlan: number | null;
  voiceVlan: number | null;
}

type LinkAction = Extract<Action, { kind: 'interface.disable' | 'interface.enable' }>;
type PortVlanAction = Extract<Action, { kind: 'port.vlan' | 'port.restore' }>;
type BlockAction = Extract<Action, { kind: 'host.block' | 'egress.block' }>;

/** interface.disable: admin down; interface.enable: admin up. */
export function linkHolds(action: LinkAction, state: State): boolean {
  return (state as LinkState).adminUp === (action.kind === 'interface.enable');
}

/**
 * port.vlan: an access port in the wanted VLAN with no voice VLAN; port.restore: exactly the mode,
 * VLAN and voice VLAN asked for. `nullVlan` is the VLAN a port shows when the action's is null
 * (on platforms where an unset access VLAN reads back as the default VLAN 1).
 */
export function portVlanHolds(action: PortVlanAction, state: State, nullVlan?: number): boolean {
  const s = state as PortVlanState;
  if (action.kind === 'port.vlan') return s.mode === 'access' && s.vlan === action.vlan && s.voiceVlan === null;
  const vlan = nullVlan === undefined ? action.vlan : (action.vlan ?? nullVlan);
  return s.mode === action.mode && s.vlan === vlan && s.voiceVlan === action.voiceVlan;
}

/** `holds` for interface.disable/enable and port.vlan/restore (see linkHolds, portVlanHolds). */
export function portHolds(action: LinkAction | PortVlanAction, state: State, nullVlan?: number): boolean {
  return action.kind === 'port.vlan' || action.kind === 'port.restore' ? portVlanHolds(action, state, nullVlan) : linkHolds(action, state);
}

/**
 * `invert` for a family whose states read as above: interface.disable, port.vlan, host.block and
 * egress.block as the functions below say; null for the inverse kinds (rollback of a rollback is
 * a new run) and for kinds the family does not support. `held` is the driver's own `holds` on `before`.
 */
export function invertForward(supports: readonly string[], action: Action, before: State, held: () => boolean): Action | null {
  if (!supports.includes(action.kind)) return null;
  switch (action.kind) {
    case 'interface.disable':
      return enableIfWasUp(action, before);
    case 'port.vlan':
      return restorePort(action, before as PortVlanState, held());
    case 'host.block':
    case 'egress.block':
      return unblockUnlessHeld(action, held());
    default:
      return null;
  }
}

/** Inverse of interface.disable: a port that was already down stays down after rollback. */
function enableIfWasUp(action: Extract<Action, { kind: 'interface.disable' }>, before: State): Action | null {
  return (before as LinkState).adminUp ? { kind: 'interface.enable', interface: action.interface } : null;
}

/** Inverse of port.vlan: the mode, VLAN and voice VLAN seen before; nothing when the wanted VLAN already `held`. */
export function restorePort(
  action: Extract<Action, { kind: 'port.vlan' }>,
  before: Pick<PortVlanState, 'mode' | 'vlan' | 'voiceVlan'>,
  held: boolean,
): Action | null {
  if (held) return null;
  return { kind: 'port.restore', interface: action.interface, mode: before.mode, vlan: before.vlan, voiceVlan: before.voiceVlan };
}

/** Inverse of a block: remove what this action adds, unless the block already `held` (then it stays). */
function unblockUnlessHeld(action: BlockAction, held: boolean): Action | null {
  if (held) return null;
  return action.kind === 'host.block'
    ? { kind: 'host.unblock', address: action.address }
    : { kind: 'egress.unblock', segment: action.segment };
}
