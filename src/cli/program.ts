import { constants } from 'node:os';
import { Command } from 'commander';
import { resolvePaths } from './config.js';

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

/**
 * Each command's module, loaded on demand: `firebreak run` in an emergency must not first load the
 * API server, the identity stores, BullMQ and the PostgreSQL client (~250 ms of imports on a small
 * machine, before the first device is contacted). Help, or a name no command has, loads them all.
 */
const journalSpec = () => ({
  file: resolvePaths(program.opts()).journal,
  url: process.env.DATABASE_URL || undefined,
  schema: process.env.FIREBREAK_DATABASE_SCHEMA || undefined,
});
const modules: [string[], () => Promise<Command[]>][] = [
  [
    ['plan', 'run', 'rollback'],
    async () => {
      const m = await import('./run.js');
      return [m.planCommand(), m.runCommand(), m.rollbackCommand()];
    },
  ],
  [
    ['runs', 'holds'],
    async () => {
      const m = await import('./runs.js');
      return [m.runsCommand(), m.holdsCommand()];
    },
  ],
  [['journal'], async () => [(await import('./journal.js')).journalCommand(journalSpec)]],
  [['lab'], async () => [(await import('./lab.js')).labCommand()]],
  [['sim'], async () => [(await import('./sim.js')).simCommand()]],
  [['worker'], async () => [(await import('./worker.js')).workerCommand()]],
  [['token'], async () => [(await import('./token.js')).tokenCommand()]],
  [['user'], async () => [(await import('./user.js')).userCommand()]],
  [['serve'], async () => [(await import('./serve.js')).serveCommand()]],
  [['approve', 'reject'], async () => (await import('./approve.js')).approveCommands()],
  [['drill'], async () => [(await import('./drill.js')).drillCommand()]],
];

/** The command named on the line: the first word that is not a global option or its value. */
function commandName(argv: string[]): string | undefined {
  const withValue = new Set(['--inventory', '--playbooks', '--journal']);
  for (let i = 2; i < argv.length; i++) {
    const a = argv[i]!;
    if (withValue.has(a)) i++;
    else if (!a.startsWith('-')) return a;
  }
  return undefined;
}

/** Runs the command line `argv` (as process.argv: node, script, words...). */
export async function main(argv: string[] = process.argv): Promise<void> {
  const name = commandName(argv);
  const wanted = modules.filter(([names]) => name !== undefined && names.includes(name));
  for (const [, load] of wanted.length ? wanted : modules) for (const c of await load()) program.addCommand(c);
  await program.parseAsync(argv);
}
