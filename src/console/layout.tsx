import type { ComponentChildren } from 'preact';
import { type Lang, lang, setLang, t } from './i18n.js';
import { href, type Route } from './router.js';
import type { User } from './types.js';

/** Header (who is signed in, the pages, the language), then the page. */
export function Shell({
  user,
  route,
  onSignOut,
  children,
}: {
  user?: User;
  route?: Route;
  onSignOut?: () => void;
  children: ComponentChildren;
}) {
  const other: Lang = lang() === 'en' ? 'sv' : 'en';
  const links: [Route['page'], string][] = user
    ? [
        ['emergency', t('nav.emergency')],
        ['history', t('nav.history')],
        ['drills', t('nav.drills')],
        ['approvals', t('nav.approvals')],
        ['devices', t('nav.devices')],
        ['holds', t('nav.holds')],
      ]
    : [];
  return (
    <>
      <button type="button" class="skip" onClick={skipToMain}>
        {t('nav.skip')}
      </button>
      <header class="top">
        <div class="brand">
          <span class="logo" aria-hidden="true">
            ▲
          </span>{' '}
          Firebreak
        </div>
        {user ? (
          <nav aria-label={t('nav.label')}>
            <ul>
              {links.map(([page, label]) => (
                <li key={page}>
                  <a href={href(page)} aria-current={route?.page === page ? 'page' : undefined}>
                    {label}
                  </a>
                </li>
              ))}
            </ul>
          </nav>
        ) : null}
        <div class="who">
          {user ? (
            <span class="muted">
              {user.name} ({t(`role.${user.role}` as 'role.viewer')})
            </span>
          ) : null}
          <button type="button" class="small" lang={other} onClick={() => setLang(other)} data-testid="lang-switch">
            {other === 'sv' ? 'Svenska' : 'English'}
          </button>
          {user && onSignOut ? (
            <button type="button" class="small" onClick={onSignOut}>
              {t('nav.signout')}
            </button>
          ) : null}
        </div>
      </header>
      <main id="main" tabIndex={-1}>
        {children}
      </main>
    </>
  );
}

/** A button, not a #main link: the hash is the route. */
function skipToMain() {
  document.getElementById('main')?.focus();
}
