/**
 * Containment figures on the real lab, through the CLI as an operator runs it (a fresh process
 * per run): time to contain (command start -> last verified action), command start -> first
 * connection attempt to a device, and cut skew. Prints a table; asserts nothing.
 *   sudo node dist/bench/contain.js [runs=10]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { labUp } from '../src/lab/lab.js';
import { root, type RunSample, runAndRollBack } from './lib/cli-run.js';
import { printTable, stats } from './lib/table.js';

const runs = Number(process.argv[2] ?? 10);

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('needs root (the lab)');
  const lab = await labUp();
  const dir = mkdtempSync(join(tmpdir(), 'fb-bench-'));
  const env = { FIREBREAK_INVENTORY: lab.inventoryDir, FIREBREAK_JOURNAL: join(dir, 'journal.db') };
  const rows: string[][] = [];
  for (const [playbook, extra] of [
    ['drop-internet-uplinks', {}],
    ['cut-two-devices', { FIREBREAK_PLAYBOOKS: join(root, 'bench', 'playbooks') }],
  ] as const) {
    await runAndRollBack(playbook, { ...env, ...extra }); // warm the page cache once
    const samples: RunSample[] = [];
    for (let i = 0; i < runs; i++) samples.push(await runAndRollBack(playbook, { ...env, ...extra }));
    rows.push([
      playbook,
      'time to contain (ms)',
      ...stats(samples.map((s) => s.ttc)),
      playbook === 'drop-internet-uplinks' ? '< 400' : '< 1000',
    ]);
    rows.push([playbook, 'start -> first device contact (ms)', ...stats(samples.map((s) => s.first)), '< 500']);
    rows.push([playbook, 'cut skew (ms)', ...stats(samples.map((s) => s.skew)), '< 50']);
    rows.push([playbook, 'whole CLI process (ms)', ...stats(samples.map((s) => s.wall)), '']);
  }
  rmSync(dir, { recursive: true, force: true });
  printTable(
    `containment on the lab, ${runs} runs each (node ${process.version})`,
    ['playbook', 'figure', 'p50', 'p90', 'max', 'target'],
    rows,
  );
}

await main();
