import { userInfo } from 'node:os';
import type { App } from '../app/app.js';
import type { Journal } from '../journal/types.js';
import { redactor } from '../secrets.js';
import { resolvePaths } from './config.js';
import { die } from './exit.js';

/** The application as the CLI opens it: paths from flags and environment, REDIS_URL, DATABASE_URL. */
export async function cliApp(
  flags: { inventory?: string; playbooks?: string; journal?: string },
  opts: { local?: boolean; quiet?: boolean } = {},
): Promise<App & { journal: Journal }> {
  const { openApp } = await import('../app/open.js');
  return openApp({
    paths: resolvePaths(flags),
    databaseUrl: process.env.DATABASE_URL || undefined,
    databaseSchema: process.env.FIREBREAK_DATABASE_SCHEMA || undefined,
    redisUrl: process.env.REDIS_URL || undefined,
    redisPrefix: process.env.FIREBREAK_REDIS_PREFIX || undefined,
    local: opts.local,
    onBreakGlass: (why) =>
      process.stderr.write(
        `\n!!! BREAK-GLASS: ${redactor.text(why)}\n!!! The run goes through the local executor in this process; the journal records it.\n\n`,
      ),
  });
}

export function whoAmI(): string {
  try {
    return userInfo().username;
  } catch {
    return `uid:${process.getuid?.() ?? '?'}`;
  }
}

/**
 * SIGINT/SIGTERM during a run: stop at a safe point (what is in flight on each device finishes
 * and is verified), journal `interrupted`, say how to go on. A second signal leaves at once (the
 * run then shows as interrupted once its lease runs out).
 */
export function stopOnSignals(what: string): { signal: AbortSignal; dispose(): void } {
  const ctl = new AbortController();
  const handler = (sig: NodeJS.Signals) => {
    if (ctl.signal.aborted) {
      process.stderr.write(`\n${sig} again: leaving now; the ${what} shows as interrupted once its lease runs out\n`);
      process.exit(130);
    }
    process.stderr.write(`\n${sig}: stopping the ${what} at a safe point (changes in flight finish and are verified)...\n`);
    ctl.abort(`stopped by ${sig}`);
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return {
    signal: ctl.signal,
    dispose() {
      process.off('SIGINT', handler);
      process.off('SIGTERM', handler);
    },
  };
}

/**
 * One CLI command's life with the application: open it, stop at a safe point on SIGINT/SIGTERM
 * (when the command changes devices), close it whatever happens, print errors the CLI way.
 */
export async function withCliApp(
  flags: { inventory?: string; playbooks?: string; journal?: string },
  opts: { local?: boolean; stoppable?: 'run' | 'rollback' },
  fn: (app: App & { journal: Journal }, stop: AbortSignal | undefined) => Promise<void>,
): Promise<void> {
  try {
    const app = await cliApp(flags, { local: opts.local });
    const stop = opts.stoppable ? stopOnSignals(opts.stoppable) : undefined;
    try {
      await fn(app, stop?.signal);
    } finally {
      stop?.dispose();
      await app.close();
    }
  } catch (err) {
    die(err);
  }
}
