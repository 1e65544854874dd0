import { readFile, readlink, stat } from 'node:fs/promises';
import { assertLabNamespace, must, run } from './exec.js';

/** Thin helpers over `ip netns` / `ip -n`; every namespace name is checked to be `fb-*`. */

export async function listNamespaces(): Promise<string[]> {
  const r = await run('ip', ['-j', 'netns', 'list']);
  if (r.code !== 0 || r.stdout.trim() === '') return [];
  const rows = JSON.parse(r.stdout) as Array<{ name: string }>;
  return rows.map((x) => x.name);
}

export async function addNamespace(ns: string): Promise<void> {
  assertLabNamespace(ns);
  await must('ip', ['netns', 'add', ns]);
  await must('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
}

export async function deleteNamespace(ns: string): Promise<void> {
  assertLabNamespace(ns);
  const r = await run('ip', ['netns', 'del', ns]);
  if (r.code !== 0 && !/No such file/.test(r.stderr)) await must('ip', ['netns', 'del', ns]);
}

/** Process ids running in a namespace (as `ip netns pids` lists them). */
export async function namespacePids(ns: string): Promise<number[]> {
  assertLabNamespace(ns);
  const r = await run('ip', ['netns', 'pids', ns]);
  if (r.code !== 0) return [];
  return r.stdout
    .split(/\s+/)
    .filter(Boolean)
    .map(Number)
    .filter((n) => Number.isInteger(n) && n > 1);
}

/** Runs `ip -j [-n ns] <args>` and parses its JSON (`[]` when there is nothing). */
export async function ipJson<T>(ns: string | null, args: string[]): Promise<T[]> {
  if (ns !== null) assertLabNamespace(ns);
  const full = ns === null ? ['-j', ...args] : ['-j', '-n', ns, ...args];
  const out = await must('ip', full);
  return out.trim() === '' ? [] : (JSON.parse(out) as T[]);
}

/** Inode of a namespace's mount file, to tell which namespace a process lives in. */
export async function namespaceInode(ns: string): Promise<number | undefined> {
  assertLabNamespace(ns);
  try {
    return (await stat(`/run/netns/${ns}`)).ino;
  } catch {
    return undefined;
  }
}

/** True when the process exists and its network namespace is `ns` (a recycled pid fails this). */
export async function pidInNamespace(pid: number, ns: string): Promise<boolean> {
  const ino = await namespaceInode(ns);
  if (ino === undefined) return false;
  try {
    const link = await readlink(`/proc/${pid}/ns/net`);
    return link === `net:[${ino}]`;
  } catch {
    return false;
  }
}

/**
 * Lab daemons in our namespaces that were started from another state folder (another checkout's
 * lab holds the same namespace names and addresses): the lab must be rebuilt, not reused.
 */
export async function foreignDaemons(namespaces: readonly string[], stateDir: string): Promise<string[]> {
  const found: string[] = [];
  for (const ns of namespaces) {
    for (const pid of await namespacePids(ns)) {
      const args = await readFile(`/proc/${pid}/cmdline`, 'utf8').then(
        (s) => s.split('\0'),
        () => [],
      );
      const config = args.find((a) => /\/(sshd_config|snmpd\.conf)$/.test(a));
      if (config && !config.startsWith(`${stateDir}/`)) found.push(`${ns}: pid ${pid} runs with ${config}`);
    }
  }
  return found;
}
