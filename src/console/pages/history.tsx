import { formatMs, formatTime, t } from '../i18n.js';
import { href } from '../router.js';
import type { RunSummary } from '../types.js';
import { ErrorBox, Loading, PageTitle, StateBadge } from '../ui.js';
import { useApi } from '../use-api.js';

/** Every run, newest first, with its state and time to contain. */
export function History() {
  const runs = useApi<RunSummary[]>('/runs?limit=200', 5000);
  return (
    <section>
      <PageTitle>{t('history.title')}</PageTitle>
      <Loading when={runs.loading && !runs.data} />
      <ErrorBox error={runs.error} />
      {runs.data && !runs.data.length ? <p>{t('history.empty')}</p> : null}
      {runs.data?.length ? (
        <table class="stack" data-testid="history">
          <caption class="sr-only">{t('history.title')}</caption>
          <thead>
            <tr>
              <th scope="col">{t('history.run')}</th>
              <th scope="col">{t('history.playbook')}</th>
              <th scope="col">{t('history.started')}</th>
              <th scope="col">{t('history.state')}</th>
              <th scope="col">{t('history.ttc')}</th>
              <th scope="col">{t('history.trigger')}</th>
            </tr>
          </thead>
          <tbody>
            {runs.data.map((r) => (
              <tr key={r.runId} data-run={r.runId}>
                <td data-label={t('history.run')}>
                  <a href={href('run', r.runId)}>{r.runId}</a>
                </td>
                <td data-label={t('history.playbook')}>{r.playbook}</td>
                <td data-label={t('history.started')}>{formatTime(r.createdAt)}</td>
                <td data-label={t('history.state')}>
                  <StateBadge state={r.state} />
                </td>
                <td data-label={t('history.ttc')}>{formatMs(r.timeToContainMs)}</td>
                <td data-label={t('history.trigger')}>{r.trigger}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
    </section>
  );
}
