import type { Request, Response } from 'express';
import { z } from 'zod';
import type { Actor } from '../../app/app.js';
import { pendingOf } from '../../app/approvals.js';
import type { Identity } from '../../identity/tokens.js';
import { hasScope } from '../../identity/scopes.js';
import type { Plan } from '../../plan/types.js';
import { RequestInvalid } from '../errors.js';
import { sendError } from '../respond.js';
import { route, type RouteSpec } from '../route.js';
import {
  decisionSchema,
  extendSchema,
  keepSchema,
  journalEntry,
  rollbackSchema,
  runAccepted,
  runCreateSchema,
  runIdParam,
  runListQuery,
  runSummary,
  runView,
} from '../schemas.js';
import { API_BASE, type ApiDeps } from '../server.js';

const IDEMPOTENCY_KEY = /^[A-Za-z0-9._:-]{1,128}$/;

export function identityOf(res: Response): Identity {
  return res.locals.identity as Identity;
}

/** The caller as approvals compare it: a token's id, never its (reusable) name; a console user's name (unique, never reused). */
export function actorOf(res: Response): Actor {
  const id = identityOf(res);
  return { by: id.name, identity: `${id.kind === 'user' ? 'user' : 'token'}:${id.id}` };
}

export function runIdOf(req: Request, res: Response): string {
  const parsed = runIdParam.safeParse(req.params.id);
  if (!parsed.success) throw new RequestInvalid(`id: ${parsed.error.issues[0]!.message}`, 'id');
  res.locals.runId = parsed.data;
  return parsed.data;
}

/** Idempotency-Key, namespaced by the caller so one client's keys never answer another's requests. */
export function idempotencyKeyOf(req: Request, res: Response): string | undefined {
  const key = req.get('idempotency-key');
  if (key === undefined) return undefined;
  if (!IDEMPOTENCY_KEY.test(key))
    throw new RequestInvalid('Idempotency-Key: 1-128 characters of A-Z a-z 0-9 . _ : -', 'header.Idempotency-Key');
  const id = identityOf(res);
  return `api:${id.kind}:${id.id}:${key}`;
}

export function runRoutes(deps: ApiDeps): RouteSpec[] {
  const { app } = deps;
  return [
    route({
      method: 'post',
      path: '/runs',
      tag: 'runs',
      summary: 'Start a run of a playbook (or give back the run an earlier request with the same Idempotency-Key made)',
      scope: (_req, body: z.output<typeof runCreateSchema>) => `run:${body.playbook}`,
      body: runCreateSchema,
      headers: { 'Idempotency-Key': 'a repeated request with the same key answers 200 with the first run, never a second run' },
      responses: {
        201: { description: 'run created and accepted (queued, running, or awaiting approval)', schema: runAccepted },
        200: { description: 'the run this Idempotency-Key made before', schema: runAccepted },
        422: { description: 'the plan has errors (lockout, unknown target)' },
        503: { description: 'the queue did not take the run within 2 s; nothing was changed' },
      },
      async handler({ req, res, body }) {
        if (body.allowLockout && !hasScope(identityOf(res).scopes, 'admin'))
          return sendError(res, 403, 'FORBIDDEN', 'allowLockout needs the admin scope', 'allowLockout');
        const idempotencyKey = idempotencyKeyOf(req, res);
        const plan = await app.preview({ playbook: body.playbook, params: body.params, allowLockout: body.allowLockout });
        const r = await app.request(plan, {
          trigger: { kind: 'api', ...actorOf(res), reason: body.reason },
          triggerAt: res.locals.receivedAt as number,
          idempotencyKey,
          approval: body.approval,
          ttlSeconds: body.ttlSeconds,
        });
        res.locals.runId = r.runId;
        res.status(r.created ? 201 : 200).json({ runId: r.runId, state: r.state, created: r.created, link: `${API_BASE}/runs/${r.runId}` });
      },
    }),
    route({
      method: 'get',
      path: '/runs',
      tag: 'runs',
      summary: 'Runs, newest first',
      scope: 'read',
      query: runListQuery,
      responses: { 200: { description: 'runs', schema: z.array(runSummary) } },
      async handler({ res, query }) {
        const runs = (await app.listRuns()).filter((r) => !query.state || r.state === query.state);
        res.json(runs.reverse().slice(0, query.limit));
      },
    }),
    route({
      method: 'get',
      path: '/runs/:id',
      tag: 'runs',
      summary: 'One run: state, actions and their states, time to contain, what waits for approval',
      scope: 'read',
      responses: { 200: { description: 'the run', schema: runView }, 404: { description: 'no such run' } },
      async handler({ req, res }) {
        const { view, entries } = await app.showRun(runIdOf(req, res));
        const plan = entries.find((e) => e.type === 'run.created')?.data.plan as Plan | undefined;
        const pending = pendingOf(entries);
        res.json({ ...view, params: plan?.params, ...(pending ? { pendingApproval: pending } : {}) });
      },
    }),
    route({
      method: 'post',
      path: '/runs/:id/approve',
      tag: 'approvals',
      summary: 'Approve what of the run waits (the run, or its rollback); never by the identity that asked',
      scope: 'approve',
      body: decisionSchema,
      responses: {
        200: { description: 'approved and handed to the executor', schema: z.object({ for: z.string(), state: z.string() }) },
        409: { description: 'nothing waits, or it expired' },
      },
      async handler({ req, res }) {
        res.json(await app.approve(runIdOf(req, res), actorOf(res)));
      },
    }),
    route({
      method: 'post',
      path: '/runs/:id/reject',
      tag: 'approvals',
      summary: 'Reject what of the run waits for approval',
      scope: 'approve',
      body: decisionSchema,
      responses: {
        200: { description: 'rejected', schema: z.object({ for: z.string(), state: z.string() }) },
        409: { description: 'nothing waits' },
      },
      async handler({ req, res, body }) {
        res.json(await app.reject(runIdOf(req, res), { ...actorOf(res), reason: body.reason }));
      },
    }),
    route({
      method: 'post',
      path: '/runs/:id/rollback',
      tag: 'runs',
      summary: "Undo the run: every change it made is reverted through holds (or waits for approval when the playbook's policy asks)",
      scope: 'rollback',
      body: rollbackSchema,
      responses: {
        202: {
          description: 'rollback accepted (rolling back), or waiting for approval (pending: true)',
          schema: z.object({ runId: z.string(), state: z.string(), pending: z.boolean() }),
        },
        409: { description: 'the run cannot be rolled back now' },
      },
      async handler({ req, res, body }) {
        const runId = runIdOf(req, res);
        const { entries } = await app.showRun(runId);
        const plan = entries.find((e) => e.type === 'run.created')?.data.plan as Plan | undefined;
        const r = await app.requestRollback(runId, {
          ...actorOf(res),
          reason: body.reason,
          approval: plan?.policy.rollbackApproval === 'required',
        });
        res.status(202).json({ runId, state: r.state, pending: r.pending });
      },
    }),
    route({
      method: 'post',
      path: '/runs/:id/expiry',
      tag: 'runs',
      summary: 'Set the time to live from now (extend or shorten the containment)',
      scope: 'rollback',
      body: extendSchema,
      responses: {
        200: { description: 'the new expiry', schema: z.object({ runId: z.string(), expiresAt: z.number() }) },
        409: { description: 'nothing to extend' },
      },
      async handler({ req, res, body }) {
        const runId = runIdOf(req, res);
        res.json({ runId, ...(await app.extend(runId, { ...actorOf(res), ttlSeconds: body.ttlSeconds })) });
      },
    }),
    route({
      method: 'post',
      path: '/runs/:id/keep',
      tag: 'runs',
      summary: 'Lift the time to live: the containment stays until someone rolls it back',
      scope: 'rollback',
      body: keepSchema,
      responses: { 204: { description: 'kept' } },
      async handler({ req, res, body }) {
        await app.keep(runIdOf(req, res), { ...actorOf(res), reason: body.reason });
        res.status(204).end();
      },
    }),
    route({
      method: 'get',
      path: '/runs/:id/journal',
      tag: 'journal',
      summary: "The run's journal entries (hash-chained; secrets redacted)",
      scope: 'read',
      responses: { 200: { description: 'entries in order', schema: z.array(journalEntry) } },
      async handler({ req, res }) {
        const { entries } = await app.showRun(runIdOf(req, res));
        res.json(entries);
      },
    }),
  ];
}
