import { Command } from 'commander';
import { withCliApp } from './app.js';
import { exitCodeForState } from './exit.js';
import { out, progress } from './run.js';
import { formatRunSummary } from './print.js';
import type { JournalEntry } from '../journal/types.js';

interface Common {
  json?: boolean;
  local?: boolean;
  inventory?: string;
  playbooks?: string;
  journal?: string;
}

/** `firebreak runs [show <id> | resume <id>]`: the same view whichever executor ran the run. */
export function runsCommand(): Command {
  const runs = new Command('runs')
    .description('list runs with state, trigger and time to contain')
    .option('--json', 'machine-readable')
    .action((opts: Common, cmd: Command) =>
      withCliApp(cmd.optsWithGlobals(), { local: true }, async (app) => {
        const list = await app.listRuns();
        if (opts.json) return out(JSON.stringify(list, null, 2));
        if (!list.length) return out('no runs in the journal');
        out(`${'RUN'.padEnd(26)} ${'PLAYBOOK'.padEnd(24)} ${'STATE'.padEnd(16)} ${'TTC'.padStart(8)}  ${'EXECUTOR'.padEnd(20)} TRIGGER`);
        for (const r of list)
          out(
            `${r.runId.padEnd(26)} ${r.playbook.padEnd(24)} ${r.state.padEnd(16)} ${(r.timeToContainMs === null ? '-' : `${r.timeToContainMs}ms`).padStart(8)}  ${r.executor.padEnd(20)} ${r.trigger}`,
          );
      }),
    );

  runs
    .command('show')
    .description('one run: per action its state, timings, device output and errors')
    .argument('<run-id>')
    .option('--json', 'machine-readable')
    .action((runId: string, _opts: Common, cmd: Command) => {
      // `--json` may land on `runs` itself (it has one too): read it from either.
      const opts = cmd.optsWithGlobals<Common>();
      return withCliApp(opts, { local: true }, async (app) => {
        const { view, entries } = await app.showRun(runId);
        const details = actionDetails(entries);
        if (opts.json) return out(JSON.stringify({ ...view, details }, null, 2));
        out(formatRunSummary(view));
        for (const a of view.actions) {
          out(
            `  ${a.actionId.padEnd(4)} ${a.device.padEnd(12)} ${a.what.padEnd(36)} ${a.state}${a.ms !== undefined ? ` (${a.ms} ms)` : ''}`,
          );
          const d = details[a.actionId];
          if (d?.output) out(`       output: ${d.output.split('\n').join('\n               ')}`);
          if (a.error) out(`       error: ${a.error}`);
          if (a.rollback) out(`       rollback: ${a.rollback.state} ${a.rollback.what}${a.rollback.error ? `: ${a.rollback.error}` : ''}`);
        }
      });
    });

  runs
    .command('resume')
    .description('finish an interrupted run from the journal and a fresh read of each device')
    .argument('<run-id>')
    .option('--local', 'run in this process even when REDIS_URL is set')
    .option('--json', 'machine-readable')
    .action((runId: string, _opts: Common, cmd: Command) => {
      const opts = cmd.optsWithGlobals<Common>();
      return withCliApp(opts, { local: opts.local, stoppable: 'run' }, async (app, stop) => {
        const result = await app.resume(runId, { onEvent: progress(opts.json), stop });
        out(opts.json ? JSON.stringify(result, null, 2) : formatRunSummary(result));
        process.exitCode = exitCodeForState(result.state);
      });
    });
  return runs;
}

/** `firebreak holds`: every changed target and the runs holding it. */
export function holdsCommand(): Command {
  return new Command('holds')
    .description('what is held, by which runs (a target is reverted only when its last holder rolls back)')
    .option('--json', 'machine-readable')
    .action((opts: Common, cmd: Command) =>
      withCliApp(cmd.optsWithGlobals(), { local: true }, async (app) => {
        const holds = await app.holds();
        if (opts.json) return out(JSON.stringify(holds, null, 2));
        if (!holds.length) return out('nothing is held');
        for (const h of holds) {
          out(`${h.target}${h.changedByUs ? '' : '   (was so before any run of ours: never reverted)'}`);
          for (const x of h.holders)
            out(`    held by ${x.runId} ${x.actionId} (${x.how === 'changed' ? 'changed it' : 'found it so'}, since ${x.since})`);
        }
      }),
    );
}

function actionDetails(entries: JournalEntry[]): Record<string, { output?: string }> {
  const d: Record<string, { output?: string }> = {};
  for (const e of entries)
    if (e.type === 'action.applied' && typeof e.data.actionId === 'string') d[e.data.actionId] = { output: String(e.data.output ?? '') };
  return d;
}
