import type { JournalEntry } from '../journal/types.js';
import type { EventKind } from './config.js';

/**
 * Pure: journal entries -> what people are told. A `run.created` entry gives the run's facts
 * (RunInfo); each `run.state` entry gives one or more notification events, most specific first.
 */

/** What every message about a run repeats: its playbook and who or what started it. */
export interface RunInfo {
  playbook: { id: string; title: string };
  trigger: { kind: string; by: string; reason?: string };
  /** Epoch ms the trigger fired (run.created `triggerAt`), when known. */
  triggerAt?: number;
}

export interface NotDone {
  actionId: string;
  device?: string;
  error: string;
}

/** One notification: the JSON a webhook receives, and the words every other channel shows. */
export interface NotificationEvent {
  event: EventKind;
  runId: string;
  /** The journal entry this is about. */
  seq: number;
  at: string;
  state: string;
  from?: string;
  by?: string;
  reason?: string;
  timeToContainMs?: number;
  notDone?: NotDone[];
  playbook: RunInfo['playbook'];
  trigger: RunInfo['trigger'];
  /** Severity for colouring chat cards: bad (failed), wait (needs a person), good (contained), info. */
  severity: 'bad' | 'wait' | 'good' | 'info';
  title: string;
  /** Plain words, one fact per line. */
  lines: string[];
}

/** States that mean the run did not do (all of) what it was asked to. */
export const FAILED_STATES: readonly string[] = [
  'failed',
  'partial',
  'rollback-failed',
  'expired',
  'rejected',
  'interrupted',
  'drill-failed',
  'drill-regressed',
  'drill-missed',
];

/** Most specific first: a channel subscribed to several gets the first that applies. */
const SPECIFICITY: readonly EventKind[] = ['failed', 'awaiting-approval', 'started', 'state'];

const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);
const obj = (v: unknown): Record<string, unknown> =>
  v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {};

/** The facts of a run from its `run.created` entry (missing fields become `?`, never a throw). */
export function runInfoFrom(created: JournalEntry | undefined): RunInfo {
  const d = obj(created?.data);
  const pb = obj(obj(d.plan).playbook);
  const t = obj(d.trigger);
  const reason = str(t.reason);
  return {
    playbook: { id: str(pb.id) ?? '?', title: str(pb.title) ?? str(pb.id) ?? '?' },
    trigger: { kind: str(t.kind) ?? '?', by: str(t.by) ?? '?', ...(reason ? { reason } : {}) },
    ...(typeof d.triggerAt === 'number' ? { triggerAt: d.triggerAt } : {}),
  };
}

/** The event kinds one journal entry gives, most specific first (none for anything but `run.state`). */
export function kindsFor(entry: JournalEntry): EventKind[] {
  // A rollback that waits for a second person changes no state, but someone must be told.
  if (entry.type === 'rollback.requested') return ['awaiting-approval', 'state'];
  // A drill that failed or got slower, or did not run at its time: the kill switch may not work on the night.
  if (entry.type === 'drill.missed') return ['failed'];
  if (entry.type === 'drill.report') {
    const ok = (entry.data.summary as { ok?: boolean } | undefined)?.ok;
    const regressed = (entry.data.trend as { regressed?: boolean } | undefined)?.regressed;
    return ok && !regressed ? [] : ['failed'];
  }
  if (entry.type !== 'run.state') return [];
  const state = str(entry.data.state) ?? '?';
  const kinds: EventKind[] = ['state'];
  if (state === 'running') kinds.push('started');
  if (state === 'awaiting-approval') kinds.push('awaiting-approval');
  if (FAILED_STATES.includes(state)) kinds.push('failed');
  return SPECIFICITY.filter((k) => kinds.includes(k));
}

/** Every notification one entry gives, most specific first; a channel takes one of them (pickFor). */
export function notificationsFor(entry: JournalEntry, run: RunInfo): NotificationEvent[] {
  return kindsFor(entry).map((kind) => eventOf(kind, entry, run));
}

/** The one message a channel gets for an entry: the most specific kind it subscribes to (all when `subscribed` is absent). */
export function pickFor(events: readonly NotificationEvent[], subscribed?: readonly EventKind[]): NotificationEvent | undefined {
  return events.find((e) => !subscribed || subscribed.includes(e.event));
}

function eventOf(kind: EventKind, entry: JournalEntry, run: RunInfo): NotificationEvent {
  const d = entry.data;
  const state =
    entry.type === 'rollback.requested'
      ? ROLLBACK_WAITS
      : entry.type === 'drill.missed'
        ? 'drill-missed'
        : entry.type === 'drill.report'
          ? (d.summary as { ok?: boolean }).ok
            ? 'drill-regressed'
            : 'drill-failed'
          : (str(d.state) ?? '?');
  const from = str(d.from);
  const by = str(d.by);
  const reason = str(d.reason);
  const ttc = typeof d.timeToContainMs === 'number' ? d.timeToContainMs : undefined;
  const notDone = Array.isArray(d.notDone) ? d.notDone.map(notDoneOf) : [];
  const severity = FAILED_STATES.includes(state)
    ? 'bad'
    : state === 'awaiting-approval' || state === ROLLBACK_WAITS
      ? 'wait'
      : state === 'contained' || state === 'rolled-back'
        ? 'good'
        : 'info';
  const pb = run.playbook;
  const drillId = str(d.drillId);
  const lines = drillId
    ? drillLines(drillId, entry)
    : [
        `Run ${entry.runId} of playbook ${pb.id} (${pb.title}) is now ${state}${from ? ` (was ${from})` : ''}.`,
        `Triggered by ${run.trigger.kind} ${run.trigger.by}${run.trigger.reason ? `: ${run.trigger.reason}` : ''}`,
      ];
  if (by) lines.push(`Changed by ${by}.`);
  if (reason) lines.push(`Reason: ${reason}`);
  if (ttc !== undefined) lines.push(`Time to contain: ${ttc} ms.`);
  if (notDone.length > 0) {
    lines.push(`Not done (${notDone.length}):`);
    for (const n of notDone) lines.push(`- ${n.actionId}${n.device ? ` on ${n.device}` : ''}: ${n.error}`);
  }
  if (state === 'awaiting-approval') lines.push('It waits for a person to approve or reject it.');
  if (state === ROLLBACK_WAITS) lines.push('Its rollback was asked for and waits for a second person to approve or reject it.');
  return {
    event: kind,
    runId: entry.runId,
    seq: entry.seq,
    at: entry.ts,
    state,
    ...(from ? { from } : {}),
    ...(by ? { by } : {}),
    ...(reason ? { reason } : {}),
    ...(ttc !== undefined ? { timeToContainMs: ttc } : {}),
    ...(notDone.length > 0 ? { notDone } : {}),
    playbook: pb,
    trigger: run.trigger,
    severity,
    title: drillId ? `Firebreak drill ${drillId}: ${FAILED_WORDS[state] ?? state}` : titleOf(kind, entry.runId, state, pb.id),
    lines,
  };
}

/** A drill's report (or missed time) in plain words: what failed and why, the trend. */
function drillLines(drillId: string, entry: JournalEntry): string[] {
  if (entry.type === 'drill.missed')
    return [`Drill ${drillId} was due at ${str(entry.data.dueAt) ?? '?'} and did not run (was the server down?).`];
  const s = obj(entry.data.summary);
  const t = obj(entry.data.trend);
  const out = [
    `Drill ${drillId} (${str(s.mode) ?? '?'}, playbook ${str(s.playbook) ?? '?'}) ended ${s.ok ? 'OK' : 'FAILED'}: ${str(s.state) ?? '?'}.`,
  ];
  if (typeof s.timeToContainMs === 'number') out.push(`Time to contain: ${s.timeToContainMs} ms.`);
  if (t.regressed)
    out.push(
      `Slower than the median of earlier drills by ${typeof t.changePct === 'number' ? t.changePct : '?'} % (margin ${typeof t.marginPct === 'number' ? t.marginPct : '?'} %).`,
    );
  for (const f of Array.isArray(s.failures) ? s.failures : []) {
    const x = obj(f);
    out.push(`- ${str(x.device) ?? '?'}${x.actionId ? ` ${str(x.actionId)}` : ''}: ${str(x.code) ?? '?'} ${str(x.error) ?? ''}`);
  }
  return out;
}

/** What a pending rollback request reads as, in place of a state. */
const ROLLBACK_WAITS = 'rollback-awaiting-approval';

function titleOf(kind: EventKind, runId: string, state: string, playbook: string): string {
  const head = `Firebreak run ${runId} (${playbook})`;
  switch (kind) {
    case 'started':
      return `${head} started`;
    case 'awaiting-approval':
      return state === ROLLBACK_WAITS ? `${head}: its rollback waits for approval` : `${head} waits for approval`;
    case 'failed':
      return `${head} ${FAILED_WORDS[state] ?? state}`;
    default:
      return `${head} is ${state}`;
  }
}

const FAILED_WORDS: Record<string, string> = {
  failed: 'failed',
  partial: 'was only partly contained',
  'rollback-failed': 'could not be rolled back',
  expired: 'expired without approval',
  rejected: 'was rejected',
  'drill-failed': 'drill FAILED',
  'drill-regressed': 'drill contained more slowly than before (regression)',
  'drill-missed': 'drill did not run at its time',
};

function notDoneOf(v: unknown): NotDone {
  const o = obj(v);
  const device = str(o.device);
  return { actionId: str(o.actionId) ?? '?', ...(device ? { device } : {}), error: str(o.error) ?? str(o.what) ?? 'not done' };
}

/** The message as plain text: title, blank line, one fact per line. */
export function plainText(e: NotificationEvent): string {
  return `${e.title}\n\n${e.lines.join('\n')}\n`;
}
