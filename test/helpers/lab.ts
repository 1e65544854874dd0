import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { describe } from 'vitest';
import { canReach, nsExec } from '../../src/lab/lab.js';
import { labPaths } from '../../src/lab/paths.js';

const run = promisify(execFile);
export const repo = resolve(import.meta.dirname, '..', '..');
export const cli = join(repo, 'dist', 'src', 'cli', 'main.js');
export const isRoot = process.getuid?.() === 0;

/** describe() for tests that need the lab; prints why they are skipped. */
export const describeLab: typeof describe = isRoot ? describe : (((name: string) => {
  console.warn(`[skip] ${name}: needs root for network namespaces`);
  return describe.skip(name, () => undefined);
}) as unknown as typeof describe);

export const lab = labPaths();
export const INTERNET = '203.0.113.10';

export interface CliResult { code: number; stdout: string; stderr: string }

/** Runs the built CLI as a fresh process (what an operator does), never throwing. */
export async function firebreak(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  try {
    const r = await run(process.execPath, [cli, ...args], { env: { ...process.env, ...env }, timeout: 60_000 });
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

/** A scratch folder with a journal path and (optionally) a copy of the lab inventory to edit. */
export function scratch(copyInventory = false): { dir: string; journal: string; inventory: string; done: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'fb-test-'));
  const inventory = copyInventory ? join(dir, 'devices') : lab.inventoryDir;
  if (copyInventory) cpSync(lab.inventoryDir, inventory, { recursive: true });
  return { dir, journal: join(dir, 'journal.db'), inventory, done: () => rmSync(dir, { recursive: true, force: true }) };
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
  for (const d of ['swp1', 'swp2', 'swp-up', 'mgmt0']) await setLink('fb-sw', d, 'up');
}
