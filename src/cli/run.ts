import { Command, InvalidArgumentError } from 'commander';
import { createInterface } from 'node:readline/promises';
import type { RunEvent } from '../engine/events.js';
import { PlanInvalid } from '../errors.js';
import { redactor } from '../secrets.js';
import { cliApp, stopOnSignals, whoAmI, withCliApp } from './app.js';
import { collectParam, die, EXIT, exitCodeForState } from './exit.js';
import { formatEvent, formatPlan, formatRollbackSummary, formatRunSummary } from './print.js';

interface Common {
  inventory?: string;
  playbooks?: string;
  journal?: string;
  json?: boolean;
}

export function out(s: string): void {
  process.stdout.write(`${redactor.text(s)}\n`);
}

export function planCommand(): Command {
  return new Command('plan')
    .description('show what a playbook would do with these parameters and this inventory (changes nothing)')
    .argument('<playbook>', 'playbook id (file stem in the playbooks folder)')
    .option('-p, --param <name=value>', 'playbook parameter (repeatable)', collectParam, {})
    .option('--allow-lockout', 'plan actions that cut the management path (planned last)')
    .option('--json', 'print the plan as JSON')
    .action(async (playbook: string, opts: Common & { param: Record<string, string>; allowLockout?: boolean }, cmd: Command) => {
      try {
        const { planFromFiles } = await import('../app/open.js');
        const { resolvePaths } = await import('./config.js');
        const plan = await planFromFiles(resolvePaths({ ...cmd.optsWithGlobals(), ...opts }), {
          playbook,
          params: opts.param,
          allowLockout: opts.allowLockout,
        });
        out(opts.json ? JSON.stringify(plan, null, 2) : formatPlan(plan));
        process.exitCode = plan.errors.length ? EXIT.refused : EXIT.ok;
      } catch (err) {
        die(err);
      }
    });
}

export function runCommand(): Command {
  return new Command('run')
    .description('plan and execute a playbook, verifying every change on its device (queue workers with REDIS_URL, else in-process)')
    .argument('<playbook>', 'playbook id')
    .option('-p, --param <name=value>', 'playbook parameter (repeatable)', collectParam, {})
    .option('-y, --yes', 'do not ask for confirmation')
    .option('--allow-lockout', 'allow actions that cut the management path (planned last, journaled as overridden)')
    .option('--local', 'run in this process even when REDIS_URL is set')
    .option('--reason <text>', 'why (recorded in the journal)')
    .option(
      '--ttl <duration>',
      'time to live (90s, 30m, 4h, 2d): rolled back by `firebreak serve` when it runs out, unless kept',
      parseDuration,
    )
    .option('--json', 'print a machine-readable result')
    .action(
      async (
        playbook: string,
        opts: Common & {
          param: Record<string, string>;
          yes?: boolean;
          allowLockout?: boolean;
          local?: boolean;
          reason?: string;
          ttl?: number;
        },
        cmd: Command,
      ) => {
        const triggerAt = performance.timeOrigin; // the command started: time to contain counts from here
        try {
          const app = await cliApp({ ...cmd.optsWithGlobals(), ...opts }, { local: opts.local });
          const stop = stopOnSignals('run');
          try {
            const plan = await app.preview({ playbook, params: opts.param, allowLockout: opts.allowLockout });
            if (plan.errors.length) {
              process.stderr.write(`${redactor.text(formatPlan(plan))}\nrefused: the plan has errors; nothing was sent to any device\n`);
              process.exitCode = EXIT.refused;
              return;
            }
            if (!opts.yes && !(await confirm(plan.actions.length, formatPlan(plan))))
              throw new PlanInvalid('not confirmed: nothing was changed (use --yes to skip the question)');
            const trigger = { kind: 'cli' as const, by: whoAmI(), reason: opts.reason };
            const result = await app.run(
              plan,
              { trigger, triggerAt, ttlSeconds: opts.ttl },
              { onEvent: progress(opts.json), stop: stop.signal },
            );
            out(opts.json ? JSON.stringify(result, null, 2) : formatRunSummary(result));
            // A run that ends rolled back (failure policy) contained nothing: that is a failure.
            process.exitCode = result.state === 'rolled-back' ? EXIT.failed : exitCodeForState(result.state);
          } finally {
            stop.dispose();
            await app.close();
          }
        } catch (err) {
          die(err);
        }
      },
    );
}

/** `90s`, `30m`, `4h`, `2d` -> seconds. */
export function parseDuration(text: string): number {
  const m = /^(\d{1,6})([smhd])$/.exec(text.trim());
  if (!m) throw new InvalidArgumentError('expected a number and a unit: 90s, 30m, 4h or 2d');
  const s = Number(m[1]) * { s: 1, m: 60, h: 3600, d: 86_400 }[m[2] as 's' | 'm' | 'h' | 'd'];
  if (s < 1 || s > 30 * 86_400) throw new InvalidArgumentError('between 1 second and 30 days');
  return s;
}

export function rollbackCommand(): Command {
  return new Command('rollback')
    .description('undo a run from the journal: let go of its holds, restore what each device showed before, newest change first')
    .argument('<run-id>', 'the run to roll back')
    .option('--local', 'run in this process even when REDIS_URL is set')
    .option('--reason <text>', 'why (recorded in the journal)')
    .option('--json', 'print a machine-readable result')
    .action((runId: string, opts: Common & { reason?: string; local?: boolean }, cmd: Command) =>
      withCliApp({ ...cmd.optsWithGlobals(), ...opts }, { local: opts.local, stoppable: 'rollback' }, async (app, stop) => {
        const result = await app.rollback(runId, { by: whoAmI(), reason: opts.reason, onEvent: progress(opts.json), stop });
        out(opts.json ? JSON.stringify(result, null, 2) : formatRollbackSummary(result));
        process.exitCode = exitCodeForState(result.state);
      }),
    );
}

/** Progress lines on a terminal; nothing but the final JSON with --json. */
export function progress(json: boolean | undefined): ((e: RunEvent) => void) | undefined {
  if (json) return undefined;
  return (e) => {
    const line = formatEvent(e);
    if (line) out(line);
  };
}

async function confirm(count: number, planText: string): Promise<boolean> {
  if (!process.stdin.isTTY) throw new PlanInvalid('refusing to change devices without confirmation on a non-interactive input: pass --yes');
  out(planText);
  const rl = createInterface({ input: process.stdin, output: process.stdout });
  const answer = await rl.question(`Apply ${count} action(s) now? Type "yes": `);
  rl.close();
  return answer.trim() === 'yes';
}
