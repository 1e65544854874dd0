import { z } from 'zod';
import { nextRuns } from '../../drills/config.js';
import { drillHistory } from '../../drills/run.js';
import { missed } from '../../drills/scheduler.js';
import type { DrillReport, DrillSpec } from '../../drills/types.js';
import { NotFound } from '../errors.js';
import { route, type RouteSpec } from '../route.js';
import type { ApiDeps } from '../server.js';

/** The report page runs its own inline script: an opaque origin (sandbox) that cannot reach cookies or the API. */
const REPORT_CSP = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:; sandbox allow-scripts";

/** Drills: what is declared, when it runs next, how it went (JSON and the HTML report), and a run now. */
export function drillRoutes(deps: ApiDeps): RouteSpec[] {
  const drills = deps.drills ?? [];
  const specOf = (id: unknown): DrillSpec => {
    const d = drills.find((x) => x.id === id);
    if (!d) throw new NotFound(`no drill ${JSON.stringify(String(id).slice(0, 40))} in drills.yaml`);
    return d;
  };
  const latest = async (d: DrillSpec): Promise<DrillReport> => {
    const entries = (await deps.app.journal.find({ types: ['drill.report'] })).filter((e) => e.data.drillId === d.id);
    const last = entries.at(-1);
    if (!last) throw new NotFound(`drill ${d.id} has not run yet`);
    const history = await drillHistory(deps.app.journal, d.id);
    return {
      drill: d,
      run: last.data.summary as unknown as DrillReport['run'],
      history: history.slice(0, -1),
      trend: last.data.trend as unknown as DrillReport['trend'],
      generatedAt: new Date().toISOString(),
    };
  };
  return [
    route({
      method: 'get',
      path: '/drills',
      tag: 'drills',
      summary: 'Drills of drills.yaml: schedule, next times, last run, a missed time',
      scope: 'read',
      responses: { 200: { description: 'drills', schema: z.array(z.looseObject({ id: z.string(), next: z.array(z.string()) })) } },
      async handler({ res }) {
        const history = await drillHistory(deps.app.journal);
        const late = await missed(deps.app.journal, drills, new Date());
        res.json(
          drills.map((d) => ({
            ...d,
            next: nextRuns(d, new Date(), 3).map((t) => t.toISOString()),
            last: history.filter((h) => h.drillId === d.id).at(-1) ?? null,
            missed: late.find((m) => m.drillId === d.id)?.dueAt ?? null,
          })),
        );
      },
    }),
    route({
      method: 'get',
      path: '/drills/:id/reports',
      tag: 'drills',
      summary: "A drill's reports, oldest first (times to contain and restore, per device, failures)",
      scope: 'read',
      responses: { 200: { description: 'reports', schema: z.array(z.looseObject({ runId: z.string(), ok: z.boolean() })) } },
      async handler({ req, res }) {
        res.json(await drillHistory(deps.app.journal, specOf(req.params.id).id));
      },
    }),
    route({
      method: 'get',
      path: '/drills/:id/report.html',
      tag: 'drills',
      summary: 'The latest report as a self-contained HTML page with the trend chart (no network needed to open it)',
      scope: 'read',
      responses: { 200: { description: 'HTML', contentType: 'text/html' }, 404: { description: 'never run' } },
      async handler({ req, res }) {
        const { renderReportHtml } = await import('../../drills/report-html.js');
        const html = await renderReportHtml(await latest(specOf(req.params.id)));
        res.setHeader('Content-Security-Policy', REPORT_CSP);
        res.type('html').send(html);
      },
    }),
    route({
      method: 'post',
      path: '/drills/:id/run',
      tag: 'drills',
      summary: 'Run a drill now (live: contains, holds, restores by itself); answers at once',
      scope: (req) => `run:${specOf(req.params.id).playbook}`,
      body: z.strictObject({}),
      responses: { 202: { description: 'started', schema: z.object({ drillId: z.string(), started: z.boolean() }) } },
      async handler({ req, res }) {
        const d = specOf(req.params.id);
        if (!deps.runDrill) throw new NotFound('drills are not enabled on this server');
        void deps.runDrill(d, undefined).catch((err) => deps.log.warn({ drill: d.id, err: String(err) }, 'drill failed'));
        res.status(202).json({ drillId: d.id, started: true });
      },
    }),
  ];
}
