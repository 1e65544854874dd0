import { UnsupportedAction } from '../errors.js';
import type { Session, SnmpSession, SshSession } from '../transports/types.js';
import type { ActionContext } from './driver.js';

/** What a driver refuses outright: an action its family does not carry out, a session of the wrong kind. */

/** `sw1: junos does not support power.off (supports: interface.disable, ...)` */
export function unsupportedAction(family: string, supports: readonly string[], action: unknown, ctx: ActionContext): never {
  const kind = (action as { kind?: string } | undefined)?.kind;
  throw new UnsupportedAction(`${ctx.device.id}: ${family} does not support ${kind} (supports: ${supports.join(', ')})`);
}

export function sshSession(family: string, session: Session, ctx: ActionContext): SshSession {
  if (session?.kind !== 'ssh') throw wrongSession(family, 'ssh', session, ctx);
  return session;
}

export function snmpSession(family: string, session: Session, ctx: ActionContext): SnmpSession {
  if (session?.kind !== 'snmp') throw wrongSession(family, 'snmp', session, ctx);
  return session;
}

function wrongSession(family: string, want: string, session: Session, ctx: ActionContext): UnsupportedAction {
  return new UnsupportedAction(`${ctx.device.id}: the ${family} driver needs an ${want} session, got ${session?.kind}`);
}
