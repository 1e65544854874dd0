/**
 * Containment figures on the real lab, through the CLI as an operator runs it (a fresh process
 * per run): time to contain (command start -> last verified action), command start -> first
 * connection attempt to a device, and cut skew. Prints a table; asserts nothing.
 *   sudo node dist/bench/contain.js [runs=10]
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { labUp } from '../src/lab/lab.js';

const run = promisify(execFile);
const root = resolve(import.meta.dirname, '..', '..');
const cli = join(root, 'dist', 'src', 'cli', 'main.js');
const runs = Number(process.argv[2] ?? 10);

interface Sample {
  ttc: number;
  first: number;
  skew: number;
  wall: number;
}

async function once(playbook: string, env: Record<string, string>): Promise<Sample> {
  const t0 = performance.now();
  const { stdout } = await run(process.execPath, [cli, 'run', playbook, '--yes', '--json'], { env: { ...process.env, ...env } });
  const wall = performance.now() - t0;
  const r = JSON.parse(stdout);
  if (r.state !== 'contained') throw new Error(`${playbook}: run ended ${r.state}: ${JSON.stringify(r.notDone)}`);
  await run(process.execPath, [cli, 'rollback', r.runId, '--json'], { env: { ...process.env, ...env } });
  return { ttc: r.timeToContainMs, first: r.firstContactMs, skew: Math.max(...r.cutSkewMs), wall };
}

function stats(xs: number[]): string[] {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p: number) => s[Math.min(s.length - 1, Math.floor(p * s.length))]!;
  return [q(0.5), q(0.9), s[s.length - 1]!].map((x) => x.toFixed(1));
}

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
    await once(playbook, { ...env, ...extra }); // warm the page cache once
    const samples: Sample[] = [];
    for (let i = 0; i < runs; i++) samples.push(await once(playbook, { ...env, ...extra }));
    rows.push([playbook, 'time to contain (ms)', ...stats(samples.map((s) => s.ttc)), '< 1000']);
    rows.push([playbook, 'start -> first device contact (ms)', ...stats(samples.map((s) => s.first)), '< 500']);
    rows.push([playbook, 'cut skew (ms)', ...stats(samples.map((s) => s.skew)), '< 50']);
    rows.push([playbook, 'whole CLI process (ms)', ...stats(samples.map((s) => s.wall)), '']);
  }
  rmSync(dir, { recursive: true, force: true });
  const head = ['playbook', 'figure', 'p50', 'p90', 'max', 'target'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((c, i) => c.padEnd(widths[i]!)).join(' | ');
  console.log(`containment on the lab, ${runs} runs each (node ${process.version})`);
  console.log(line(head));
  console.log(widths.map((w) => '-'.repeat(w)).join('-|-'));
  for (const r of rows) console.log(line(r));
}

await main();
