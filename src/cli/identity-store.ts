import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Command } from 'commander';
import { openJournal } from '../journal/open.js';
import type { Journal } from '../journal/types.js';
import { redactor } from '../secrets.js';
import { resolvePaths } from './config.js';
import { die } from './exit.js';

/**
 * The identity stores as the CLI opens them (`firebreak token`, `firebreak user`): DATABASE_URL's
 * database when set, else `tokens.db` next to the journal file, as `firebreak serve` does.
 */
export function identityStoreSpec(cmd: Command) {
  const journal = resolvePaths(cmd.optsWithGlobals<{ journal?: string }>()).journal;
  return {
    journal,
    url: process.env.DATABASE_URL || undefined,
    schema: process.env.FIREBREAK_DATABASE_SCHEMA || undefined,
    file: join(dirname(journal), 'tokens.db'),
  };
}

/**
 * Opens a store (and the journal when `journaled`), runs `fn`, closes both, prints errors the CLI
 * way. `ifNoStore`: what a command that only reads or changes does where no store file is (it
 * must not leave an empty one behind).
 */
export async function withIdentityStore<S extends { close(): Promise<void> }>(
  cmd: Command,
  open: (spec: ReturnType<typeof identityStoreSpec>) => Promise<S>,
  opts: { journaled: boolean; ifNoStore?: (file: string) => void },
  fn: (store: S, journal: Journal | undefined) => Promise<void>,
): Promise<void> {
  try {
    const spec = identityStoreSpec(cmd);
    if (opts.ifNoStore && !spec.url && !existsSync(spec.file)) return opts.ifNoStore(spec.file);
    const journal = opts.journaled ? await openJournal({ url: spec.url, schema: spec.schema, file: spec.journal }, redactor) : undefined;
    try {
      const store = await open(spec);
      try {
        await fn(store, journal);
      } finally {
        await store.close();
      }
    } finally {
      await journal?.close();
    }
  } catch (err) {
    die(err);
  }
}
