import * as z from 'zod';
import { buildEvent, checkKind, parsePayload } from './template.js';
import type { TriggerEvent, TriggerSpec } from './types.js';

/**
 * Wazuh's custom integration: the manager hands the integration script the alert JSON, which it
 * posts here as it is. An alert never resolves, so every event is `firing`; each alert has its
 * own id, so a re-sent alert is de-duplicated and a new one is not.
 */

const idText = z.union([z.string().min(1).max(64), z.number().int().min(0)]);

export const wazuhAlertSchema = z.looseObject({
  id: z.string().regex(/^[A-Za-z0-9._:-]{1,64}$/, 'must be a Wazuh alert id (e.g. "1733000000.12345")'),
  timestamp: z.string(),
  rule: z.looseObject({
    id: idText,
    level: z.number().int().min(0).max(16),
    description: z.string(),
    groups: z.array(z.string()).optional(),
  }),
  agent: z.looseObject({ id: idText, name: z.string(), ip: z.string().optional() }),
  data: z.looseObject({ srcip: z.string().optional() }).optional(),
  location: z.string().optional(),
  full_log: z.string().optional(),
});

export type WazuhAlert = z.output<typeof wazuhAlertSchema>;

/**
 * One Wazuh alert -> one event. Templates see the alert as it came (`{{ data.srcip }}`,
 * `{{ agent.ip }}`); match keys are dotted paths into it. Below the trigger's minLevel the
 * event is not matched. Throws TriggerInvalid for a malformed alert or an unrenderable param.
 */
export function wazuhEvent(spec: TriggerSpec, alert: unknown): TriggerEvent {
  checkKind(spec, 'wazuh');
  const a = parsePayload(wazuhAlertSchema, alert, 'Wazuh alert');
  const low = spec.minLevel !== undefined && a.rule.level < spec.minLevel;
  return buildEvent(spec, {
    status: 'firing',
    dedupKey: `wazuh:${spec.name}:${a.id}`,
    summary: `Wazuh rule ${a.rule.id} (level ${a.rule.level}) on agent ${a.agent.id} ${a.agent.name}: ${a.rule.description}`,
    fields: a,
    notMatched: low ? `rule level ${a.rule.level} is below the trigger's minLevel ${spec.minLevel}` : undefined,
    matchPath: (key) => key.split('.'),
  });
}
