/**
 * Expiring containment: how late an expiry fires after its due time. 10 runs (isolate-host on a
 * simulated firewall, local executor, SQLite journal) with times to live of 3 to 5.7 s; in the
 * second series the server is stopped right after the runs are contained and a new one started
 * a second later (before they are due), as after a restart of every Firebreak process.
 * Lateness = the rollback's start (journal) minus the due time. Prints a table; asserts nothing.
 *   node dist/bench/expiry.js [runs=10]
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { serve, type Serving } from '../src/api/serve.js';
import { openTokenStore } from '../src/identity/tokens.js';
import { openJournal } from '../src/journal/open.js';
import { Redactor } from '../src/secrets.js';
import { startNetwork } from '../src/sim/network.js';
import { simulators } from '../src/sim/registry.js';
import { parseTopology } from '../src/sim/topology.js';
import { root } from './lib/cli-run.js';
import { printTable, stats } from './lib/table.js';

const runs = Number(process.argv[2] ?? 10);

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'fb-expiry-'));
  const text = `${readFileSync(join(root, 'topologies', 'small.yaml'), 'utf8')}\naddressBlock: 127.59.0.0/16\n`;
  const net = await startNetwork(parseTopology('expiry.yaml', text, { simulators }), {
    dir: join(dir, 'sim'),
    ports: { ssh: 12222, snmp: 12261 },
  });
  const journalFile = join(dir, 'journal.db');
  const tokens = await openTokenStore({ file: join(dir, 'tokens.db') });
  const { token } = await tokens.create({ name: 'bench', scopes: ['run:*', 'read', 'rollback'], by: 'bench' });
  await tokens.close();
  const start = () =>
    serve({
      app: { paths: { inventory: net.inventoryDir, playbooks: join(root, 'playbooks'), journal: journalFile }, local: true },
      host: '127.0.0.1',
      port: 0,
      version: 'bench',
      log: pino({ level: 'silent' }),
    });
  const call = async (s: Serving, method: string, path: string, body?: unknown) => {
    const res = await fetch(`${s.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: body ? JSON.stringify(body) : undefined,
    });
    return (await res.json()) as { runId: string; state: string };
  };
  const waitAll = async (s: Serving, ids: string[], state: string, ms: number) => {
    const until = Date.now() + ms;
    for (const id of ids)
      while ((await call(s, 'GET', `/api/v1/runs/${id}`)).state !== state && Date.now() < until)
        await new Promise((r) => setTimeout(r, 50));
  };
  const series = async (restart: boolean, base: number): Promise<number[]> => {
    let s = await start();
    const ids: string[] = [];
    for (let i = 0; i < runs; i++)
      ids.push(
        (
          await call(s, 'POST', '/api/v1/runs', {
            playbook: 'isolate-host',
            params: { address: `10.20.${base}.${i + 10}` },
            ttlSeconds: 3 + (i % 3),
          })
        ).runId,
      );
    await waitAll(s, ids, 'contained', 20_000);
    if (restart) {
      await s.stop();
      await new Promise((r) => setTimeout(r, 1_000));
      s = await start();
    }
    await waitAll(s, ids, 'rolled-back', 20_000);
    await s.stop();
    const j = await openJournal({ file: journalFile }, new Redactor());
    const late: number[] = [];
    for (const id of ids) {
      const e = await j.entries(id);
      const due = Number(e.find((x) => x.type === 'run.expires')!.data.at);
      const started = e.find((x) => x.type === 'rollback.started');
      late.push(started ? Date.parse(started.ts) - due : Number.NaN);
    }
    await j.close();
    return late;
  };
  try {
    const steady = await series(false, 1);
    const restarted = await series(true, 2);
    const row = (name: string, xs: number[]) => [
      name,
      String(xs.filter((x) => !Number.isNaN(x)).length),
      ...stats(xs.filter((x) => !Number.isNaN(x))),
    ];
    printTable(
      `expiry lateness: rollback start minus due time (ms), ${runs} runs per series`,
      ['series', 'fired', 'p50', 'p90', 'max'],
      [row('server up throughout', steady), row('server restarted before due', restarted)],
    );
    const worst = Math.max(...steady, ...restarted);
    console.log(`target: within 2,000 ms -> ${worst < 2_000 ? 'MET' : 'NOT met'} (worst ${worst.toFixed(0)} ms)`);
  } finally {
    await net.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
