import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import { ConfigInvalid } from '../errors.js';
import { packageRoot } from '../package-root.js';
import { resolvePaths } from './config.js';
import { die } from './exit.js';

/**
 * `firebreak serve --listen 127.0.0.1:8080`: the REST API (and, later, the console) for
 * detectors and people. SIGINT/SIGTERM shut it down gracefully: no accepted run is lost.
 */
export function serveCommand(): Command {
  return new Command('serve')
    .description('serve the REST API for detectors, operators and the console')
    .option('--listen <host:port>', 'address to listen on', '127.0.0.1:8080')
    .option('--triggers <file>', 'detector triggers (env FIREBREAK_TRIGGERS; default ./triggers.yaml when it exists)')
    .option('--notify <file>', 'notification channels (env FIREBREAK_NOTIFY; default ./notify.yaml when it exists)')
    .option('--drills <file>', 'drills and their schedules (env FIREBREAK_DRILLS; default ./drills.yaml when it exists)')
    .option('--local', 'execute runs in this process even when REDIS_URL is set')
    .action(async (opts: { listen: string; triggers?: string; notify?: string; drills?: string; local?: boolean }, cmd: Command) => {
      try {
        const { host, port } = parseListen(opts.listen);
        const { serve } = await import('../api/serve.js');
        const serving = await serve({
          app: {
            paths: resolvePaths(cmd.optsWithGlobals()),
            databaseUrl: process.env.DATABASE_URL || undefined,
            databaseSchema: process.env.FIREBREAK_DATABASE_SCHEMA || undefined,
            redisUrl: process.env.REDIS_URL || undefined,
            redisPrefix: process.env.FIREBREAK_REDIS_PREFIX || undefined,
            local: opts.local,
          },
          host,
          port,
          triggersFile: configFile(opts.triggers, 'FIREBREAK_TRIGGERS', 'triggers.yaml'),
          notifyFile: configFile(opts.notify, 'FIREBREAK_NOTIFY', 'notify.yaml'),
          drillsFile: configFile(opts.drills, 'FIREBREAK_DRILLS', 'drills.yaml'),
          version: JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')).version,
          failures: process.env.FIREBREAK_AUTH_FAILURES
            ? { windowMs: 60_000, max: Number(process.env.FIREBREAK_AUTH_FAILURES) }
            : undefined,
        });
        process.stderr.write(`firebreak: serving ${serving.url} (executor: ${serving.executor}); Ctrl-C stops gracefully\n`);
        let signals = 0;
        const stop = (sig: NodeJS.Signals) => {
          if (++signals > 1) {
            process.stderr.write(`${sig} again: leaving now\n`);
            process.exit(130);
          }
          process.stderr.write(`${sig}: no new requests; finishing what was accepted...\n`);
          void serving.stop().then(
            () => process.exit(0),
            (err) => die(err),
          );
        };
        process.on('SIGINT', stop);
        process.on('SIGTERM', stop);
      } catch (err) {
        die(err);
      }
    });
}

function configFile(flag: string | undefined, env: string, name: string): string | undefined {
  if (flag) return flag;
  if (process.env[env]) return process.env[env];
  return existsSync(name) ? name : undefined;
}

export function parseListen(text: string): { host: string; port: number } {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([0-9.]+|localhost)):(\d{1,5})$/.exec(text);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535)
    throw new ConfigInvalid(`--listen ${JSON.stringify(text)}: expected host:port, e.g. 127.0.0.1:8080 or [::1]:8080`);
  return { host: m[1] ?? m[2]!, port };
}
