import type { Request, Response } from 'express';
import type { Decision, Intake } from '../../app/intake.js';
import { resolveSecret } from '../../secrets.js';
import { alertmanagerEvent, alertmanagerSchema } from '../../triggers/alertmanager.js';
import { SIGNATURE_HEADER, TIMESTAMP_HEADER, verifyWebhook } from '../../triggers/hmac.js';
import type { TriggerEvent, TriggerKind, TriggerSpec } from '../../triggers/types.js';
import { wazuhAlertSchema, wazuhEvent } from '../../triggers/wazuh.js';
import { webhookBodySchema, webhookEvent } from '../../triggers/webhook.js';
import { API_STREAM } from '../../journal/types.js';
import { NotFound } from '../errors.js';
import { sendError } from '../respond.js';
import { route, type RouteSpec } from '../route.js';
import { triggerAccepted } from '../schemas.js';
import type { ApiDeps } from '../server.js';
import { actorOf } from './runs.js';

/**
 * Detector receivers: a generic signed JSON webhook, Alertmanager (webhook v4) and Wazuh (custom
 * integration). Each names a trigger of triggers.yaml; the token needs `run:<its playbook>`.
 */
const RECEIVERS: {
  kind: TriggerKind;
  path: string;
  summary: string;
  schema: import('zod').ZodType;
  event: (s: TriggerSpec, b: unknown) => TriggerEvent;
}[] = [
  {
    kind: 'webhook',
    path: '/triggers/:name',
    summary: `Generic detector webhook: JSON body signed with HMAC-SHA256 over "<timestamp>.<body>" (${SIGNATURE_HEADER}: sha256=<hex>, ${TIMESTAMP_HEADER}: unix seconds)`,
    schema: webhookBodySchema,
    event: webhookEvent,
  },
  {
    kind: 'alertmanager',
    path: '/alertmanager/:name',
    summary: 'Alertmanager webhook receiver (v4): one run per alert group',
    schema: alertmanagerSchema,
    event: alertmanagerEvent,
  },
  {
    kind: 'wazuh',
    path: '/wazuh/:name',
    summary: 'Wazuh custom-integration receiver: rule, level, agent, data.srcip',
    schema: wazuhAlertSchema,
    event: wazuhEvent,
  },
];

const STATUS_OF: Record<Decision, number> = {
  created: 201,
  duplicate: 200,
  cooldown: 200,
  'already-contained': 200,
  ignored: 200,
  refused: 400,
  'rate-limited': 429,
  'resolved-recorded': 200,
  'resolved-unknown': 200,
  'rollback-requested': 202,
};

export function triggerRoutes(deps: ApiDeps & { intake: Intake }): RouteSpec[] {
  const specOf = (req: Request, kind: TriggerKind): TriggerSpec => {
    const spec = deps.triggers.find((t) => t.name === req.params.name && t.kind === kind);
    if (!spec) throw new NotFound(`no ${kind} trigger named ${JSON.stringify(String(req.params.name).slice(0, 40))} in triggers.yaml`);
    return spec;
  };
  return RECEIVERS.map((r) =>
    route({
      method: 'post',
      path: r.path,
      tag: 'triggers',
      summary: r.summary,
      scope: (req) => `run:${specOf(req, r.kind).playbook}`,
      body: r.schema,
      ...(r.kind === 'webhook'
        ? {
            headers: {
              [TIMESTAMP_HEADER]: 'unix seconds, within 300 s of the server clock',
              [SIGNATURE_HEADER]: 'sha256=<hex HMAC-SHA256 of "<timestamp>.<raw body>">',
            },
          }
        : {}),
      responses: {
        201: { description: 'a run was created', schema: triggerAccepted },
        200: { description: 'no new run: duplicate, cooldown, already contained, ignored, resolved', schema: triggerAccepted },
        202: { description: 'resolved: a rollback request waits for approval', schema: triggerAccepted },
        429: { description: "over the playbook's rate limit", schema: triggerAccepted },
        503: { description: 'the queue did not take the run within 2 s; nothing was changed' },
      },
      async handler({ req, res }) {
        const spec = specOf(req, r.kind);
        if (spec.kind === 'webhook' && !(await signatureOk(deps, spec, req, res))) return;
        let event: TriggerEvent;
        try {
          event = r.event(spec, req.body);
        } catch (err) {
          await deps.intake.refused(spec, err);
          throw err;
        }
        const result = await deps.intake.handle(spec, event, actorOf(res), res.locals.receivedAt as number);
        res.locals.decision = result.decision;
        if (result.runId) res.locals.runId = result.runId;
        res
          .status(STATUS_OF[result.decision] ?? result.status)
          .json(
            result.status === 429
              ? { ...result }
              : { decision: result.decision, runId: result.runId, state: result.state, why: result.why },
          );
      },
    }),
  );
}

async function signatureOk(deps: ApiDeps, spec: TriggerSpec, req: Request, res: Response): Promise<boolean> {
  const rawBody = (req as Request & { rawBody?: Buffer }).rawBody ?? Buffer.alloc(0);
  const v = await verifyWebhook({
    secret: await resolveSecret(spec.secret!),
    timestamp: req.get(TIMESTAMP_HEADER),
    signature: req.get(SIGNATURE_HEADER),
    rawBody,
    nowMs: Date.now(),
    replays: deps.replays,
  });
  if (v.ok) return true;
  await deps.app.journal
    .append(API_STREAM, 'auth.failed', { ip: req.ip ?? '?', reason: `${v.code}: ${v.message}`, route: req.path })
    .catch(() => undefined);
  deps.metrics.webhookDecision(spec.name, v.code.toLowerCase());
  const missing = v.code === 'SIGNATURE_MISSING' ? (req.get(TIMESTAMP_HEADER) ? SIGNATURE_HEADER : TIMESTAMP_HEADER) : undefined;
  sendError(res, 401, v.code, v.message, missing ? `header.${missing}` : undefined);
  return false;
}
