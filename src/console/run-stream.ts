import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { API, api } from './api.js';
import type { ActionState, Plan, RunView } from './types.js';

/**
 * A run as it happens: the server's view, then every journal entry from the event stream
 * (EventSource resumes with Last-Event-ID by itself after a dropped connection). `restart()`
 * follows the run again after a rollback or an approval, from the last entry seen.
 */
export interface Row {
  state: ActionState;
  ms?: number;
  error?: string;
  rollback?: 'reverted' | 'released' | 'revert-failed';
  rollbackError?: string;
}

export interface Live {
  view?: RunView;
  plan?: Plan;
  triggerAt?: number;
  state?: string;
  /** From the run's contained entry, before the final view is fetched. */
  ttc?: number | null;
  rows: Record<string, Row>;
  lastSeq: number;
  streaming: boolean;
  error?: string;
}

/** Every entry type the server streams that the page reacts to (SSE events are named by type). */
const TYPES = [
  'run.created',
  'run.state',
  'stage.prepared',
  'stage.barrier',
  'stage.struck',
  'action.intent',
  'action.already',
  'action.applied',
  'action.verified',
  'action.failed',
  'action.reverted',
  'hold.released',
  'action.revert-failed',
  'rollback.started',
  'rollback.finished',
  'rollback.queued',
  'rollback.requested',
  'approval.decided',
];

interface Progress {
  type: 'run' | 'stage' | 'action';
  state?: string;
  actionId?: string;
  ms?: number;
  error?: string;
}

export function useRunStream(runId: string) {
  const [live, setLive] = useState<Live>({ rows: {}, lastSeq: 0, streaming: false });
  const source = useRef<EventSource | null>(null);
  const lastSeq = useRef(0);

  const refresh = useCallback(async () => {
    try {
      const view = await api<RunView>('GET', `/runs/${runId}`);
      setLive((l) => ({ ...l, view, state: view.state, rows: mergeView(l.rows, view) }));
    } catch (err) {
      setLive((l) => ({ ...l, error: (err as Error).message }));
    }
  }, [runId]);

  const open = useCallback(() => {
    source.current?.close();
    const q = lastSeq.current ? `?lastEventId=${lastSeq.current}` : '';
    const es = new EventSource(`${API}/runs/${runId}/events${q}`);
    source.current = es;
    setLive((l) => ({ ...l, streaming: true }));
    const onEntry = (ev: MessageEvent<string>) => {
      const e = JSON.parse(ev.data) as { seq: number; ts: string; type: string; data: Record<string, unknown>; progress: Progress | null };
      if (e.seq <= lastSeq.current) return;
      lastSeq.current = e.seq;
      if (e.type === 'run.state' && !performance.getEntriesByName('fb:first-run-state').length) performance.mark('fb:first-run-state');
      setLive((l) => apply(l, e));
    };
    for (const type of TYPES) es.addEventListener(type, onEntry as EventListener);
    es.addEventListener('end', () => {
      es.close();
      setLive((l) => ({ ...l, streaming: false }));
      void refresh();
    });
    es.onerror = () => {
      // CLOSED: the server refused the stream (signed out, no such run); CONNECTING: it retries by itself.
      if (es.readyState === EventSource.CLOSED) setLive((l) => ({ ...l, streaming: false }));
    };
  }, [runId, refresh]);

  useEffect(() => {
    lastSeq.current = 0;
    setLive({ rows: {}, lastSeq: 0, streaming: false });
    void refresh();
    open();
    return () => source.current?.close();
  }, [runId, open, refresh]);

  return { live, refresh, restart: open };
}

function apply(l: Live, e: { seq: number; ts: string; type: string; data: Record<string, unknown>; progress: Progress | null }): Live {
  const next: Live = { ...l, lastSeq: e.seq, rows: { ...l.rows } };
  if (e.type === 'run.created') {
    next.plan = e.data.plan as Plan;
    next.triggerAt = typeof e.data.triggerAt === 'number' ? e.data.triggerAt : Date.parse(e.ts);
    for (const a of next.plan?.actions ?? []) next.rows[a.id] ??= { state: 'pending' };
  }
  const actionId = (e.data.actionId as string | undefined) ?? e.progress?.actionId;
  if (e.type === 'action.intent' && actionId) next.rows[actionId] = { ...(next.rows[actionId] ?? {}), state: 'prepared' };
  if (e.type === 'run.state' && 'timeToContainMs' in e.data) next.ttc = e.data.timeToContainMs as number | null;
  const p = e.progress;
  if (p?.type === 'run' && p.state) next.state = p.state;
  if (p?.type === 'action' && p.actionId && p.state) {
    const old = next.rows[p.actionId] ?? { state: 'pending' as ActionState };
    if (p.state === 'reverted' || p.state === 'released' || p.state === 'revert-failed')
      next.rows[p.actionId] = { ...old, rollback: p.state, rollbackError: p.error };
    else next.rows[p.actionId] = { ...old, state: p.state as ActionState, ms: p.ms ?? old.ms, error: p.error };
  }
  return next;
}

/** The server's view fills in what the stream has not said (a page opened after the run ended). */
function mergeView(rows: Record<string, Row>, view: RunView): Record<string, Row> {
  const out = { ...rows };
  for (const a of view.actions) {
    const old = out[a.actionId];
    out[a.actionId] = {
      state: a.state,
      ms: a.ms ?? old?.ms,
      error: a.error,
      rollback: (a.rollback?.state as Row['rollback']) ?? old?.rollback,
      rollbackError: a.rollback?.error ?? old?.rollbackError,
    };
  }
  return out;
}
