import { z } from 'zod';
import { route, type RouteSpec } from '../route.js';
import type { ApiDeps } from '../server.js';

/** What is in force and what is pending: holds, the approvals inbox, the journal's integrity. */
export function recordRoutes(deps: ApiDeps): RouteSpec[] {
  const { app } = deps;
  return [
    route({
      method: 'get',
      path: '/holds',
      tag: 'records',
      summary: 'Targets held by runs of ours (a target is reverted only when its last holder lets go)',
      scope: 'read',
      responses: { 200: { description: 'holds', schema: z.array(z.looseObject({ target: z.string(), device: z.string() })) } },
      async handler({ res }) {
        res.json(await app.holds());
      },
    }),
    route({
      method: 'get',
      path: '/approvals',
      tag: 'approvals',
      summary: 'Runs and rollbacks waiting for approval, with who asked and when the request expires',
      scope: 'read',
      responses: {
        200: {
          description: 'pending approvals',
          schema: z.array(
            z.object({ runId: z.string(), for: z.string(), requestedBy: z.string(), expiresAt: z.number(), reason: z.string().optional() }),
          ),
        },
      },
      async handler({ res }) {
        await app.expireApprovals();
        res.json(await app.pendingApprovals());
      },
    }),
    route({
      method: 'get',
      path: '/journal/verify',
      tag: 'journal',
      summary: "Checks the journal's hash chain end to end",
      scope: 'read',
      responses: {
        200: {
          description: 'the chain is intact',
          schema: z.object({ ok: z.boolean(), entries: z.number(), problems: z.array(z.string()) }),
        },
        409: { description: 'the chain is broken: problems say where' },
      },
      async handler({ res }) {
        const report = await app.journal.verify();
        res.status(report.ok ? 200 : 409).json(report);
      },
    }),
  ];
}
