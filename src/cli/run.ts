import { Command } from 'commander';
import { createInterface } from 'node:readline/promises';
import type { RunEvent } from '../engine/events.js';
import { PlanInvalid } from '../errors.js';
import { redactor } from '../secrets.js';
import { resolvePaths } from './config.js';
import { engineOn, planFromFiles, whoAmI } from './context.js';
import { collectParam, die, EXIT, exitCodeForState } from './exit.js';
import { formatEvent, formatPlan, formatRollbackSummary, formatRunSummary } from './print.js';

interface Common {
  inventory?: string;
  playbooks?: string;
  journal?: string;
  json?: boolean;
}

function out(s: string): void {
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
        const paths = resolvePaths({ ...cmd.optsWithGlobals(), ...opts });
        const plan = await planFromFiles(paths, { playbook, params: opts.param, allowLockout: opts.allowLockout });
        out(opts.json ? JSON.stringify(plan, null, 2) : formatPlan(plan));
        process.exitCode = plan.errors.length ? EXIT.refused : EXIT.ok;
      } catch (err) {
        die(err);
      }
    });
}

export function runCommand(): Command {
  return new Command('run')
    .description('plan and execute a playbook now (local executor), verifying every change on its device')
    .argument('<playbook>', 'playbook id')
    .option('-p, --param <name=value>', 'playbook parameter (repeatable)', collectParam, {})
    .option('-y, --yes', 'do not ask for confirmation')
    .option('--allow-lockout', 'allow actions that cut the management path (planned last, journaled as overridden)')
    .option('--reason <text>', 'why (recorded in the journal)')
    .option('--json', 'print a machine-readable result')
    .action(
      async (
        playbook: string,
        opts: Common & { param: Record<string, string>; yes?: boolean; allowLockout?: boolean; reason?: string },
        cmd: Command,
      ) => {
        const triggerAt = performance.timeOrigin; // the command started: time to contain counts from here
        try {
          const paths = resolvePaths({ ...cmd.optsWithGlobals(), ...opts });
          const plan = await planFromFiles(paths, { playbook, params: opts.param, allowLockout: opts.allowLockout });
          if (plan.errors.length) {
            process.stderr.write(`${redactor.text(formatPlan(plan))}\nrefused: the plan has errors; nothing was sent to any device\n`);
            process.exit(EXIT.refused);
          }
          if (!opts.yes && !(await confirm(plan.actions.length, formatPlan(plan))))
            throw new PlanInvalid('not confirmed: nothing was changed (use --yes to skip the question)');
          const { engine, journal } = await engineOn(paths.journal);
          const onEvent = progress(opts.json);
          try {
            const result = await engine.run(plan, { trigger: { kind: 'cli', by: whoAmI(), reason: opts.reason }, triggerAt, onEvent });
            out(opts.json ? JSON.stringify(result, null, 2) : formatRunSummary(result));
            // A run that ends rolled back (failure policy) contained nothing: that is a failure.
            process.exitCode = result.state === 'rolled-back' ? EXIT.failed : exitCodeForState(result.state);
          } finally {
            await journal.close();
          }
        } catch (err) {
          die(err);
        }
      },
    );
}

export function rollbackCommand(): Command {
  return new Command('rollback')
    .description('undo a run from the journal: restore what each device showed before, newest change first')
    .argument('<run-id>', 'the run to roll back')
    .option('--reason <text>', 'why (recorded in the journal)')
    .option('--json', 'print a machine-readable result')
    .action(async (runId: string, opts: Common & { reason?: string }, cmd: Command) => {
      try {
        const paths = resolvePaths({ ...cmd.optsWithGlobals(), ...opts });
        const { engine, journal } = await engineOn(paths.journal);
        const onEvent = progress(opts.json);
        try {
          const result = await engine.rollback(runId, { by: whoAmI(), reason: opts.reason, onEvent });
          out(opts.json ? JSON.stringify(result, null, 2) : formatRollbackSummary(result));
          process.exitCode = exitCodeForState(result.state);
        } finally {
          await journal.close();
        }
      } catch (err) {
        die(err);
      }
    });
}

/** Progress lines on a terminal; nothing but the final JSON with --json. */
function progress(json: boolean | undefined): ((e: RunEvent) => void) | undefined {
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
