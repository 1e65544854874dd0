import { type TOTP, URI } from 'otpauth';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openJournal } from '../src/journal/open.js';
import { API_STREAM, type Journal, type JournalEntry } from '../src/journal/types.js';
import { Redactor } from '../src/secrets.js';
import { type ApiHarness, startApiHarness, waitForState } from './helpers/api.js';

/**
 * The console's sign-in against a real `firebreak serve` on loopback: password + TOTP (enrolled
 * from the QR answer), wrong and replayed codes, lockout, the session cookie with CSRF on the other
 * routes, roles as scopes, sign-out and disabling that end a session at once. Cookies are carried by
 * hand, as a browser would.
 */
let h: ApiHarness;
let journal: Journal;
const PASSWORD = 'Tr0ub4dor & 3 horses';

beforeAll(async () => {
  h = await startApiHarness({ name: 'api-session', addressBlock: '127.53.0.0/16', ports: { ssh: 11622, snmp: 11661 } });
  journal = await openJournal({ file: h.journalFile }, new Redactor());
}, 60_000);
afterAll(async () => {
  await journal?.close();
  await h?.close();
});

interface Session {
  cookie: string;
  csrf: string;
}

/** A request as the console sends it: the session cookie, and the CSRF header when given. */
function call(method: string, path: string, o: { session?: Partial<Session>; body?: unknown } = {}) {
  const headers: Record<string, string> = {};
  if (o.session?.cookie) headers.cookie = `fb_session=${o.session.cookie}`;
  if (o.session?.csrf) headers['x-csrf-token'] = o.session.csrf;
  return h.call(method, `/api/v1${path}`, { headers, body: o.body });
}
const signin = (body: Record<string, string>, session?: Partial<Session>) => call('POST', '/session', { body, session });
const sessionCookieOf = (headers: Headers) => headers.getSetCookie().find((c) => c.startsWith('fb_session='));
const codeOf = (otpauthUrl: string, at = Date.now()) => (URI.parse(otpauthUrl) as TOTP).generate({ timestamp: at });
/** A code no step near now has: half the code space away from the current one. */
const wrongCodeOf = (otpauthUrl: string) => String((Number(codeOf(otpauthUrl)) + 500_000) % 1_000_000).padStart(6, '0');
const signins = async (name: string): Promise<JournalEntry[]> =>
  (await journal.entries(API_STREAM)).filter((e) => e.type.startsWith('signin.') && e.data.name === name);

/** Adds the user and signs in the first time: TOTP_ENROLL, then the same request with the code. */
async function enrolled(name: string, role: string): Promise<Session & { otpauthUrl: string; code: string }> {
  await h.users.add({ name, role, password: PASSWORD, by: 'vitest' });
  const offer = await signin({ name, password: PASSWORD });
  expect(offer.json.error?.code, JSON.stringify(offer.json)).toBe('TOTP_ENROLL');
  const { otpauthUrl } = offer.json.enroll;
  const code = codeOf(otpauthUrl);
  const ok = await signin({ name, password: PASSWORD, code });
  expect(ok.status, JSON.stringify(ok.json)).toBe(200);
  return { cookie: sessionCookieOf(ok.headers)!.split(';')[0]!.slice('fb_session='.length), csrf: ok.json.csrfToken, otpauthUrl, code };
}

describe('console sign-in', () => {
  it('without a session or token every API route answers 401', async () => {
    const runs = await call('GET', '/runs');
    expect(runs.status).toBe(401);
    expect(runs.json.error.code).toBe('UNAUTHENTICATED');
    expect((await call('GET', '/session')).status).toBe(401);
    expect((await call('GET', '/runs', { session: { cookie: 'A'.repeat(43) } })).status).toBe(401);
    expect(
      (await call('POST', '/runs', { body: { playbook: 'isolate-host', params: { address: '10.20.0.11' }, reason: 'x' } })).status,
    ).toBe(401);
  });

  it('first sign-in enrolls the TOTP from the QR answer; a wrong code is refused; then a secure session cookie', async () => {
    await h.users.add({ name: 'olga', role: 'operator', password: PASSWORD, by: 'vitest' });
    const offer = await signin({ name: 'olga', password: PASSWORD });
    expect(offer.status).toBe(401);
    expect(offer.json.error.code).toBe('TOTP_ENROLL');
    const { otpauthUrl, qrDataUrl } = offer.json.enroll;
    expect(otpauthUrl).toMatch(/^otpauth:\/\/totp\/Firebreak:olga\?.*issuer=Firebreak/);
    expect(qrDataUrl).toMatch(/^data:image\/png;base64,/);
    expect(Buffer.from(qrDataUrl.split(',')[1], 'base64').subarray(1, 4).toString()).toBe('PNG');
    // The same offer again until a code is sent (the secret does not change under the user).
    expect((await signin({ name: 'olga', password: PASSWORD })).json.enroll.otpauthUrl).toBe(otpauthUrl);

    const refused = await signin({ name: 'olga', password: PASSWORD, code: wrongCodeOf(otpauthUrl) });
    expect(refused.status).toBe(401);
    expect(refused.json.error.code).toBe('TOTP_INVALID');
    expect(sessionCookieOf(refused.headers)).toBeUndefined();
    expect((await h.users.get('olga'))!.enrolled).toBe(false);

    const code = codeOf(otpauthUrl);
    const ok = await signin({ name: 'olga', password: PASSWORD, code });
    expect(ok.status).toBe(200);
    expect(ok.json.user).toEqual({ name: 'olga', role: 'operator', scopes: ['read', 'plan', 'run:*', 'rollback'] });
    expect(ok.json.csrfToken).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(sessionCookieOf(ok.headers)).toMatch(/^fb_session=[A-Za-z0-9_-]{43}; HttpOnly; SameSite=Strict; Path=\/$/);
    expect((await h.users.get('olga'))!.enrolled).toBe(true);
    const cookie = sessionCookieOf(ok.headers)!.split(';')[0]!.slice('fb_session='.length);
    const me = await call('GET', '/session', { session: { cookie } });
    expect(me.json).toEqual({ user: ok.json.user, csrfToken: ok.json.csrfToken });

    expect((await signins('olga')).map((e) => [e.type, e.data.reason])).toEqual([
      ['signin.failed', 'totp enrollment offered (password right)'],
      ['signin.failed', 'totp enrollment offered (password right)'],
      ['signin.failed', 'wrong totp code'],
      ['signin.ok', 'totp enrolled'],
    ]);
    const all = JSON.stringify(await journal.all());
    expect(all).not.toContain(PASSWORD);
    expect(all).not.toContain(`"${code}"`);
    expect(all).not.toContain(cookie);
  });

  it('an enrolled user needs the code; a code used once is refused the second time', async () => {
    const s = await enrolled('rita', 'viewer');
    const required = await signin({ name: 'rita', password: PASSWORD });
    expect(required.status).toBe(401);
    expect(required.json.error.code).toBe('TOTP_REQUIRED');
    const replay = await signin({ name: 'rita', password: PASSWORD, code: s.code });
    expect(replay.status).toBe(401);
    expect(replay.json.error.code).toBe('TOTP_INVALID');
    // The next step's code (the app shows it within 30 s) is fresh.
    const next = await signin({ name: 'rita', password: PASSWORD, code: codeOf(s.otpauthUrl, Date.now() + 30_000) });
    expect(next.status, JSON.stringify(next.json)).toBe(200);
    expect((await signins('rita')).map((e) => e.data.reason).slice(-3)).toEqual([
      'totp code required (password right)',
      'totp code replayed',
      undefined,
    ]);
  });

  it("the cookie works on the API only with X-CSRF-Token for changes; the run is the user's", async () => {
    const s = await enrolled('ola', 'operator');
    const runs = () => call('GET', '/runs?limit=1000', { session: { cookie: s.cookie } });
    const before = (await runs()).json.length;
    const body = { playbook: 'isolate-host', params: { address: '10.20.0.12' }, reason: 'console test' };
    const noCsrf = await call('POST', '/runs', { session: { cookie: s.cookie }, body });
    expect(noCsrf.status).toBe(403);
    expect(noCsrf.json.error.code).toBe('CSRF_INVALID');
    const wrongCsrf = await call('POST', '/runs', { session: { cookie: s.cookie, csrf: `${s.csrf.slice(0, -2)}xx` }, body });
    expect(wrongCsrf.json.error.code).toBe('CSRF_INVALID');
    expect((await runs()).json.length).toBe(before);
    const refusals = (await journal.entries(API_STREAM)).filter((e) => e.type === 'auth.failed' && e.data.user === 'ola');
    expect(refusals.map((e) => e.data.reason)).toEqual(['csrf token missing or wrong', 'csrf token missing or wrong']);

    const created = await call('POST', '/runs', { session: s, body });
    expect(created.status, JSON.stringify(created.json)).toBe(201);
    expect((await runs()).json.length).toBe(before + 1);
    const view = (await call('GET', `/runs/${created.json.runId}`, { session: { cookie: s.cookie } })).json;
    expect(view.trigger).toMatchObject({ kind: 'api', by: 'ola' });
    const entries = await journal.entries(created.json.runId);
    expect(entries.find((e) => e.type === 'run.created')!.data.trigger).toMatchObject({ by: 'ola', identity: 'user:ola' });
    expect(await waitForState(h, created.json.runId, ['contained', 'partial', 'failed'])).toBe('contained');
  });

  it('a viewer may read but not start a run', async () => {
    const s = await enrolled('vera', 'viewer');
    expect((await call('GET', '/runs', { session: { cookie: s.cookie } })).status).toBe(200);
    const r = await call('POST', '/runs', {
      session: s,
      body: { playbook: 'isolate-host', params: { address: '10.20.0.13' }, reason: 'x' },
    });
    expect(r.status).toBe(403);
    expect(r.json.error.code).toBe('FORBIDDEN');
    expect(r.json.error.message).toContain('user "vera"');
  });

  it('5 failures lock the account: 423 with Retry-After even for the right password, journaled; same answer for unknown and disabled', async () => {
    const s = await enrolled('lena', 'approver');
    for (let i = 0; i < 4; i++) {
      const r = await signin({ name: 'lena', password: `${PASSWORD}${i}` });
      expect(r.status).toBe(401);
      expect(r.json.error).toEqual({ code: 'SIGNIN_FAILED', message: 'name or password is wrong' });
    }
    // A wrong code counts too: it is the fifth failure.
    expect((await signin({ name: 'lena', password: PASSWORD, code: wrongCodeOf(s.otpauthUrl) })).json.error.code).toBe('TOTP_INVALID');
    const locked = await signin({ name: 'lena', password: PASSWORD, code: codeOf(s.otpauthUrl, Date.now() + 30_000) });
    expect(locked.status).toBe(423);
    expect(locked.json.error.code).toBe('ACCOUNT_LOCKED');
    const retry = Number(locked.headers.get('retry-after'));
    expect(retry).toBeGreaterThan(800);
    expect(retry).toBeLessThanOrEqual(900);
    expect(sessionCookieOf(locked.headers)).toBeUndefined();
    const types = (await signins('lena')).map((e) => [e.type, e.data.reason]);
    expect(types.slice(-7)).toEqual([
      ['signin.failed', 'wrong password'],
      ['signin.failed', 'wrong password'],
      ['signin.failed', 'wrong password'],
      ['signin.failed', 'wrong password'],
      ['signin.failed', 'wrong totp code'],
      ['signin.locked', 'locked for 900 s after 5 failed sign-ins'],
      ['signin.locked', 'refused: the account is locked'],
    ]);
    expect((await signins('lena')).at(-1)!.data).toMatchObject({ ip: '127.0.0.1', until: expect.any(String) });

    const unknown = await signin({ name: 'nobody', password: PASSWORD });
    await h.users.add({ name: 'dis', role: 'viewer', password: PASSWORD, by: 'vitest' });
    await h.users.disable('dis', 'vitest');
    const disabled = await signin({ name: 'dis', password: PASSWORD });
    for (const r of [unknown, disabled])
      expect([r.status, r.json.error]).toEqual([401, { code: 'SIGNIN_FAILED', message: 'name or password is wrong' }]);
    expect((await signins('nobody')).map((e) => e.data.reason)).toEqual(['unknown name']);
    expect((await signins('dis')).map((e) => e.data.reason)).toEqual(['account disabled']);
  });

  it('sign-out needs the CSRF token and ends the session on the server', async () => {
    const s = await enrolled('otto', 'operator');
    const noCsrf = await call('DELETE', '/session', { session: { cookie: s.cookie } });
    expect(noCsrf.status).toBe(403);
    expect(noCsrf.json.error.code).toBe('CSRF_INVALID');
    expect((await call('GET', '/runs', { session: { cookie: s.cookie } })).status).toBe(200);
    const out = await call('DELETE', '/session', { session: s });
    expect(out.status).toBe(204);
    expect(sessionCookieOf(out.headers)).toMatch(/^fb_session=; .*Max-Age=0/);
    expect((await call('GET', '/runs', { session: { cookie: s.cookie } })).status).toBe(401);
    expect((await call('GET', '/session', { session: { cookie: s.cookie } })).status).toBe(401);
    const ended = (await journal.entries(API_STREAM)).filter((e) => e.type === 'session.ended');
    expect(ended.at(-1)!.data).toEqual({ name: 'otto', reason: 'signed out', ip: '127.0.0.1' });
  });

  it("a disabled user's session stops working at once", async () => {
    const s = await enrolled('dora', 'admin');
    expect((await call('GET', '/runs', { session: { cookie: s.cookie } })).status).toBe(200);
    await h.users.disable('dora', 'vitest');
    expect((await call('GET', '/runs', { session: { cookie: s.cookie } })).status).toBe(401);
    expect((await call('GET', '/session', { session: { cookie: s.cookie } })).status).toBe(401);
  });

  it('Secure cookie when FIREBREAK_COOKIE_SECURE=1; the session routes are in the OpenAPI document as public', async () => {
    const s = await enrolled('sam', 'viewer');
    process.env.FIREBREAK_COOKIE_SECURE = '1';
    try {
      const ok = await signin({ name: 'sam', password: PASSWORD, code: codeOf(s.otpauthUrl, Date.now() + 30_000) });
      expect(ok.status).toBe(200);
      expect(sessionCookieOf(ok.headers)).toMatch(/; HttpOnly; SameSite=Strict; Path=\/; Secure$/);
    } finally {
      delete process.env.FIREBREAK_COOKIE_SECURE;
    }
    const doc = (await call('GET', '/openapi.json', { session: { cookie: s.cookie } })).json;
    expect(Object.keys(doc.paths['/api/v1/session']).sort()).toEqual(['delete', 'get', 'post']);
    expect(doc.paths['/api/v1/session'].post.security).toEqual([]);
    expect(doc.paths['/api/v1/session'].post.requestBody.content['application/json'].schema.required).toEqual(['name', 'password']);
    // Strict body: an unknown field is named.
    const extra = await signin({ name: 'sam', password: PASSWORD, otp: '123456' });
    expect([extra.status, extra.json.error.field]).toEqual([400, 'otp']);
  });
});
