import { useEffect, useRef, useState } from 'preact/hooks';
import { t } from './i18n.js';

/** How long the button must be held: long enough not to happen by accident, short in a crisis. */
export const HOLD_MS = 1500;

/**
 * The deliberate step before anything changes: type the site name (shown), or press and hold
 * the button for 1.5 s (mouse, touch, or Space/Enter held down). Either one fires `onConfirm` once.
 */
export function Confirm({
  sites,
  label,
  disabled,
  onConfirm,
}: {
  sites: readonly string[];
  label: string;
  disabled: boolean;
  onConfirm: () => void;
}) {
  const [typed, setTyped] = useState('');
  const [progress, setProgress] = useState(0);
  const started = useRef<number | null>(null);
  const timer = useRef<number | null>(null);
  const fired = useRef(false);
  const want = sites.join(', ');
  const matches = sites.length > 0 && norm(typed) === norm(want);

  const fire = () => {
    if (fired.current || disabled) return;
    fired.current = true;
    stop();
    onConfirm();
  };
  const stop = () => {
    if (timer.current !== null) cancelAnimationFrame(timer.current);
    timer.current = null;
    started.current = null;
    if (!fired.current) setProgress(0);
  };
  const start = () => {
    if (disabled || fired.current || started.current !== null) return;
    started.current = performance.now();
    const tick = () => {
      if (started.current === null) return;
      const p = Math.min(1, (performance.now() - started.current) / HOLD_MS);
      setProgress(p);
      if (p >= 1) fire();
      else timer.current = requestAnimationFrame(tick);
    };
    timer.current = requestAnimationFrame(tick);
  };
  useEffect(() => stop, []);
  useEffect(() => {
    if (!disabled) fired.current = false;
  }, [disabled]);

  return (
    <div class="confirm">
      <div class="field">
        <label for="confirm-site">{t('confirm.typeSite', { site: want })}</label>
        <p class="site-name" aria-hidden="true">
          {want}
        </p>
        <input
          id="confirm-site"
          autocomplete="off"
          spellcheck={false}
          value={typed}
          disabled={disabled}
          onInput={(e) => setTyped(e.currentTarget.value)}
          onKeyDown={(e) => e.key === 'Enter' && matches && fire()}
        />
        <button type="button" class="danger big" disabled={disabled || !matches} onClick={fire} data-testid="confirm-typed">
          {label}
        </button>
      </div>
      <p class="or">{t('confirm.or')}</p>
      <div class="field">
        <button
          type="button"
          class="danger big hold"
          disabled={disabled}
          aria-describedby="confirm-hold-help"
          data-testid="confirm-hold"
          onPointerDown={(e) => {
            (e.currentTarget as HTMLElement).setPointerCapture?.(e.pointerId);
            start();
          }}
          onPointerUp={stop}
          onPointerCancel={stop}
          onKeyDown={(e) => {
            if ((e.key === ' ' || e.key === 'Enter') && !e.repeat) {
              e.preventDefault();
              start();
            } else if (e.key === ' ' || e.key === 'Enter') e.preventDefault();
          }}
          onKeyUp={(e) => (e.key === ' ' || e.key === 'Enter') && stop()}
          onBlur={stop}
          onContextMenu={(e) => e.preventDefault()}
        >
          {t('confirm.hold', { label })}
        </button>
        <progress max={1} value={progress} aria-hidden="true" />
        <p id="confirm-hold-help" class="muted">
          {t('confirm.holdHelp')}
        </p>
      </div>
    </div>
  );
}

function norm(s: string): string {
  return s
    .toLowerCase()
    .split(/[\s,]+/)
    .filter(Boolean)
    .join(',');
}
