import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { ApiError, api, onSignedOut, setCsrfToken } from './api.js';
import { lang, onLang, t } from './i18n.js';
import { Shell } from './layout.js';
import { Approvals } from './pages/approvals.js';
import { Devices } from './pages/devices.js';
import { Emergency } from './pages/emergency.js';
import { Drills } from './pages/drills.js';
import { History } from './pages/history.js';
import { Holds } from './pages/holds.js';
import { Journal } from './pages/journal.js';
import { Prepare } from './pages/prepare.js';
import { Run } from './pages/run.js';
import { SignIn } from './pages/signin.js';
import { type Route, useRoute } from './router.js';
import type { Session, User } from './types.js';
import './styles.css';

/** The console: the session decides between sign-in and the pages; the hash decides the page. */
function App() {
  const [, setLangState] = useState(lang());
  useEffect(() => onLang(setLangState), []);
  const [session, setSession] = useState<Session | null | undefined>(undefined);
  const route = useRoute();

  useEffect(() => {
    api<Session>('GET', '/session')
      .then(signedIn)
      .catch(() => setSession(null));
    return onSignedOut(() => {
      setCsrfToken(undefined);
      setSession(null);
    });
  }, []);

  function signedIn(s: Session) {
    setCsrfToken(s.csrfToken);
    setSession(s);
  }

  async function signOut() {
    try {
      await api('DELETE', '/session');
    } catch (err) {
      // Gone already is signed out too.
      if (!(err instanceof ApiError)) throw err;
    }
    setCsrfToken(undefined);
    setSession(null);
  }

  if (session === undefined)
    return (
      <Shell>
        <p class="muted">{t('common.loading')}</p>
      </Shell>
    );
  if (session === null)
    return (
      <Shell>
        <SignIn onSignedIn={signedIn} />
      </Shell>
    );
  return (
    <Shell user={session.user} route={route} onSignOut={signOut}>
      <Page route={route} user={session.user} key={`${route.page}/${route.arg ?? ''}`} />
    </Shell>
  );
}

function Page({ route, user }: { route: Route; user: User }) {
  switch (route.page) {
    case 'go':
      return route.arg ? <Prepare id={route.arg} user={user} /> : <Emergency user={user} />;
    case 'run':
      return route.arg ? <Run id={route.arg} user={user} /> : <History />;
    case 'journal':
      return route.arg ? <Journal id={route.arg} /> : <History />;
    case 'approvals':
      return <Approvals user={user} />;
    case 'history':
      return <History />;
    case 'drills':
      return <Drills user={user} />;
    case 'devices':
      return <Devices />;
    case 'holds':
      return <Holds />;
    default:
      return <Emergency user={user} />;
  }
}

render(<App />, document.getElementById('app')!);
