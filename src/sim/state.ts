import { readFile, rename, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import * as z from 'zod';
import { SimError } from '../errors.js';

/**
 * `<dir>/state.json`: what the sim daemon runs (pid, ports, devices). Paths and references only,
 * never a secret. Written by the daemon, read by `sim status` / `sim down`.
 */

const port = z.number().int().min(1).max(65535);

export const simStateSchema = z.strictObject({
  formatVersion: z.literal(1),
  status: z.enum(['starting', 'up', 'failed', 'stopped']),
  pid: z.number().int().min(2),
  name: z.string(),
  topology: z.string(),
  dir: z.string(),
  inventory: z.string(),
  log: z.string(),
  ports: z.strictObject({ ssh: port, snmp: port, kind: z.enum(['standard', 'high', 'given']) }),
  startedAt: z.string(),
  error: z.string().optional(),
  devices: z.array(
    z.strictObject({ id: z.string(), family: z.string(), address: z.string(), sshPort: port.optional(), snmpPort: port.optional() }),
  ),
});

export type SimState = z.output<typeof simStateSchema>;

/** Flag, else FIREBREAK_SIM_DIR, else `.sim` in the current directory. */
export function simDir(dirOpt?: string): string {
  return resolve(dirOpt ?? process.env.FIREBREAK_SIM_DIR ?? '.sim');
}

export const statePath = (dir: string) => join(dir, 'state.json');
export const logPath = (dir: string) => join(dir, 'daemon.log');

/** The state file, undefined when there is none; a malformed one is an error naming the file. */
export async function readState(dir: string): Promise<SimState | undefined> {
  const file = statePath(dir);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    return undefined;
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new SimError(`${file}: not JSON (remove it if no sim daemon is running)`);
  }
  const r = simStateSchema.safeParse(raw);
  if (!r.success) throw new SimError(`${file}: not a sim state file: ${z.prettifyError(r.error).split('\n').join('; ')}`);
  return r.data;
}

/** Atomic replace (write aside, rename), mode 600. */
export async function writeState(state: SimState): Promise<void> {
  const file = statePath(state.dir);
  await writeFile(`${file}.tmp`, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
  await rename(`${file}.tmp`, file);
}

/**
 * Is `pid` our daemon for `dir`? A live pid is not enough (pids are reused): on Linux its command
 * line must name the daemon script and the folder.
 */
export async function daemonAlive(pid: number, dir: string): Promise<boolean> {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  if (process.platform !== 'linux') return true;
  try {
    const args = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0');
    return args.some((a) => /[/\\]sim[/\\]daemon\.js$/.test(a)) && args.includes(dir);
  } catch {
    return false;
  }
}
