import { execFile } from 'node:child_process';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';

/** Runs a playbook through the built CLI as an operator does (a fresh process), then rolls it back. */
const run = promisify(execFile);
export const root = resolve(import.meta.dirname, '..', '..', '..');
const cli = join(root, 'dist', 'src', 'cli', 'main.js');

export interface RunSample {
  /** Command start -> last action verified. */
  ttc: number;
  /** Command start -> first connection attempt. */
  first: number;
  /** Largest cut skew of the run's stages. */
  skew: number;
  /** The whole CLI process. */
  wall: number;
}

export async function runAndRollBack(playbook: string, env: Record<string, string>): Promise<RunSample> {
  const t0 = performance.now();
  const { stdout } = await run(process.execPath, [cli, 'run', playbook, '--yes', '--json'], { env: { ...process.env, ...env } });
  const wall = performance.now() - t0;
  const r = JSON.parse(stdout);
  if (r.state !== 'contained') throw new Error(`${playbook}: run ended ${r.state}: ${JSON.stringify(r.notDone)}`);
  await run(process.execPath, [cli, 'rollback', r.runId, '--json'], { env: { ...process.env, ...env } });
  return { ttc: r.timeToContainMs, first: r.firstContactMs, skew: Math.max(...r.cutSkewMs), wall };
}
