import type { ComponentChildren } from 'preact';
import { useEffect, useRef } from 'preact/hooks';
import type { ApiError } from './api.js';
import { stateWords, t } from './i18n.js';

/** The page's heading; focused when the page opens so a screen reader starts there. */
export function PageTitle({ children }: { children: ComponentChildren }) {
  const ref = useRef<HTMLHeadingElement>(null);
  useEffect(() => {
    ref.current?.focus({ preventScroll: false });
  }, []);
  return (
    <h1 ref={ref} tabIndex={-1}>
      {children}
    </h1>
  );
}

export function ErrorBox({ error }: { error?: ApiError | string }) {
  if (!error) return null;
  const msg = typeof error === 'string' ? error : `${error.message}${error.code && error.status ? ` (${error.code})` : ''}`;
  return (
    <p class="error" role="alert">
      {msg}
    </p>
  );
}

/** Good states green, bad red, the rest neutral; always the word, never the colour alone. */
export function stateClass(state: string): string {
  if (['contained', 'verified', 'already', 'rolled-back', 'reverted', 'released'].includes(state)) return 'ok';
  if (['partial', 'failed', 'rollback-failed', 'revert-failed', 'interrupted', 'rejected', 'expired', 'skipped'].includes(state))
    return 'bad';
  return 'busy';
}

export function StateBadge({ state }: { state: string }) {
  return (
    <span class={`badge ${stateClass(state)}`} data-state={state}>
      {stateWords(state)}
    </span>
  );
}

export function Loading({ when }: { when: boolean }) {
  return when ? <p class="muted">{t('common.loading')}</p> : null;
}
