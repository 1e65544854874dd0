import { ConfigInvalid } from '../errors.js';
import { type Redactor, urlForDisplay, urlPassword } from '../secrets.js';
import { openSqliteStore } from './sqlite.js';
import type { Journal } from './types.js';
import { journalWriter } from './writer.js';

export interface JournalSpec {
  /** `postgres://` or `postgresql://`: the shared PostgreSQL journal. Empty: the SQLite file. */
  url?: string;
  /** The SQLite journal file, used when there is no URL. */
  file?: string;
  /** PostgreSQL schema (default `firebreak`). */
  schema?: string;
}

/**
 * The journal a deployment is configured for, behind the writer that redacts with `redactor`:
 * PostgreSQL when `url` is a postgres URL, else SQLite at `file`. The URL's own password is added
 * to `redactor` too. A URL of another kind is refused rather than silently falling back to a local
 * file: workers on several hosts must not each keep a journal of their own.
 */
export async function openJournal(spec: JournalSpec, redactor: Redactor): Promise<Journal> {
  const url = spec.url?.trim();
  if (url) {
    if (!/^postgres(ql)?:\/\//i.test(url)) {
      throw new ConfigInvalid(
        `journal ${urlForDisplay(url)}: unsupported URL (known: postgres://, postgresql://; no URL means the SQLite file)`,
      );
    }
    const password = urlPassword(url);
    if (password) redactor.add(password);
    // Loaded only here: the PostgreSQL client costs a one-shot CLI run ~70 ms of imports.
    const { openPostgresJournal } = await import('./postgres.js');
    return journalWriter(await openPostgresJournal(url, spec.schema ? { schema: spec.schema } : {}), redactor);
  }
  if (!spec.file) throw new ConfigInvalid('journal: neither a PostgreSQL URL nor a SQLite file was given');
  return journalWriter(openSqliteStore(spec.file), redactor);
}
