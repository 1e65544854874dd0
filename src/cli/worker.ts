import { Command } from 'commander';
import { ConfigInvalid } from '../errors.js';
import { redactor } from '../secrets.js';
import { resolvePaths } from './config.js';
import { die } from './exit.js';

/**
 * `firebreak worker [--site S]...`: takes device steps for its sites and coordinates runs, from
 * REDIS_URL, writing to the journal (DATABASE_URL, or the SQLite file when all workers share a
 * host). Stops on SIGINT/SIGTERM: a run in progress stops at a safe point and goes to another worker.
 */
export function workerCommand(): Command {
  return new Command('worker')
    .description('process queued runs near the devices (needs REDIS_URL)')
    .option('--site <name>', 'a site whose devices this worker reaches (repeatable; default: every site in the inventory)', collect, [])
    .option('--no-coordinate', 'take device steps only, do not coordinate runs')
    .option('--concurrency <n>', 'device steps at once', (v) => Number(v), 256)
    .option('--max-sessions <n>', 'warm device sessions kept open between runs', (v) => Number(v), 1024)
    .action(async (opts: { site: string[]; coordinate: boolean; concurrency: number; maxSessions: number }, cmd: Command) => {
      try {
        const redisUrl = process.env.REDIS_URL;
        if (!redisUrl) throw new ConfigInvalid('firebreak worker needs REDIS_URL (e.g. redis://127.0.0.1:6379)');
        const paths = resolvePaths(cmd.optsWithGlobals());
        let sites = opts.site;
        if (!sites.length) {
          const { loadInventory } = await import('../inventory/load.js');
          sites = [...new Set([...(await loadInventory(paths.inventory)).devices.values()].map((d) => d.site))].sort();
        }
        const [
          { openJournal },
          { startWorker },
          { drivers },
          { openSession },
          { resolveSecret, Redactor },
          { monotonicClock },
          { defaultOwner },
        ] = await Promise.all([
          import('../journal/open.js'),
          import('../queue/worker.js'),
          import('../drivers/registry.js'),
          import('../transports/connect.js'),
          import('../secrets.js'),
          import('../engine/clock.js'),
          import('../engine/leases.js'),
        ]);
        // The worker's journal writer learns each run's device secrets from the plan it executes.
        const scrub = new Redactor();
        const journal = await openJournal(
          { url: process.env.DATABASE_URL || undefined, file: paths.journal, schema: process.env.FIREBREAK_DATABASE_SCHEMA || undefined },
          scrub,
        );
        const worker = await startWorker({
          redisUrl,
          prefix: process.env.FIREBREAK_REDIS_PREFIX || 'firebreak',
          sites,
          coordinate: opts.coordinate,
          journal,
          drivers,
          openSession,
          resolveSecret,
          clock: monotonicClock,
          owner: defaultOwner('worker'),
          concurrency: opts.concurrency,
          maxSessions: opts.maxSessions,
          orphanAfterMs: Number(process.env.FIREBREAK_ORPHAN_AFTER_MS) || undefined,
          redactor: scrub,
          log: (l) => process.stderr.write(`${redactor.text(l)}\n`),
        });
        process.stdout.write(`worker ${worker.owner} ready: sites ${sites.join(', ')}${opts.coordinate ? '; coordinating runs' : ''}\n`);
        await new Promise<void>((resolve) => {
          const stop = (sig: string) => {
            process.stderr.write(`${sig}: worker stopping (runs in progress stop at a safe point and go to another worker)\n`);
            resolve();
          };
          process.once('SIGINT', stop);
          process.once('SIGTERM', stop);
        });
        await worker.close();
        await journal.close();
      } catch (err) {
        die(err);
      }
    });
}

function collect(v: string, prev: string[]): string[] {
  return [...prev, v];
}
