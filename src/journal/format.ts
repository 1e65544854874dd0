import { describeAction, type Action } from '../actions.js';
import type { JournalEntry } from './types.js';

/**
 * Readable view of journal entries, one line each:
 *   2026-11-30T10:22:01.123Z  #12  action.intent     a3   edge-fw     interface.disable eth-uplink
 */
export function formatEntries(entries: readonly JournalEntry[]): string {
  const lines = entries.map((e) => {
    const d = e.data;
    const cols = [
      e.ts,
      `#${e.seq}`.padEnd(6),
      e.type.padEnd(20),
      str(d.actionId, '-').padEnd(5),
      str(d.device, '-').padEnd(14),
      oneLine(summary(e)),
    ];
    return cols.join('  ').trimEnd();
  });
  return lines.length ? `${lines.join('\n')}\n` : '';
}

function summary(e: JournalEntry): string {
  const d = e.data;
  switch (e.type) {
    case 'run.created': {
      const plan = obj(d.plan);
      const trigger = obj(d.trigger);
      const pb = obj(plan.playbook);
      const n = Array.isArray(plan.actions) ? plan.actions.length : 0;
      return `playbook ${str(pb.id, '?')}, ${n} action(s); ${str(trigger.kind, '?')} by ${str(trigger.by, '?')}${trigger.reason ? `: ${str(trigger.reason)}` : ''}`;
    }
    case 'lockout.overridden':
      return `lockout overridden: ${str(d.message)}`;
    case 'run.state': {
      const notDone = Array.isArray(d.notDone) ? d.notDone.length : 0;
      return [
        d.from ? `${str(d.from)} -> ${str(d.state, '?')}` : str(d.state, '?'),
        d.by ? `by ${str(d.by)}` : '',
        d.reason ? `(${str(d.reason)})` : '',
        typeof d.timeToContainMs === 'number' ? `time to contain ${d.timeToContainMs} ms` : '',
        notDone ? `${notDone} not done` : '',
      ]
        .filter(Boolean)
        .join(' ');
    }
    case 'stage.prepared':
      return `stage ${str(d.stage)} prepared in ${str(d.ms)} ms`;
    case 'stage.barrier': {
      const late = Array.isArray(d.late) ? d.late : [];
      return `stage ${str(d.stage)} barrier after ${str(d.waitedMs)} ms: ${count(d.ready)} ready${late.length ? `, late: ${late.join(', ')}` : ''}`;
    }
    case 'action.resumed':
      return d.held ? 'resumed: the change is already on the device' : 'resumed: the change is not on the device yet';
    case 'hold.released': {
      const by = Array.isArray(d.heldBy) ? d.heldBy.map((h) => str(obj(h).runId, '?')) : [];
      return `let go of ${str(d.target, '?')}, left as it is: still held by ${by.join(', ') || '?'}`;
    }
    case 'run.lease-lost':
      return `lease of ${str(d.owner, '?')}${d.device ? ` on ${str(d.device)}` : ''} lost (token ${str(d.token, '?')}): ${str(d.error)}`;
    case 'stage.step-lost':
      return `stage ${str(d.stage)}: the step on ${str(d.device)} was lost: ${str(d.error)}`;
    case 'stage.struck':
      return `stage ${str(d.stage)} struck, cut skew ${str(d.cutSkewMs)} ms`;
    case 'action.intent':
      return `${action(d.action)} (inverse: ${action(d.inverse)})${isRecord(d.autoRevert) ? `, device auto-revert armed for ${str(d.autoRevert.minutes)} min${d.autoRevert.keepArmed ? ', kept armed (not confirmed): the backstop of the restore' : ''}` : ''}`;
    case 'batch.refused':
      return `refused together (${Array.isArray(d.actions) ? d.actions.join('+') : '?'}), sent one by one: ${str(d.code, '?')} ${str(d.error)}`;
    case 'action.confirmed':
      if (d.by === 'rollback') return 'auto-revert disarmed before the restore: its timer cannot undo later changes';
      if (d.by) return `auto-revert disarmed by run ${str(d.by)} before it changed this device`;
      return 'auto-revert confirmed: the change stays';
    case 'device.armed':
      return `device auto-revert armed for ${str(d.minutes)} min with ${Array.isArray(d.actionIds) ? d.actionIds.join(', ') : '?'}: whoever changes ${str(d.device)} next disarms it if it is still pending`;
    case 'action.already':
      return 'already in place, nothing changed';
    case 'action.applied':
      return d.output ? `applied: ${firstLine(d.output)}` : 'applied';
    case 'action.verified':
      return `verified on device${typeof d.ms === 'number' ? ` in ${d.ms} ms` : ''}`;
    case 'action.failed':
      return `failed in ${str(d.phase, '?')}: ${str(d.code, '?')} ${str(d.error)}`;
    case 'rollback.started':
      return `rollback by ${str(d.by, '?')}${d.reason ? `: ${str(d.reason)}` : ''}`;
    case 'action.reverted':
      if (d.deviceReverted) return `already back: the device's own auto-revert undid it (${action(d.inverse)})`;
      return d.nothingToDo ? `nothing to revert (${action(d.inverse)})` : `reverted: ${action(d.inverse)}`;
    case 'action.revert-failed':
      return `revert failed (${action(d.inverse)}): ${str(d.code, '?')} ${str(d.error)}`;
    case 'rollback.finished':
      return `rollback ${str(d.state, '?')}: ${count(d.reverted)} reverted, ${count(d.failed)} failed`;
    case 'approval.decided':
      return `${str(d.for, 'run')} ${str(d.decision, '?')} by ${str(d.by, '?')}${d.reason ? `: ${str(d.reason)}` : ''}`;
    case 'rollback.requested':
      return `rollback asked by ${str(d.by, '?')}, waits for approval${d.reason ? `: ${str(d.reason)}` : ''}`;
    case 'drill.report': {
      const sm = obj(d.summary);
      const tr = obj(d.trend);
      return `drill ${str(d.drillId, '?')} (${str(d.mode, '?')}): ${sm.ok ? 'OK' : 'FAILED'}, ${str(sm.state, '?')}${typeof sm.timeToContainMs === 'number' ? `, contained in ${sm.timeToContainMs} ms` : ''}${typeof sm.timeToRestoreMs === 'number' ? `, restored in ${sm.timeToRestoreMs} ms` : ''}${tr.regressed ? ' REGRESSED' : ''}`;
    }
    case 'drill.scheduled':
      return `drill ${str(d.drillId, '?')} scheduled: ${str(d.cron, '?')} (${str(d.tz, '?')})`;
    case 'drill.missed':
      return `drill ${str(d.drillId, '?')} MISSED its time ${str(d.dueAt, '?')}`;
    case 'run.expires':
      return `rolled back at ${typeof d.at === 'number' ? new Date(d.at).toISOString() : '?'} unless kept (time to live ${str(d.ttlSeconds, '?')} s, set by ${str(d.by, '?')})`;
    case 'run.kept':
      return `kept by ${str(d.by, '?')}: no expiry${d.reason ? ` (${str(d.reason)})` : ''}`;
    case 'rollback.queued':
      return `rollback queued for a worker by ${str(d.by, '?')}`;
    case 'run.break-glass':
      return `BREAK-GLASS: ${str(d.reason)}`;
    case 'trigger.event':
      return `${str(d.kind, '?')} event via ${str(d.trigger, '?')} (${str(d.status, '?')}): ${str(d.decision, '?')}${d.detail ? ` - ${str(d.detail)}` : ''}${d.repeatsSinceLast ? ` (+${str(d.repeatsSinceLast)} repeats)` : ''}`;
    case 'notify.sent':
      return `told ${str(d.channel, '?')} (${str(d.event, '?')}, attempt ${str(d.attempt, '?')}, ${str(d.ms, '?')} ms)`;
    case 'notify.failed':
      return `could not tell ${str(d.channel, '?')} (${str(d.event, '?')}, attempt ${str(d.attempt, '?')}${d.final ? ', gave up' : ''}): ${str(d.error)}`;
    case 'auth.failed':
      return `refused ${str(d.ip, '?')} on ${str(d.route, '?')}: ${str(d.reason)}`;
    case 'token.created':
      return `token ${str(d.name, '?')} (${str(d.tokenId, '?')}) created by ${str(d.by, '?')}: ${Array.isArray(d.scopes) ? d.scopes.join(',') : '?'}`;
    case 'token.revoked':
      return `token ${str(d.tokenId, '?')} revoked by ${str(d.by, '?')}`;
    case 'signin.ok':
      return `${str(d.name, '?')} signed in from ${str(d.ip, '?')}${d.reason ? ` (${str(d.reason)})` : ''}`;
    case 'signin.failed':
      return `sign-in as ${str(d.name, '?')} from ${str(d.ip, '?')} refused: ${str(d.reason)}`;
    case 'signin.locked':
      return `sign-in as ${str(d.name, '?')} from ${str(d.ip, '?')}: ${str(d.reason)}${d.until ? ` (locked until ${str(d.until)})` : ''}`;
    case 'user.added':
      return `user ${str(d.name, '?')} (${str(d.role, '?')}) added by ${str(d.by, '?')}`;
    case 'user.disabled':
      return `user ${str(d.name, '?')} disabled by ${str(d.by, '?')}, ${str(d.sessionsEnded, '0')} session(s) ended`;
    case 'user.totp-reset':
      return `second factor of ${str(d.name, '?')} reset by ${str(d.by, '?')}, ${str(d.sessionsEnded, '0')} session(s) ended`;
    case 'session.ended':
      return `session of ${str(d.name, '?')} ended: ${str(d.reason)}${d.ip ? ` (from ${str(d.ip)})` : ''}`;
    default:
      return JSON.stringify(d).slice(0, 120);
  }
}

function action(v: unknown): string {
  if (typeof v === 'string') return v;
  const a = obj(v);
  if (typeof a.kind !== 'string') return v === undefined ? '-' : JSON.stringify(v).slice(0, 80);
  try {
    return describeAction(a as unknown as Action);
  } catch {
    return a.kind;
  }
}

function obj(v: unknown): Record<string, unknown> {
  return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
}

function str(v: unknown, fallback = ''): string {
  if (v === undefined || v === null) return fallback;
  return typeof v === 'string' ? v : JSON.stringify(v);
}

/** `reverted`/`failed` may be counts or lists of action ids. */
function count(v: unknown): number {
  return Array.isArray(v) ? v.length : typeof v === 'number' ? v : 0;
}

function firstLine(v: unknown): string {
  const s = str(v).trim();
  const lines = s.split('\n');
  return lines.length > 1 ? `${lines[0]} (+${lines.length - 1} lines)` : s;
}

/** One entry, one line: control characters from device output must not break the layout. */
function oneLine(s: string): string {
  const flat = s.replace(/[\r\n\t]+/g, ' ').replace(/[\x00-\x1f\x7f]/g, '');
  return flat.length > 160 ? `${flat.slice(0, 157)}...` : flat;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
