import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Serving, serve } from '../src/api/serve.js';
import { checkOidc, groupsOf, oidcFromEnv, roleOf } from '../src/identity/oidc.js';
import { LOGIN_TTL_MS, openOidcStore } from '../src/identity/oidc-store.js';
import { openJournal } from '../src/journal/open.js';
import { API_STREAM, type JournalEntry } from '../src/journal/types.js';
import { Redactor } from '../src/secrets.js';
import { repo } from './helpers/lab.js';
import { freePort, freshSchema, pgAvailable, pgUrl } from './helpers/services.js';
import { noBrowser } from './helpers/browser.js';

/**
 * Single sign-on in a real browser: a real OpenID Provider (oidc-provider with a minimal login
 * form, with the amr a real IdP's MFA would give) on 127.0.0.2 and a real `serve()` on 127.0.0.1, so the provider's return to the callback
 * is a cross-site navigation as with Entra ID or Keycloak. Proves: sign-in lands in the console
 * with the mapped role; no mapped group and no second factor are refused and said; the session
 * needs the CSRF token; the journal has the outcome and no code or token; a callback is answered once.
 */
const CONSOLE = join(repo, 'dist', 'console', 'index.html');
const SHOTS = join(repo, 'test-results', 'oidc');
const CLIENT_SECRET = 'oidc-test-client-secret-4f1c9a';
const SECRET_ENV = 'FB_TEST_OIDC_CLIENT_SECRET';
const ROLE_MAP = 'fb-operators=operator,fb-approvers=approver,fb-admins=admin,fb-viewers=viewer';

/** The provider's people: login name -> claims (the dev login form takes any password). */
const ACCOUNTS: Record<string, Record<string, unknown>> = {
  alice: { preferred_username: 'alice', email: 'alice@example.org', groups: ['staff', 'fb-operators'], amr: ['pwd', 'otp'] },
  mallory: { preferred_username: 'mallory', groups: ['marketing'], amr: ['pwd', 'otp'] },
  pat: { preferred_username: 'pat', groups: ['fb-viewers'], amr: ['pwd'] },
};

interface OidcProviderLike {
  callback(): (req: IncomingMessage, res: ServerResponse) => void;
  interactionDetails(req: IncomingMessage, res: ServerResponse): Promise<{ uid: string; prompt: { name: string } }>;
  interactionFinished(req: IncomingMessage, res: ServerResponse, result: unknown, o: { mergeWithLastSubmission: boolean }): Promise<void>;
}
/** The provider's own login step: what the person says they are, and how (amr), like a real IdP's MFA. */
const LOGIN_PAGE = (uid: string) => `<!doctype html><title>Test IdP</title><h1>Test IdP</h1>
<form method="post" action="/interaction/${uid}"><label>Login <input name="login" required></label>
<label>Password <input name="password" type="password" required></label><button type="submit">Sign-in</button></form>`;

let dir: string;
let idp: Server;
let issuer: string;
let serving: Serving;
let browser: Browser;
const contexts: BrowserContext[] = [];
const logs: string[] = [];

async function startProvider(redirectUrl: string): Promise<void> {
  idp = createServer();
  await new Promise<void>((resolve, reject) => {
    idp.once('error', reject);
    idp.listen(0, '127.0.0.2', resolve);
  });
  issuer = `http://127.0.0.2:${(idp.address() as AddressInfo).port}`;
  // No type declarations ship with oidc-provider: imported by a name tsc does not resolve.
  const name = 'oidc-provider';
  const { default: Provider } = (await import(name)) as { default: new (issuer: string, config: unknown) => OidcProviderLike };
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: 'firebreak',
        client_secret: CLIENT_SECRET,
        redirect_uris: [redirectUrl],
        token_endpoint_auth_method: 'client_secret_basic',
        grant_types: ['authorization_code'],
        response_types: ['code'],
      },
    ],
    async findAccount(_ctx: unknown, sub: string) {
      const { amr: _amr, ...claims } = ACCOUNTS[sub] ?? {};
      return ACCOUNTS[sub] ? { accountId: sub, claims: async () => ({ sub, ...claims }) } : undefined;
    },
    // amr from the login step; groups and names in the id_token itself, as Entra ID and Keycloak are set up to do.
    claims: { openid: ['sub', 'amr'], profile: ['preferred_username', 'groups'], email: ['email'] },
    conformIdTokenClaims: false,
    // A first-party client: consent is given (as an organisation's IdP does for its own apps).
    async loadExistingGrant(ctx: { oidc: { client: { clientId: string }; session: { accountId: string }; provider: any } }) {
      const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId });
      grant.addOIDCScope('openid profile email');
      await grant.save();
      return grant;
    },
    features: { devInteractions: { enabled: false } },
    pkce: { required: () => true },
    cookies: { keys: ['firebreak-oidc-test-cookie-key'] },
  });
  const oidc = provider.callback();
  idp.on('request', (req, res) => {
    const m = /^\/interaction\/([A-Za-z0-9_-]+)$/.exec(req.url ?? '');
    if (!m) return oidc(req, res);
    void (async () => {
      try {
        const details = await provider.interactionDetails(req, res);
        if (req.method === 'GET') {
          res.writeHead(200, { 'content-type': 'text/html' }).end(LOGIN_PAGE(details.uid));
          return;
        }
        let body = '';
        for await (const chunk of req) body += chunk;
        const login = new URLSearchParams(body).get('login') ?? '';
        const amr = ACCOUNTS[login]?.amr;
        await provider.interactionFinished(req, res, { login: { accountId: login, amr } }, { mergeWithLastSubmission: false });
      } catch (err) {
        res.writeHead(500).end(String(err));
      }
    })();
  });
}

beforeAll(async () => {
  if (noBrowser) return;
  if (!existsSync(CONSOLE)) throw new Error(`${CONSOLE} is missing: run \`npm run build\` first`);
  await mkdir(SHOTS, { recursive: true });
  dir = await mkdtemp(join(tmpdir(), 'fb-oidc-'));
  await mkdir(join(dir, 'inventory'));
  // The redirect URL names the server's port, so the port is chosen before serve() starts.
  const port = await freePort();
  const redirectUrl = `http://127.0.0.1:${port}/api/v1/session/oidc/callback`;
  await startProvider(redirectUrl);
  process.env[SECRET_ENV] = CLIENT_SECRET;
  const sink = new Writable({
    write(chunk, _enc, cb) {
      logs.push(String(chunk));
      cb();
    },
  });
  serving = await serve({
    app: {
      paths: { inventory: join(dir, 'inventory'), playbooks: join(repo, 'playbooks'), journal: join(dir, 'journal.db') },
      local: true,
    },
    host: '127.0.0.1',
    port,
    version: 'test',
    log: pino({ level: 'info' }, sink),
    failures: { windowMs: 60_000, max: 1000 },
    oidc: {
      issuer,
      clientId: 'firebreak',
      clientSecret: `env:${SECRET_ENV}`,
      redirectUrl,
      roleMap: ROLE_MAP,
      label: 'Test IdP',
      requireMfa: true,
    },
  });
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] });
}, 60_000);

afterAll(async () => {
  for (const c of contexts) await c.close().catch(() => undefined);
  await browser?.close();
  await serving?.stop();
  if (idp) await new Promise<void>((resolve) => idp.close(() => resolve()));
  idp?.closeAllConnections();
  delete process.env[SECRET_ENV];
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function newPage(locale = 'en-GB'): Promise<Page> {
  const c = await browser.newContext({ viewport: { width: 1280, height: 900 }, locale });
  contexts.push(c);
  return c.newPage();
}

async function apiEntries(): Promise<JournalEntry[]> {
  const j = await openJournal({ file: join(dir, 'journal.db') }, new Redactor());
  try {
    return (await j.entries(API_STREAM)).filter((e) => e.type.startsWith('signin.'));
  } finally {
    await j.close();
  }
}

/**
 * From the console's sign-in page through the provider's login form (and consent) back to the
 * console; what the browser sent to the callback and the sign-in handle cookie are kept for replay.
 */
async function signInWithIdp(page: Page, login: string): Promise<{ callbackUrl: string; handle: string }> {
  let callbackUrl = '';
  let handle = '';
  page.on('request', (r) => {
    if (r.url().includes('/api/v1/session/oidc/callback')) callbackUrl = r.url();
  });
  page.on('response', async (r) => {
    if (r.url().includes('/api/v1/session/oidc/start'))
      handle = /fb_oidc=([^;]+)/.exec((await r.headerValue('set-cookie')) ?? '')?.[1] ?? '';
  });
  await page.goto(`${serving.url}/`);
  await page.getByRole('link', { name: 'Sign in with Test IdP' }).click();
  await page.waitForURL((u) => u.host.startsWith('127.0.0.2'));
  await page.locator('input[name=login]').fill(login);
  await page.locator('input[name=password]').fill('anything');
  await page.getByRole('button', { name: 'Sign-in' }).click();
  await page.waitForURL((u) => u.host.startsWith('127.0.0.1') && !u.pathname.includes('/oidc/'));
  expect(callbackUrl).toContain('code=');
  return { callbackUrl, handle };
}

describe.skipIf(!!noBrowser)('single sign-on (OIDC)', () => {
  let alice: Page;
  let aliceCallback: { callbackUrl: string; handle: string };

  it('tells the console which provider to offer', async () => {
    const res = await fetch(`${serving.url}/api/v1/session/providers`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ oidc: { label: 'Test IdP' } });
  });

  it('signs a person in through the provider, with the role their group maps to', async () => {
    alice = await newPage();
    aliceCallback = await signInWithIdp(alice, 'alice');
    await alice.getByRole('heading', { level: 1, name: 'Contain' }).waitFor();
    await expect.poll(() => alice.locator('header').textContent()).toContain('alice (operator)');
    await alice.screenshot({ path: join(SHOTS, '01-signed-in.png'), fullPage: true });
    const session = await (await alice.request.get(`${serving.url}/api/v1/session`)).json();
    expect(session.user).toEqual({ name: 'alice', role: 'operator', scopes: ['read', 'plan', 'run:*', 'rollback'] });
    const cookies = await alice.context().cookies(serving.url);
    const fb = cookies.find((c) => c.name === 'fb_session');
    expect(fb?.httpOnly).toBe(true);
    expect(fb?.sameSite).toBe('Strict');
    expect(cookies.find((c) => c.name === 'fb_oidc')).toBeUndefined();
  });

  it('needs the CSRF token for a change, as a password session does', async () => {
    const body = { playbook: 'isolate-host', params: { address: '10.20.0.11' } };
    const without = await alice.request.post(`${serving.url}/api/v1/plans`, { data: body });
    expect(without.status()).toBe(403);
    expect((await without.json()).error.code).toBe('CSRF_INVALID');
    const csrf = (await (await alice.request.get(`${serving.url}/api/v1/session`)).json()).csrfToken;
    const withToken = await alice.request.post(`${serving.url}/api/v1/plans`, { data: body, headers: { 'x-csrf-token': csrf } });
    // The operator may plan: past authentication and scope (the empty inventory has no such host: 4xx other than 401/403).
    expect([401, 403]).not.toContain(withToken.status());
  });

  it('journals the sign-in with method oidc and the issuer-qualified subject, and no code or token anywhere', async () => {
    const ok = (await apiEntries()).filter((e) => e.type === 'signin.ok');
    expect(ok).toHaveLength(1);
    expect(ok[0]!.data).toMatchObject({ name: 'alice', method: 'oidc', subject: `${issuer}#alice`, role: 'operator' });
    const code = new URL(aliceCallback.callbackUrl).searchParams.get('code')!;
    const state = new URL(aliceCallback.callbackUrl).searchParams.get('state')!;
    const everything = JSON.stringify(await apiEntries()) + logs.join('');
    expect(code.length).toBeGreaterThan(10);
    expect(everything).not.toContain(code);
    expect(everything).not.toContain(state);
    expect(everything).not.toContain(CLIENT_SECRET);
    expect(everything).not.toMatch(/eyJ[A-Za-z0-9_-]{10,}\./);
  });

  it('answers a callback once: a replayed one is refused, with or without the old handle', async () => {
    const withHandle = await fetch(aliceCallback.callbackUrl, {
      redirect: 'manual',
      headers: { cookie: `fb_oidc=${aliceCallback.handle}` },
    });
    expect(aliceCallback.handle).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(withHandle.status).toBe(302);
    expect(withHandle.headers.get('location')).toContain('signin-error=OIDC_STATE');
    expect(withHandle.headers.getSetCookie().some((c) => c.startsWith('fb_session=') && !c.startsWith('fb_session=;'))).toBe(false);
    const stranger = await newPage();
    await stranger.goto(aliceCallback.callbackUrl);
    await expect.poll(() => stranger.getByTestId('signin-error').textContent()).toContain('used already');
    expect(new URL(stranger.url()).search).toBe('');
    expect((await stranger.context().cookies(serving.url)).find((c) => c.name === 'fb_session')).toBeUndefined();
    const failed = (await apiEntries()).filter((e) => e.type === 'signin.failed');
    expect(failed.filter((e) => String(e.data.reason).startsWith('state mismatch'))).toHaveLength(2);
    expect(failed.every((e) => e.data.method === 'oidc')).toBe(true);
  });

  it('refuses a person whose groups map to no role, and the console says so', async () => {
    const page = await newPage();
    await signInWithIdp(page, 'mallory');
    await expect.poll(() => page.getByTestId('signin-error').textContent()).toContain('in no group that Firebreak knows');
    await page.screenshot({ path: join(SHOTS, '02-no-role.png'), fullPage: true });
    expect((await page.request.get(`${serving.url}/api/v1/session`)).status()).toBe(401);
    const failed = (await apiEntries()).filter((e) => e.type === 'signin.failed' && e.data.name === 'mallory');
    expect(failed.map((e) => e.data.reason)).toEqual(['no mapped role: groups marketing']);
  });

  it('refuses an id_token without a second factor when MFA is required', async () => {
    const page = await newPage();
    await signInWithIdp(page, 'pat');
    await expect.poll(() => page.getByTestId('signin-error').textContent()).toContain('without a second factor');
    expect((await page.request.get(`${serving.url}/api/v1/session`)).status()).toBe(401);
    const failed = (await apiEntries()).filter((e) => e.type === 'signin.failed' && e.data.name === 'pat');
    expect(failed.map((e) => e.data.reason)).toEqual(['mfa missing: the provider says amr pwd']);
    expect((await apiEntries()).filter((e) => e.type === 'signin.ok')).toHaveLength(1);
  });

  it('signs the OIDC session out like any other', async () => {
    const csrf = (await (await alice.request.get(`${serving.url}/api/v1/session`)).json()).csrfToken;
    expect((await alice.request.delete(`${serving.url}/api/v1/session`, { headers: { 'x-csrf-token': csrf } })).status()).toBe(204);
    expect((await alice.request.get(`${serving.url}/api/v1/session`)).status()).toBe(401);
  });

  it('offers the provider in Swedish', async () => {
    const page = await newPage('sv-SE');
    await page.goto(`${serving.url}/`);
    await page.getByRole('link', { name: 'Logga in med Test IdP' }).waitFor();
  });
});

describe('OIDC configuration', () => {
  const env = {
    FIREBREAK_OIDC_ISSUER: 'https://login.example.org/realms/soc',
    FIREBREAK_OIDC_CLIENT_ID: 'firebreak',
    FIREBREAK_OIDC_CLIENT_SECRET: 'file:/etc/firebreak/oidc-secret',
    FIREBREAK_OIDC_REDIRECT_URL: 'https://firebreak.example.org/api/v1/session/oidc/callback',
    FIREBREAK_OIDC_ROLE_MAP: ROLE_MAP,
  };
  const fromEnv = (over: Record<string, string | undefined>) => checkOidc(oidcFromEnv({ ...env, ...over })!, 'env');

  it('is off without FIREBREAK_OIDC_*, and names the variable that is missing or wrong', () => {
    expect(oidcFromEnv({})).toBeUndefined();
    expect(fromEnv({}).rolesClaim).toBe('groups');
    expect(() => fromEnv({ FIREBREAK_OIDC_CLIENT_ID: '' })).toThrow(/FIREBREAK_OIDC_CLIENT_ID is not set/);
    expect(() => fromEnv({ FIREBREAK_OIDC_CLIENT_SECRET: 's3cret-in-the-clear' })).toThrow(
      /FIREBREAK_OIDC_CLIENT_SECRET must be a secret reference/,
    );
    expect(() => fromEnv({ FIREBREAK_OIDC_ISSUER: 'http://login.example.org' })).toThrow(/FIREBREAK_OIDC_ISSUER .* must be https/);
    expect(() => fromEnv({ FIREBREAK_OIDC_REDIRECT_URL: 'https://firebreak.example.org/cb' })).toThrow(
      /FIREBREAK_OIDC_REDIRECT_URL .* must end with/,
    );
    expect(() => fromEnv({ FIREBREAK_OIDC_ROLE_MAP: 'fb-ops=root' })).toThrow(
      /FIREBREAK_OIDC_ROLE_MAP: group "fb-ops" maps to unknown role "root"/,
    );
    expect(() => fromEnv({ FIREBREAK_OIDC_REQUIRE_MFA: 'yes' })).toThrow(/FIREBREAK_OIDC_REQUIRE_MFA must be 1 or 0/);
    for (const bad of [{ FIREBREAK_OIDC_CLIENT_ID: '' }, { FIREBREAK_OIDC_ROLE_MAP: 'x' }])
      expect(() => fromEnv(bad)).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }));
  });

  it('maps groups to the strongest role, reads dotted claims, and refuses unmapped people', () => {
    const map = fromEnv({}).roleMap;
    expect(roleOf(['fb-viewers', 'fb-operators'], map)).toBe('operator');
    expect(roleOf(['fb-approvers', 'fb-admins'], map)).toBe('admin');
    expect(roleOf(['marketing'], map)).toBeUndefined();
    expect(groupsOf({ realm_access: { roles: ['fb-viewers'] } }, 'realm_access.roles')).toEqual(['fb-viewers']);
    expect(groupsOf({ roles: 'a b' }, 'roles')).toEqual(['a', 'b']);
  });
});

describe.each([
  ['sqlite', true],
  ['postgresql', await pgAvailable()],
])('OIDC sign-ins and sessions kept in %s', (kind, available) => {
  it.skipIf(!available)('takes a sign-in in progress once and never after its time; sessions end idle', async () => {
    let now = 1_000_000;
    const s = freshSchema('fboidc');
    const local = await mkdtemp(join(tmpdir(), 'fb-oidc-store-'));
    const store = await openOidcStore({
      ...(kind === 'postgresql' ? { url: pgUrl(), schema: s.schema } : {}),
      file: join(local, 'tokens.db'),
      sessions: { absoluteMs: 12 * 3600_000, idleMs: 30 * 60_000 },
      clock: () => now,
    });
    try {
      const h = await store.beginLogin({ state: 's1', nonce: 'n1', verifier: 'v1' });
      expect(await store.takeLogin(h)).toEqual({ state: 's1', nonce: 'n1', verifier: 'v1', createdAt: now });
      expect(await store.takeLogin(h)).toBeUndefined();
      const late = await store.beginLogin({ state: 's2', nonce: 'n2', verifier: 'v2' });
      now += LOGIN_TTL_MS + 1;
      expect(await store.takeLogin(late)).toBeUndefined();
      const { id } = await store.createSession({ subject: 'https://idp#alice', name: 'alice', role: 'approver' }, '127.0.0.1');
      expect((await store.lookupSession(id))?.user).toMatchObject({
        name: 'alice',
        role: 'approver',
        scopes: ['read', 'approve'],
        subject: 'https://idp#alice',
      });
      now += 30 * 60_000;
      expect(await store.lookupSession(id)).toBeUndefined();
    } finally {
      await store.close();
      if (kind === 'postgresql') await s.drop();
      await rm(local, { recursive: true, force: true });
    }
  });
});
