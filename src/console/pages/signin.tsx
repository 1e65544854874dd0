import { useEffect, useRef, useState } from 'preact/hooks';
import { API, ApiError, api } from '../api.js';
import { type Key, t } from '../i18n.js';
import type { Session } from '../types.js';
import { PageTitle } from '../ui.js';

/**
 * Name and password, then the authenticator code: the first sign-in enrols the authenticator
 * (the server sends a QR code), later ones ask for the code. Every refusal is said in words.
 */
type Step = { kind: 'password' } | { kind: 'code' } | { kind: 'enroll'; qr: string; secret?: string };

export function SignIn({ onSignedIn }: { onSignedIn: (s: Session) => void }) {
  const [name, setName] = useState('');
  const [password, setPassword] = useState('');
  const [code, setCode] = useState('');
  const [step, setStep] = useState<Step>({ kind: 'password' });
  const [error, setError] = useState<string | undefined>(ssoRefusal);
  const [busy, setBusy] = useState(false);
  const [sso, setSso] = useState<{ label: string } | null>(null);
  const codeRef = useRef<HTMLInputElement>(null);

  useEffect(() => {
    // An older server has no such route: then there is no single sign-on button, nothing else changes.
    api<{ oidc: { label: string } | null }>('GET', '/session/providers')
      .then((p) => setSso(p.oidc))
      .catch(() => setSso(null));
  }, []);

  useEffect(() => {
    if (step.kind !== 'password') codeRef.current?.focus();
  }, [step.kind]);

  async function submit(e: Event) {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      const body = step.kind === 'password' ? { name, password } : { name, password, code: code.trim() };
      onSignedIn(await api<Session>('POST', '/session', body));
    } catch (err) {
      const ae = err instanceof ApiError ? err : new ApiError(0, 'CLIENT', String(err));
      if (ae.code === 'TOTP_ENROLL') {
        const enroll = (ae.body?.enroll ?? {}) as { otpauthUrl?: string; qrDataUrl?: string };
        setStep({ kind: 'enroll', qr: enroll.qrDataUrl ?? '', secret: secretOf(enroll.otpauthUrl) });
      } else if (ae.code === 'TOTP_REQUIRED') setStep({ kind: 'code' });
      else setError(refusal(ae));
      if (ae.code === 'TOTP_INVALID') setCode('');
    } finally {
      setBusy(false);
    }
  }

  return (
    <section class="narrow">
      <PageTitle>{t('signin.title')}</PageTitle>
      <p class="muted">{t('signin.intro')}</p>
      <form onSubmit={submit} aria-describedby={error ? 'signin-error' : undefined}>
        <label for="signin-name">{t('signin.name')}</label>
        <input
          id="signin-name"
          name="username"
          autocomplete="username"
          required
          value={name}
          readOnly={step.kind !== 'password'}
          onInput={(e) => setName(e.currentTarget.value)}
        />
        <label for="signin-password">{t('signin.password')}</label>
        <input
          id="signin-password"
          name="password"
          type="password"
          autocomplete="current-password"
          required
          value={password}
          readOnly={step.kind !== 'password'}
          onInput={(e) => setPassword(e.currentTarget.value)}
        />
        {step.kind === 'enroll' ? (
          <div class="enroll">
            <p>{t('signin.enroll')}</p>
            {step.qr ? <img src={step.qr} alt={t('signin.qrAlt')} width={220} height={220} /> : null}
            {step.secret ? (
              <p class="muted">
                {t('signin.secret')} <code class="secret">{step.secret}</code>
              </p>
            ) : null}
          </div>
        ) : null}
        {step.kind !== 'password' ? (
          <>
            <label for="signin-code">{t('signin.code')}</label>
            <input
              id="signin-code"
              ref={codeRef}
              name="code"
              inputMode="numeric"
              autocomplete="one-time-code"
              pattern="[0-9]{6,8}"
              required
              value={code}
              onInput={(e) => setCode(e.currentTarget.value)}
              aria-describedby="signin-code-help"
            />
            <p id="signin-code-help" class="muted">
              {t('signin.codeHelp')}
            </p>
          </>
        ) : null}
        {error ? (
          <p id="signin-error" class="error" role="alert" data-testid="signin-error">
            {error}
          </p>
        ) : null}
        <button type="submit" class="primary" disabled={busy}>
          {busy ? t('common.wait') : step.kind === 'password' ? t('signin.submit') : t('signin.verify')}
        </button>
        {step.kind !== 'password' ? (
          <button
            type="button"
            class="link"
            onClick={() => {
              setStep({ kind: 'password' });
              setCode('');
              setPassword('');
              setError(undefined);
            }}
          >
            {t('signin.restart')}
          </button>
        ) : null}
      </form>
      {sso && step.kind === 'password' ? (
        <p class="sso">
          <span class="muted">{t('signin.or')}</span>{' '}
          <a href={`${API}/session/oidc/start`} data-testid="signin-oidc">
            {t('signin.oidc', { label: sso.label })}
          </a>
        </p>
      ) : null}
    </section>
  );
}

function refusal(e: ApiError): string {
  switch (e.code) {
    case 'SIGNIN_FAILED':
      return t('signin.failed');
    case 'TOTP_INVALID':
      return t('signin.totpInvalid');
    case 'ACCOUNT_LOCKED':
      return e.retryAfter ? t('signin.lockedFor', { minutes: Math.max(1, Math.ceil(e.retryAfter / 60)) }) : t('signin.locked');
    case 'RATE_LIMITED':
      return t('signin.rateLimited');
    case 'NETWORK':
      return t('common.network');
    default:
      return e.status === 429 ? t('signin.rateLimited') : `${e.message} (${e.code})`;
  }
}

const SSO_REFUSALS: Record<string, Key> = {
  OIDC_NO_ROLE: 'signin.oidcNoRole',
  OIDC_MFA_REQUIRED: 'signin.oidcMfa',
  OIDC_STATE: 'signin.oidcState',
  OIDC_IDP: 'signin.oidcIdp',
  OIDC_UNAVAILABLE: 'signin.oidcUnavailable',
};

/** A single sign-on the server refused comes back as `/?signin-error=<code>`: said once, then taken off the address. */
function ssoRefusal(): string | undefined {
  const params = new URLSearchParams(location.search);
  const code = params.get('signin-error');
  if (code === null) return undefined;
  params.delete('signin-error');
  const rest = params.toString();
  history.replaceState(null, '', `${location.pathname}${rest ? `?${rest}` : ''}${location.hash}`);
  const key = SSO_REFUSALS[code];
  return key ? t(key) : t('signin.oidcIdp');
}

/** The key in the otpauth URL, for typing into an authenticator that cannot scan. */
function secretOf(url: string | undefined): string | undefined {
  if (!url) return undefined;
  try {
    return new URL(url).searchParams.get('secret') ?? undefined;
  } catch {
    return undefined;
  }
}
