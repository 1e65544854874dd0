/**
 * Containment at scale on simulated devices, local executor: N devices (default 200), 4 actions
 * each (every access port shut), every command answered after a simulated latency (default
 * 50 ms). The simulators run in their own process (`firebreak sim up`), the engine in this one, so
 * the peak RSS printed is the orchestrator's. Compares the time to contain with the critical path:
 * the same playbook on one device alone (the slowest device's serial time when nothing else runs).
 * Prints a table; asserts nothing. No root needed.
 *   node dist/bench/scale.js [devices=200] [latencyMs=50] [family=cisco-ios]
 */
import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { engineOn, planFromFiles } from '../src/cli/context.js';
import { resolvePaths } from '../src/cli/config.js';
import { monotonicClock } from '../src/engine/engine.js';
import { root } from './lib/cli-run.js';
import { median, printTable, stats } from './lib/table.js';

const run = promisify(execFile);
const cli = join(root, 'dist', 'src', 'cli', 'main.js');
const devices = Number(process.argv[2] ?? 200);
const latencyMs = Number(process.argv[3] ?? 50);
const family = process.argv[4] ?? 'cisco-ios';
const PORTS: Record<string, string[]> = {
  'cisco-ios': ['Gi1/0/1', 'Gi1/0/2', 'Gi1/0/3', 'Gi1/0/4', 'Gi1/0/48'],
  'arista-eos': ['Ethernet1', 'Ethernet2', 'Ethernet3', 'Ethernet4', 'Management1'],
  junos: ['ge-0/0/1', 'ge-0/0/2', 'ge-0/0/3', 'ge-0/0/4', 'me0'],
  'aruba-aoscx': ['1/1/1', '1/1/2', '1/1/3', '1/1/4', '1/1/48'],
};

/** 200 access switches, four access ports each, on 127.40.x.y (a /16 of loopback of their own). */
function topology(): string {
  const ports = PORTS[family];
  if (!ports) throw new Error(`no port names for ${family} (known: ${Object.keys(PORTS).join(', ')})`);
  const lines = [`name: scale-${devices}`, `defaults: { latencyMs: ${latencyMs} }`, 'sites: [bench]', 'devices:'];
  for (let i = 0; i < devices; i++) {
    lines.push(
      `  - id: sw${i}`,
      `    family: ${family}`,
      '    site: bench',
      `    hostname: sw${i}`,
      `    address: 127.40.${Math.floor(i / 200) + 1}.${(i % 200) + 10}`,
      '    ports:',
      ...ports.slice(0, 4).map((p) => `      "${p}": { roles: [access], mode: access, vlan: 10 }`),
      `      "${ports[4]}": { roles: [mgmt] }`,
      `    managementPath: { interfaces: ["${ports[4]}"] }`,
    );
  }
  return `${lines.join('\n')}\n`;
}

async function contain(inventory: string, journal: string) {
  const paths = resolvePaths({ inventory, journal, playbooks: join(root, 'bench', 'playbooks') });
  const triggerAt = monotonicClock();
  const plan = await planFromFiles(paths, { playbook: 'shut-access-ports', params: {} });
  const { engine, journal: j } = await engineOn(paths.journal);
  try {
    const r = await engine.run(plan, { trigger: { kind: 'test', by: 'bench' }, triggerAt });
    if (r.state !== 'contained') throw new Error(`run ended ${r.state}: ${JSON.stringify(r.notDone.slice(0, 3))}`);
    const rb = await engine.rollback(r.runId, { by: 'bench' });
    if (rb.state !== 'rolled-back') throw new Error(`rollback ended ${rb.state}`);
    return { ttc: r.timeToContainMs, skew: Math.max(...r.cutSkewMs), actions: r.actions.length };
  } finally {
    await j.close();
  }
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'fb-scale-'));
  const simDir = join(dir, 'sim');
  const topo = join(dir, 'scale.yaml');
  writeFileSync(topo, topology());
  const t0 = performance.now();
  const up = JSON.parse(
    (await run(process.execPath, [cli, 'sim', 'up', '--topology', topo, '--dir', simDir, '--json'], { timeout: 300_000 })).stdout,
  );
  const startMs = performance.now() - t0;
  try {
    // One device alone: the critical path.
    const one = join(dir, 'one');
    cpSync(up.inventory, one, { recursive: true });
    for (const f of readdirSync(one)) if (f !== 'sw0.yaml' && f !== '_orchestrator.yaml') rmSync(join(one, f));
    const single = [];
    for (let i = 0; i < 5; i++) single.push(await contain(one, join(dir, 'one.db')));
    const all = [];
    for (let i = 0; i < 3; i++) all.push(await contain(up.inventory, join(dir, 'all.db')));
    const critical = median(single.map((s) => s.ttc));
    const ttc = median(all.map((s) => s.ttc));
    const rssMb = process.resourceUsage().maxRSS / 1024;
    printTable(
      `containment at scale: ${devices} simulated ${family} devices x 4 actions, ${latencyMs} ms per command (node ${process.version})`,
      ['figure', 'p50', 'p90', 'max', 'target'],
      [
        ['critical path: 1 device, 4 actions, time to contain (ms)', ...stats(single.map((s) => s.ttc)), ''],
        [`${all[0]!.actions} actions on ${devices} devices, time to contain (ms)`, ...stats(all.map((s) => s.ttc)), ''],
        ['time to contain / critical path', (ttc / critical).toFixed(2), '', '', '<= 1.2'],
        ['cut skew (ms)', ...stats(all.map((s) => s.skew)), '< 250'],
        ['orchestrator peak RSS (MB)', rssMb.toFixed(0), '', '', '< 300'],
        [`sim up of ${devices} devices (ms)`, startMs.toFixed(0), '', '', ''],
      ],
    );
  } finally {
    await run(process.execPath, [cli, 'sim', 'down', '--dir', simDir]).catch((e) => console.error(`sim down: ${e.message}`));
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
