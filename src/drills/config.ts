import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { CronExpressionParser } from 'cron-parser';
import * as z from 'zod';
import { ConfigInvalid } from '../errors.js';
import { PLAYBOOK_ID } from '../playbooks/schema.js';
import { issuesMessage, type SourceIssue, validateYaml } from '../yaml-source.js';
import type { DrillSpec } from './types.js';

/**
 * drills.yaml: which playbooks are rehearsed, how (preflight only, or live on designated targets
 * such as a test VLAN's uplink) and when (cron in a time zone). Every problem is reported at once,
 * one `file:line:col path: message` per line.
 */
const DRILL_ID = /^[a-z][a-z0-9-]{0,31}$/;

const drillSchema = z.strictObject({
  id: z.string().regex(DRILL_ID, `must match ${DRILL_ID.source}`),
  title: z.string().max(200).optional(),
  playbook: z.string().regex(PLAYBOOK_ID, `must match ${PLAYBOOK_ID.source}`),
  params: z.record(z.string(), z.string({ error: 'must be a string (quote numbers)' })).default({}),
  mode: z.enum(['verify', 'live']).default('verify'),
  holdSeconds: z.number().int().min(1).max(86_400).default(60),
  deviceRevertMinutes: z.number().int().min(0).max(60).optional(),
  schedule: z.strictObject({ cron: z.string().min(1).max(100), tz: z.string().default('UTC') }).optional(),
  regressionMarginPct: z.number().min(0).max(1000).default(25),
  probe: z
    .strictObject({
      from: z.string().regex(/^[a-z][a-z0-9-]{0,31}$/, 'a device id of the inventory'),
      // An address literal only: it goes into the probe host's ping command.
      to: z.string().refine((v) => isIP(v) !== 0, 'an IPv4 or IPv6 address'),
    })
    .optional(),
});

const fileSchema = z.strictObject({ drills: z.array(drillSchema) });

function check(drills: z.output<typeof drillSchema>[], knownPlaybooks?: readonly string[]): SourceIssue[] {
  const issues: SourceIssue[] = [];
  const seen = new Set<string>();
  drills.forEach((d, i) => {
    const at = ['drills', i];
    if (seen.has(d.id)) issues.push({ path: [...at, 'id'], message: `duplicate drill id "${d.id}"` });
    seen.add(d.id);
    if (knownPlaybooks && !knownPlaybooks.includes(d.playbook))
      issues.push({ path: [...at, 'playbook'], message: `unknown playbook "${d.playbook}" (known: ${knownPlaybooks.join(', ')})` });
    if (d.probe && d.mode !== 'live')
      issues.push({ path: [...at, 'probe'], message: 'a probe proves a live drill: mode must be live', atKey: true });
    if (d.deviceRevertMinutes !== undefined && d.mode !== 'live')
      issues.push({
        path: [...at, 'deviceRevertMinutes'],
        message: 'the device-side auto-revert backs a live drill: mode must be live',
        atKey: true,
      });
    else if (d.deviceRevertMinutes && d.deviceRevertMinutes * 60 < d.holdSeconds)
      issues.push({
        path: [...at, 'deviceRevertMinutes'],
        message: `${d.deviceRevertMinutes} min is shorter than the hold (holdSeconds ${d.holdSeconds}): the device would undo the drill before its hold ends (at least ${Math.ceil(d.holdSeconds / 60)}, or 0 for off)`,
      });
    if (d.schedule) {
      if (!validTimeZone(d.schedule.tz))
        issues.push({
          path: [...at, 'schedule', 'tz'],
          message: `unknown time zone "${d.schedule.tz}" (an IANA name, e.g. Europe/Stockholm)`,
        });
      else
        try {
          CronExpressionParser.parse(d.schedule.cron, { tz: d.schedule.tz });
        } catch (err) {
          issues.push({ path: [...at, 'schedule', 'cron'], message: `not a cron expression: ${(err as Error).message}` });
        }
    }
  });
  return issues;
}

function validTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

export function parseDrills(file: string, text: string, knownPlaybooks?: readonly string[]): DrillSpec[] {
  const r = validateYaml(file, text, fileSchema, (v) => check(v.drills, knownPlaybooks));
  if (!r.ok) throw new ConfigInvalid(issuesMessage(r.issues));
  return r.value.drills.map(({ deviceRevertMinutes, ...d }) =>
    d.mode === 'live' ? { ...d, deviceRevertMinutes: deviceRevertMinutes ?? defaultDeviceRevertMinutes(d.holdSeconds) } : d,
  );
}

/**
 * The hold plus two minutes (the restore's own time, a slow device): the timer should fire only
 * when the scheduled restore did not come. Past 60 minutes (AOS-CX's `checkpoint auto` limit, and
 * the most drills.yaml takes) the drill is not device-backed.
 */
export function defaultDeviceRevertMinutes(holdSeconds: number): number {
  const minutes = Math.ceil(holdSeconds / 60) + 2;
  return minutes <= 60 ? minutes : 0;
}

export async function loadDrills(file: string, knownPlaybooks?: readonly string[]): Promise<DrillSpec[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new ConfigInvalid(`${file}: cannot read (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  return parseDrills(file, text, knownPlaybooks);
}

/** The next `n` times a drill is due after `from` (empty for an unscheduled drill). */
export function nextRuns(d: DrillSpec, from: Date, n = 3): Date[] {
  if (!d.schedule) return [];
  const it = CronExpressionParser.parse(d.schedule.cron, { tz: d.schedule.tz, currentDate: from });
  return Array.from({ length: n }, () => it.next().toDate());
}

/** The last time a drill was due at or before `now` (undefined for an unscheduled drill). */
export function lastDue(d: DrillSpec, now: Date): Date | undefined {
  if (!d.schedule) return undefined;
  return CronExpressionParser.parse(d.schedule.cron, { tz: d.schedule.tz, currentDate: now }).prev().toDate();
}
