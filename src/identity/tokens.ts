import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { isIP } from 'node:net';
import { addressWithin } from '../address.js';
import { FirebreakError } from '../errors.js';
import { checkScope, ScopeInvalid } from './scopes.js';
import { type IdentityDb, isUniqueViolation, openIdentityDb } from './store-db.js';

/**
 * API tokens: `fbk_<id>_<secret>`, shown once at creation. The store keeps the id (to find the
 * row) and sha256 of the secret, never the secret itself. Every authenticate reads the store (no
 * cache), so a token revoked from another process is refused on its next request.
 */

export interface TokenRecord {
  id: string;
  name: string;
  scopes: string[];
  allow: string[];
  createdAt: string;
  createdBy: string;
  revokedAt?: string;
  revokedBy?: string;
  lastUsedAt?: string;
}

/** Who is asking: an API token (id: the token id) or a console user signed in with a session cookie (id: the user name). */
export interface Identity {
  kind: 'token' | 'user';
  id: string;
  name: string;
  scopes: string[];
}

export interface TokenStore {
  create(o: { name: string; scopes: string[]; allow?: string[]; by: string }): Promise<{ token: string; record: TokenRecord }>;
  /** Every token, revoked ones too, oldest first; never the secret or its hash. */
  list(): Promise<TokenRecord[]>;
  /** Unknown -> TokenNotFound; already revoked -> TokenAlreadyRevoked. */
  revoke(idOrName: string, by: string): Promise<TokenRecord>;
  /** The token's record; undefined when the text is malformed, or the token unknown or revoked. */
  authenticate(token: string): Promise<TokenRecord | undefined>;
  close(): Promise<void>;
}

/** A token name, scope list or allow entry that cannot be accepted, or a name already in use. */
export class TokenInvalid extends FirebreakError {
  override readonly code = 'TOKEN_INVALID';
}
export class TokenNotFound extends FirebreakError {
  override readonly code = 'TOKEN_NOT_FOUND';
}
export class TokenAlreadyRevoked extends FirebreakError {
  override readonly code = 'TOKEN_ALREADY_REVOKED';
}
/** The token database could not be reached or failed (message never carries a password). */
export class TokenStoreUnavailable extends FirebreakError {
  override readonly code = 'TOKEN_STORE_UNAVAILABLE';
}

const TOKEN = /^fbk_([0-9a-f]{10})_([A-Za-z0-9_-]{43})$/;
const NAME = /^[a-z0-9][a-z0-9._-]{0,63}$/;
/** lastUsedAt is bookkeeping: written at most once a minute per token, not on every request. */
const TOUCH_EVERY_MS = 60_000;

/** The id a well-formed token text carries (not secret: it only names the row), else undefined. */
export function tokenId(token: string): string | undefined {
  return TOKEN.exec(token)?.[1];
}

// A 256-bit random secret cannot be guessed or brute-forced from its hash, so a fast sha256 is
// enough; slow KDFs (scrypt, argon2) exist for low-entropy passwords and would only slow each request.
function secretHash(secret: string): Buffer {
  return createHash('sha256').update(secret, 'utf8').digest();
}

/** Is `ip` (as req.ip gives it: maybe `::ffff:a.b.c.d`, maybe with a zone) allowed by the token's list? Empty list: any. */
export function addressAllowed(record: TokenRecord, ip: string): boolean {
  if (!record.allow.length) return true;
  const bare = ip.replace(/%.*$/, '');
  const v4 = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(bare)?.[1];
  const forms = v4 ? [bare, v4] : [bare];
  return record.allow.some((block) => forms.some((a) => addressWithin(a, block)));
}

/** An allow entry: an IPv4/IPv6 address or prefix (`10.0.0.0/8`, `2001:db8::/32`). */
function checkAllow(entry: string): string {
  const [net = '', len, extra] = entry.split('/');
  const family = isIP(net);
  const max = family === 4 ? 32 : 128;
  const lenOk = len === undefined || (/^\d{1,3}$/.test(len) && Number(len) <= max);
  if (family === 0 || extra !== undefined || !lenOk) {
    throw new TokenInvalid(`allow entry "${entry}" is not an IPv4/IPv6 address or prefix (e.g. 10.1.2.3, 10.0.0.0/8, 2001:db8::/32)`);
  }
  return entry;
}

interface Row {
  id: string;
  name: string;
  secret_hash: string;
  scopes: string;
  allow: string;
  created_at: string;
  created_by: string;
  revoked_at: string | null;
  revoked_by: string | null;
  last_used_at: string | null;
}

function recordOf(r: Row): TokenRecord {
  return {
    id: r.id,
    name: r.name,
    scopes: JSON.parse(r.scopes) as string[],
    allow: JSON.parse(r.allow) as string[],
    createdAt: r.created_at,
    createdBy: r.created_by,
    ...(r.revoked_at ? { revokedAt: r.revoked_at, revokedBy: r.revoked_by ?? '' } : {}),
    ...(r.last_used_at ? { lastUsedAt: r.last_used_at } : {}),
  };
}

const columns = (t: string) => `
CREATE TABLE IF NOT EXISTS ${t} (
  id           TEXT PRIMARY KEY,
  name         TEXT NOT NULL,
  secret_hash  TEXT NOT NULL,
  scopes       TEXT NOT NULL,
  allow        TEXT NOT NULL,
  created_at   TEXT NOT NULL,
  created_by   TEXT NOT NULL,
  revoked_at   TEXT,
  revoked_by   TEXT,
  last_used_at TEXT
)`;
// One live token per name; revoked ones keep theirs for the record.
const activeNameIndex = (t: string) => `CREATE UNIQUE INDEX IF NOT EXISTS api_tokens_active_name ON ${t} (name) WHERE revoked_at IS NULL`;

/** PostgreSQL table `api_tokens` in `schema` when `url` is given, else the SQLite file `file`. */
export async function openTokenStore(o: { url?: string; schema?: string; file: string }): Promise<TokenStore> {
  const db = await openIdentityDb({
    ...o,
    what: 'tokens',
    ddl: (table) => [columns(table('api_tokens')), activeNameIndex(table('api_tokens'))],
    unavailable: (message, cause) => new TokenStoreUnavailable(message, { cause }),
    // Every API request reads its token (no cache: a revocation takes effect at once).
    poolSize: 8,
  });
  return tokenStore(db);
}

function tokenStore(db: IdentityDb): TokenStore {
  const t = db.table('api_tokens');
  const byId = async (id: string) => (await db.all<Row>(`SELECT * FROM ${t} WHERE id = ?`, [id]))[0];
  const activeByName = async (name: string) => (await db.all<Row>(`SELECT * FROM ${t} WHERE name = ? AND revoked_at IS NULL`, [name]))[0];
  const nameTaken = (name: string, id: string) =>
    new TokenInvalid(`a token named "${name}" already exists (id ${id}); revoke it first or pick another name`);

  return {
    async create({ name, scopes, allow = [], by }) {
      if (!NAME.test(name)) {
        throw new TokenInvalid(`token name "${name}" must be 1-64 of a-z 0-9 . _ - starting with a letter or digit`);
      }
      if (!scopes.length) throw new ScopeInvalid('a token needs at least one scope');
      const scopeList = [...new Set(scopes.map(checkScope))];
      const allowList = [...new Set(allow.map((a) => checkAllow(a.trim())))];
      if (!by) throw new TokenInvalid('a token needs a creator (by)');
      const taken = await activeByName(name);
      if (taken) throw nameTaken(name, taken.id);
      for (let attempt = 0; ; attempt++) {
        const id = randomBytes(5).toString('hex');
        const secret = randomBytes(32).toString('base64url');
        const record: TokenRecord = { id, name, scopes: scopeList, allow: allowList, createdAt: new Date().toISOString(), createdBy: by };
        try {
          await db.run(`INSERT INTO ${t} (id, name, secret_hash, scopes, allow, created_at, created_by) VALUES (?, ?, ?, ?, ?, ?, ?)`, [
            id,
            name,
            secretHash(secret).toString('hex'),
            JSON.stringify(scopeList),
            JSON.stringify(allowList),
            record.createdAt,
            by,
          ]);
          return { token: `fbk_${id}_${secret}`, record };
        } catch (err) {
          if (!isUniqueViolation(err)) throw err;
          // Another process took the name meanwhile, or (rarely) the random id exists: try a new id.
          const now = await activeByName(name);
          if (now) throw nameTaken(name, now.id);
          if (attempt >= 3) throw err;
        }
      }
    },

    async list() {
      return (await db.all<Row>(`SELECT * FROM ${t} ORDER BY created_at, id`, [])).map(recordOf);
    },

    async revoke(idOrName, by) {
      const row = (await byId(idOrName)) ?? (await activeByName(idOrName));
      if (!row) {
        const old = await db.all<Row>(`SELECT * FROM ${t} WHERE name = ? ORDER BY revoked_at DESC`, [idOrName]);
        if (old[0]) throw new TokenAlreadyRevoked(`token "${idOrName}" (id ${old[0].id}) is already revoked (at ${old[0].revoked_at})`);
        throw new TokenNotFound(`no token with id or name "${idOrName}"`);
      }
      if (row.revoked_at) throw new TokenAlreadyRevoked(`token ${row.id} ("${row.name}") is already revoked (at ${row.revoked_at})`);
      const at = new Date().toISOString();
      const n = await db.run(`UPDATE ${t} SET revoked_at = ?, revoked_by = ? WHERE id = ? AND revoked_at IS NULL`, [at, by, row.id]);
      const after = await byId(row.id);
      if (!n || !after) throw new TokenAlreadyRevoked(`token ${row.id} ("${row.name}") was revoked meanwhile by another process`);
      return recordOf(after);
    },

    async authenticate(token) {
      const m = TOKEN.exec(token);
      if (!m) return undefined;
      const row = await byId(m[1]!);
      if (!row || row.revoked_at) return undefined;
      const stored = Buffer.from(row.secret_hash, 'hex');
      const given = secretHash(m[2]!);
      if (stored.length !== given.length || !timingSafeEqual(stored, given)) return undefined;
      const record = recordOf(row);
      const now = Date.now();
      if (!record.lastUsedAt || Date.parse(record.lastUsedAt) <= now - TOUCH_EVERY_MS) {
        const at = new Date(now).toISOString();
        const before = new Date(now - TOUCH_EVERY_MS).toISOString();
        // Bookkeeping only: a failed write must not refuse a valid token. The condition keeps
        // several processes from all writing in the same minute.
        await db
          .run(`UPDATE ${t} SET last_used_at = ? WHERE id = ? AND (last_used_at IS NULL OR last_used_at <= ?)`, [at, row.id, before])
          .then(() => {
            record.lastUsedAt = at;
          })
          .catch(() => undefined);
      }
      return record;
    },

    close: () => db.close(),
  };
}
