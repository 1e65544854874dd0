import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { describe } from 'vitest';
import { loadInventory } from '../../src/inventory/load.js';
import { openSqliteStore } from '../../src/journal/sqlite.js';
import type { EntryType } from '../../src/journal/types.js';
import { canReach, nsExec } from '../../src/lab/lab.js';
import { labPaths } from '../../src/lab/paths.js';
import { resolveSecret } from '../../src/secrets.js';
import { openSnmp } from '../../src/transports/snmp.js';

const run = promisify(execFile);
export const repo = resolve(import.meta.dirname, '..', '..');
export const cli = join(repo, 'dist', 'src', 'cli', 'main.js');
export const isRoot = process.getuid?.() === 0;

/** describe() for tests that need the lab; prints why they are skipped. */
const labSkip = !isRoot ? 'needs root for network namespaces' : process.env.FIREBREAK_NO_LAB === '1' ? 'FIREBREAK_NO_LAB=1' : '';
export const describeLab: typeof describe = !labSkip
  ? describe
  : (((name: string) => {
      console.warn(`[skip] ${name}: ${labSkip}`);
      return describe.skip(name, () => undefined);
    }) as unknown as typeof describe);

export const lab = labPaths();
export const INTERNET = '198.51.100.200';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * The environment of a CLI process a test starts: this process's, without the service settings
 * (CI exports DATABASE_URL and REDIS_URL for the tests' own use; a CLI call gets them only when the
 * test passes them, e.g. for the queue and PostgreSQL backends).
 */
export function cliEnv(env: Record<string, string> = {}): NodeJS.ProcessEnv {
  const { DATABASE_URL: _db, REDIS_URL: _redis, FIREBREAK_REDIS_PREFIX: _p, FIREBREAK_DATABASE_SCHEMA: _s, ...rest } = process.env;
  return { ...rest, ...env };
}

/** Runs the built CLI as a fresh process (what an operator does), never throwing. */
export async function firebreak(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  try {
    const r = await run(process.execPath, [cli, ...args], { env: cliEnv(env), timeout: 60_000 });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

export function json<T = any>(r: CliResult): T {
  try {
    return JSON.parse(r.stdout) as T;
  } catch {
    throw new Error(`not JSON (exit ${r.code}): ${r.stdout}\n${r.stderr}`);
  }
}

export const reach = (ns: 'h1' | 'h2') => canReach(`fb-${ns}`, INTERNET);
/**
 * After a restore: does traffic flow again within `ms`? (A port just brought up may lose the first
 * ping while the host re-learns its neighbour; a busy machine makes that window longer.)
 */
export async function reachWithin(ns: 'h1' | 'h2', ms = 3_000): Promise<boolean> {
  const until = Date.now() + ms;
  do {
    if (await reach(ns)) return true;
  } while (Date.now() < until);
  return false;
}

/** A scratch folder with a journal path and (optionally) a copy of the lab inventory to edit. */
export function scratch(copyInventory = false): { dir: string; journal: string; inventory: string; done: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'fb-test-'));
  const inventory = copyInventory ? join(dir, 'devices') : lab.inventoryDir;
  if (copyInventory) cpSync(lab.inventoryDir, inventory, { recursive: true });
  return { dir, journal: join(dir, 'journal.db'), inventory, done: () => rmSync(dir, { recursive: true, force: true }) };
}

/**
 * A copy of the lab inventory plus `ghost`, a firewall at 10.250.9.2: inside the lab's management
 * range, where the root namespace's unreachable route answers at once, so nothing leaves the machine.
 */
export function inventoryWithGhost(into: string): string {
  const dir = join(into, 'with-ghost');
  cpSync(lab.inventoryDir, dir, { recursive: true });
  const fw = readFileSync(join(dir, 'fw.yaml'), 'utf8');
  writeFileSync(join(dir, 'ghost.yaml'), fw.replace(/^id: .*$/m, 'id: ghost').replace(/10\.250\.1\.2/g, '10.250.9.2'));
  return dir;
}

export async function linkUp(ns: string, dev: string): Promise<boolean> {
  const r = await nsExec(ns, ['ip', '-j', 'link', 'show', 'dev', dev]);
  const [link] = JSON.parse(r.stdout) as { flags: string[] }[];
  return link!.flags.includes('UP');
}

export async function setLink(ns: string, dev: string, state: 'up' | 'down'): Promise<void> {
  await nsExec(ns, ['ip', 'link', 'set', 'dev', dev, state]);
}

/** Every secret the lab made, to search outputs and the journal for. */
export function labSecrets(): string[] {
  return ['sw-ro-community', 'sw-rw-community', 'sw-auth', 'sw-priv'].map((f) => readFileSync(join(lab.secretsDir, f), 'utf8').trim());
}

/** Puts the lab back as it was built: firebreak's nft table gone, every port up. */
export async function resetLab(): Promise<void> {
  await nsExec('fb-fw', ['nft', 'delete', 'table', 'inet', 'firebreak']).catch(() => undefined);
  for (const d of ['eth-uplink', 'eth-lan']) await setLink('fb-fw', d, 'up');
  await nsExec('fb-fw', ['ip', 'route', 'replace', 'default', 'via', '198.51.100.1']).catch(() => undefined);
  let changed = false;
  for (const d of SWITCH_PORTS)
    if (!(await linkUp('fb-sw', d))) {
      await setLink('fb-sw', d, 'up');
      changed = true;
    }
  if (changed) await waitSwitchAgentAgrees();
}

const SWITCH_PORTS = ['swp1', 'swp2', 'swp-up', 'mgmt0'];
const IF_DESCR = '1.3.6.1.2.1.2.2.1.2';
const IF_ADMIN = '1.3.6.1.2.1.2.2.1.7';

/**
 * net-snmp caches the interface table (~2-3 s): after a port is changed behind the agent's back
 * (ip link, as an operator at the console would), wait until SNMP shows the same, so the next
 * run starts from a state both views agree on. Bounded: 8 s.
 */
export async function waitSwitchAgentAgrees(): Promise<void> {
  const sw = (await loadInventory(lab.inventoryDir)).devices.get('sw')!;
  const snmp = await openSnmp(sw, resolveSecret);
  try {
    const deadline = Date.now() + 8000;
    for (;;) {
      const names = await snmp.walk(IF_DESCR);
      const admin = await snmp.walk(IF_ADMIN);
      let agree = true;
      for (const [oid, name] of names) {
        if (!SWITCH_PORTS.includes(String(name))) continue;
        const snmpUp = Number(admin.get(`${IF_ADMIN}.${oid.split('.').pop()}`)) === 1;
        if (snmpUp !== (await linkUp('fb-sw', String(name)))) agree = false;
      }
      if (agree) return;
      if (Date.now() > deadline) throw new Error('the switch agent did not catch up with the ports within 8 s');
      await new Promise((r) => setTimeout(r, 200));
    }
  } finally {
    await snmp.close();
  }
}

export interface StartedCli {
  child: ChildProcess;
  done: Promise<{ code: number | null; stdout: string; stderr: string }>;
}

/** The built CLI as a background process (to signal or kill mid-run), its output collected. */
export function startCli(args: string[], env: Record<string, string> = {}): StartedCli {
  const child = spawn(process.execPath, [cli, ...args], { env: cliEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => {
    stdout += String(d);
  });
  child.stderr!.on('data', (d) => {
    stderr += String(d);
  });
  const done = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) =>
    child.once('exit', (code) => resolve({ code, stdout, stderr })),
  );
  return { child, done };
}

/** Waits (bounded) until the SQLite journal at `file` holds an entry of `type`: the run reached that point. */
export async function waitForEntry(file: string, type: EntryType, timeoutMs = 20_000): Promise<void> {
  for (const until = Date.now() + timeoutMs; ; await new Promise((r) => setTimeout(r, 20))) {
    const j = openSqliteStore(file);
    const seen = await j.find({ types: [type] }).catch(() => []); // the file may not exist yet
    await j.close();
    if (seen.length) return;
    if (Date.now() > until) throw new Error(`no ${type} in ${file} within ${timeoutMs} ms`);
  }
}
