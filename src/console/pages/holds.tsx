import { formatTime, t } from '../i18n.js';
import { href } from '../router.js';
import type { Hold } from '../types.js';
import { ErrorBox, Loading, PageTitle } from '../ui.js';
import { useApi } from '../use-api.js';

/** What is in force: every changed target and the runs holding it (reverted only when the last lets go). */
export function Holds() {
  const holds = useApi<Hold[]>('/holds', 5000);
  return (
    <section>
      <PageTitle>{t('holds.title')}</PageTitle>
      <p class="muted">{t('holds.lead')}</p>
      <Loading when={holds.loading && !holds.data} />
      <ErrorBox error={holds.error} />
      {holds.data && !holds.data.length ? <p data-testid="holds-empty">{t('holds.empty')}</p> : null}
      <ul class="cards" data-testid="holds">
        {(holds.data ?? []).map((h) => (
          <li key={h.target} class="card">
            <h2 class="target">{h.target}</h2>
            <p>{h.changedByUs ? t('holds.changedByUs') : t('holds.wasSo')}</p>
            <ul>
              {h.holders.map((x) => (
                <li key={`${x.runId}-${x.actionId}`}>
                  <a href={href('run', x.runId)}>{x.runId}</a> ({x.how === 'changed' ? t('holds.changed') : t('holds.found')},{' '}
                  {formatTime(x.since)})
                </li>
              ))}
            </ul>
          </li>
        ))}
      </ul>
    </section>
  );
}
