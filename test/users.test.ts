import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TOTP, URI } from 'otpauth';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkRole, scopesOf } from '../src/identity/roles.js';
import { openUserStore, type UserStore } from '../src/identity/users.js';
import { freshSchema, pgAvailable, pgUrl, withPg } from './helpers/services.js';

/** The console's user store on both backends: what it keeps, TOTP and its replays, lockout, sessions that end. */

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'fb-users-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const hasPg = await pgAvailable();
const PASSWORD = 'correct horse battery staple';
const LOCKOUT = { max: 5, windowMs: 60_000, lockMs: 120_000 };
const SESSIONS = { absoluteMs: 10 * 60_000, idleMs: 60_000 };

interface Backend {
  /** Another store on the same data, as a second server process would open it. */
  open(clock: () => number): Promise<UserStore>;
  /** Everything the backend holds, as text, read behind the store's back. */
  raw(): Promise<string>;
  done(): Promise<void>;
}

function sqliteBackend(): Backend {
  const file = join(dir, `tokens-${Math.random().toString(36).slice(2)}.db`);
  return {
    open: (clock) => openUserStore({ file, lockout: LOCKOUT, sessions: SESSIONS, clock }),
    raw: async () =>
      readdirSync(dir)
        .filter((f) => f.startsWith(file.split('/').pop()!))
        .map((f) => readFileSync(join(dir, f)).toString('latin1'))
        .join('\n'),
    done: async () => undefined,
  };
}

function pgBackend(): Backend {
  const s = freshSchema('fbusers');
  return {
    open: (clock) =>
      openUserStore({ url: pgUrl(), schema: s.schema, file: join(dir, 'unused.db'), lockout: LOCKOUT, sessions: SESSIONS, clock }),
    raw: () =>
      withPg(async (c) => {
        const rows: unknown[] = [];
        for (const t of ['users', 'sessions', 'console_secrets']) rows.push((await c.query(`SELECT * FROM "${s.schema}".${t}`)).rows);
        return JSON.stringify(rows);
      }),
    done: () => s.drop(),
  };
}

const backends: [string, boolean, () => Backend][] = [
  ['sqlite', true, sqliteBackend],
  ['postgresql', hasPg, pgBackend],
];

/** The code an authenticator app shows at `at` for the user's enrolled secret. */
async function codeAt(users: UserStore, name: string, at: number): Promise<string> {
  const totp = URI.parse(await users.totpUrl(name)) as TOTP;
  return totp.generate({ timestamp: at });
}

for (const [name, available, make] of backends) {
  describe.skipIf(!available)(`user store (${name})`, () => {
    let b: Backend;
    let users: UserStore;
    let other: UserStore;
    // A clock the test moves: lockout windows and session lifetimes without waiting.
    let now = Date.parse('2026-11-30T10:00:00Z');
    const clock = () => now;
    beforeAll(async () => {
      b = make();
      users = await b.open(clock);
      other = await b.open(clock);
    });
    afterAll(async () => {
      await users?.close();
      await other?.close();
      await b?.done();
    });

    it('adds a user with an argon2id hash; the password is stored nowhere; bad names, roles, passwords refused', async () => {
      const rec = await users.add({ name: 'alice', role: 'operator', password: PASSWORD, by: 'test' });
      expect(rec).toMatchObject({
        name: 'alice',
        role: 'operator',
        scopes: ['read', 'plan', 'run:*', 'rollback'],
        enrolled: false,
        disabled: false,
      });
      const raw = await b.raw();
      expect(raw).toMatch(/\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
      expect(raw).not.toContain(PASSWORD);
      expect(raw).not.toContain(Buffer.from(PASSWORD).toString('base64'));
      expect((await other.list()).map((u) => u.name)).toEqual(['alice']);
      await expect(users.add({ name: 'alice', role: 'viewer', password: PASSWORD, by: 'test' })).rejects.toThrow(/already exists/);
      await expect(users.add({ name: 'Bob!', role: 'viewer', password: PASSWORD, by: 'test' })).rejects.toThrow(/user name "Bob!"/);
      await expect(users.add({ name: 'bob', role: 'root', password: PASSWORD, by: 'test' })).rejects.toThrow(/unknown role "root"/);
      await expect(users.add({ name: 'bob', role: 'viewer', password: 'short', by: 'test' })).rejects.toThrow(/at least 12/);
      expect(await users.get('bob')).toBeUndefined();
    });

    it('checks passwords: right, wrong, unknown name, disabled account', async () => {
      expect(await users.verifyPassword('alice', PASSWORD)).toMatchObject({ ok: true, user: { name: 'alice' } });
      expect(await users.verifyPassword('alice', `${PASSWORD}!`)).toEqual({ ok: false, reason: 'wrong password' });
      expect(await users.verifyPassword('nobody', PASSWORD)).toEqual({ ok: false, reason: 'unknown name' });
      await users.add({ name: 'gone', role: 'viewer', password: PASSWORD, by: 'test' });
      await users.disable('gone', 'test');
      expect(await users.verifyPassword('gone', PASSWORD)).toEqual({ ok: false, reason: 'account disabled' });
      await expect(users.disable('gone', 'test')).rejects.toThrow(/already disabled/);
      await expect(users.disable('nobody', 'test')).rejects.toThrow(/no user "nobody"/);
    });

    it('TOTP: enrolled by the first good code; a wrong, a replayed and an older code refused, even through another server', async () => {
      const url = await users.totpUrl('alice');
      expect(url).toMatch(/^otpauth:\/\/totp\/Firebreak:alice\?/);
      expect(url).toContain('issuer=Firebreak');
      const code = await codeAt(users, 'alice', now);
      const wrong = String((Number(code) + 1) % 1_000_000).padStart(6, '0');
      expect(await users.verifyTotp('alice', wrong)).toBe('invalid');
      expect((await users.get('alice'))!.enrolled).toBe(false);
      expect(await users.verifyTotp('alice', code)).toBe('ok');
      expect((await users.get('alice'))!.enrolled).toBe(true);
      expect(await other.verifyTotp('alice', code)).toBe('replayed');
      now += 30_000;
      expect(await users.verifyTotp('alice', code)).toBe('replayed');
      expect(await users.verifyTotp('alice', await codeAt(users, 'alice', now))).toBe('ok');
    });

    it('locks a name after 5 failures in the window, counted across servers; the lock ends; unknown names lock too', async () => {
      for (let i = 1; i <= 4; i++) expect(await (i % 2 ? users : other).recordFailure('alice')).toEqual({ failures: i });
      // The window ends: the count starts again.
      now += LOCKOUT.windowMs + 1;
      for (let i = 1; i <= 4; i++) expect((await users.recordFailure('alice')).lockedUntil).toBeUndefined();
      expect(await users.lockedUntil('alice')).toBeUndefined();
      const fifth = await other.recordFailure('alice');
      expect(fifth).toEqual({ failures: 5, lockedUntil: now + LOCKOUT.lockMs });
      expect(await users.lockedUntil('alice')).toBe(now + LOCKOUT.lockMs);
      now += LOCKOUT.lockMs;
      expect(await users.lockedUntil('alice')).toBeUndefined();
      for (let i = 0; i < 4; i++) await users.recordFailure('mallory');
      expect((await users.recordFailure('mallory')).lockedUntil).toBe(now + LOCKOUT.lockMs);
      expect(await users.lockedUntil('mallory')).toBe(now + LOCKOUT.lockMs);
      // A success forgets earlier failures.
      await users.recordFailure('alice');
      await users.signedIn('alice', '127.0.0.1');
      for (let i = 1; i <= 4; i++) expect(await users.recordFailure('alice')).toEqual({ failures: i });
      await users.signedIn('alice', '127.0.0.1');
      expect((await users.get('alice'))!.lastSignInIp).toBe('127.0.0.1');
    });

    it('sessions: only the hash is stored; idle and absolute lifetimes end them; delete ends them', async () => {
      const s = await users.createSession('alice', '127.0.0.1');
      expect(s.id).toMatch(/^[A-Za-z0-9_-]{43}$/);
      const raw = await b.raw();
      expect(raw).not.toContain(s.id);
      expect(raw).toContain(createHash('sha256').update(s.id).digest('hex'));
      expect((await other.lookupSession(s.id))?.user.name).toBe('alice');
      expect(await users.csrfToken(s.id)).toBe(await other.csrfToken(s.id));
      // Idle: a request within the idle time keeps it; none for longer ends it.
      now += SESSIONS.idleMs - 1_000;
      expect(await users.lookupSession(s.id)).toBeDefined();
      now += SESSIONS.idleMs;
      expect(await users.lookupSession(s.id)).toBeUndefined();
      // Absolute: ends even when used all the time.
      const busy = await users.createSession('alice', '127.0.0.1');
      expect(await users.csrfToken(busy.id)).not.toBe(await users.csrfToken(s.id));
      for (let t = 0; t < SESSIONS.absoluteMs - SESSIONS.idleMs / 2; t += SESSIONS.idleMs / 2) {
        now += SESSIONS.idleMs / 2;
        expect(await users.lookupSession(busy.id)).toBeDefined();
      }
      now += SESSIONS.idleMs / 2;
      expect(await users.lookupSession(busy.id)).toBeUndefined();
      const gone = await users.createSession('alice', '127.0.0.1');
      expect(await other.deleteSession(gone.id)).toBe(true);
      expect(await users.lookupSession(gone.id)).toBeUndefined();
      expect(await users.lookupSession('not-a-session')).toBeUndefined();
    });

    it('disable and TOTP reset end the sessions at once', async () => {
      await users.add({ name: 'carol', role: 'approver', password: PASSWORD, by: 'test' });
      await users.verifyTotp('carol', await codeAt(users, 'carol', now));
      const before = await users.totpUrl('carol');
      const a = await users.createSession('carol', '127.0.0.1');
      const reset = await other.resetTotp('carol');
      expect(reset.sessionsEnded).toBe(1);
      expect(reset.record.enrolled).toBe(false);
      expect(await users.totpUrl('carol')).not.toBe(before);
      expect(await users.lookupSession(a.id)).toBeUndefined();
      const s1 = await users.createSession('carol', '127.0.0.1');
      const s2 = await users.createSession('carol', '127.0.0.2');
      const { record, sessionsEnded } = await other.disable('carol', 'test');
      expect(record).toMatchObject({ disabled: true, disabledBy: 'test' });
      expect(sessionsEnded).toBe(2);
      expect(await users.lookupSession(s1.id)).toBeUndefined();
      expect(await users.lookupSession(s2.id)).toBeUndefined();
    });
  });
}

describe('roles', () => {
  it('map onto the API scopes; an unknown role is named with the known ones', () => {
    expect(scopesOf('viewer')).toEqual(['read']);
    expect(scopesOf('operator')).toEqual(['read', 'plan', 'run:*', 'rollback']);
    expect(scopesOf('approver')).toEqual(['read', 'approve']);
    expect(scopesOf('admin')).toEqual(['admin']);
    expect(() => checkRole('root')).toThrow('unknown role "root" (known roles: viewer, operator, approver, admin)');
  });
});
