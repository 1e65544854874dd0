#!/usr/bin/env node
import { Command } from 'commander';
import { resolvePaths } from './config.js';
import { journalCommand } from './journal.js';
import { labCommand } from './lab.js';
import { planCommand, rollbackCommand, runCommand } from './run.js';
import { simCommand } from './sim.js';

const program = new Command('firebreak')
  .description('Network containment orchestrator: plan, contain, verify, journal, roll back')
  .option('--inventory <dir>', 'device inventory folder (env FIREBREAK_INVENTORY; required for plan, run)')
  .option('--playbooks <dir>', 'playbook folder (env FIREBREAK_PLAYBOOKS, default: the shipped playbooks)')
  .option('--journal <file>', 'journal database (env FIREBREAK_JOURNAL, default ./var/journal.db)')
  .showHelpAfterError();

program.addCommand(planCommand());
program.addCommand(runCommand());
program.addCommand(rollbackCommand());
program.addCommand(journalCommand(() => resolvePaths(program.opts()).journal));
program.addCommand(labCommand());
program.addCommand(simCommand());

await program.parseAsync(process.argv);
