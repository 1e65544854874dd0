import { existsSync } from 'node:fs';
import { Command } from 'commander';
import { exportJsonl } from '../journal/export.js';
import { formatEntries } from '../journal/format.js';
import { type JournalSpec, openJournal } from '../journal/open.js';
import { Redactor } from '../secrets.js';
import type { JournalStore } from '../journal/types.js';

const EXPORT_FORMATS = ['jsonl'] as const;

/** Exit codes: 0 ok, 1 usage or unknown run, 3 the journal does not verify. */
export const EXIT_JOURNAL_PROBLEMS = 3;

/**
 * `firebreak journal show <run> | verify | export --format jsonl`. Output goes through this
 * command's configureOutput() (stdout/stderr by default), errors through its error(), so a
 * caller can capture both and use exitOverride().
 */
export function journalCommand(getJournal: () => JournalSpec & { file: string }): Command {
  const journal = new Command('journal').description('read, verify and export the run journal');
  const out = (s: string) => journal.configureOutput().writeOut?.(s) ?? process.stdout.write(s);
  const fail = (message: string, exitCode: number, code: string): never =>
    journal.error(message.startsWith('error:') ? message : `error: ${message}`, { exitCode, code });

  async function withStore<T>(fn: (store: JournalStore) => Promise<T>): Promise<T> {
    const spec = getJournal();
    // Reading commands must not create an empty journal where the operator expected one.
    if (!spec.url && !existsSync(spec.file)) fail(`no journal at ${spec.file}`, 1, 'firebreak.noJournal');
    // Reads pass through the writer untouched; nothing is appended here.
    const store = await openJournal(spec, new Redactor());
    try {
      return await fn(store);
    } finally {
      await store.close();
    }
  }

  journal
    .command('show')
    .description('print the entries of one run, one line each')
    .argument('<run>', 'run id')
    .action(async (runId: string) => {
      const { entries, known } = await withStore(async (s) => {
        const entries = await s.entries(runId);
        return { entries, known: entries.length ? [] : (await s.runs()).map((r) => r.runId) };
      });
      if (!entries.length) {
        const recent = known.slice(-5).reverse();
        fail(
          `unknown run "${runId}"${recent.length ? ` (recent runs: ${recent.join(', ')})` : ' (the journal has no runs)'}`,
          1,
          'firebreak.unknownRun',
        );
      }
      out(formatEntries(entries));
    });

  journal
    .command('verify')
    .description(`check the hash chain and the head record (exit ${EXIT_JOURNAL_PROBLEMS} when anything is wrong)`)
    .action(async () => {
      const report = await withStore((s) => s.verify());
      if (report.ok) {
        out(`journal ok: ${report.entries} entries, chain intact\n`);
        return;
      }
      for (const p of report.problems) out(`${p}\n`);
      fail(
        `journal does not verify: ${report.problems.length} problem(s) in ${report.entries} entries`,
        EXIT_JOURNAL_PROBLEMS,
        'firebreak.journalCorrupt',
      );
    });

  journal
    .command('export')
    .description('write every entry to stdout')
    .option('--format <format>', `output format (${EXPORT_FORMATS.join(', ')})`, 'jsonl')
    .action(async (opts: { format: string }) => {
      if (!(EXPORT_FORMATS as readonly string[]).includes(opts.format)) {
        fail(`unknown export format "${opts.format}" (allowed: ${EXPORT_FORMATS.join(', ')})`, 1, 'firebreak.badFormat');
      }
      await withStore((s) => exportJsonl(s, (line) => out(`${line}\n`)));
    });

  return journal;
}
