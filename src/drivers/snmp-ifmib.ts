import type { ActionKind } from '../actions.js';
import type { Session, SnmpSession, SnmpValue } from '../transports/types.js';
import type { ActionContext, Driver, State } from './driver.js';
import { CommandRejected, SnmpError } from '../errors.js';
import { snmpSession, unsupportedAction } from './unsupported.js';
import { checkInterface } from './validate.js';

/**
 * Any agent with a writable IF-MIB: ports go down/up through ifAdminStatus. Verification reads
 * ifAdminStatus back, not ifOperStatus, which lags 1-3 s on net-snmp agents.
 */
const IF_ADMIN_STATUS = '1.3.6.1.2.1.2.2.1.7';
const IF_NAME = '1.3.6.1.2.1.31.1.1.1.1';
const IF_DESCR = '1.3.6.1.2.1.2.2.1.2';
const UP = 1;
const DOWN = 2;
const SUPPORTS = ['interface.disable', 'interface.enable'] as const satisfies readonly ActionKind[];

interface PortState extends State {
  interface: string;
  ifIndex: number;
  adminStatus: number;
}

/** name -> ifIndex, learned once per session (ifIndex is stable while the agent runs). */
const indexCache = new WeakMap<SnmpSession, Map<string, number>>();

export const snmpIfmib: Driver = {
  family: 'snmp-ifmib',
  transport: 'snmp',
  supports: SUPPORTS,

  render(action, ctx) {
    const id = ctx.device.id;
    switch (action.kind) {
      case 'interface.disable':
        return [`SET ${IF_ADMIN_STATUS}.<ifIndex of ${checkInterface(id, action.interface)}> = INTEGER ${DOWN} (down)`];
      case 'interface.enable':
        return [`SET ${IF_ADMIN_STATUS}.<ifIndex of ${checkInterface(id, action.interface)}> = INTEGER ${UP} (up)`];
      default:
        return unsupported(action, ctx);
    }
  },

  async read(session, action, ctx) {
    if (action.kind !== 'interface.disable' && action.kind !== 'interface.enable') return unsupported(action, ctx);
    const snmp = snmpOf(session, ctx);
    const name = checkInterface(ctx.device.id, action.interface);
    const ifIndex = await resolveIfIndex(snmp, ctx, name);
    const oid = `${IF_ADMIN_STATUS}.${ifIndex}`;
    const values = await snmp.get([oid]);
    const adminStatus = Number(values.get(oid));
    if (!Number.isInteger(adminStatus)) throw new SnmpError(`${ctx.device.id}: ifAdminStatus ${oid} is not an integer`);
    return { interface: name, ifIndex, adminStatus } satisfies PortState;
  },

  holds(action, state, ctx) {
    const s = state as PortState;
    if (action.kind === 'interface.disable') return s.adminStatus === DOWN;
    if (action.kind === 'interface.enable') return s.adminStatus === UP;
    return unsupported(action, ctx);
  },

  async apply(session, action, ctx) {
    if (action.kind !== 'interface.disable' && action.kind !== 'interface.enable') return unsupported(action, ctx);
    const snmp = snmpOf(session, ctx);
    const ifIndex = await resolveIfIndex(snmp, ctx, checkInterface(ctx.device.id, action.interface));
    const value = action.kind === 'interface.disable' ? DOWN : UP;
    const oid = `${IF_ADMIN_STATUS}.${ifIndex}`;
    await snmp.set([{ oid, type: 'Integer', value }]);
    return `SET ${oid} = INTEGER ${value} (${value === DOWN ? 'down' : 'up'}): ok`;
  },

  invert(action, before) {
    if (action.kind !== 'interface.disable') return null; // inverses are not inverted again
    const s = before as PortState;
    // A port that was already down stays down after rollback.
    return s.adminStatus === DOWN ? null : { kind: 'interface.enable', interface: action.interface };
  },
};

function snmpOf(session: Session, ctx: ActionContext): SnmpSession {
  return snmpSession('snmp-ifmib', session, ctx);
}

function unsupported(action: unknown, ctx: ActionContext): never {
  return unsupportedAction('snmp-ifmib', SUPPORTS, action, ctx);
}

/** Walks ifName, then ifDescr when ifName lacks the name; unknown names list a few known ones. */
export async function resolveIfIndex(snmp: SnmpSession, ctx: ActionContext, name: string): Promise<number> {
  let names = indexCache.get(snmp);
  if (!names?.has(name)) {
    names = await namesFrom(snmp, IF_NAME);
    // Agents without ifXTable (or with other names there) still have ifDescr.
    if (!names.has(name)) for (const [n, i] of await namesFrom(snmp, IF_DESCR)) if (!names.has(n)) names.set(n, i);
    indexCache.set(snmp, names);
  }
  const ifIndex = names.get(name);
  if (ifIndex === undefined) {
    const known = [...names.keys()].slice(0, 8).join(', ');
    throw new CommandRejected(`${ctx.device.id}: no interface named "${name}" in IF-MIB (known: ${known}${names.size > 8 ? ', ...' : ''})`);
  }
  return ifIndex;
}

async function namesFrom(snmp: SnmpSession, column: string): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const [oid, value] of await snmp.walk(column)) {
    const ifIndex = Number(oid.slice(column.length + 1));
    if (Number.isInteger(ifIndex)) out.set(text(value), ifIndex);
  }
  return out;
}

export function text(v: SnmpValue): string {
  return Buffer.isBuffer(v) ? v.toString('utf8') : String(v);
}
