import { z } from 'zod';

/**
 * Request and response schemas of the API. Requests are strict (an unknown field is an error
 * naming it); responses are documented loosely where they carry the engine's own shapes.
 */

const PLAYBOOK_ID = /^[a-z][a-z0-9-]{0,63}$/;
const PARAM_NAME = /^[A-Za-z][A-Za-z0-9_]{0,63}$/;
const RUN_ID = /^r-[0-9]{8}-[0-9]{6}-[0-9a-f]{4,8}$/;

/** Free text a person writes (a reason): kept in the journal, never sent to a device; no control characters. */
const note = z
  .string()
  .max(500)
  .refine((s) => !/[\u0000-\u001f\u007f]/.test(s), 'must not contain control characters (newline, tab, ...)');

/** A time to live, in seconds: up to 30 days. */
const ttl = z
  .number()
  .int()
  .min(1)
  .max(30 * 86_400);

/** Parameter values are checked by the playbook's own types afterwards; this bounds them first. */
export const paramsSchema = z
  .record(z.string().regex(PARAM_NAME, 'parameter names are letters, digits and _'), z.string().max(2048))
  .default({});

export const runCreateSchema = z.strictObject({
  playbook: z.string().regex(PLAYBOOK_ID, 'a playbook id: lowercase letters, digits and -').describe('playbook id'),
  params: paramsSchema,
  reason: note.optional().describe('why: kept in the journal'),
  allowLockout: z.boolean().optional().describe('let through actions that cut a management path (needs admin)'),
  approval: z.boolean().optional().describe('wait for a second person even if the playbook does not ask'),
  ttlSeconds: ttl.optional().describe('time to live: rolled back (through holds) this long after, unless kept or extended'),
});

export const extendSchema = z.strictObject({ ttlSeconds: ttl });
export const keepSchema = z.strictObject({ reason: note.optional() });

export const planSchema = z.strictObject({ playbook: runCreateSchema.shape.playbook, params: paramsSchema });

export const decisionSchema = z.strictObject({ reason: note.optional() });

export const rollbackSchema = z.strictObject({ reason: note.optional() });

export const runListQuery = z.strictObject({
  state: z
    .string()
    .regex(/^[a-z-]{1,32}$/)
    .optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
});

export const runIdParam = z.string().regex(RUN_ID, 'a run id (r-YYYYMMDD-HHMMSS-xxxx)');

export const runSummary = z.object({
  runId: z.string(),
  playbook: z.string(),
  createdAt: z.string(),
  state: z.string(),
  trigger: z.string(),
  executor: z.string(),
  timeToContainMs: z.number().nullable(),
});

export const runAccepted = z.object({
  runId: z.string(),
  state: z.string(),
  created: z.boolean().describe('false: an existing run was given back (same Idempotency-Key, duplicate event, cooldown)'),
  decision: z.string().optional(),
  link: z.string(),
});

export const runView = z.looseObject({
  runId: z.string(),
  state: z.string(),
  playbook: z.string(),
  actions: z.array(z.looseObject({ actionId: z.string(), device: z.string(), state: z.string() })),
  timeToContainMs: z.number().nullable(),
  pendingApproval: z.looseObject({ for: z.string(), expiresAt: z.number() }).optional(),
});

export const journalEntry = z.object({
  seq: z.number(),
  runId: z.string(),
  ts: z.string(),
  type: z.string(),
  data: z.record(z.string(), z.unknown()),
  prevHash: z.string(),
  hash: z.string(),
});

export const triggerAccepted = z.object({
  decision: z.string().describe('created | duplicate | cooldown | already-contained | ignored | resolved-recorded | rollback-requested'),
  runId: z.string().optional(),
  state: z.string().optional(),
  why: z.string().optional(),
});

/** A detector body: any JSON object (its fields feed the trigger's templates). */
export const detectorBody = z.record(z.string(), z.unknown());
