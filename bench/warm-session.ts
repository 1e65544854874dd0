/**
 * What warm worker sessions save a queued run: the time from a run's first get() of a device
 * session to the answer of its first command on a simulated Cisco IOS switch (127.0.18.50), cold
 * (a SessionPool per run, as the local executor does: connect, authenticate, open the CLI shell,
 * learn the prompt, turn paging off) against warm (a run view of WarmSessions whose session and
 * CLI shell stay open between runs). Cold and warm runs alternate so drift hits both alike.
 * Prints a table; asserts nothing. No root, no lab.
 *   npx tsc -p tsconfig.json && node dist/bench/warm-session.js [iterations=50]
 */
import { CISCO_IOS } from '../src/drivers/cisco-ios.js';
import { SessionPool, type Sessions } from '../src/engine/sessions.js';
import { WarmSessions } from '../src/engine/warm-sessions.js';
import type { Device } from '../src/inventory/types.js';
import { resolveSecret } from '../src/secrets.js';
import { ciscoIosSim } from '../src/sim/cisco-ios.js';
import { openSession } from '../src/transports/connect.js';
import type { SshSession } from '../src/transports/types.js';
import { median, printTable } from './lib/table.js';

const iterations = Number(process.argv[2] ?? 50);
const PASSWORD = 'warm-bench-pass-3Jd8';
process.env.FB_BENCH_WARM_PW = PASSWORD;

const sim = await ciscoIosSim(
  {
    id: 'bench-ios',
    family: 'cisco-ios',
    site: 'lab',
    hostname: 'bench-sw1',
    address: '127.0.18.50',
    sshPort: 10022,
    ports: [{ name: 'GigabitEthernet1/0/1', mode: 'access', vlan: 10 }],
  },
  { user: 'netops', password: PASSWORD },
  {},
);
const device: Device = {
  id: 'bench-ios',
  site: 'lab',
  driver: 'cisco-ios',
  address: sim.spec.address,
  tags: [],
  ssh: { port: 10022, user: 'netops', password: 'env:FB_BENCH_WARM_PW', hostKey: sim.hostKey!, readyTimeoutMs: 5000 },
  managementPath: { interfaces: [], via: [] },
  interfaces: { 'Gi1/0/1': { roles: ['access'] } },
};

/** One run's first contact: get the session, send the first command, wait for its answer; then end the run. */
async function firstCommand(sessions: Sessions): Promise<number> {
  const t = performance.now();
  const session = (await sessions.get(device, 'ssh', 5000)) as SshSession;
  const shell = await session.cli(CISCO_IOS);
  const out = await shell.send('show running-config interface Gi1/0/1', { timeoutMs: 5000 });
  const ms = performance.now() - t;
  if (!out.includes('GigabitEthernet1/0/1')) throw new Error(`unexpected answer: ${out}`);
  await sessions.closeAll();
  return ms;
}

const p95 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.ceil(0.95 * xs.length) - 1)]!;
const fmt = (x: number) => x.toFixed(1);

const warm = new WarmSessions(openSession, resolveSecret);
const rows: string[][] = [];
const row = (label: string, xs: number[]) => [label, String(xs.length), fmt(median(xs)), fmt(p95(xs)), fmt(Math.max(...xs))];
let warmMedian = 0;
try {
  await firstCommand(warm.forRun()); // warms the cache (and the JIT) before measuring
  await firstCommand(new SessionPool(openSession, resolveSecret, Date.now));
  // The sim's latency is per command (each line answered that much later); the handshake stays loopback-fast.
  for (const latency of [0, 20]) {
    sim.control.setLatency(latency);
    const cold: number[] = [];
    const hot: number[] = [];
    for (let i = 0; i < iterations; i++) {
      cold.push(await firstCommand(new SessionPool(openSession, resolveSecret, Date.now)));
      hot.push(await firstCommand(warm.forRun()));
    }
    rows.push(row(`cold (SessionPool per run), +${latency} ms/command`, cold));
    rows.push(row(`warm (WarmSessions.forRun), +${latency} ms/command`, hot));
    if (latency === 0) warmMedian = median(hot);
  }
  const s = warm.stats();
  if (s.reconnects !== 0 || s.open !== 1) throw new Error(`the warm session did not stay warm: ${JSON.stringify(s)}`);
} finally {
  await warm.closeAll();
  await sim.stop();
}

printTable(
  `get() to first command answer, simulated cisco-ios on 127.0.18.50, ${iterations} iterations each (node ${process.version})`,
  ['sessions', 'n', 'median ms', 'p95 ms', 'max ms'],
  rows,
);
console.log(`warm median ${fmt(warmMedian)} ms at +0 ms/command (target for enqueue to first device command: < 30 ms)`);
