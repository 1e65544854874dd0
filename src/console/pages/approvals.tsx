import { useState } from 'preact/hooks';
import { type ApiError, api } from '../api.js';
import { formatTime, t } from '../i18n.js';
import { href } from '../router.js';
import type { Approval, User } from '../types.js';
import { ErrorBox, Loading, PageTitle } from '../ui.js';
import { allows, useApi } from '../use-api.js';

/** The approvals inbox: runs and rollbacks waiting for a second person, newest request first. */
export function Approvals({ user }: { user: User }) {
  const inbox = useApi<Approval[]>('/approvals', 3000);
  const [error, setError] = useState<ApiError>();
  const [busy, setBusy] = useState<string>();
  const canDecide = allows(user.scopes, 'approve');

  async function decide(runId: string, what: 'approve' | 'reject') {
    setBusy(runId);
    setError(undefined);
    try {
      await api('POST', `/runs/${runId}/${what}`, {});
      inbox.reload();
    } catch (err) {
      setError(err as ApiError);
    } finally {
      setBusy(undefined);
    }
  }

  const list = inbox.data ?? [];
  return (
    <section>
      <PageTitle>{t('approvals.title')}</PageTitle>
      {!canDecide ? <p class="notice">{t('approvals.cannotDecide')}</p> : null}
      <Loading when={inbox.loading && !inbox.data} />
      <ErrorBox error={inbox.error ?? error} />
      {inbox.data && !list.length ? <p>{t('approvals.empty')}</p> : null}
      <ul class="cards" data-testid="approvals">
        {list.map((a) => (
          <li key={`${a.runId}-${a.for}`} class="card" data-run={a.runId}>
            <h2>
              <a href={href('run', a.runId)}>{a.runId}</a>
            </h2>
            <dl>
              <dt>{t('approvals.for')}</dt>
              <dd>{a.for === 'run' ? t('approvals.forRun') : t('approvals.forRollback')}</dd>
              <dt>{t('approvals.by')}</dt>
              <dd>{a.requestedBy}</dd>
              <dt>{t('approvals.expires')}</dt>
              <dd>{formatTime(a.expiresAt)}</dd>
              {a.reason ? (
                <>
                  <dt>{t('approvals.reason')}</dt>
                  <dd>{a.reason}</dd>
                </>
              ) : null}
            </dl>
            {canDecide ? (
              <div class="buttons">
                <button type="button" class="primary big" disabled={busy === a.runId} onClick={() => decide(a.runId, 'approve')}>
                  {t('approvals.approve')}
                </button>
                <button type="button" class="big" disabled={busy === a.runId} onClick={() => decide(a.runId, 'reject')}>
                  {t('approvals.reject')}
                </button>
              </div>
            ) : null}
          </li>
        ))}
      </ul>
    </section>
  );
}
