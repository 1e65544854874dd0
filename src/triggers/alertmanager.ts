import { createHash } from 'node:crypto';
import * as z from 'zod';
import { buildEvent, checkKind, parsePayload } from './template.js';
import type { TriggerEvent, TriggerSpec } from './types.js';

/**
 * Alertmanager's webhook receiver (payload version 4). One event per alert group: Alertmanager
 * repeats a group's notification (repeat_interval, new alerts joining), and every repeat has the
 * same groupKey, so the same dedupKey; firing and resolved share it too.
 */

const labelSet = z.record(z.string(), z.string());
const status = z.enum(['firing', 'resolved']);

export const alertmanagerAlertSchema = z.looseObject({
  status,
  labels: labelSet,
  annotations: labelSet.default({}),
  startsAt: z.string(),
  endsAt: z.string(),
  generatorURL: z.string().optional(),
  fingerprint: z.string(),
});

/** The v4 payload; fields it does not name are let through (Alertmanager adds some now and then). */
export const alertmanagerSchema = z.looseObject({
  version: z.literal('4', { error: 'only Alertmanager webhook payload version "4" is understood' }),
  status,
  receiver: z.string(),
  groupKey: z.string().min(1),
  truncatedAlerts: z.number().int().min(0).optional(),
  groupLabels: labelSet,
  commonLabels: labelSet,
  commonAnnotations: labelSet.default({}),
  externalURL: z.string().optional(),
  alerts: z.array(alertmanagerAlertSchema).min(1, 'an alert group has at least one alert'),
});

export type AlertmanagerPayload = z.output<typeof alertmanagerSchema>;

/** `am:<trigger>:<first 16 hex of sha256(groupKey)>`. */
export function alertmanagerDedupKey(trigger: string, groupKey: string): string {
  return `am:${trigger}:${createHash('sha256').update(groupKey).digest('hex').slice(0, 16)}`;
}

/**
 * One Alertmanager notification -> one event. Templates see the payload plus `labels`
 * (= commonLabels) and `annotations` (= commonAnnotations); match filters test commonLabels.
 * Throws TriggerInvalid for a payload of the wrong shape or a param that cannot be rendered.
 */
export function alertmanagerEvent(spec: TriggerSpec, payload: unknown): TriggerEvent {
  checkKind(spec, 'alertmanager');
  const p = parsePayload(alertmanagerSchema, payload, 'Alertmanager payload');
  const name = p.commonLabels.alertname ?? p.groupLabels.alertname ?? 'alert group';
  const about = p.commonAnnotations.summary ?? p.commonAnnotations.description ?? '';
  const count = p.alerts.length === 1 ? '1 alert' : `${p.alerts.length} alerts`;
  return buildEvent(spec, {
    status: p.status,
    dedupKey: alertmanagerDedupKey(spec.name, p.groupKey),
    summary: `Alertmanager ${p.status} ${name}${about ? `: ${about}` : ''} (${count})`,
    fields: { ...p, labels: p.commonLabels, annotations: p.commonAnnotations },
    matchPath: (key) => ['commonLabels', key],
  });
}
