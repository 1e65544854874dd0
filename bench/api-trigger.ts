/**
 * The detector endpoint under a storm of duplicate alerts (issue): a real `firebreak serve` (local
 * executor) on 127.0.0.1 over the small simulated network (127.50.0.0/16, ssh 11322, snmp 11361),
 * triggers.yaml with one Alertmanager trigger (commonLabels.src_ip -> isolate-host's `address`),
 * a token with only `run:isolate-host`.
 *
 * The Alertmanager firing payload (test/fixtures/alertmanager-webhook-v4.json) is sent once (the
 * run is created; we wait for it to settle), then the same payload, open loop: RATE requests/s on a
 * fixed timetable for COUNT requests, whatever the server does (a slow server does not lower the
 * offered rate). The load runs in a worker thread (its own event loop, so the client does not
 * queue behind the server's work), over node:http with a keep-alive agent (at most 64 sockets).
 * Latency is measured from each request's scheduled time (no coordinated omission: waiting for a
 * socket counts) and from its actual send (socket assigned). Afterwards the journal is read: runs
 * created by the trigger (must be 1) and trigger.event entries the duplicates cost.
 * Once with the SQLite journal (default), once with PostgreSQL (its own schema, dropped after).
 * Also printed: the server thread's CPU per request (/proc, independent of contention), its event-loop
 * use, and how many cores other processes took meanwhile (p99 here hinges on any stall over ~100 ms).
 * Target: p99 < 50 ms from the scheduled time, exactly one run, no errors. Prints; asserts nothing.
 *   npx tsc -p tsconfig.json && node dist/bench/api-trigger.js [rate=500] [count=5000] [sqlite|postgresql|both]
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { cpus, tmpdir } from 'node:os';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { join } from 'node:path';
import { isMainThread, parentPort, Worker } from 'node:worker_threads';
import pg from 'pg';
import pino from 'pino';
import { serve } from '../src/api/serve.js';
import { openTokenStore } from '../src/identity/tokens.js';
import { openJournal } from '../src/journal/open.js';
import { Redactor } from '../src/secrets.js';
import { startNetwork } from '../src/sim/network.js';
import { simulators } from '../src/sim/registry.js';
import { parseTopology } from '../src/sim/topology.js';
import { root } from './lib/cli-run.js';
import { printTable } from './lib/table.js';

const RATE = Number(process.argv[2] ?? 500);
const COUNT = Number(process.argv[3] ?? 5000);
const WHICH = process.argv[4] ?? 'both';
const PG_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const TRIGGER = 'suspicious-outbound';
const TARGET_P99_MS = 50;
const HARD_LIMIT_MS = 180_000;
const now = () => performance.timeOrigin + performance.now();

interface LoadJob {
  url: string;
  path: string;
  token: string;
  body: string;
  rate: number;
  count: number;
}

interface LoadResult {
  /** Per request, ms (NaN: no response). */
  fromScheduled: Float64Array;
  fromSent: Float64Array;
  statuses: Record<string, number>;
  decisions: Record<string, number>;
  socketErrors: Record<string, number>;
  wallMs: number;
  /** How late the generator itself was at sending (scheduled -> request handed to node:http), p99 ms. */
  genLagP99: number;
  /** Requests that had to open a new connection (the agent had no idle keep-alive socket). */
  newSockets: number;
  /** Per request: 1 when it opened a new connection. */
  fresh: Uint8Array;
  /** Responses that said `Connection: close` (the server ends that keep-alive connection). */
  closedByServer: number;
}

/** The load generator (worker thread): COUNT requests at RATE/s on a fixed timetable. */
function generate(job: LoadJob): Promise<LoadResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });
  const { hostname, port } = new URL(job.url);
  const body = Buffer.from(job.body);
  const fromScheduled = new Float64Array(job.count).fill(Number.NaN);
  const fromSent = new Float64Array(job.count).fill(Number.NaN);
  const genLag = new Float64Array(job.count);
  let newSockets = 0;
  const fresh = new Uint8Array(job.count);
  let closedByServer = 0;
  const statuses: Record<string, number> = {};
  const decisions: Record<string, number> = {};
  const socketErrors: Record<string, number> = {};
  const interval = 1000 / job.rate;
  const start = now() + 20;
  let done = 0;
  let last = start;
  return new Promise((resolve) => {
    const finish = () => {
      if (++done < job.count) return;
      agent.destroy();
      const lag = [...genLag].sort((a, b) => a - b);
      resolve({
        fromScheduled,
        fromSent,
        statuses,
        decisions,
        socketErrors,
        wallMs: last - start,
        genLagP99: lag[Math.floor(0.99 * lag.length)]!,
        newSockets,
        fresh,
        closedByServer,
      });
    };
    const send = (i: number, at: number) => {
      genLag[i] = now() - at;
      let sent = Number.NaN;
      let settled = false;
      const settle = (fn: () => void) => {
        if (settled) return;
        settled = true;
        fn();
        last = Math.max(last, now());
        finish();
      };
      const req = request(
        {
          agent,
          host: hostname,
          port,
          method: 'POST',
          path: job.path,
          timeout: 10_000,
          headers: { authorization: `Bearer ${job.token}`, 'content-type': 'application/json', 'content-length': body.length },
        },
        (res) => {
          if (res.headers.connection === 'close') closedByServer++;
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', (e) => settle(() => (socketErrors[e.message] = (socketErrors[e.message] ?? 0) + 1)));
          res.on('end', () =>
            settle(() => {
              const t = now();
              fromScheduled[i] = t - at;
              fromSent[i] = t - sent;
              const s = String(res.statusCode);
              statuses[s] = (statuses[s] ?? 0) + 1;
              let d = '?';
              try {
                d = (JSON.parse(Buffer.concat(chunks).toString()) as { decision?: string }).decision ?? '?';
              } catch {}
              decisions[d] = (decisions[d] ?? 0) + 1;
            }),
          );
        },
      );
      req.on('socket', () => {
        sent = now();
        if (!req.reusedSocket) {
          newSockets++;
          fresh[i] = 1;
        }
      });
      req.on('timeout', () => req.destroy(new Error('timeout after 10 s')));
      req.on('error', (e) => settle(() => (socketErrors[e.message] = (socketErrors[e.message] ?? 0) + 1)));
      req.end(body);
    };
    let i = 0;
    const tick = () => {
      const t = now();
      for (; i < job.count && start + i * interval <= t; i++) send(i, start + i * interval);
      if (i < job.count) setTimeout(tick, Math.max(0, start + i * interval - now()));
    };
    setTimeout(tick, 20);
  });
}

if (!isMainThread) {
  parentPort!.once('message', (job: LoadJob) => void generate(job).then((r) => parentPort!.postMessage(r)));
  parentPort!.postMessage('ready');
}

/** The generator's thread, started and loaded before anything is measured. */
async function loadWorker(): Promise<(job: LoadJob) => Promise<LoadResult>> {
  const w = new Worker(new URL(import.meta.url));
  const failed = new Promise<never>((_, reject) => w.once('error', reject));
  await Promise.race([new Promise((r) => w.once('message', r)), failed]);
  return (job) => {
    w.postMessage(job);
    return Promise.race([
      new Promise<LoadResult>((resolve) => w.once('message', (r: LoadResult) => void w.terminate().then(() => resolve(r)))),
      failed,
    ]);
  };
}

const pct = (s: number[], p: number) => s[Math.min(s.length - 1, Math.floor(p * s.length))] ?? Number.NaN;
const f1 = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : '-');
const sum = (o: Record<string, number>) => Object.values(o).reduce((a, b) => a + b, 0);
const show = (o: Record<string, number>) =>
  Object.entries(o)
    .map(([k, v]) => `${k}: ${v}`)
    .join(', ') || '-';

interface Variant {
  journal: 'sqlite' | 'postgresql';
  first: { status: number; decision?: string; runId?: string; state?: string };
  settled: string;
  load: LoadResult;
  runs: number;
  triggerEvents: number;
  during: Contention;
}

/** What else the machine did during the load: the server's own thread, this process, the host. */
interface Contention {
  /** Event-loop utilization of the server's thread (this main thread), 0..1. */
  serverElu: number;
  /** Event-loop delay of the server's thread, p99 and max, ms. */
  loopDelayP99: number;
  loopDelayMax: number;
  /** CPU time of the server's thread (this main thread) during the load, ms (/proc, 10 ms ticks). */
  serverCpuMs: number;
  /** CPU of this process (server + load generator threads), in cores. */
  ourCores: number;
  /** CPU busy on the whole host, in cores (of `cores`), from /proc/stat. */
  hostCores: number;
  cores: number;
}

/** CPU time (user + system) of this process's main thread, ms: the server's own work, whatever the machine does. */
function mainThreadCpuMs(): number {
  try {
    const f = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8');
    const v = f.slice(f.lastIndexOf(')') + 2).split(' ');
    return (Number(v[11]) + Number(v[12])) * 10; // utime, stime in 1/100 s
  } catch {
    return Number.NaN;
  }
}

/** /proc/stat's first line: busy and total jiffies of all CPUs (Linux; zeros elsewhere). */
function hostTicks(): { busy: number; total: number } {
  try {
    const [, ...v] = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/);
    const n = v.map(Number);
    const total = n.reduce((a, b) => a + b, 0);
    return { busy: total - (n[3] ?? 0) - (n[4] ?? 0), total };
  } catch {
    return { busy: 0, total: 0 };
  }
}

async function measured<T>(fn: () => Promise<T>): Promise<[T, Contention]> {
  const cores = cpus().length;
  const elu0 = performance.eventLoopUtilization();
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  const cpu0 = process.cpuUsage();
  const ticks0 = hostTicks();
  const main0 = mainThreadCpuMs();
  const t0 = now();
  const r = await fn();
  const wall = now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const ticks = hostTicks();
  const serverCpuMs = mainThreadCpuMs() - main0;
  h.disable();
  const elu = performance.eventLoopUtilization(elu0);
  return [
    r,
    {
      serverElu: elu.utilization,
      loopDelayP99: h.percentile(99) / 1e6,
      loopDelayMax: h.max / 1e6,
      serverCpuMs,
      ourCores: (cpu.user + cpu.system) / 1000 / wall,
      hostCores: ticks.total > ticks0.total ? ((ticks.busy - ticks0.busy) / (ticks.total - ticks0.total)) * cores : Number.NaN,
      cores,
    },
  ];
}

const cleanups: (() => Promise<unknown> | unknown)[] = [];
async function cleanup(): Promise<void> {
  for (const fn of cleanups.splice(0).reverse()) {
    try {
      await fn();
    } catch (err) {
      console.error(`cleanup: ${(err as Error).message}`);
    }
  }
}

async function dropSchema(schema: string): Promise<void> {
  if (!/^fbbench_[0-9a-f]+$/.test(schema)) throw new Error(`refusing to drop schema ${schema}`);
  const c = new pg.Client({ connectionString: PG_URL });
  await c.connect();
  try {
    await c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await c.end();
  }
}

async function variant(kind: Variant['journal']): Promise<Variant> {
  const dir = mkdtempSync(join(tmpdir(), 'fb-api-trigger-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const schema = kind === 'postgresql' ? `fbbench_${randomBytes(4).toString('hex')}` : undefined;
  if (schema) cleanups.push(() => dropSchema(schema));
  const topology = `${readFileSync(join(root, 'topologies', 'small.yaml'), 'utf8')}\naddressBlock: 127.50.0.0/16\n`;
  const net = await startNetwork(parseTopology('api-trigger.yaml', topology, { simulators }), {
    dir: join(dir, 'sim'),
    ports: { ssh: 11322, snmp: 11361 },
  });
  cleanups.push(() => net.stop());
  const journalFile = join(dir, 'journal.db');
  const db = schema ? { databaseUrl: PG_URL, databaseSchema: schema } : {};
  const store = await openTokenStore({ url: db.databaseUrl, schema, file: join(dir, 'tokens.db') });
  const detector = (await store.create({ name: 'detector', scopes: ['run:isolate-host'], by: 'bench' })).token;
  const reader = (await store.create({ name: 'reader', scopes: ['read'], by: 'bench' })).token;
  await store.close();
  const triggersFile = join(dir, 'triggers.yaml');
  writeFileSync(
    triggersFile,
    `triggers:\n  - name: ${TRIGGER}\n    kind: alertmanager\n    playbook: isolate-host\n    params: { address: "{{ commonLabels.src_ip }}" }\n`,
  );
  // serve()'s own default logger (one line per request, written synchronously as to stdout), into /dev/null.
  const log = pino(
    { base: { svc: 'firebreak' }, redact: { paths: ['req.headers.authorization'], remove: true } },
    pino.destination({ dest: '/dev/null', sync: true }),
  );
  const serving = await serve({
    app: { paths: { inventory: net.inventoryDir, playbooks: join(root, 'playbooks'), journal: journalFile }, local: true, ...db },
    host: '127.0.0.1',
    port: 0,
    triggersFile,
    version: 'bench',
    log,
  });
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await serving.stop();
  };
  cleanups.push(stop);
  const body = readFileSync(join(root, 'test', 'fixtures', 'alertmanager-webhook-v4.json'), 'utf8');
  const path = `/api/v1/alertmanager/${TRIGGER}`;
  const res = await fetch(`${serving.url}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${detector}`, 'content-type': 'application/json' },
    body,
  });
  const first = { status: res.status, ...((await res.json()) as { decision?: string; runId?: string; state?: string }) };
  // The run settles before the storm: what is measured is the duplicate path, not the run's own work.
  let settled = first.state ?? '?';
  for (const until = Date.now() + 15_000; first.runId && Date.now() < until; await new Promise((r) => setTimeout(r, 50))) {
    const r = await fetch(`${serving.url}/api/v1/runs/${first.runId}`, { headers: { authorization: `Bearer ${reader}` } });
    settled = ((await r.json()) as { state: string }).state;
    if (!['planned', 'queued', 'running'].includes(settled)) break;
  }
  process.stderr.write(`[${kind}] first: ${first.status} ${first.decision} ${first.runId} -> ${settled}; load ${COUNT} at ${RATE}/s\n`);
  const runLoad = await loadWorker();
  const [load, during] = await measured(() => runLoad({ url: serving.url, path, token: detector, body, rate: RATE, count: COUNT }));
  await stop();
  const journal = await openJournal({ url: db.databaseUrl, file: journalFile, schema }, new Redactor());
  try {
    const created = await journal.find({ types: ['run.created'] });
    const runs = created.filter((e) => (e.data.trigger as { trigger?: string }).trigger === TRIGGER).length;
    const triggerEvents = (await journal.find({ types: ['trigger.event'] })).length;
    return { journal: kind, first, settled, load, runs, triggerEvents, during };
  } finally {
    await journal.close();
    await cleanup();
  }
}

async function main(): Promise<void> {
  const hard = setTimeout(() => {
    console.error(`api-trigger: hard time limit (${HARD_LIMIT_MS} ms): cleaning up and stopping`);
    void cleanup().finally(() => process.exit(3));
  }, HARD_LIMIT_MS);
  hard.unref();
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => void cleanup().finally(() => process.exit(130)));
  const kinds: Variant['journal'][] = WHICH === 'both' ? ['sqlite', 'postgresql'] : [WHICH as Variant['journal']];
  const out: Variant[] = [];
  for (const k of kinds) out.push(await variant(k));
  const rows = out.map((v) => {
    const s = [...v.load.fromScheduled].filter(Number.isFinite).sort((a, b) => a - b);
    const nonOk = sum(v.load.statuses) - sum(Object.fromEntries(Object.entries(v.load.statuses).filter(([k]) => k.startsWith('2'))));
    return [
      v.journal,
      String(COUNT),
      (s.length / (v.load.wallMs / 1000)).toFixed(0),
      f1(pct(s, 0.5)),
      f1(pct(s, 0.95)),
      f1(pct(s, 0.99)),
      f1(s.at(-1) ?? Number.NaN),
      String(nonOk),
      String(sum(v.load.socketErrors)),
      String(v.runs),
    ];
  });
  console.log('');
  printTable(
    `detector endpoint: ${COUNT} duplicate Alertmanager alerts at ${RATE}/s, open loop, latency from the scheduled send (ms; node ${process.version})`,
    ['journal', 'requests', 'achieved rps', 'p50', 'p95', 'p99', 'max', 'non-2xx', 'socket errors', 'runs created'],
    rows,
  );
  console.log('');
  printTable(
    'the same requests, latency from the actual send (socket assigned), and what else was seen',
    ['journal', 'p50', 'p95', 'p99', 'max', 'generator lag p99', 'statuses', 'decisions', 'trigger.event entries', 'first request'],
    out.map((v) => {
      const s = [...v.load.fromSent].filter(Number.isFinite).sort((a, b) => a - b);
      return [
        v.journal,
        f1(pct(s, 0.5)),
        f1(pct(s, 0.95)),
        f1(pct(s, 0.99)),
        f1(s.at(-1) ?? Number.NaN),
        f1(v.load.genLagP99),
        show(v.load.statuses),
        show(v.load.decisions),
        String(v.triggerEvents),
        `${v.first.status} ${v.first.decision} -> ${v.settled}`,
      ];
    }),
  );
  console.log('');
  printTable(
    `during the load: the server's thread and the machine (${out[0]?.during.cores ?? '?'} cores, shared with whatever else runs)`,
    [
      'journal',
      'server event-loop utilization',
      'event-loop delay p99 / max ms',
      'server thread CPU per request (ms)',
      'this process CPU (cores)',
      'host CPU busy (cores)',
      'others (cores)',
    ],
    out.map(({ journal, during: d }) => [
      journal,
      d.serverElu.toFixed(2),
      `${f1(d.loopDelayP99)} / ${f1(d.loopDelayMax)}`,
      (d.serverCpuMs / COUNT).toFixed(2),
      d.ourCores.toFixed(2),
      d.hostCores.toFixed(2),
      (d.hostCores - d.ourCores).toFixed(2),
    ]),
  );
  for (const v of out) {
    // When the slow ones were: a warm-up, a periodic stall (GC, the repeat record) or contention throughout.
    const perSecond = Math.ceil(COUNT / RATE);
    const bySecond = Array.from({ length: perSecond }, (_, k) =>
      [...v.load.fromScheduled.subarray(k * RATE, (k + 1) * RATE)].filter(Number.isFinite).sort((a, b) => a - b),
    );
    console.log(`${v.journal}: p99 per second of the load (ms): ${bySecond.map((x) => f1(pct(x, 0.99))).join(' ')}`);
    const onFresh = [...v.load.fromSent].filter((x, i) => v.load.fresh[i] && Number.isFinite(x)).sort((a, b) => a - b);
    console.log(
      `${v.journal}: connections opened by the client: ${v.load.newSockets} (their first request: p50 ${f1(pct(onFresh, 0.5))}, ` +
        `max ${f1(onFresh.at(-1) ?? Number.NaN)} ms); responses with Connection: close: ${v.load.closedByServer}`,
    );
    if (sum(v.load.socketErrors)) console.log(`${v.journal} socket errors: ${show(v.load.socketErrors)}`);
    const s = [...v.load.fromScheduled].filter(Number.isFinite).sort((a, b) => a - b);
    const p99 = pct(s, 0.99);
    const clean = v.runs === 1 && sum(v.load.socketErrors) === 0 && (v.load.statuses['200'] ?? 0) === COUNT;
    console.log(
      `${v.journal}: p99 ${f1(p99)} ms ${p99 < TARGET_P99_MS ? '<' : '>='} ${TARGET_P99_MS} ms: ${p99 < TARGET_P99_MS ? 'MET' : 'NOT MET'}; ` +
        `runs ${v.runs} (want 1), errors ${COUNT - (v.load.statuses['200'] ?? 0)}: ${clean ? 'clean' : 'NOT clean'}`,
    );
  }
}

if (isMainThread) {
  main()
    .catch(async (err) => {
      console.error(err);
      process.exitCode = 1;
    })
    .finally(() => cleanup());
}
