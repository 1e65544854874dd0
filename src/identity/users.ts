import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { hash, verify } from '@node-rs/argon2';
import { Secret, TOTP } from 'otpauth';
import { FirebreakError } from '../errors.js';
import { checkRole, type Role, scopesOf } from './roles.js';
import { type IdentityDb, isUniqueViolation, openIdentityDb } from './store-db.js';

/**
 * Console operators: name, role, an argon2id password hash (never the password), a TOTP second
 * factor (enrolled at the first sign-in), lockout bookkeeping, and server-side sessions of which
 * only sha256 of the id is stored. Same file or database as the API tokens, separate tables.
 */

export interface UserRecord {
  name: string;
  role: Role;
  scopes: string[];
  enrolled: boolean;
  disabled: boolean;
  createdAt: string;
  createdBy: string;
  disabledAt?: string;
  disabledBy?: string;
  lastSignInAt?: string;
  lastSignInIp?: string;
}

/** `max` failures within `windowMs` lock the name for `lockMs`. */
export interface LockoutPolicy {
  max: number;
  windowMs: number;
  lockMs: number;
}
/** A session ends `absoluteMs` after sign-in, or after `idleMs` without a request. */
export interface SessionPolicy {
  absoluteMs: number;
  idleMs: number;
}

export type PasswordCheck = { ok: true; user: UserRecord } | { ok: false; reason: 'unknown name' | 'wrong password' | 'account disabled' };

export interface UserStore {
  readonly lockout: LockoutPolicy;
  readonly sessions: SessionPolicy;
  /** A new operator with a fresh TOTP secret (not enrolled yet). */
  add(o: { name: string; role: string; password: string; by: string }): Promise<UserRecord>;
  list(): Promise<UserRecord[]>;
  get(name: string): Promise<UserRecord | undefined>;
  /** Disables the account and ends its sessions at once. */
  disable(name: string, by: string): Promise<{ record: UserRecord; sessionsEnded: number }>;
  /** A new TOTP secret to enroll at the next sign-in; ends the account's sessions. */
  resetTotp(name: string): Promise<{ record: UserRecord; sessionsEnded: number }>;
  /** Epoch ms until which the name is locked, when it is locked now. */
  lockedUntil(name: string): Promise<number | undefined>;
  /** Checks the password (argon2id; an unknown name takes as long as a known one). Counts nothing. */
  verifyPassword(name: string, password: string): Promise<PasswordCheck>;
  /** Counts a failed attempt; `lockedUntil` when this one locked the name. */
  recordFailure(name: string): Promise<{ failures: number; lockedUntil?: number }>;
  /** What the authenticator app is enrolled with: otpauth:// URL (issuer Firebreak, label the name). */
  totpUrl(name: string): Promise<string>;
  /** A code of the current step (±1) not used before; accepting it marks the factor enrolled. */
  verifyTotp(name: string, code: string): Promise<'ok' | 'invalid' | 'replayed'>;
  /** Success: failures forgotten, last sign-in noted. */
  signedIn(name: string, ip: string): Promise<void>;
  createSession(name: string, ip: string): Promise<{ id: string; expiresAt: number }>;
  /** The session's user when the id is live (and the account enabled); refreshes its idle time. */
  lookupSession(id: string): Promise<{ user: UserRecord; createdAt: number } | undefined>;
  deleteSession(id: string): Promise<boolean>;
  /** The CSRF token of a session: HMAC of its id with a secret kept in the store (every process agrees). */
  csrfToken(sessionId: string): Promise<string>;
  close(): Promise<void>;
}

/** A user name, role or password that cannot be accepted, or a name already in use. */
export class UserInvalid extends FirebreakError {
  override readonly code = 'USER_INVALID';
}
export class UserNotFound extends FirebreakError {
  override readonly code = 'USER_NOT_FOUND';
}
/** The user database could not be reached or failed (message never carries a password). */
export class UserStoreUnavailable extends FirebreakError {
  override readonly code = 'USER_STORE_UNAVAILABLE';
}

const NAME = /^[a-z0-9][a-z0-9._-]{0,63}$/;
const SESSION_ID = /^[A-Za-z0-9_-]{43}$/;
export const MIN_PASSWORD = 12;
const MAX_PASSWORD = 1024;
const TOTP_PERIOD = 30;
const DEFAULT_LOCKOUT: LockoutPolicy = { max: 5, windowMs: 15 * 60_000, lockMs: 15 * 60_000 };
const DEFAULT_SESSIONS: SessionPolicy = { absoluteMs: 12 * 3600_000, idleMs: 30 * 60_000 };

interface Row {
  name: string;
  role: string;
  password_hash: string;
  totp_secret: string;
  totp_enrolled_at: string | null;
  totp_last_step: number | string | null;
  failures: number | string;
  failures_since: number | string | null;
  locked_until: number | string | null;
  created_at: string;
  created_by: string;
  disabled_at: string | null;
  disabled_by: string | null;
  last_signin_at: string | null;
  last_signin_ip: string | null;
}
type SessionRow = Row & { s_created_at: number | string; s_last_seen_at: number | string };

/** PostgreSQL's BIGINT arrives as text. */
const num = (v: number | string | null): number | undefined => (v === null || v === undefined ? undefined : Number(v));

function recordOf(r: Row): UserRecord {
  const role = checkRole(r.role);
  return {
    name: r.name,
    role,
    scopes: scopesOf(role),
    enrolled: r.totp_enrolled_at !== null,
    disabled: r.disabled_at !== null,
    createdAt: r.created_at,
    createdBy: r.created_by,
    ...(r.disabled_at ? { disabledAt: r.disabled_at, disabledBy: r.disabled_by ?? '' } : {}),
    ...(r.last_signin_at ? { lastSignInAt: r.last_signin_at, lastSignInIp: r.last_signin_ip ?? '' } : {}),
  };
}

const sessionHash = (id: string) => createHash('sha256').update(id, 'utf8').digest('hex');
const totpOf = (name: string, secret: string) =>
  new TOTP({ issuer: 'Firebreak', label: name, algorithm: 'SHA1', digits: 6, period: TOTP_PERIOD, secret: Secret.fromBase32(secret) });

/** SQLite `file` (tokens.db), or PostgreSQL tables users, sessions, console_secrets in `schema` when `url` is given. */
export async function openUserStore(o: {
  url?: string;
  schema?: string;
  file: string;
  lockout?: Partial<LockoutPolicy>;
  sessions?: Partial<SessionPolicy>;
  /** Epoch ms; tests move it. */
  clock?: () => number;
}): Promise<UserStore> {
  return userStore(await openUserDb(o), {
    lockout: { ...DEFAULT_LOCKOUT, ...o.lockout },
    sessions: { ...DEFAULT_SESSIONS, ...o.sessions },
    clock: o.clock ?? Date.now,
  });
}

function userStore(db: UserDb, o: { lockout: LockoutPolicy; sessions: SessionPolicy; clock: () => number }): UserStore {
  const { users, sessions, secrets } = db.tables;
  const { lockout, clock } = o;
  const row = async (name: string) => (await db.all<Row>(`SELECT * FROM ${users} WHERE name = ?`, [name]))[0];
  const mustRow = async (name: string) => {
    const r = await row(name);
    if (!r) throw new UserNotFound(`no user "${name}"`);
    return r;
  };
  // Names nobody has: locked like real ones (in this process), so 423 does not tell which names exist.
  const unknown = new Map<string, { since: number; failures: number; lockedUntil?: number }>();
  // Spent on unknown names so that they take as long as a wrong password.
  let dummyHash: Promise<string> | undefined;
  let csrfSecret: Promise<Buffer> | undefined;
  const endSessions = (name: string) => db.run(`DELETE FROM ${sessions} WHERE user_name = ?`, [name]);

  async function loadCsrfSecret(): Promise<Buffer> {
    const read = async () => (await db.all<{ value: string }>(`SELECT value FROM ${secrets} WHERE name = 'csrf'`, []))[0]?.value;
    let v = await read();
    if (!v) {
      // Two servers starting together: the first insert wins, both read the winner.
      await db.run(`INSERT INTO ${secrets} (name, value, created_at) VALUES ('csrf', ?, ?) ON CONFLICT (name) DO NOTHING`, [
        randomBytes(32).toString('hex'),
        new Date(clock()).toISOString(),
      ]);
      v = await read();
    }
    if (!v) throw new FirebreakError('console secret could not be created');
    return Buffer.from(v, 'hex');
  }

  return {
    lockout,
    sessions: o.sessions,

    async add({ name, role, password, by }) {
      if (!NAME.test(name)) throw new UserInvalid(`user name "${name}" must be 1-64 of a-z 0-9 . _ - starting with a letter or digit`);
      const checked = checkRole(role);
      if (password.length < MIN_PASSWORD) throw new UserInvalid(`the password must have at least ${MIN_PASSWORD} characters`);
      if (password.length > MAX_PASSWORD) throw new UserInvalid(`the password must have at most ${MAX_PASSWORD} characters`);
      if (password.toLowerCase().includes(name)) throw new UserInvalid('the password must not contain the user name');
      if (!by) throw new UserInvalid('a user needs a creator (by)');
      if (await row(name)) throw new UserInvalid(`a user named "${name}" already exists`);
      // @node-rs/argon2 defaults: argon2id, 19 MiB, 2 passes (OWASP's minimum).
      const passwordHash = await hash(password);
      const secret = new Secret({ size: 20 }).base32;
      try {
        await db.run(
          `INSERT INTO ${users} (name, role, password_hash, totp_secret, failures, created_at, created_by) VALUES (?, ?, ?, ?, 0, ?, ?)`,
          [name, checked, passwordHash, secret, new Date(clock()).toISOString(), by],
        );
      } catch (err) {
        if (db.isUniqueViolation(err)) throw new UserInvalid(`a user named "${name}" already exists`);
        throw err;
      }
      return recordOf(await mustRow(name));
    },

    async list() {
      return (await db.all<Row>(`SELECT * FROM ${users} ORDER BY created_at, name`, [])).map(recordOf);
    },

    async get(name) {
      const r = await row(name);
      return r ? recordOf(r) : undefined;
    },

    async disable(name, by) {
      const r = await mustRow(name);
      if (r.disabled_at) throw new UserInvalid(`user "${name}" is already disabled (at ${r.disabled_at})`);
      await db.run(`UPDATE ${users} SET disabled_at = ?, disabled_by = ? WHERE name = ? AND disabled_at IS NULL`, [
        new Date(clock()).toISOString(),
        by,
        name,
      ]);
      const sessionsEnded = await endSessions(name);
      return { record: recordOf(await mustRow(name)), sessionsEnded };
    },

    async resetTotp(name) {
      await mustRow(name);
      const secret = new Secret({ size: 20 }).base32;
      await db.run(`UPDATE ${users} SET totp_secret = ?, totp_enrolled_at = NULL, totp_last_step = NULL WHERE name = ?`, [secret, name]);
      const sessionsEnded = await endSessions(name);
      return { record: recordOf(await mustRow(name)), sessionsEnded };
    },

    async lockedUntil(name) {
      const now = clock();
      const r = await row(name);
      const until = r ? num(r.locked_until) : unknown.get(name)?.lockedUntil;
      return until !== undefined && until > now ? until : undefined;
    },

    async verifyPassword(name, password) {
      const r = await row(name);
      if (!r) {
        dummyHash ??= hash(randomBytes(16).toString('hex'));
        await verify(await dummyHash, password).catch(() => false);
        return { ok: false, reason: 'unknown name' };
      }
      const ok = await verify(r.password_hash, password).catch(() => false);
      if (!ok) return { ok: false, reason: 'wrong password' };
      if (r.disabled_at) return { ok: false, reason: 'account disabled' };
      return { ok: true, user: recordOf(r) };
    },

    async recordFailure(name) {
      const now = clock();
      const windowStart = now - lockout.windowMs;
      if (!(await row(name))) {
        if (unknown.size >= 10_000) unknown.clear();
        const u = unknown.get(name);
        const w = u && u.since > windowStart ? u : { since: now, failures: 0 };
        const failures = w.failures + 1;
        unknown.set(name, failures >= lockout.max ? { since: now, failures: 0, lockedUntil: now + lockout.lockMs } : { ...w, failures });
        return failures >= lockout.max ? { failures, lockedUntil: now + lockout.lockMs } : { failures };
      }
      // One statement, so failures from several processes all count.
      await db.run(
        `UPDATE ${users} SET
           failures = CASE WHEN failures_since IS NULL OR failures_since <= CAST(? AS BIGINT) THEN 1 ELSE failures + 1 END,
           failures_since = CASE WHEN failures_since IS NULL OR failures_since <= CAST(? AS BIGINT) THEN CAST(? AS BIGINT) ELSE failures_since END
         WHERE name = ?`,
        [windowStart, windowStart, now, name],
      );
      const failures = num((await mustRow(name)).failures) ?? 0;
      if (failures < lockout.max) return { failures };
      const lockedUntil = now + lockout.lockMs;
      const n = await db.run(`UPDATE ${users} SET locked_until = ?, failures = 0, failures_since = NULL WHERE name = ? AND failures >= ?`, [
        lockedUntil,
        name,
        lockout.max,
      ]);
      return n ? { failures, lockedUntil } : { failures };
    },

    async totpUrl(name) {
      const r = await mustRow(name);
      return totpOf(r.name, r.totp_secret).toString();
    },

    async verifyTotp(name, code) {
      const r = await mustRow(name);
      const now = clock();
      const delta = totpOf(r.name, r.totp_secret).validate({ token: code, timestamp: now, window: 1 });
      if (delta === null) return 'invalid';
      const step = TOTP.counter({ period: TOTP_PERIOD, timestamp: now }) + delta;
      // Atomic: the same code (or an older one) accepted once, even by two servers at the same moment.
      const n = await db.run(
        `UPDATE ${users} SET totp_last_step = ?, totp_enrolled_at = COALESCE(totp_enrolled_at, ?)
         WHERE name = ? AND totp_secret = ? AND (totp_last_step IS NULL OR totp_last_step < ?)`,
        [step, new Date(now).toISOString(), name, r.totp_secret, step],
      );
      return n ? 'ok' : 'replayed';
    },

    async signedIn(name, ip) {
      await db.run(`UPDATE ${users} SET last_signin_at = ?, last_signin_ip = ?, failures = 0, failures_since = NULL WHERE name = ?`, [
        new Date(clock()).toISOString(),
        ip,
        name,
      ]);
    },

    async createSession(name, ip) {
      const now = clock();
      // Sessions that ended on their own are swept here, not by a timer.
      await db.run(`DELETE FROM ${sessions} WHERE created_at <= ? OR last_seen_at <= ?`, [
        now - o.sessions.absoluteMs,
        now - o.sessions.idleMs,
      ]);
      const id = randomBytes(32).toString('base64url');
      await db.run(`INSERT INTO ${sessions} (id_hash, user_name, created_at, last_seen_at, ip) VALUES (?, ?, ?, ?, ?)`, [
        sessionHash(id),
        name,
        now,
        now,
        ip,
      ]);
      return { id, expiresAt: now + o.sessions.absoluteMs };
    },

    async lookupSession(id) {
      if (!SESSION_ID.test(id)) return undefined;
      const now = clock();
      const h = sessionHash(id);
      const r = (
        await db.all<SessionRow>(
          `SELECT u.*, s.created_at AS s_created_at, s.last_seen_at AS s_last_seen_at
           FROM ${sessions} s JOIN ${users} u ON u.name = s.user_name WHERE s.id_hash = ?`,
          [h],
        )
      )[0];
      if (!r) return undefined;
      const createdAt = num(r.s_created_at)!;
      const lastSeen = num(r.s_last_seen_at)!;
      if (r.disabled_at || createdAt <= now - o.sessions.absoluteMs || lastSeen <= now - o.sessions.idleMs) {
        await db.run(`DELETE FROM ${sessions} WHERE id_hash = ?`, [h]);
        return undefined;
      }
      // Idle time is refreshed at most every 1/30 of it (a minute by default): not a write per request.
      if (now - lastSeen >= o.sessions.idleMs / 30) {
        await db.run(`UPDATE ${sessions} SET last_seen_at = ? WHERE id_hash = ? AND last_seen_at < ?`, [now, h, now]);
      }
      return { user: recordOf(r), createdAt };
    },

    async deleteSession(id) {
      if (!SESSION_ID.test(id)) return false;
      return (await db.run(`DELETE FROM ${sessions} WHERE id_hash = ?`, [sessionHash(id)])) > 0;
    },

    async csrfToken(sessionId) {
      csrfSecret ??= loadCsrfSecret().catch((err) => {
        csrfSecret = undefined;
        throw err;
      });
      return createHmac('sha256', await csrfSecret)
        .update(`csrf:${sessionId}`)
        .digest('base64url');
    },

    close: () => db.close(),
  };
}

/** Constant-time comparison of two tokens (strings of any length). */
export function sameToken(a: string, b: string): boolean {
  const x = createHash('sha256').update(a).digest();
  const y = createHash('sha256').update(b).digest();
  return timingSafeEqual(x, y) && a === b;
}

/** The store's tables on the identity database (SQLite tokens.db or the journal's PostgreSQL schema). */
interface UserDb extends IdentityDb {
  tables: { users: string; sessions: string; secrets: string };
  isUniqueViolation(err: unknown): boolean;
}

const ddl = (t: UserDb['tables']) => [
  `CREATE TABLE IF NOT EXISTS ${t.users} (
    name TEXT PRIMARY KEY, role TEXT NOT NULL, password_hash TEXT NOT NULL,
    totp_secret TEXT NOT NULL, totp_enrolled_at TEXT, totp_last_step BIGINT,
    failures INTEGER NOT NULL DEFAULT 0, failures_since BIGINT, locked_until BIGINT,
    created_at TEXT NOT NULL, created_by TEXT NOT NULL, disabled_at TEXT, disabled_by TEXT,
    last_signin_at TEXT, last_signin_ip TEXT)`,
  `CREATE TABLE IF NOT EXISTS ${t.sessions} (
    id_hash TEXT PRIMARY KEY, user_name TEXT NOT NULL, created_at BIGINT NOT NULL, last_seen_at BIGINT NOT NULL, ip TEXT)`,
  `CREATE INDEX IF NOT EXISTS sessions_user_name ON ${t.sessions} (user_name)`,
  `CREATE TABLE IF NOT EXISTS ${t.secrets} (name TEXT PRIMARY KEY, value TEXT NOT NULL, created_at TEXT NOT NULL)`,
];

const tablesOf = (table: (name: string) => string): UserDb['tables'] => ({
  users: table('users'),
  sessions: table('sessions'),
  secrets: table('console_secrets'),
});

async function openUserDb(o: { url?: string; schema?: string; file: string }): Promise<UserDb> {
  const db = await openIdentityDb({
    ...o,
    what: 'users',
    ddl: (table) => ddl(tablesOf(table)),
    unavailable: (message, cause) => new UserStoreUnavailable(message, { cause }),
    // Every console request reads its session (no cache: a disabled account is refused at once).
    poolSize: 8,
  });
  return { ...db, tables: tablesOf(db.table), isUniqueViolation };
}
