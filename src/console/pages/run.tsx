import { useEffect, useMemo, useState } from 'preact/hooks';
import { type ApiError, api } from '../api.js';
import { blastRadius } from '../blast.js';
import { formatMs, stateWords, t } from '../i18n.js';
import { href } from '../router.js';
import { useRunStream } from '../run-stream.js';
import { AT_REST, ROLLBACK_FROM, type User } from '../types.js';
import { ErrorBox, PageTitle, StateBadge, stateClass } from '../ui.js';
import { allows } from '../use-api.js';
import { Outcome } from './run-outcome.js';

/**
 * A run live: one row per action turning verified as the devices confirm it, the time-to-contain
 * clock running from the trigger, the final state in words, and what can be done next (approve,
 * reject, roll back).
 */
export function Run({ id, user }: { id: string; user: User }) {
  const { live, refresh, restart } = useRunStream(id);
  const [error, setError] = useState<ApiError>();
  const [busy, setBusy] = useState(false);
  const [askUndo, setAskUndo] = useState(false);
  const state = live.state ?? live.view?.state ?? '';
  const lines = useMemo(() => (live.plan ? blastRadius(live.plan, []).lines : []), [live.plan]);
  const actionIds = live.plan ? live.plan.actions.map((a) => a.id) : (live.view?.actions ?? []).map((a) => a.actionId);
  const pending = live.view?.pendingApproval;

  async function act(what: 'approve' | 'reject' | 'rollback') {
    setBusy(true);
    setError(undefined);
    try {
      await api('POST', `/runs/${id}/${what}`, {});
      setAskUndo(false);
      restart();
      await refresh();
    } catch (err) {
      setError(err as ApiError);
    } finally {
      setBusy(false);
    }
  }

  return (
    <section>
      <PageTitle>{t('run.title', { playbook: live.plan?.playbook.title ?? live.view?.playbook ?? '' })}</PageTitle>
      <p class="muted">
        {id} · <a href={href('journal', id)}>{t('run.journal')}</a>
      </p>
      <div class="run-head">
        <p class="run-state">
          {t('run.state')} <StateBadge state={state || 'planned'} />
        </p>
        <Clock state={state} triggerAt={live.triggerAt} ttc={live.view?.timeToContainMs ?? live.ttc ?? null} />
      </div>
      <p class="sr-only" aria-live="polite" data-testid="run-announce">
        {state ? `${t('run.state')} ${stateWords(state)}` : ''}
      </p>
      <Outcome state={state} view={live.view} />
      {pending ? (
        <div class="notice">
          <p>
            {t(pending.for === 'rollback' ? 'run.awaitRollback' : 'run.awaitRun', {
              until: new Date(pending.expiresAt).toLocaleTimeString(),
            })}
          </p>
          {allows(user.scopes, 'approve') ? (
            <div class="buttons">
              <button type="button" class="primary big" disabled={busy} onClick={() => act('approve')} data-testid="approve">
                {t('approvals.approve')}
              </button>
              <button type="button" class="big" disabled={busy} onClick={() => act('reject')}>
                {t('approvals.reject')}
              </button>
            </div>
          ) : null}
        </div>
      ) : null}
      <h2>{t('run.actions')}</h2>
      <ol class="actions" data-testid="action-rows">
        {actionIds.map((aid, i) => {
          const row = live.rows[aid] ?? { state: 'pending' };
          const pa = live.plan?.actions.find((a) => a.id === aid);
          return (
            <li key={aid} class={`action ${stateClass(row.state)}`} data-action={aid} data-state={row.state}>
              <span class="what">
                {lines[i]?.text ?? `${pa?.device ?? live.view?.actions[i]?.device}: ${live.view?.actions[i]?.what ?? aid}`}
              </span>
              <span class="row-state">
                <StateBadge state={row.state} />
                {row.ms !== undefined ? <span class="muted"> {formatMs(row.ms)}</span> : null}
                {row.rollback ? (
                  <>
                    {' → '}
                    <StateBadge state={row.rollback} />
                  </>
                ) : null}
              </span>
              {row.error || row.rollbackError ? <span class="error">{row.error ?? row.rollbackError}</span> : null}
            </li>
          );
        })}
      </ol>
      <ErrorBox error={error} />
      {ROLLBACK_FROM.includes(state) && allows(user.scopes, 'rollback') ? (
        <div class="undo">
          {askUndo ? (
            <>
              <p>{live.plan?.policy.rollbackApproval === 'required' ? t('run.undoNeedsApproval') : t('run.undoSure')}</p>
              <div class="buttons">
                <button type="button" class="danger big" disabled={busy} onClick={() => act('rollback')} data-testid="rollback-yes">
                  {t('run.undoYes')}
                </button>
                <button type="button" class="big" onClick={() => setAskUndo(false)}>
                  {t('common.cancel')}
                </button>
              </div>
            </>
          ) : (
            <button type="button" class="big" onClick={() => setAskUndo(true)} data-testid="rollback">
              {t('run.undo')}
            </button>
          )}
        </div>
      ) : null}
      {!AT_REST.includes(state) && !live.streaming && state ? (
        <button type="button" class="small" onClick={restart}>
          {t('run.reconnect')}
        </button>
      ) : null}
    </section>
  );
}

/** Time to contain: counts up from the trigger while the run works, then the server's figure. */
function Clock({ state, triggerAt, ttc }: { state: string; triggerAt?: number; ttc: number | null }) {
  const working = ['planned', 'queued', 'running'].includes(state);
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    if (!working) return;
    const id = setInterval(() => setNow(Date.now()), 100);
    return () => clearInterval(id);
  }, [working]);
  let shown = '-';
  if (ttc !== null) shown = formatMs(ttc);
  else if (working && triggerAt) shown = formatMs(Math.max(0, now - triggerAt));
  return (
    <p class={`clock ${working ? 'running' : ''}`} data-testid="ttc">
      <span class="muted">{t('run.ttc')}</span> <span class="clock-value">{shown}</span>
    </p>
  );
}
