import { formatMs, type Key, stateWords, t } from '../i18n.js';
import type { RunView } from '../types.js';

/**
 * The final state in words: `contained`, or `partial` with what did not happen, in red; the
 * same for a rollback that could not undo everything.
 */
export function Outcome({ state, view }: { state: string; view?: RunView }) {
  if (!state) return null;
  const words: Partial<Record<string, Key>> = {
    contained: 'outcome.contained',
    partial: 'outcome.partial',
    failed: 'outcome.failed',
    'rolled-back': 'outcome.rolledBack',
    'rollback-failed': 'outcome.rollbackFailed',
    interrupted: 'outcome.interrupted',
    rejected: 'outcome.rejected',
    expired: 'outcome.expired',
    'awaiting-approval': 'outcome.awaiting',
    'rolling-back': 'outcome.rollingBack',
    running: 'outcome.running',
    queued: 'outcome.running',
  };
  const key = words[state];
  if (!key) return null;
  const bad = ['partial', 'failed', 'rollback-failed', 'interrupted', 'expired', 'rejected'].includes(state);
  const good = state === 'contained' || state === 'rolled-back';
  const notDone =
    state === 'rollback-failed' ? (view?.actions ?? []).filter((a) => a.rollback?.state === 'revert-failed') : (view?.notDone ?? []);
  return (
    <div class={`outcome ${bad ? 'bad' : good ? 'ok' : 'busy'}`} role={bad ? 'alert' : 'status'} data-testid="outcome" data-state={state}>
      <p class="outcome-word">
        {stateWords(state)}
        {stateWords(state) !== state ? <span class="muted"> ({state})</span> : null}
      </p>
      <p>{t(key, { ttc: formatMs(view?.timeToContainMs ?? null) })}</p>
      {bad && notDone.length ? (
        <>
          <p>{t('outcome.notDone')}</p>
          <ul>
            {notDone.map((a) => (
              <li key={a.actionId}>
                <strong>{a.device}</strong>: {a.what} — {a.rollback?.error ?? a.error ?? a.state}
              </li>
            ))}
          </ul>
        </>
      ) : null}
    </div>
  );
}
