import { createHash } from 'node:crypto';
import * as z from 'zod';
import { buildEvent, checkKind, parsePayload } from './template.js';
import { type TriggerEvent, TriggerInvalid, type TriggerSpec } from './types.js';

/**
 * A generic JSON webhook (an EDR, a SIEM rule, a script), HMAC-signed (hmac.ts). The body is any
 * JSON object; `status` (firing | resolved, default firing) and `id` (for de-duplication) are
 * the only fields with a meaning of their own.
 */

export const webhookBodySchema = z.looseObject({
  status: z.enum(['firing', 'resolved']).optional(),
  id: z
    .string()
    .regex(/^[\x21-\x7e]{1,128}$/, 'must be 1-128 printable ASCII characters without spaces')
    .optional(),
});

export type WebhookBody = z.output<typeof webhookBodySchema>;

/** JSON with object keys sorted at every level: the same body always hashes the same. */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    const keys = Object.keys(o)
      .filter((k) => o[k] !== undefined)
      .sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`).join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

/**
 * `wh:<trigger>:<id>`, or without an id the first 16 hex of sha256 of the canonical body less its
 * `status`, so that "resolved" for a body lands on the same key as its "firing".
 */
export function webhookDedupKey(trigger: string, body: WebhookBody): string {
  if (body.id !== undefined) return `wh:${trigger}:${body.id}`;
  const { status: _status, ...rest } = body;
  return `wh:${trigger}:${createHash('sha256').update(canonicalJson(rest)).digest('hex').slice(0, 16)}`;
}

/** One webhook body -> one event; templates and match keys are dotted paths into the body. */
export function webhookEvent(spec: TriggerSpec, body: unknown): TriggerEvent {
  checkKind(spec, 'webhook');
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new TriggerInvalid('body', 'a webhook body must be a JSON object');
  }
  const b = parsePayload(webhookBodySchema, body, 'webhook body');
  const status = b.status ?? 'firing';
  const about = typeof b.summary === 'string' ? b.summary : typeof b.title === 'string' ? b.title : (b.id ?? 'event');
  return buildEvent(spec, {
    status,
    dedupKey: webhookDedupKey(spec.name, b),
    summary: `webhook ${status}: ${about}`,
    fields: b,
    matchPath: (key) => key.split('.'),
  });
}
