import type { Response } from 'express';
import { pendingOf } from '../../app/approvals.js';
import { entryEvent } from '../../engine/entry-events.js';
import type { JournalEntry } from '../../journal/types.js';
import type { Plan } from '../../plan/types.js';
import { route, type RouteSpec } from '../route.js';
import type { ApiDeps } from '../server.js';
import { runIdOf } from './runs.js';

/** How often a stream polls the journal: the console shows a verified action within 200 ms of its entry. */
const POLL_MS = 25;
const KEEPALIVE_MS = 15_000;
/** A queued rollback no worker took in this time was withdrawn (queue/client.ts): stop waiting for it. */
const ROLLBACK_PICKUP_MS = 20_000;

/** Queue mode: a rollback handed to the workers that none has started yet. */
function rollbackOnItsWay(entries: readonly JournalEntry[]): boolean {
  const queued = [...entries].reverse().find((e) => e.type === 'rollback.queued');
  if (!queued || Date.now() - Date.parse(queued.ts) > ROLLBACK_PICKUP_MS) return false;
  return !entries.some((e) => e.seq > queued.seq && (e.type === 'rollback.started' || e.type === 'run.state'));
}

/**
 * Server-Sent Events: a run's journal as it is written. Each event's id is the entry's journal
 * seq, so a client that reconnects with `Last-Event-ID` gets every later entry exactly once.
 * The stream ends (`event: end`) when the run comes to rest; a run waiting for approval is at
 * rest for nobody watching it, so its stream stays open.
 */
export function eventRoutes(deps: ApiDeps, streams: Set<Response>): RouteSpec[] {
  const { app } = deps;
  return [
    route({
      method: 'get',
      path: '/runs/:id/events',
      tag: 'runs',
      summary: "The run's progress as Server-Sent Events (id = journal seq; reconnect with Last-Event-ID to resume)",
      scope: 'read',
      headers: { 'Last-Event-ID': 'the last event id received: the stream resumes after it' },
      responses: { 200: { description: 'an event stream: one event per journal entry, then `end`', contentType: 'text/event-stream' } },
      async handler({ req, res }) {
        const runId = runIdOf(req, res);
        const { entries } = await app.showRun(runId);
        const plan = entries.find((e) => e.type === 'run.created')?.data.plan as Plan | undefined;
        const last = req.get('last-event-id') ?? (typeof req.query.lastEventId === 'string' ? req.query.lastEventId : undefined);
        let after = last && /^\d{1,15}$/.test(last) ? Number(last) : 0;
        res.writeHead(200, {
          'content-type': 'text/event-stream; charset=utf-8',
          'cache-control': 'no-store',
          connection: 'keep-alive',
          'x-accel-buffering': 'no',
        });
        res.write('retry: 1000\n\n');
        const ctl = new AbortController();
        streams.add(res);
        const keepalive = setInterval(() => res.write(': keepalive\n\n'), KEEPALIVE_MS);
        res.on('close', () => ctl.abort());
        try {
          for (;;) {
            for await (const e of app.follow(runId, { afterSeq: after, signal: ctl.signal, pollMs: POLL_MS })) {
              if (ctl.signal.aborted) break;
              after = e.seq;
              const progress = entryEvent(e, plan);
              res.write(
                `id: ${e.seq}\nevent: ${e.type}\ndata: ${JSON.stringify({ seq: e.seq, ts: e.ts, type: e.type, data: e.data, progress })}\n\n`,
              );
            }
            if (ctl.signal.aborted) break;
            const all = await deps.app.journal.entries(runId);
            if (!pendingOf(all) && !rollbackOnItsWay(all) && all.at(-1)!.seq <= after) {
              res.write(`event: end\ndata: ${JSON.stringify({ state: await app.state(runId) })}\n\n`);
              break;
            }
            await new Promise((r) => setTimeout(r, 200));
          }
        } finally {
          clearInterval(keepalive);
          streams.delete(res);
          res.end();
        }
      },
    }),
  ];
}
