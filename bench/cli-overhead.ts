/**
 * What the CLI session layer costs per command over the raw round trip, on a simulated device
 * with no added latency: the same command sent N times (a) on a bare ssh2 PTY shell, waiting only
 * for the prompt string at the end of the data, and (b) through CliShell.send (echo, anchored
 * prompt, pager and question checks, terminal rendering, error patterns). Prints a table.
 *   node dist/bench/cli-overhead.js [rounds=200] [family=cisco-ios]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ssh2 from 'ssh2';
import { drivers } from '../src/drivers/registry.js';
import { loadInventory } from '../src/inventory/load.js';
import { resolveSecret } from '../src/secrets.js';
import { startNetwork } from '../src/sim/network.js';
import { simulators } from '../src/sim/registry.js';
import { parseTopology } from '../src/sim/topology.js';
import type { CliPlatform } from '../src/transports/types.js';
import { openSsh } from '../src/transports/ssh.js';
import { median, printTable, stats, timed } from './lib/table.js';

const rounds = Number(process.argv[2] ?? 200);
const family = process.argv[3] ?? 'cisco-ios';
/** A read the driver really sends, per family, and the port it names. */
const COMMAND: Record<string, { port: string; command: string }> = {
  'cisco-ios': { port: 'Gi1/0/1', command: 'show running-config interface Gi1/0/1' },
  'arista-eos': { port: 'Ethernet1', command: 'show interfaces Ethernet1 status | json' },
  junos: { port: 'ge-0/0/1', command: 'show interfaces ge-0/0/1 terse' },
  'aruba-aoscx': { port: '1/1/1', command: 'show running-config interface 1/1/1' },
};

/** The bare round trip: write the line, wait until the data ends with the prompt. */
async function rawShell(host: string, port: number, user: string, password: string, hostKey: string, prompt: RegExp) {
  const client = new ssh2.Client();
  await new Promise<void>((resolve, reject) => {
    client.on('ready', () => resolve()).on('error', reject);
    client.connect({ host, port, username: user, password, tryKeyboard: true, hostVerifier: () => true });
    client.on('keyboard-interactive', (_n, _i, _l, _p, finish) => finish([password]));
  });
  void hostKey;
  const channel = await new Promise<ssh2.ClientChannel>((resolve, reject) =>
    client.shell({ term: 'vt100', cols: 511, rows: 24 }, (err, ch) => (err ? reject(err) : resolve(ch))),
  );
  let buf = '';
  let wake: (() => void) | undefined;
  channel.on('data', (d: Buffer) => {
    buf += d.toString();
    wake?.();
  });
  const send = (line: string) =>
    new Promise<void>((resolve) => {
      buf = '';
      wake = () => {
        if (prompt.test(buf.slice(-64))) resolve();
      };
      channel.write(`${line}\n`);
    });
  await new Promise<void>((resolve) => {
    wake = () => prompt.test(buf) && resolve();
  });
  return { send, close: () => client.end() };
}

async function main(): Promise<void> {
  const driver = drivers[family] as { platform?: CliPlatform } | undefined;
  const platform = Object.values(await import(`../src/drivers/${family}.js`)).find(
    (v): v is CliPlatform => typeof v === 'object' && v !== null && 'levels' in v && 'defaultLevel' in v,
  );
  if (!driver || !platform) throw new Error(`${family}: no driver or no exported CliPlatform`);
  const probe = COMMAND[family];
  if (!probe) throw new Error(`no probe command for ${family} (known: ${Object.keys(COMMAND).join(', ')})`);
  const dir = mkdtempSync(join(tmpdir(), 'fb-overhead-'));
  const topology = parseTopology(
    'bench.yaml',
    `name: overhead\nsites: [b]\ndevices:\n  - id: d1\n    family: ${family}\n    site: b\n    hostname: bench-sw1\n    address: 127.41.0.10\n    ports:\n      "${probe.port}": { roles: [mgmt], mode: access, vlan: 10 }\n    managementPath: { interfaces: ["${probe.port}"] }\n`,
    { simulators },
  );
  const net = await startNetwork(topology, { dir, ports: { ssh: 10122, snmp: 10161 } });
  try {
    const device = (await loadInventory(net.inventoryDir)).devices.get('d1')!;
    const { command } = probe;
    const ssh = await openSsh(device, resolveSecret);
    const sh = await ssh.cli(platform);
    await sh.send(command);
    const layered = await timed(rounds, () => sh.send(command));
    await ssh.close();
    const password = (await resolveSecret(device.ssh!.password!)).trim();
    const raw = await rawShell(device.address, device.ssh!.port, device.ssh!.user, password, device.ssh!.hostKey, /[>#]\s?$/);
    await raw.send('terminal length 0');
    const bare = await timed(rounds, () => raw.send(command));
    raw.close();
    printTable(
      `CLI session layer overhead, ${family} simulator, "${command}", ${rounds} rounds (node ${process.version})`,
      ['path', 'p50 (ms)', 'p90 (ms)', 'max (ms)'],
      [
        ['bare ssh2 shell, prompt string at the end', ...stats(bare)],
        ['CliShell.send', ...stats(layered)],
      ],
    );
    console.log(`overhead per command (p50 difference): ${(median(layered) - median(bare)).toFixed(2)} ms (target < 5 ms)`);
  } finally {
    await net.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
