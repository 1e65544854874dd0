import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { openPostgresJournal } from '../src/journal/postgres.js';
import type { JournalStore } from '../src/journal/types.js';
import { urlForDisplay } from '../src/secrets.js';
import { printTable, stats } from './lib/table.js';

/**
 * Journal append cost on PostgreSQL: every append a transaction that locks the head row, inserts
 * and commits (synchronous_commit as the server has it). Prints a table; asserts nothing.
 * `node dist/bench/journal-pg.js [N]` (default 2000 entries per scenario), DATABASE_URL or the
 * local default. Each scenario writes a fresh schema, verifies the chain, then drops it.
 * Target: >= 1,000 appends/s with 4 concurrent writers, chain intact.
 */

const N = Number(process.argv[2] ?? 2000);
const URL = process.env.DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/postgres';

/** A realistic write-ahead entry: pre-state, inverse, a few hundred bytes (as bench/journal.ts). */
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

interface Scenario {
  name: string;
  writers: number;
  /** Entries per call: 1 = append, more = appendMany (group commit). */
  batch: number;
}

const SCENARIOS: Scenario[] = [
  { name: '1 writer, append', writers: 1, batch: 1 },
  { name: '4 writers, append', writers: 4, batch: 1 },
  { name: '1 writer, appendMany x10', writers: 1, batch: 10 },
  { name: '4 writers, appendMany x10', writers: 4, batch: 10 },
];

async function run(s: Scenario): Promise<string[]> {
  const schema = `fbbench_${randomBytes(4).toString('hex')}`;
  const stores: JournalStore[] = [];
  try {
    // Separate instances (own pools, own connections), as separate processes or hosts would be.
    for (let k = 0; k < s.writers; k++) stores.push(await openPostgresJournal(URL, { schema, poolSize: 1 }));
    const calls = Math.floor(N / s.writers / s.batch);
    const lat: number[] = [];
    const t0 = performance.now();
    await Promise.all(
      stores.map(async (store, k) => {
        for (let c = 0; c < calls; c++) {
          const items = Array.from({ length: s.batch }, (_, j) => ({
            runId: `w${k}`,
            type: 'action.intent' as const,
            data: intent(c * s.batch + j),
          }));
          const t = performance.now();
          if (s.batch === 1) await store.append(items[0]!.runId, items[0]!.type, items[0]!.data);
          else await store.appendMany(items);
          lat.push(performance.now() - t);
        }
      }),
    );
    const wallMs = performance.now() - t0;
    const entries = calls * s.batch * s.writers;
    const v0 = performance.now();
    const report = await stores[0]!.verify();
    const verifyMs = performance.now() - v0;
    const all = await stores[0]!.all();
    const handovers = all.filter((e, i) => i > 0 && e.runId !== all[i - 1]!.runId).length;
    const gapless = all.every((e, i) => e.seq === i + 1);
    const verdict =
      report.ok && gapless && report.entries === entries
        ? `ok (${report.entries}, ${handovers} handovers)`
        : `BROKEN: ${report.problems.length} problems`;
    return [
      s.name,
      String(entries),
      (entries / (wallMs / 1000)).toFixed(0),
      (lat.length / (wallMs / 1000)).toFixed(0),
      ...stats(lat),
      verdict,
      verifyMs.toFixed(0),
    ];
  } finally {
    for (const store of stores) await store.close();
    const c = new pg.Client({ connectionString: URL });
    await c.connect();
    await c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await c.end();
  }
}

async function main(): Promise<void> {
  const probe = new pg.Client({ connectionString: URL, connectionTimeoutMillis: 3000 });
  try {
    await probe.connect();
    await probe.end();
  } catch (err) {
    // `npm run bench` on a machine without PostgreSQL: say so, do not fail the other benches.
    console.log(
      `journal append bench (PostgreSQL): skipped, nothing answers at ${urlForDisplay(URL)} (${(err as Error).message}); set DATABASE_URL`,
    );
    return;
  }
  const rows: string[][] = [];
  for (const s of SCENARIOS) rows.push(await run(s));
  const c = new pg.Client({ connectionString: URL });
  await c.connect();
  const settings = await c.query(
    "SELECT current_setting('server_version') AS v, current_setting('synchronous_commit') AS sc, current_setting('fsync') AS f",
  );
  await c.end();
  const { v, sc, f } = settings.rows[0] as { v: string; sc: string; f: string };
  printTable(
    `journal append bench: PostgreSQL ${v} at ${urlForDisplay(URL)} (synchronous_commit=${sc}, fsync=${f}), N=${N} per scenario`,
    ['scenario', 'entries', 'appends/s', 'commits/s', 'p50 ms', 'p90 ms', 'max ms', 'verify', 'verify ms'],
    rows,
  );
}

await main();
