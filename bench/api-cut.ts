/**
 * Detector call to verified cut on the lab, through the REST API with warm workers (target: p50 <
 * 100 ms; the same through the CLI, a fresh process per run, was ~400 ms).
 *
 * A real `serve()` in this process, queue mode: two `firebreak worker` child processes (built CLI,
 * `--site lab`), journal in PostgreSQL (this bench's own schema), Redis keys under this bench's own
 * prefix. A Wazuh alert naming h1 (data.srcip) is POSTed to /api/v1/wazuh/<trigger>; the client
 * reads the run's SSE stream until `run.state contained`, then rolls it back through the API and
 * waits for `rolled-back` before the next. Per run: the engine's own timeToContainMs (request
 * received -> last read-back verified, application clock) and the client's time from request sent
 * to `contained` seen. One warm-up run + rollback first (sessions opened, JIT warm); traffic from
 * h1 is checked on the first measured run (cut) and after its rollback (restored). The same with
 * the local executor (serve with local: true, SQLite journal, no workers) for comparison.
 * Where the time goes: the gaps between the run's journal entries (timestamps of the writers, one
 * host, one clock), p50 per gap.
 *   npx tsc -p tsconfig.json && node dist/bench/api-cut.js [runs=20]
 * Root (the lab). Brings the lab up if it was down (and down again at the end); stops by itself.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import { serve, type Serving } from '../src/api/serve.js';
import { openTokenStore } from '../src/identity/tokens.js';
import type { JournalEntry } from '../src/journal/types.js';
import { canReach, labDown, labStatus, labUp, nsExec } from '../src/lab/lab.js';
import { HOSTS, NAMESPACES } from '../src/lab/layout.js';
import { root } from './lib/cli-run.js';
import { benchEnv, fbEnv, fmt, now, PG_URL, REDIS_URL, startWorker, withTimeout } from './lib/queue-bench.js';
import { median, printTable, stats } from './lib/table.js';

const RUNS = Number(process.argv[2] ?? 20);
const TARGET_MS = 100;
const PLAYBOOKS = join(root, 'playbooks');
const TRIGGER = 'wazuh-bench';
const TRIGGERS = `triggers:
  - name: ${TRIGGER}
    kind: wazuh
    playbook: isolate-host
    params: { address: "{{ data.srcip }}" }
    cooldownSeconds: 0
    rateLimit: { runs: 10000, perSeconds: 60 }
`;

const env = benchEnv('api-cut', { hardTimeoutMs: 300_000 });
const T0 = now();
const progress = (line: string) => process.stderr.write(`[${((now() - T0) / 1000).toFixed(1)} s] ${line}\n`);
const fixture = JSON.parse(readFileSync(join(root, 'test', 'fixtures', 'wazuh-alert.json'), 'utf8'));
let alertSeq = 0;

interface Client {
  serving: Serving;
  detector: string;
  operator: string;
}

interface Sample {
  runId: string;
  ttc: number;
  client: number;
  rollbackMs: number;
  /** The state the rollback's 202 answer gave. */
  rollbackAnswer: string;
  /** Event streams that ended (run at rest) before the rollback showed in the journal. */
  earlyEnds: number;
  entries: JournalEntry[];
}

async function api(c: Client, method: string, path: string, token: string, body?: unknown): Promise<{ status: number; json: any }> {
  const res = await fetch(`${c.serving.url}/api/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : undefined };
}

/**
 * Reads the run's event stream until a `run.state` entry in one of `states`; returns that state.
 * The stream ends when the run is at rest; a rollback accepted but not yet journaled (queue mode)
 * still looks at rest (`contained`), so an `end` short of `states` reconnects after the last event
 * seen (Last-Event-ID), as an SSE client does, until `timeoutMs`. `ends` counts those early ends.
 */
async function awaitState(c: Client, runId: string, states: string[], timeoutMs = 20_000, ends = { early: 0 }): Promise<string> {
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), timeoutMs);
  let lastId = '';
  try {
    for (;;) {
      const res = await fetch(`${c.serving.url}/api/v1/runs/${runId}/events`, {
        headers: { authorization: `Bearer ${c.operator}`, ...(lastId ? { 'last-event-id': lastId } : {}) },
        signal: ctl.signal,
      });
      if (!res.ok || !res.body) throw new Error(`events of ${runId}: HTTP ${res.status}`);
      const decoder = new TextDecoder();
      let buf = '';
      for await (const chunk of res.body) {
        buf += decoder.decode(chunk as Uint8Array, { stream: true });
        for (let i = buf.indexOf('\n\n'); i >= 0; i = buf.indexOf('\n\n')) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          lastId = /^id: (.*)$/m.exec(block)?.[1] ?? lastId;
          const event = /^event: (.*)$/m.exec(block)?.[1];
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if (event === 'run.state' && data) {
            const state = JSON.parse(data).data.state as string;
            if (states.includes(state)) return state;
          }
          if (event === 'end') {
            const state = data ? (JSON.parse(data).state as string) : 'end';
            if (states.includes(state)) return state;
            ends.early++;
          }
        }
      }
      await new Promise((r) => setTimeout(r, 10));
    }
  } catch (err) {
    if (ctl.signal.aborted) throw new Error(`events of ${runId}: no ${states.join('|')} within ${timeoutMs} ms`);
    throw err;
  } finally {
    clearTimeout(timer);
    ctl.abort();
  }
}

/** One detector call -> contained -> rollback -> rolled-back. */
async function containOnce(c: Client, checkTraffic: boolean): Promise<Sample> {
  const alert = { ...fixture, id: `${Math.floor(Date.now() / 1000)}.${env.id}${++alertSeq}`, data: { ...fixture.data, srcip: HOSTS.h1 } };
  const t0 = now();
  const posted = await api(c, 'POST', `/wazuh/${TRIGGER}`, c.detector, alert);
  if (posted.status !== 201) throw new Error(`POST wazuh: HTTP ${posted.status} ${JSON.stringify(posted.json)} (is h1 blocked already?)`);
  const runId = posted.json.runId as string;
  try {
    return await measure(c, runId, t0, checkTraffic);
  } catch (err) {
    // Never leave h1 cut behind a failed measurement: ask for the rollback once more, bounded.
    await api(c, 'POST', `/runs/${runId}/rollback`, c.operator, { reason: 'api-cut bench: cleanup after an error' })
      .then(() => awaitState(c, runId, ['rolled-back', 'rollback-failed'], 10_000))
      .catch(() => undefined);
    throw err;
  }
}

async function measure(c: Client, runId: string, t0: number, checkTraffic: boolean): Promise<Sample> {
  const state = await awaitState(c, runId, ['contained', 'failed', 'partial', 'interrupted']);
  const client = now() - t0;
  if (state !== 'contained') throw new Error(`run ${runId} ended ${state}`);
  const view = (await api(c, 'GET', `/runs/${runId}`, c.operator)).json;
  if (checkTraffic && (await canReach(NAMESPACES.h1, HOSTS.internet)))
    throw new Error(`run ${runId} contained, but h1 still reaches the internet`);
  const entries = (await api(c, 'GET', `/runs/${runId}/journal`, c.operator)).json as JournalEntry[];
  const tRb = now();
  const rb = await api(c, 'POST', `/runs/${runId}/rollback`, c.operator, { reason: 'api-cut bench' });
  if (rb.status !== 202) throw new Error(`rollback ${runId}: HTTP ${rb.status} ${JSON.stringify(rb.json)}`);
  const ends = { early: 0 };
  const after = await awaitState(c, runId, ['rolled-back', 'rollback-failed'], 20_000, ends);
  const rollbackMs = now() - tRb;
  if (after !== 'rolled-back') throw new Error(`rollback of ${runId} ended ${after}`);
  if (checkTraffic && !(await canReach(NAMESPACES.h1, HOSTS.internet))) throw new Error(`run ${runId} rolled back, but h1 is still cut`);
  return { runId, ttc: view.timeToContainMs as number, client, rollbackMs, rollbackAnswer: rb.json.state, earlyEnds: ends.early, entries };
}

async function series(label: string, c: Client): Promise<Sample[]> {
  const warm = await containOnce(c, false);
  progress(`${label}: warm-up run ${warm.runId}: ttc ${warm.ttc} ms, client ${fmt(warm.client)} ms`);
  const out: Sample[] = [];
  for (let i = 0; i < RUNS; i++) {
    const s = await containOnce(c, i === 0);
    progress(`${label}: ttc ${s.ttc} ms, client ${fmt(s.client)} ms, rollback ${fmt(s.rollbackMs)} ms`);
    out.push(s);
  }
  return out;
}

/** What the rollback's 202 said, counted, and how many event streams ended before the rollback showed. */
function answers(xs: Sample[]): string {
  const n = new Map<string, number>();
  for (const s of xs) n.set(s.rollbackAnswer, (n.get(s.rollbackAnswer) ?? 0) + 1);
  const early = xs.reduce((k, s) => k + s.earlyEnds, 0);
  return `${[...n].map(([k, v]) => `${k} x${v}`).join(', ')}; streams ended early: ${early}`;
}

/** Journal time of an entry: the engine's precise `at` where it has one, else the entry's ts. */
const at = (e: JournalEntry) => (typeof e.data.at === 'number' ? (e.data.at as number) : Date.parse(e.ts));
const labelOf = (e: JournalEntry) => (e.type === 'run.state' ? `run.state ${e.data.state}` : e.type);

/** Gaps between consecutive entries of the containing part of a run (trigger received first). */
function gaps(s: Sample): [string, number][] {
  const created = s.entries.find((e) => e.type === 'run.created')!;
  const end = s.entries.findIndex((e) => e.type === 'run.state' && e.data.state === 'contained');
  const out: [string, number][] = [['request received -> run.created', Date.parse(created.ts) - (created.data.triggerAt as number)]];
  const part = s.entries.slice(s.entries.indexOf(created), end + 1).filter((e) => e.type !== 'trigger.event');
  for (let i = 1; i < part.length; i++) out.push([`${labelOf(part[i - 1]!)} -> ${labelOf(part[i]!)}`, at(part[i]!) - at(part[i - 1]!)]);
  return out;
}

function breakdown(title: string, xs: Sample[]): void {
  const byGap = new Map<string, number[]>();
  for (const s of xs) for (const [k, v] of gaps(s)) byGap.set(k, [...(byGap.get(k) ?? []), v]);
  printTable(
    `${title}: where the time goes (journal timestamps; ms resolution where an entry has no precise \`at\`)`,
    ['gap', 'n', 'p50', 'p90', 'max'],
    [...byGap].map(([k, v]) => [k, String(v.length), ...stats(v)]),
  );
}

async function openClient(
  name: string,
  app: Parameters<typeof serve>[0]['app'],
  tokenStore: Parameters<typeof openTokenStore>[0],
): Promise<Client> {
  const tokens = await openTokenStore(tokenStore);
  const detector = (await tokens.create({ name: `${name}-wazuh`, scopes: ['run:isolate-host'], by: 'api-cut' })).token;
  const operator = (await tokens.create({ name: `${name}-operator`, scopes: ['read', 'rollback'], by: 'api-cut' })).token;
  await tokens.close();
  const triggersFile = join(env.dir, `${name}-triggers.yaml`);
  writeFileSync(triggersFile, TRIGGERS);
  const serving = await serve({ app, host: '127.0.0.1', port: 0, triggersFile, version: 'bench', log: pino({ level: 'warn' }) });
  env.onCleanup(() => serving.stop());
  return { serving, detector, operator };
}

/**
 * A rollback removes the block but leaves the driver's (empty) `inet firebreak` table: when the
 * bench found none, it takes away an empty one. Returns what still differs ('' when nothing).
 */
async function tidyFirewall(tablesBefore: string): Promise<string> {
  const listed = await nsExec(NAMESPACES.fw, ['nft', '-j', 'list', 'table', 'inet', 'firebreak']);
  const rules = listed.code === 0 ? (JSON.parse(listed.stdout).nftables as object[]).filter((o) => 'rule' in o).length : -1;
  if (!/table inet firebreak/.test(tablesBefore) && rules === 0)
    await nsExec(NAMESPACES.fw, ['nft', 'delete', 'table', 'inet', 'firebreak']);
  const tables = (await nsExec(NAMESPACES.fw, ['nft', 'list', 'tables'])).stdout.trim();
  const ruleset = (await nsExec(NAMESPACES.fw, ['nft', 'list', 'ruleset'])).stdout;
  if (ruleset.includes(HOSTS.h1)) return `NO: the fw ruleset still names ${HOSTS.h1}`;
  return tables === tablesBefore ? '' : `NO: tables ${tables.replace(/\n/g, ', ')}`;
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('api-cut needs root (the namespace lab)');
  const wasUp = (await labStatus()).up;
  const lab = await labUp();
  if (!wasUp) env.onCleanup(() => labDown()); // runs last: hooks go newest first, this one is old
  progress(`lab ${wasUp ? 'was up (left up)' : 'brought up (taken down at the end)'}`);
  if (!(await canReach(NAMESPACES.h1, HOSTS.internet))) throw new Error('h1 does not reach the internet before the bench: lab not clean');
  const fwTables = (await nsExec(NAMESPACES.fw, ['nft', 'list', 'tables'])).stdout.trim();

  // Queue mode: workers in their own processes, the journal and tokens in this bench's schema.
  const wenv = fbEnv(env, { FIREBREAK_PLAYBOOKS: PLAYBOOKS, FIREBREAK_INVENTORY: lab.inventoryDir });
  const workers = await Promise.all([startWorker(env, 'worker-1', ['lab'], wenv), startWorker(env, 'worker-2', ['lab'], wenv)]);
  progress(`workers ${workers.map((w) => w.pid).join(', ')} ready`);
  const qdir = join(env.dir, 'queue');
  mkdirSync(qdir);
  const queued = await openClient(
    'queue',
    {
      paths: { inventory: lab.inventoryDir, playbooks: PLAYBOOKS, journal: join(qdir, 'journal.db') },
      databaseUrl: PG_URL,
      databaseSchema: env.schema,
      redisUrl: REDIS_URL,
      redisPrefix: env.prefix,
    },
    { url: PG_URL, schema: env.schema, file: join(qdir, 'tokens.db') },
  );
  if (queued.serving.executor !== 'queue') throw new Error(`serve did not get the queue executor (${queued.serving.executor})`);
  const q = await series('queue', queued);
  await queued.serving.stop();

  const ldir = join(env.dir, 'local');
  mkdirSync(ldir);
  const local = await openClient(
    'local',
    { paths: { inventory: lab.inventoryDir, playbooks: PLAYBOOKS, journal: join(ldir, 'journal.db') }, local: true },
    { file: join(ldir, 'tokens.db') },
  );
  const l = await series('local', local);
  await local.serving.stop();

  const leftover = await tidyFirewall(fwTables);
  console.log('');
  const row = (label: string, xs: number[], target = '') => [label, String(xs.length), ...stats(xs), target];
  const qTtc = median(q.map((s) => s.ttc));
  printTable(
    `Wazuh alert -> verified cut of h1 on the lab fw, through the REST API (node ${process.version}; CLI, fresh process: ~400 ms)`,
    ['figure', 'n', 'p50', 'p90', 'max', 'target'],
    [
      row(
        'queue, 2 warm workers, PostgreSQL: timeToContainMs (engine)',
        q.map((s) => s.ttc),
        `< ${TARGET_MS}`,
      ),
      row(
        'queue: client, POST sent -> SSE `contained` seen',
        q.map((s) => s.client),
      ),
      row(
        'queue: rollback, POST -> SSE `rolled-back` seen',
        q.map((s) => s.rollbackMs),
      ),
      row(
        'local executor, SQLite: timeToContainMs (engine)',
        l.map((s) => s.ttc),
      ),
      row(
        'local: client, POST sent -> SSE `contained` seen',
        l.map((s) => s.client),
      ),
      row(
        'local: rollback, POST -> SSE `rolled-back` seen',
        l.map((s) => s.rollbackMs),
      ),
      ['queue: rollback 202 answered state', '', answers(q), '', '', ''],
      ['local: rollback 202 answered state', '', answers(l), '', '', ''],
      ['queue p50 < 100 ms?', '', qTtc < TARGET_MS ? 'YES' : 'NO', '', '', ''],
      ['fw left as found (h1 not named, same nft tables)?', '', leftover || 'yes', '', '', ''],
    ],
  );
  console.log('');
  breakdown('queue', q);
  console.log('');
  breakdown('local', l);
}

try {
  await withTimeout(main(), 280_000, 'api-cut');
} catch (err) {
  console.error(`api-cut: ${(err as Error).stack ?? err}`);
  process.exitCode = 1;
} finally {
  await env.cleanup();
  progress('cleaned up');
}
process.exit();
