import type { ActionKind } from '../actions.js';
import type { Session, SnmpSession } from '../transports/types.js';
import type { ActionContext, Driver, State } from './driver.js';
import { CommandRejected, SnmpError, UnsupportedAction } from '../errors.js';
import { text } from './snmp-ifmib.js';
import { snmpSession, unsupportedAction } from './unsupported.js';

/**
 * Switched PDUs: the last resort, an outlet switched off under a device that can't be reached or
 * trusted. The outlet MIB is picked from sysObjectID.0's enterprise number, as OpenStack ironic's
 * SNMP power driver does: APC PowerNet-MIB sPDUOutletControlTable (318) or CyberPower CPS-MIB
 * ePDUOutletControlTable / ePDUOutletStatusTable (3808). Read-back is the outlet state column.
 */
const FAMILY = 'snmp-pdu';
const SYS_OBJECT_ID = '1.3.6.1.2.1.1.2.0';
const SUPPORTS = ['power.off', 'power.on'] as const satisfies readonly ActionKind[];

interface OutletMib {
  enterprise: string;
  /** Outlet name column (indexed by outlet number). */
  name: string;
  /** Written: on / off command. */
  control: string;
  /** Read back: on(1) / off(2). */
  state: string;
  on: number;
  off: number;
}

const MIBS = {
  // PowerNet-MIB sPDUOutletCtl: outletOn(1), outletOff(2), outletReboot(3); sPDUOutletCtlName.
  apc: {
    enterprise: '1.3.6.1.4.1.318.',
    name: '1.3.6.1.4.1.318.1.1.4.4.2.1.4',
    control: '1.3.6.1.4.1.318.1.1.4.4.2.1.3',
    state: '1.3.6.1.4.1.318.1.1.4.4.2.1.3',
    on: 1,
    off: 2,
  },
  // CPS-MIB ePDUOutletControlOutletCommand: immediateOn(1), immediateOff(2); ePDUOutletStatusOutletState: on(1), off(2).
  cyberpower: {
    enterprise: '1.3.6.1.4.1.3808.',
    name: '1.3.6.1.4.1.3808.1.1.3.3.3.1.1.2',
    control: '1.3.6.1.4.1.3808.1.1.3.3.3.1.1.4',
    state: '1.3.6.1.4.1.3808.1.1.3.3.5.1.1.4',
    on: 1,
    off: 2,
  },
} as const satisfies Record<string, OutletMib>;
type MibName = keyof typeof MIBS;
const MIB_NAMES: readonly MibName[] = ['apc', 'cyberpower'];

/** Outlet names as PDUs let you set them (APC: up to 20 chars, spaces allowed), or `outlet-<n>`. */
const OUTLET = /^[A-Za-z0-9][A-Za-z0-9 ._:/()-]{0,31}$/;

/** Example: { outlet: 'fw-edge', index: 3, mib: 'apc', on: true } */
export interface OutletState extends State {
  outlet: string;
  index: number;
  mib: MibName;
  on: boolean;
}

export const snmpPdu: Driver = {
  family: FAMILY,
  transport: 'snmp',
  supports: SUPPORTS,

  render(action, ctx) {
    if (action.kind !== 'power.off' && action.kind !== 'power.on') return unsupported(action, ctx);
    const outlet = checkOutlet(ctx, action.outlet);
    const what = action.kind === 'power.off' ? 'off' : 'on';
    return [
      `SET <outlet control of "${outlet}"> = ${what} (APC sPDUOutletCtl ${MIBS.apc.control}.<n> or CyberPower ${MIBS.cyberpower.control}.<n>, by sysObjectID)`,
    ];
  },

  async read(session, action, ctx) {
    if (action.kind !== 'power.off' && action.kind !== 'power.on') return unsupported(action, ctx);
    const snmp = snmpOf(session, ctx);
    const outlet = checkOutlet(ctx, action.outlet);
    const mib = await outletMib(snmp, ctx);
    const index = await resolveOutlet(snmp, ctx, MIBS[mib], outlet);
    return { outlet, index, mib, on: await outletOn(snmp, ctx, MIBS[mib], index) } satisfies OutletState;
  },

  holds(action, state, ctx) {
    const s = state as OutletState;
    if (action.kind === 'power.off') return s.on === false;
    if (action.kind === 'power.on') return s.on === true;
    return unsupported(action, ctx);
  },

  async apply(session, action, ctx) {
    if (action.kind !== 'power.off' && action.kind !== 'power.on') return unsupported(action, ctx);
    const outlet = checkOutlet(ctx, action.outlet);
    const snmp = snmpOf(session, ctx);
    const mibName = await outletMib(snmp, ctx);
    const mib = MIBS[mibName];
    const index = await resolveOutlet(snmp, ctx, mib, outlet);
    const value = action.kind === 'power.off' ? mib.off : mib.on;
    const oid = `${mib.control}.${index}`;
    await snmp.set([{ oid, type: 'Integer', value }]);
    return `SET ${oid} = INTEGER ${value} (${mibName} outlet ${index} "${outlet}" ${action.kind === 'power.off' ? 'off' : 'on'}): ok`;
  },

  invert(action, before) {
    if (action.kind !== 'power.off') return null; // inverses are not inverted again
    // An outlet that was already off stays off after rollback.
    return (before as OutletState).on ? { kind: 'power.on', outlet: action.outlet } : null;
  },
};

function checkOutlet(ctx: ActionContext, outlet: string): string {
  if (typeof outlet !== 'string' || !OUTLET.test(outlet)) {
    throw new CommandRejected(
      `${ctx.device.id}: outlet name ${JSON.stringify(String(outlet).slice(0, 80))} is not valid (letters, digits, space . _ : / ( ) -, at most 32 chars)`,
    );
  }
  return outlet;
}

async function outletMib(snmp: SnmpSession, ctx: ActionContext): Promise<MibName> {
  const sysObjectId = text((await snmp.get([SYS_OBJECT_ID])).get(SYS_OBJECT_ID) ?? '');
  for (const name of MIB_NAMES) if (sysObjectId.startsWith(MIBS[name].enterprise)) return name;
  throw new UnsupportedAction(
    `${ctx.device.id}: sysObjectID.0 ${sysObjectId} is not a PDU this driver knows (APC 1.3.6.1.4.1.318, CyberPower 1.3.6.1.4.1.3808)`,
  );
}

/** An outlet is found by the name the PDU gives it, or as `outlet-<n>`. */
async function resolveOutlet(snmp: SnmpSession, ctx: ActionContext, mib: OutletMib, outlet: string): Promise<number> {
  const names = new Map<string, number>();
  for (const [oid, value] of await snmp.walk(mib.name)) {
    const index = Number(oid.slice(mib.name.length + 1));
    if (Number.isInteger(index) && index > 0) names.set(text(value), index);
  }
  const byNumber = /^outlet-(\d{1,3})$/.exec(outlet);
  const index = names.get(outlet) ?? (byNumber && [...names.values()].includes(Number(byNumber[1])) ? Number(byNumber[1]) : undefined);
  if (index === undefined) {
    const known = [...names.keys()].slice(0, 8).join(', ');
    throw new CommandRejected(
      `${ctx.device.id}: no outlet named "${outlet}" in ${mib.name} (known: ${known}${names.size > 8 ? ', ...' : ''})`,
    );
  }
  return index;
}

async function outletOn(snmp: SnmpSession, ctx: ActionContext, mib: OutletMib, index: number): Promise<boolean> {
  const oid = `${mib.state}.${index}`;
  const value = Number((await snmp.get([oid])).get(oid));
  if (value === mib.on) return true;
  if (value === mib.off) return false;
  throw new SnmpError(`${ctx.device.id}: outlet state ${oid} is ${value}, neither on(${mib.on}) nor off(${mib.off})`);
}

function snmpOf(session: Session, ctx: ActionContext): SnmpSession {
  return snmpSession(FAMILY, session, ctx);
}

function unsupported(action: unknown, ctx: ActionContext): never {
  return unsupportedAction(FAMILY, SUPPORTS, action, ctx);
}
