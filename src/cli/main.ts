#!/usr/bin/env node
import { constants } from 'node:os';
import { Command } from 'commander';
import { resolvePaths } from './config.js';
import { journalCommand } from './journal.js';
import { labCommand } from './lab.js';
import { planCommand, rollbackCommand, runCommand } from './run.js';
import { holdsCommand, runsCommand } from './runs.js';
import { simCommand } from './sim.js';
import { tokenCommand } from './token.js';
import { userCommand } from './user.js';
import { approveCommands } from './approve.js';
import { serveCommand } from './serve.js';
import { drillCommand } from './drill.js';
import { workerCommand } from './worker.js';

/** What the shell reports for a writer killed by SIGPIPE (`yes | head -1` under pipefail: 141). */
const EXIT_BROKEN_PIPE = 128 + constants.signals.SIGPIPE;

// `firebreak journal export | head`: the reader went away. Later writes are dropped (the stream is
// destroyed) and the command runs to its end, so a run still journals what it did to devices; the
// process then exits as a broken pipe does, unless the command sets its own exit code.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err;
    process.exitCode ??= EXIT_BROKEN_PIPE;
  });
}

const program = new Command('firebreak')
  .description('Network containment orchestrator: plan, contain, verify, journal, roll back')
  .option('--inventory <dir>', 'device inventory folder (env FIREBREAK_INVENTORY; required for plan, run)')
  .option('--playbooks <dir>', 'playbook folder (env FIREBREAK_PLAYBOOKS, default: the shipped playbooks)')
  .option('--journal <file>', 'journal database (env FIREBREAK_JOURNAL, default ./var/journal.db)')
  .showHelpAfterError();

program.addCommand(planCommand());
program.addCommand(runCommand());
program.addCommand(rollbackCommand());
program.addCommand(runsCommand());
program.addCommand(holdsCommand());
program.addCommand(
  journalCommand(() => ({
    file: resolvePaths(program.opts()).journal,
    url: process.env.DATABASE_URL || undefined,
    schema: process.env.FIREBREAK_DATABASE_SCHEMA || undefined,
  })),
);
program.addCommand(labCommand());
program.addCommand(simCommand());
program.addCommand(workerCommand());
program.addCommand(tokenCommand());
program.addCommand(userCommand());
program.addCommand(serveCommand());
for (const c of approveCommands()) program.addCommand(c);
program.addCommand(drillCommand());

await program.parseAsync(process.argv);
