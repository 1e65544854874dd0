import { fork } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { openSqliteJournal } from '../src/journal/sqlite.js';
import { Redactor } from '../src/secrets.js';

/**
 * Journal append cost: SQLite, WAL, synchronous=FULL (an fsync per append). Prints a table;
 * asserts nothing. `node dist/bench/journal.js [N]` (default 2000).
 * Scenarios: one process appending N; two processes appending N/2 each to the same file at once
 * (the chain must still verify: that is printed, not asserted).
 */

const N = Number(process.argv[2] ?? 2000);

/** A realistic write-ahead entry: pre-state, inverse, a few hundred bytes. */
function intent(i: number): Record<string, unknown> {
  return {
    actionId: `a${i}`,
    device: `access-${i % 7}`,
    action: { kind: 'interface.disable', interface: `swp${i % 48}` },
    before: { admin: 'up', oper: 'up', routes: [{ dst: 'default', gateway: '198.51.100.1', metric: 10 }] },
    inverse: { kind: 'interface.enable', interface: `swp${i % 48}`, routes: [] },
    output: 'ip link set dev swp1 down\n'.repeat(4),
  };
}

/** Appends `count` entries and returns each append's latency in ms. */
async function appendMany(file: string, count: number, runId: string, ready?: () => Promise<void>): Promise<number[]> {
  const r = new Redactor();
  r.add('not-in-the-data-but-checked');
  const store = openSqliteJournal(file, { redactor: r });
  await ready?.();
  const lat: number[] = [];
  for (let i = 0; i < count; i++) {
    const t0 = performance.now();
    await store.append(runId, 'action.intent', intent(i));
    lat.push(performance.now() - t0);
  }
  await store.close();
  return lat;
}

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN;
}

interface Row {
  scenario: string;
  appends: number;
  wallMs: number;
  lat: number[];
  verify: string;
  verifyMs: number;
}

async function verifyFile(file: string): Promise<{ verify: string; verifyMs: number }> {
  const store = openSqliteJournal(file);
  const t0 = performance.now();
  const report = await store.verify();
  const verifyMs = performance.now() - t0;
  // How often the chain passes from one writer to the other: shows the processes really overlapped.
  const all = await store.all();
  const switches = all.filter((e, i) => i > 0 && e.runId !== all[i - 1]!.runId).length;
  await store.close();
  const status = report.ok ? `ok (${report.entries}, ${switches} handovers)` : `${report.problems.length} problems`;
  return { verify: status, verifyMs };
}

async function oneProcess(dir: string): Promise<Row> {
  const file = join(dir, 'one.db');
  const t0 = performance.now();
  const lat = await appendMany(file, N, 'bench-1');
  const wallMs = performance.now() - t0;
  return { scenario: '1 process', appends: N, wallMs, lat, ...(await verifyFile(file)) };
}

async function twoProcesses(dir: string): Promise<Row> {
  const file = join(dir, 'two.db');
  // Create the schema first so both children start appending, not racing on CREATE TABLE.
  await openSqliteJournal(file).close();
  const self = fileURLToPath(import.meta.url);
  const children: ReturnType<typeof fork>[] = [];
  let readyCount = 0;
  const t0 = performance.now();
  const results = await Promise.all(
    [0, 1].map(
      (k) =>
        new Promise<number[]>((resolve, reject) => {
          const child = fork(self, ['--child', file, String(Math.floor(N / 2)), `bench-${k}`], {
            stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
          });
          const timer = setTimeout(() => child.kill('SIGKILL'), 120_000); // bounded: never hang the bench
          child.on('message', (m) => {
            if (m === 'ready') {
              // Start both writers together so they really contend for the lock.
              if (++readyCount === 2) for (const c of children) c.send('go');
            } else resolve(m as number[]);
          });
          children.push(child);
          child.once('exit', (code) => {
            clearTimeout(timer);
            if (code !== 0) reject(new Error(`child ${k} exited with ${code}`));
          });
        }),
    ),
  );
  const wallMs = performance.now() - t0;
  const lat = results.flat();
  return { scenario: '2 processes', appends: lat.length, wallMs, lat, ...(await verifyFile(file)) };
}

function table(rows: Row[]): void {
  const head = ['scenario', 'appends', 'appends/s', 'mean ms', 'p50 ms', 'p99 ms', 'max ms', 'verify', 'verify ms'];
  const body = rows.map((r) => {
    const s = [...r.lat].sort((a, b) => a - b);
    const mean = s.reduce((a, b) => a + b, 0) / s.length;
    return [
      r.scenario,
      String(r.appends),
      (r.appends / (r.wallMs / 1000)).toFixed(0),
      mean.toFixed(3),
      pct(s, 50).toFixed(3),
      pct(s, 99).toFixed(3),
      (s[s.length - 1] ?? NaN).toFixed(3),
      r.verify,
      r.verifyMs.toFixed(1),
    ];
  });
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  console.log(`journal append bench: SQLite WAL, synchronous=FULL, N=${N}, ${tmpdir()}`);
  console.log(line(head));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const b of body) console.log(line(b));
}

async function main(): Promise<void> {
  if (process.argv[2] === '--child') {
    const [file, count, runId] = process.argv.slice(3);
    const go = () =>
      new Promise<void>((resolve) => {
        process.once('message', () => resolve());
        process.send!('ready');
      });
    const lat = await appendMany(file!, Number(count), runId!, go);
    process.send!(lat, () => process.exit(0));
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'fb-bench-journal-'));
  try {
    table([await oneProcess(dir), await twoProcesses(dir)]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
