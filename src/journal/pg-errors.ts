import { FirebreakError, IdempotencyTaken, JournalCorrupt, JournalUnavailable } from '../errors.js';

/**
 * PostgreSQL and socket errors as Firebreak errors, at the store's edge. `where` names the journal
 * (URL without password, see urlForDisplay); `doing` what the store was at. The messages never
 * carry the password: the server's own words do not contain it, and `secret` (the URL's
 * password) is scrubbed from them anyway.
 */
export function journalError(where: string, doing: string, err: unknown, secret?: string): FirebreakError {
  if (err instanceof FirebreakError) return err;
  const e = (err ?? {}) as { code?: unknown; message?: unknown; errors?: unknown };
  const code = typeof e.code === 'string' ? e.code : '';
  const scrub = (s: string) => (secret && secret.length >= 3 ? s.split(secret).join('[redacted]') : s);
  // Node's AggregateError (every address of a host name refused) has an empty message of its own.
  const inner = Array.isArray(e.errors)
    ? e.errors
        .map((x) => (x as Error)?.message)
        .filter(Boolean)
        .join('; ')
    : '';
  const said = scrub(typeof e.message === 'string' && e.message ? e.message : inner || String(err));
  const cause = { cause: err };

  if (SOCKET_CODES.has(code)) return new JournalUnavailable(`${where}: cannot reach PostgreSQL while ${doing} (${code}: ${said})`, cause);
  if (/timeout|terminated|ended|closed|not queryable/i.test(said) && !/^[0-9A-Z]{5}$/.test(code)) {
    // pg's own connection errors carry no SQLSTATE: "Connection terminated unexpectedly", "timeout expired".
    return new JournalUnavailable(`${where}: connection to PostgreSQL lost or timed out while ${doing} (${said})`, cause);
  }
  const cls = code.slice(0, 2);
  if (cls === '28') return new JournalUnavailable(`${where}: PostgreSQL refused the login while ${doing}: ${said} (${code})`, cause);
  if (code === '3D000' || code === '3F000') return new JournalUnavailable(`${where}: ${said} (${code})`, cause);
  if (code === '55P03') {
    return new JournalUnavailable(
      `${where}: another writer held the journal head for too long while ${doing} (lock_timeout, ${code})`,
      cause,
    );
  }
  if (code === '42501') return new JournalUnavailable(`${where}: permission denied while ${doing}: ${said} (${code})`, cause);
  if (code === '23505' && (e as { constraint?: unknown }).constraint === 'entries_idempotency')
    return new IdempotencyTaken(`${where}: a run with this idempotency key is in the journal already`, cause);
  if (code === '23505' || code === 'P0001') {
    // A seq taken behind the store's back, or one of the append-only triggers refusing a change.
    return new JournalCorrupt(`${where}: ${said} while ${doing} (${code}); run \`firebreak journal verify\``, cause);
  }
  if (cls === '08' || cls === '57' || cls === '53') {
    return new JournalUnavailable(`${where}: PostgreSQL unavailable while ${doing}: ${said} (${code})`, cause);
  }
  return new JournalUnavailable(`${where}: ${doing} failed: ${said}${code ? ` (${code})` : ''}`, cause);
}

const SOCKET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE']);
