import { useState } from 'preact/hooks';
import { api, type ApiError } from '../api.js';
import { formatMs, formatTime, t } from '../i18n.js';
import type { User } from '../types.js';
import { ErrorBox, Loading, PageTitle } from '../ui.js';
import { allows, useApi } from '../use-api.js';

interface DrillSummary {
  ok: boolean;
  state: string;
  startedAt: string;
  timeToContainMs: number | null;
  timeToRestoreMs: number | null;
}

interface DrillRow {
  id: string;
  title?: string;
  playbook: string;
  mode: 'verify' | 'live';
  holdSeconds: number;
  schedule?: { cron: string; tz: string };
  next: string[];
  last: DrillSummary | null;
  missed: string | null;
}

/**
 * Drills: what is rehearsed and when it runs next, how the last one went (the report opens as its
 * own self-contained page, with the trend chart), a missed time in red, and "run now".
 */
export function Drills({ user }: { user: User }) {
  const drills = useApi<DrillRow[]>('/drills', 5000);
  const [started, setStarted] = useState<string | undefined>();
  const [error, setError] = useState<ApiError | undefined>();
  const runNow = async (id: string) => {
    setError(undefined);
    try {
      await api('POST', `/drills/${encodeURIComponent(id)}/run`, {});
      setStarted(id);
    } catch (err) {
      setError(err as ApiError);
    }
  };
  return (
    <section>
      <PageTitle>{t('drills.title')}</PageTitle>
      <Loading when={drills.loading && !drills.data} />
      <ErrorBox error={drills.error ?? error} />
      {started ? <p role="status">{t('drills.started', { id: started })}</p> : null}
      {drills.data && !drills.data.length ? <p>{t('drills.empty')}</p> : null}
      <ul class="cards" data-testid="drills">
        {(drills.data ?? []).map((d) => (
          <li key={d.id} class="card" data-drill={d.id}>
            <h2>
              {d.title ?? d.id}{' '}
              <span class="muted">({d.mode === 'live' ? t('drills.live', { s: d.holdSeconds }) : t('drills.verify')})</span>
            </h2>
            <dl>
              <dt>{t('drills.playbook')}</dt>
              <dd>{d.playbook}</dd>
              <dt>{t('drills.schedule')}</dt>
              <dd>{d.schedule ? `${d.schedule.cron} (${d.schedule.tz})` : t('drills.notScheduled')}</dd>
              {d.next.length ? (
                <>
                  <dt>{t('drills.next')}</dt>
                  <dd>{d.next.map((n) => formatTime(n)).join(', ')}</dd>
                </>
              ) : null}
              <dt>{t('drills.last')}</dt>
              <dd>
                {d.last ? (
                  <>
                    <span class={`badge ${d.last.ok ? 'ok' : 'bad'}`}>{d.last.ok ? t('drills.ok') : t('drills.failed')}</span>{' '}
                    {formatTime(d.last.startedAt)} ·{' '}
                    {t('drills.times', { contain: formatMs(d.last.timeToContainMs), restore: formatMs(d.last.timeToRestoreMs) })} ·{' '}
                    <a href={`/api/v1/drills/${encodeURIComponent(d.id)}/report.html`} target="_blank" rel="noopener">
                      {t('drills.report')}
                    </a>
                  </>
                ) : (
                  t('drills.never')
                )}
              </dd>
              {d.missed ? (
                <>
                  <dt>{t('drills.missedAt')}</dt>
                  <dd class="bad-text">{formatTime(d.missed)}</dd>
                </>
              ) : null}
            </dl>
            {allows(user.scopes, `run:${d.playbook}`) ? (
              <button type="button" class="small" onClick={() => runNow(d.id)}>
                {t('drills.runNow')}
              </button>
            ) : null}
          </li>
        ))}
      </ul>
    </section>
  );
}
