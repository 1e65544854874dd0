import { Command } from 'commander';
import { entryEvent } from '../engine/entry-events.js';
import type { Plan } from '../plan/types.js';
import { withCliApp, whoAmI } from './app.js';
import { exitCodeForState } from './exit.js';
import { out, progress } from './run.js';

/**
 * `firebreak approve|reject <run>`: the second person's decision from a shell. Approving starts
 * what waited (the run, or its rollback) and follows it to rest; the requester cannot approve.
 */
export function approveCommands(): Command[] {
  const decision = (name: 'approve' | 'reject') =>
    new Command(name)
      .description(
        name === 'approve'
          ? 'approve a run (or its rollback) waiting for approval, and follow it'
          : 'reject a run (or its rollback) waiting for approval',
      )
      .argument('<run-id>')
      .option('--reason <text>', 'why (kept in the journal)')
      .option('--json', 'machine-readable progress')
      .action((runId: string, opts: { reason?: string; json?: boolean }, cmd: Command) =>
        withCliApp(cmd.optsWithGlobals(), { stoppable: name === 'approve' ? 'run' : undefined }, async (app) => {
          const user = whoAmI();
          const who = { by: user, identity: `cli:${user}` };
          if (name === 'reject') {
            const r = await app.reject(runId, { ...who, reason: opts.reason });
            return out(`${runId}: ${r.for === 'run' ? 'run' : 'rollback'} rejected by ${user} (run is ${r.state})`);
          }
          const before = (await app.journal.entries(runId)).at(-1)?.seq ?? 0;
          const r = await app.approve(runId, who);
          out(`${runId}: ${r.for === 'run' ? 'run' : 'rollback'} approved by ${user}; ${r.state}`);
          const plan = (await app.journal.find({ runId, types: ['run.created'] }))[0]?.data.plan as Plan | undefined;
          const print = progress(opts.json);
          for await (const e of app.follow(runId, { afterSeq: before })) {
            const ev = entryEvent(e, plan);
            if (ev) print?.(ev);
          }
          const state = await app.state(runId);
          out(`${runId}: ${state}`);
          process.exitCode = exitCodeForState(state);
        }),
      );
  return [decision('approve'), decision('reject')];
}
