import { z } from 'zod';
import { route, type RouteSpec } from '../route.js';
import type { ApiDeps } from '../server.js';

export interface ReadyReport {
  ok: boolean;
  checks: Record<string, { ok: boolean; detail?: string }>;
}

/** Liveness (public), readiness (public: Redis, journal, workers) and Prometheus metrics (token with `read`). */
export function healthRoutes(deps: ApiDeps): RouteSpec[] {
  return [
    route({
      method: 'get',
      path: '/healthz',
      tag: 'health',
      summary: 'The process answers',
      scope: null,
      responses: { 200: { description: 'alive', schema: z.object({ status: z.literal('ok') }) } },
      handler({ res }) {
        res.json({ status: 'ok' });
      },
    }),
    route({
      method: 'get',
      path: '/readyz',
      tag: 'health',
      summary: 'Ready to contain: journal writable, Redis answering and workers listening (queue mode)',
      scope: null,
      responses: {
        200: {
          description: 'ready',
          schema: z.object({ ok: z.boolean(), checks: z.record(z.string(), z.object({ ok: z.boolean(), detail: z.string().optional() })) }),
        },
        503: { description: 'not ready: the checks say what is missing' },
      },
      async handler({ res }) {
        const report = await deps.ready();
        res.status(report.ok ? 200 : 503).json(report);
      },
    }),
    route({
      method: 'get',
      path: '/metrics',
      tag: 'health',
      summary: 'Prometheus metrics: runs by state, time to contain, cut skew, action failures, queue depth, webhook decisions',
      scope: 'read',
      responses: { 200: { description: 'Prometheus text format', contentType: 'text/plain' } },
      async handler({ res }) {
        res.type(deps.metrics.contentType).send(await deps.metrics.render());
      },
    }),
  ];
}
