import { readFile, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { LabError } from '../errors.js';
import { pidInNamespace } from './netns.js';

/** Pid-file daemons living in a lab namespace: liveness, waiting and stopping (by pid only). */

export interface DaemonRef {
  /** e.g. "fw sshd", for messages */
  label: string;
  ns: string;
  pidFile: string;
  /** /proc/<pid>/comm of the daemon */
  comm: string;
}

export async function readPid(pidFile: string): Promise<number | undefined> {
  try {
    const n = Number((await readFile(pidFile, 'utf8')).trim());
    return Number.isInteger(n) && n > 1 ? n : undefined;
  } catch {
    return undefined;
  }
}

/** The daemon's pid when its pid file names a live process of the right program in the right namespace. */
export async function alivePid(d: DaemonRef): Promise<number | undefined> {
  const pid = await readPid(d.pidFile);
  if (pid === undefined) return undefined;
  try {
    const comm = (await readFile(`/proc/${pid}/comm`, 'utf8')).trim();
    if (comm !== d.comm) return undefined;
  } catch {
    return undefined;
  }
  return (await pidInNamespace(pid, d.ns)) ? pid : undefined;
}

/** Stops a daemon we started (pid from its pid file, checked to be ours): TERM, then KILL after 2 s. */
export async function stopDaemon(d: DaemonRef): Promise<void> {
  const pid = await alivePid(d);
  if (pid !== undefined) {
    process.kill(pid, 'SIGTERM');
    for (let i = 0; i < 40 && (await alivePid(d)) !== undefined; i++) await sleep(50);
    if ((await alivePid(d)) !== undefined) process.kill(pid, 'SIGKILL');
  }
  await rm(d.pidFile, { force: true });
}

/** Polls `ready` every 50 ms, at most `timeoutMs`; throws a LabError naming the daemon otherwise. */
export async function waitUntil(label: string, ready: () => Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await ready()) return;
    await sleep(50);
  }
  throw new LabError(`lab: ${label} did not become ready within ${timeoutMs} ms`);
}

/** One TCP connect to a lab management address (root namespace -> fb-* veth), closed at once. */
export function tcpOpen(host: string, port: number, timeoutMs = 300): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect({ host, port });
    const done = (ok: boolean) => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(timeoutMs, () => done(false));
    sock.once('connect', () => done(true));
    sock.once('error', () => done(false));
  });
}
