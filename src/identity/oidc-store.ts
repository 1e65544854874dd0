import { createHash, randomBytes } from 'node:crypto';
import { FirebreakError } from '../errors.js';
import { isRole, type Role, scopesOf } from './roles.js';
import { type IdentityDb, openIdentityDb } from './store-db.js';
import type { SessionPolicy, UserRecord, UserStore } from './users.js';

/**
 * What OIDC sign-in keeps server-side, in the same file or database as the users (tables
 * oidc_logins, oidc_sessions), so every server of a deployment agrees: a sign-in in progress
 * (state, nonce, PKCE verifier under the sha256 of a random handle; taken once: a replayed
 * callback finds nothing) and the sessions of people who have no row in the user table.
 */

export interface PendingLogin {
  state: string;
  nonce: string;
  verifier: string;
  createdAt: number;
}
export interface OidcPerson {
  /** `<issuer>#<sub>`: the identity id. */
  subject: string;
  name: string;
  role: Role;
}
/** A console user from the IdP: a UserRecord (what the session routes show) plus the identity id. */
export type OidcUserRecord = UserRecord & { subject: string };

export interface OidcStore {
  /** A new sign-in in progress; the handle goes to the browser in a cookie. */
  beginLogin(login: Omit<PendingLogin, 'createdAt'>): Promise<string>;
  /** The sign-in of the handle, removed as it is read (undefined: unknown, taken before, or older than the TTL). */
  takeLogin(handle: string): Promise<PendingLogin | undefined>;
  createSession(person: OidcPerson, ip: string): Promise<{ id: string }>;
  lookupSession(id: string): Promise<{ user: OidcUserRecord; createdAt: number } | undefined>;
  deleteSession(id: string): Promise<boolean>;
  close(): Promise<void>;
}

/** A sign-in must come back within this. */
export const LOGIN_TTL_MS = 10 * 60_000;
/** Sign-ins in progress at most (an unauthenticated route creates them): beyond it /start answers 503. */
export const MAX_PENDING_LOGINS = 10_000;
const SESSION_ID = /^[A-Za-z0-9_-]{43}$/;
const sha256 = (s: string) => createHash('sha256').update(s, 'utf8').digest('hex');

export class TooManyLogins extends FirebreakError {
  override readonly code = 'TOO_MANY_SIGNINS';
}

export async function openOidcStore(o: {
  url?: string;
  schema?: string;
  file: string;
  sessions: SessionPolicy;
  clock?: () => number;
}): Promise<OidcStore> {
  const db = await openOidcDb(o);
  const clock = o.clock ?? Date.now;
  const { logins, sessions } = db.tables;
  return {
    async beginLogin(login) {
      const now = clock();
      await db.run(`DELETE FROM ${logins} WHERE created_at <= ?`, [now - LOGIN_TTL_MS]);
      const [{ n } = { n: 0 }] = await db.all<{ n: number | string }>(`SELECT COUNT(*) AS n FROM ${logins}`, []);
      if (Number(n) >= MAX_PENDING_LOGINS) throw new TooManyLogins('too many sign-ins in progress; try again in a few minutes');
      const handle = randomBytes(32).toString('base64url');
      await db.run(`INSERT INTO ${logins} (handle_hash, state, nonce, verifier, created_at) VALUES (?, ?, ?, ?, ?)`, [
        sha256(handle),
        login.state,
        login.nonce,
        login.verifier,
        now,
      ]);
      return handle;
    },

    async takeLogin(handle) {
      if (!SESSION_ID.test(handle)) return undefined;
      // One statement: of two callbacks with the same handle (two servers, one moment) only one gets the row.
      const [r] = await db.all<{ state: string; nonce: string; verifier: string; created_at: number | string }>(
        `DELETE FROM ${logins} WHERE handle_hash = ? RETURNING state, nonce, verifier, created_at`,
        [sha256(handle)],
      );
      if (!r || Number(r.created_at) <= clock() - LOGIN_TTL_MS) return undefined;
      return { state: r.state, nonce: r.nonce, verifier: r.verifier, createdAt: Number(r.created_at) };
    },

    async createSession(person, ip) {
      const now = clock();
      await db.run(`DELETE FROM ${sessions} WHERE created_at <= ? OR last_seen_at <= ?`, [
        now - o.sessions.absoluteMs,
        now - o.sessions.idleMs,
      ]);
      const id = randomBytes(32).toString('base64url');
      await db.run(`INSERT INTO ${sessions} (id_hash, subject, name, role, created_at, last_seen_at, ip) VALUES (?, ?, ?, ?, ?, ?, ?)`, [
        sha256(id),
        person.subject,
        person.name,
        person.role,
        now,
        now,
        ip,
      ]);
      return { id };
    },

    async lookupSession(id) {
      if (!SESSION_ID.test(id)) return undefined;
      const now = clock();
      const h = sha256(id);
      const [r] = await db.all<{ subject: string; name: string; role: string; created_at: number | string; last_seen_at: number | string }>(
        `SELECT subject, name, role, created_at, last_seen_at FROM ${sessions} WHERE id_hash = ?`,
        [h],
      );
      if (!r) return undefined;
      const createdAt = Number(r.created_at);
      const lastSeen = Number(r.last_seen_at);
      const role = r.role;
      if (createdAt <= now - o.sessions.absoluteMs || lastSeen <= now - o.sessions.idleMs || !isRole(role)) {
        await db.run(`DELETE FROM ${sessions} WHERE id_hash = ?`, [h]);
        return undefined;
      }
      if (now - lastSeen >= o.sessions.idleMs / 30) {
        await db.run(`UPDATE ${sessions} SET last_seen_at = ? WHERE id_hash = ? AND last_seen_at < ?`, [now, h, now]);
      }
      const at = new Date(createdAt).toISOString();
      const user: OidcUserRecord = {
        name: r.name,
        role,
        scopes: scopesOf(role),
        enrolled: true,
        disabled: false,
        createdAt: at,
        createdBy: 'oidc',
        subject: r.subject,
      };
      return { user, createdAt };
    },

    async deleteSession(id) {
      if (!SESSION_ID.test(id)) return false;
      return (await db.run(`DELETE FROM ${sessions} WHERE id_hash = ?`, [sha256(id)])) > 0;
    },

    close: () => db.close(),
  };
}

/**
 * The user store the API uses when OIDC is on: a session cookie is looked up among local
 * sessions, then OIDC ones, so authentication, GET/DELETE /session and CSRF work the same for both.
 */
export function withOidcSessions(users: UserStore, oidc: OidcStore): UserStore {
  // UserStore is a plain object of closures: spreading keeps every other method as it is.
  return {
    ...users,
    async lookupSession(id) {
      return (await users.lookupSession(id)) ?? (await oidc.lookupSession(id));
    },
    async deleteSession(id) {
      return (await users.deleteSession(id)) || (await oidc.deleteSession(id));
    },
  };
}

/** The store's tables on the identity database (SQLite tokens.db or the journal's PostgreSQL schema). */
interface Db extends IdentityDb {
  tables: { logins: string; sessions: string };
}

const ddl = (t: Db['tables']) => [
  `CREATE TABLE IF NOT EXISTS ${t.logins} (
    handle_hash TEXT PRIMARY KEY, state TEXT NOT NULL, nonce TEXT NOT NULL, verifier TEXT NOT NULL, created_at BIGINT NOT NULL)`,
  `CREATE TABLE IF NOT EXISTS ${t.sessions} (
    id_hash TEXT PRIMARY KEY, subject TEXT NOT NULL, name TEXT NOT NULL, role TEXT NOT NULL,
    created_at BIGINT NOT NULL, last_seen_at BIGINT NOT NULL, ip TEXT)`,
];

const tablesOf = (table: (name: string) => string): Db['tables'] => ({ logins: table('oidc_logins'), sessions: table('oidc_sessions') });

async function openOidcDb(o: { url?: string; schema?: string; file: string }): Promise<Db> {
  const db = await openIdentityDb({
    ...o,
    what: 'oidc sessions',
    ddl: (table) => ddl(tablesOf(table)),
    unavailable: (message, cause) => new FirebreakError(message, { cause }),
  });
  return { ...db, tables: tablesOf(db.table) };
}
