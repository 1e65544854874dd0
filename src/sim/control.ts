import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, open, readFile, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { errorMessage, SimError } from '../errors.js';
import { loadInventory } from '../inventory/load.js';
import { tcpOpen } from '../lab/daemon.js';
import { resolveSecret } from '../secrets.js';
import { openSnmp } from '../transports/snmp.js';
import { packageRoot } from '../package-root.js';
import { simulators } from './registry.js';
import { daemonAlive, logPath, readState, type SimState, statePath } from './state.js';
import { loadTopology } from './topology.js';

/** `sim up | status | down`: start the sim daemon and wait for it, inspect it, stop it (by its pid only). */

/** The daemon runs from tsc's output, whichever copy (src/, dist/src/, the CLI bundle) starts it. */
const DAEMON_SCRIPT = join(packageRoot, 'dist', 'src', 'sim', 'daemon.js');

export interface SimUpOptions {
  topology: string;
  dir: string;
  /** Bound on the whole start (default 90 s). */
  timeoutMs?: number;
}

/** Starts the daemon detached and returns its state once every device is up and the inventory loads. */
export async function simUp(opts: SimUpOptions): Promise<SimState> {
  const dir = resolve(opts.dir);
  const topology = resolve(opts.topology);
  // Validate here first: a bad topology fails at once, with file:line:col, and starts nothing.
  await loadTopology(topology, { simulators });
  const old = await readState(dir);
  if (old && (await daemonAlive(old.pid, dir))) {
    throw new SimError(
      `sim: a simulated network (${old.name}) is already running from ${dir} (pid ${old.pid}): \`firebreak sim down\` first`,
    );
  }
  if (!existsSync(DAEMON_SCRIPT)) throw new SimError(`sim: ${DAEMON_SCRIPT} not found: run the built CLI (npm run build)`);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await rm(statePath(dir), { force: true });
  const logFile = await open(logPath(dir), 'a', 0o600);
  const child = spawn(process.execPath, [DAEMON_SCRIPT, '--topology', topology, '--dir', dir], {
    detached: true,
    stdio: ['ignore', logFile.fd, logFile.fd, 'ipc'],
  });
  const timeoutMs = opts.timeoutMs ?? 90_000;
  try {
    await new Promise<void>((ready, fail) => {
      const timer = setTimeout(
        () => fail(new SimError(`sim: the daemon (pid ${child.pid}) was not ready within ${timeoutMs} ms`)),
        timeoutMs,
      );
      const done = (err?: Error) => {
        clearTimeout(timer);
        if (err) fail(err);
        else ready();
      };
      child.on('message', (m: unknown) => {
        const msg = m as { kind?: unknown; message?: unknown };
        if (msg?.kind === 'ready') done();
        else if (msg?.kind === 'failed') done(new SimError(String(msg.message)));
      });
      child.once('error', (err) => done(new SimError(`sim: cannot start the daemon: ${err.message}`)));
      child.once('exit', (code, signal) =>
        done(new SimError(`sim: the daemon exited (${signal ?? `code ${code}`}) before it was ready; see ${logPath(dir)}`)),
      );
    });
  } catch (err) {
    if (child.pid !== undefined && (await daemonAlive(child.pid, dir))) await stopPid(child.pid, dir, 15_000);
    await rm(resolve(dir, 'devices'), { recursive: true, force: true });
    throw err;
  } finally {
    child.removeAllListeners();
    if (child.connected) child.disconnect();
    child.unref();
    await logFile.close();
  }
  const state = await readState(dir);
  if (state?.status !== 'up') throw new SimError(`sim: the daemon said ready but ${statePath(dir)} does not say up`);
  return state;
}

export interface SimStatus {
  dir: string;
  up: boolean;
  state?: SimState;
  alive: boolean;
  problems: string[];
  devices: { id: string; family: string; address: string; port: number; answers: boolean }[];
}

/** Reads the state file, checks the daemon's pid, and asks each device (TCP connect for SSH, one SNMP GET). */
export async function simStatus(dirOpt: string): Promise<SimStatus> {
  const dir = resolve(dirOpt);
  const state = await readState(dir);
  if (!state) return { dir, up: false, alive: false, problems: [`no simulated network in ${dir} (no state.json)`], devices: [] };
  const alive = await daemonAlive(state.pid, dir);
  const problems: string[] = [];
  if (!alive) problems.push(`daemon pid ${state.pid} is not running`);
  if (state.status !== 'up') problems.push(`state: ${state.status}${state.error ? ` (${state.error.split('\n')[0]})` : ''}`);
  const inventory = alive ? await loadInventory(state.inventory).catch((err: unknown) => errorMessage(err)) : undefined;
  if (typeof inventory === 'string') problems.push(`inventory: ${inventory.split('\n')[0]}`);
  const devices = await Promise.all(
    state.devices.map(async (d) => {
      const port = d.sshPort ?? d.snmpPort ?? 0;
      let answers = false;
      if (alive && d.sshPort !== undefined) answers = await tcpOpen(d.address, d.sshPort, 1000);
      else if (alive && typeof inventory === 'object') {
        const device = inventory.devices.get(d.id);
        if (device?.snmp) answers = await snmpAnswers({ ...device, snmp: { ...device.snmp, timeoutMs: 1000, retries: 0 } });
      }
      return { id: d.id, family: d.family, address: d.address, port, answers };
    }),
  );
  for (const d of devices) if (alive && !d.answers) problems.push(`${d.id} (${d.address}:${d.port}) does not answer`);
  return { dir, up: problems.length === 0, state, alive, problems, devices };
}

async function snmpAnswers(device: Parameters<typeof openSnmp>[0]): Promise<boolean> {
  try {
    // openSnmp proves the session with one GET (sysUpTime.0).
    const session = await openSnmp(device, resolveSecret);
    await session.close();
    return true;
  } catch {
    return false;
  }
}

/** Stops the daemon by its pid (TERM, then KILL past the bound) and removes the inventory, secrets and state. */
export async function simDown(dirOpt: string, timeoutMs = 15_000): Promise<{ pid?: number; wasRunning: boolean }> {
  const dir = resolve(dirOpt);
  const state = await readState(dir).catch(() => undefined);
  let wasRunning = false;
  if (state && (await daemonAlive(state.pid, dir))) {
    wasRunning = true;
    await stopPid(state.pid, dir, timeoutMs);
  }
  // Nothing may be aimed at an absent network: the inventory goes with it (keys stay, for the pins).
  if (state) await rm(state.inventory, { recursive: true, force: true });
  await rm(resolve(dir, 'devices'), { recursive: true, force: true });
  await rm(resolve(dir, 'secrets'), { recursive: true, force: true });
  await rm(statePath(dir), { force: true });
  return { pid: state?.pid, wasRunning };
}

async function stopPid(pid: number, dir: string, timeoutMs: number): Promise<void> {
  process.kill(pid, 'SIGTERM');
  const end = Date.now() + timeoutMs;
  while (Date.now() < end && (await daemonAlive(pid, dir))) await sleep(50);
  if (await daemonAlive(pid, dir)) {
    process.kill(pid, 'SIGKILL');
    for (let i = 0; i < 40 && (await daemonAlive(pid, dir)); i++) await sleep(50);
    if (await daemonAlive(pid, dir)) throw new SimError(`sim: daemon pid ${pid} did not stop (even after SIGKILL)`);
  }
}

/** The last lines of the daemon log, for error messages (the daemon never logs a secret). */
export async function logTail(dir: string, lines = 5): Promise<string> {
  const text = await readFile(logPath(resolve(dir)), 'utf8').catch(() => '');
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}
