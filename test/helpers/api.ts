import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { serve, type Serving } from '../../src/api/serve.js';
import { openTokenStore, type TokenStore } from '../../src/identity/tokens.js';
import { openUserStore, type UserStore } from '../../src/identity/users.js';
import { type SimNetwork, startNetwork } from '../../src/sim/network.js';
import { simulators } from '../../src/sim/registry.js';
import type { RunningSim } from '../../src/sim/types.js';
import { parseTopology } from '../../src/sim/topology.js';
import { repo } from './lab.js';

/**
 * A real `firebreak serve` on loopback (local executor, SQLite journal in a tmp folder) over the
 * small simulated network (firewall `fw`, router `edge`, SNMP switch `sw`), with one token per
 * role, and a fetch wrapper. What the API tests talk to.
 */
export interface ApiHarness {
  url: string;
  dir: string;
  journalFile: string;
  net: SimNetwork;
  fw: RunningSim;
  /** The firewall's filter entries as it lists them, one per line: what a block looks like on the device. */
  fwRules(): string;
  serving: Serving;
  store: TokenStore;
  /** The console users (the same tokens.db the server uses). */
  users: UserStore;
  tokens: Record<'runner' | 'reader' | 'approver' | 'admin' | 'detector', string>;
  /** Every log line the server wrote (pino JSON, parsed). */
  logs: Record<string, unknown>[];
  call(
    method: string,
    path: string,
    o?: { token?: string; body?: unknown; raw?: string; headers?: Record<string, string> },
  ): Promise<{ status: number; json: any; headers: Headers }>;
  close(): Promise<void>;
}

export interface HarnessOptions {
  name: string;
  /** A /16 inside 127.0.0.0/8 for the simulated devices (each test file its own). */
  addressBlock: string;
  ports: { ssh: number; snmp: number };
  triggers?: string;
  notify?: string;
  /** drills.yaml text. */
  drills?: string;
  approvalTtlMs?: number;
  failures?: { windowMs: number; max: number };
  /** Queue mode: runs go to `firebreak worker` processes through this Redis (default: local executor). */
  queue?: { redisUrl: string; prefix: string };
  /** Extra playbooks (file name -> YAML) next to the shipped ones. */
  playbooks?: Record<string, string>;
}

export async function startApiHarness(o: HarnessOptions): Promise<ApiHarness> {
  const dir = await mkdtemp(join(tmpdir(), `fb-${o.name}-`));
  const topology = `${await readFile(join(repo, 'topologies', 'small.yaml'), 'utf8')}\naddressBlock: ${o.addressBlock}\n`;
  const net = await startNetwork(parseTopology(`${o.name}.yaml`, topology, { simulators }), { dir: join(dir, 'sim'), ports: o.ports });
  let playbooks = join(repo, 'playbooks');
  if (o.playbooks) {
    playbooks = join(dir, 'playbooks');
    const { cp, mkdir } = await import('node:fs/promises');
    await mkdir(playbooks);
    await cp(join(repo, 'playbooks'), playbooks, { recursive: true });
    for (const [f, text] of Object.entries(o.playbooks)) await writeFile(join(playbooks, f), text);
  }
  const journalFile = join(dir, 'journal.db');
  const store = await openTokenStore({ file: join(dir, 'tokens.db') });
  const users = await openUserStore({ file: join(dir, 'tokens.db') });
  const mk = async (name: string, scopes: string[]) => (await store.create({ name, scopes, by: 'vitest' })).token;
  const tokens = {
    runner: await mk('runner', ['run:*', 'read', 'rollback', 'plan']),
    reader: await mk('reader', ['read']),
    approver: await mk('approver', ['approve', 'read']),
    admin: await mk('admin', ['admin']),
    detector: await mk('detector', ['run:isolate-host']),
  };
  const triggersFile = o.triggers ? join(dir, 'triggers.yaml') : undefined;
  if (triggersFile) await writeFile(triggersFile, o.triggers!);
  const notifyFile = o.notify ? join(dir, 'notify.yaml') : undefined;
  if (notifyFile) await writeFile(notifyFile, o.notify!);
  const drillsFile = o.drills ? join(dir, 'drills.yaml') : undefined;
  if (drillsFile) await writeFile(drillsFile, o.drills!);
  const logs: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      for (const line of String(chunk).split('\n')) if (line.trim()) logs.push(JSON.parse(line));
      cb();
    },
  });
  const serving = await serve({
    app: {
      paths: { inventory: net.inventoryDir, playbooks, journal: journalFile },
      local: !o.queue,
      redisUrl: o.queue?.redisUrl,
      redisPrefix: o.queue?.prefix,
      approvalTtlMs: o.approvalTtlMs,
    },
    host: '127.0.0.1',
    port: 0,
    triggersFile,
    notifyFile,
    drillsFile,
    version: 'test',
    log: pino({ level: 'info' }, sink),
    failures: o.failures ?? { windowMs: 60_000, max: 1000 },
  });
  const call: ApiHarness['call'] = async (method, path, c = {}) => {
    const headers: Record<string, string> = { ...(c.headers ?? {}) };
    if (c.token) headers.authorization = `Bearer ${c.token}`;
    let body: string | undefined = c.raw;
    if (c.body !== undefined) {
      body = JSON.stringify(c.body);
      headers['content-type'] = 'application/json';
    } else if (c.raw !== undefined) headers['content-type'] ??= 'application/json';
    const res = await fetch(`${serving.url}${path}`, { method, headers, body });
    const text = await res.text();
    let json: unknown = text;
    try {
      json = JSON.parse(text);
    } catch {}
    return { status: res.status, json, headers: res.headers };
  };
  return {
    url: serving.url,
    dir,
    journalFile,
    net,
    fw: net.devices.find((d) => d.spec.id === 'fw')!,
    fwRules: () =>
      net.devices
        .find((d) => d.spec.id === 'fw')!
        .control.snapshot()
        .rules.map((r) => r.text)
        .join('\n'),
    serving,
    store,
    users,
    tokens,
    logs,
    call,
    async close() {
      await serving.stop();
      await store.close();
      await users.close();
      await net.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Polls GET /runs/<id> until its state is one of `states` (or the time is up: the last state). */
export async function waitForState(h: ApiHarness, runId: string, states: string[], timeoutMs = 15_000): Promise<string> {
  const until = Date.now() + timeoutMs;
  let state = '';
  while (Date.now() < until) {
    state = (await h.call('GET', `/api/v1/runs/${runId}`, { token: h.tokens.reader })).json.state;
    if (states.includes(state)) return state;
    await new Promise((r) => setTimeout(r, 50));
  }
  return state;
}
