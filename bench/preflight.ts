/**
 * Preflight (`firebreak drill verify`) at scale: N simulated IOS access switches (default 200),
 * each answering every command after a simulated latency (default 50 ms), running in their own
 * process (`firebreak sim up`). The preflight of "shut every access port" connects to each,
 * checks its host key, logs in and reads the state of its four ports, changing nothing (that it
 * changes nothing is test/drill-verify.e2e.test.ts's to show; here the figure is the time).
 * Prints a table; asserts nothing. No root needed.
 *   node dist/bench/preflight.js [devices=200] [latencyMs=50] [runs=3]
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { planFromFiles } from '../src/app/open.js';
import { resolvePaths } from '../src/cli/config.js';
import { drivers } from '../src/drivers/registry.js';
import { preflight } from '../src/drills/preflight.js';
import { resolveSecret } from '../src/secrets.js';
import { accessSwitches } from '../src/sim/access-switches.js';
import { openSession } from '../src/transports/connect.js';
import { root } from './lib/cli-run.js';
import { printTable, stats } from './lib/table.js';

const run = promisify(execFile);
const cli = join(root, 'dist', 'src', 'cli', 'main.js');
const devices = Number(process.argv[2] ?? 200);
const latencyMs = Number(process.argv[3] ?? 50);
const runs = Number(process.argv[4] ?? 3);

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'fb-preflight-'));
  const simDir = join(dir, 'sim');
  const topo = join(dir, 'preflight.yaml');
  // A /16 of loopback of its own: 127.57.x.y.
  writeFileSync(
    topo,
    accessSwitches({
      name: `preflight-${devices}`,
      count: devices,
      sites: ['bench'],
      latencyMs,
      address: (i) => `127.57.${Math.floor(i / 200) + 1}.${(i % 200) + 10}`,
    }),
  );
  const up = JSON.parse(
    (await run(process.execPath, [cli, 'sim', 'up', '--topology', topo, '--dir', simDir, '--json'], { timeout: 300_000 })).stdout,
  );
  try {
    const paths = resolvePaths({ inventory: up.inventory, journal: join(dir, 'journal.db'), playbooks: join(root, 'bench', 'playbooks') });
    const ms: number[] = [];
    const planMs: number[] = [];
    let last: Awaited<ReturnType<typeof preflight>> | undefined;
    for (let i = 0; i < runs; i++) {
      const t0 = performance.now();
      const plan = await planFromFiles(paths, { playbook: 'shut-access-ports', params: {} });
      planMs.push(performance.now() - t0);
      last = await preflight(plan, { drivers, openSession, resolveSecret });
      ms.push(performance.now() - t0);
    }
    const failing = last!.devices.filter((d) => !d.ok);
    const perDevice = last!.devices.map((d) => d.ms);
    printTable(
      `preflight of shut-access-ports: ${devices} simulated IOS switches x 4 ports, ${latencyMs} ms per command, ${runs} runs (ms)`,
      ['figure', 'p50', 'p90', 'max'],
      [
        ['whole preflight (plan + every device)', ...stats(ms)],
        ['planning', ...stats(planMs)],
        ['one device (last run)', ...stats(perDevice)],
      ],
    );
    console.log(
      `devices ok: ${last!.devices.length - failing.length}/${last!.devices.length}${
        failing.length
          ? `; failing: ${failing
              .slice(0, 5)
              .map((d) => `${d.device} ${d.health.code ?? d.actions.find((a) => a.error)?.code}`)
              .join(', ')}`
          : ''
      }`,
    );
    console.log(`target: < 10,000 ms -> ${Math.max(...ms) < 10_000 ? 'MET' : 'NOT met'} (worst run ${Math.max(...ms).toFixed(0)} ms)`);
  } finally {
    await run(process.execPath, [cli, 'sim', 'down', '--dir', simDir]).catch((e) => console.error(`sim down: ${e.message}`));
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
