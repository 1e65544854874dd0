import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { LabError } from '../errors.js';

/** One lab change at a time across processes (test workers, CLI): an O_EXCL pid file. */

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

let chain: Promise<unknown> = Promise.resolve();

/** Runs `fn` holding the lock file; waits at most `timeoutMs`, breaks a lock whose owner is dead. */
export function withLabLock<T>(lockFile: string, fn: () => Promise<T>, timeoutMs = 15 * 60_000): Promise<T> {
  // In-process queue first, so two calls in one process never race on the same file.
  const next = chain.then(() => acquireAndRun(lockFile, fn, timeoutMs));
  chain = next.catch(() => undefined);
  return next;
}

async function acquireAndRun<T>(lockFile: string, fn: () => Promise<T>, timeoutMs: number): Promise<T> {
  await mkdir(dirname(lockFile), { recursive: true });
  const end = Date.now() + timeoutMs;
  for (;;) {
    try {
      await writeFile(lockFile, String(process.pid), { flag: 'wx' });
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const owner = Number((await readFile(lockFile, 'utf8').catch(() => '')).trim());
      // An empty file may be a lock being written right now: only a stale one (> 5 s) is broken.
      const unreadable = !Number.isInteger(owner) || owner <= 0;
      const age = Date.now() - ((await stat(lockFile).catch(() => undefined))?.mtimeMs ?? 0);
      if ((unreadable && age > 5000) || (!unreadable && !alive(owner))) {
        await rm(lockFile, { force: true });
        continue;
      }
      if (Date.now() > end) throw new LabError(`lab: another process (pid ${owner}) holds ${lockFile}`);
      await sleep(100);
    }
  }
  try {
    return await fn();
  } finally {
    await rm(lockFile, { force: true });
  }
}
