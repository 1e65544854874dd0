import { Command } from 'commander';
import { die, exitCodeForState } from './exit.js';
import { cliApp, stopOnSignals } from './app.js';
import { out, progress } from './run.js';
import { formatRunSummary } from './print.js';
import type { JournalEntry } from '../journal/types.js';

interface Common {
  json?: boolean;
  local?: boolean;
}

/** `firebreak runs [show <id> | resume <id>]`: the same view whichever executor ran the run. */
export function runsCommand(): Command {
  const runs = new Command('runs')
    .description('list runs with state, trigger and time to contain')
    .option('--json', 'machine-readable')
    .action(async (opts: Common, cmd: Command) => {
      try {
        const app = await cliApp(cmd.optsWithGlobals(), { local: true });
        try {
          const list = await app.listRuns();
          if (opts.json) return out(JSON.stringify(list, null, 2));
          if (!list.length) return out('no runs in the journal');
          out(`${'RUN'.padEnd(26)} ${'PLAYBOOK'.padEnd(24)} ${'STATE'.padEnd(16)} ${'TTC'.padStart(8)}  ${'EXECUTOR'.padEnd(20)} TRIGGER`);
          for (const r of list)
            out(
              `${r.runId.padEnd(26)} ${r.playbook.padEnd(24)} ${r.state.padEnd(16)} ${(r.timeToContainMs === null ? '-' : `${r.timeToContainMs}ms`).padStart(8)}  ${r.executor.padEnd(20)} ${r.trigger}`,
            );
        } finally {
          await app.close();
        }
      } catch (err) {
        die(err);
      }
    });

  runs
    .command('show')
    .description('one run: per action its state, timings, device output and errors')
    .argument('<run-id>')
    .option('--json', 'machine-readable')
    .action(async (runId: string, _opts: Common, cmd: Command) => {
      // `--json` may land on `runs` itself (it has one too): read it from either.
      const opts = cmd.optsWithGlobals<Common>();
      try {
        const app = await cliApp(cmd.optsWithGlobals(), { local: true });
        try {
          const { view, entries } = await app.showRun(runId);
          if (opts.json) return out(JSON.stringify({ ...view, details: actionDetails(entries) }, null, 2));
          out(formatRunSummary(view));
          const details = actionDetails(entries);
          for (const a of view.actions) {
            out(
              `  ${a.actionId.padEnd(4)} ${a.device.padEnd(12)} ${a.what.padEnd(36)} ${a.state}${a.ms !== undefined ? ` (${a.ms} ms)` : ''}`,
            );
            const d = details[a.actionId];
            if (d?.output) out(`       output: ${d.output.split('\n').join('\n               ')}`);
            if (a.error) out(`       error: ${a.error}`);
          }
        } finally {
          await app.close();
        }
      } catch (err) {
        die(err);
      }
    });

  runs
    .command('resume')
    .description('finish an interrupted run from the journal and a fresh read of each device')
    .argument('<run-id>')
    .option('--local', 'run in this process even when REDIS_URL is set')
    .option('--json', 'machine-readable')
    .action(async (runId: string, _opts: Common, cmd: Command) => {
      const opts = cmd.optsWithGlobals<Common>();
      try {
        const app = await cliApp(cmd.optsWithGlobals(), { local: opts.local });
        const stop = stopOnSignals('run');
        try {
          const result = await app.resume(runId, { onEvent: progress(opts.json), stop: stop.signal });
          out(opts.json ? JSON.stringify(result, null, 2) : formatRunSummary(result));
          process.exitCode = exitCodeForState(result.state);
        } finally {
          stop.dispose();
          await app.close();
        }
      } catch (err) {
        die(err);
      }
    });
  return runs;
}

/** `firebreak holds`: every changed target and the runs holding it. */
export function holdsCommand(): Command {
  return new Command('holds')
    .description('what is held, by which runs (a target is reverted only when its last holder rolls back)')
    .option('--json', 'machine-readable')
    .action(async (opts: Common, cmd: Command) => {
      try {
        const app = await cliApp(cmd.optsWithGlobals(), { local: true });
        try {
          const holds = await app.holds();
          if (opts.json) return out(JSON.stringify(holds, null, 2));
          if (!holds.length) return out('nothing is held');
          for (const h of holds) {
            out(`${h.target}${h.changedByUs ? '' : '   (was so before any run of ours: never reverted)'}`);
            for (const x of h.holders)
              out(`    held by ${x.runId} ${x.actionId} (${x.how === 'changed' ? 'changed it' : 'found it so'}, since ${x.since})`);
          }
        } finally {
          await app.close();
        }
      } catch (err) {
        die(err);
      }
    });
}

function actionDetails(entries: JournalEntry[]): Record<string, { output?: string }> {
  const d: Record<string, { output?: string }> = {};
  for (const e of entries)
    if (e.type === 'action.applied' && typeof e.data.actionId === 'string') d[e.data.actionId] = { output: String(e.data.output ?? '') };
  return d;
}
