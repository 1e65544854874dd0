import { Command } from 'commander';
import type { SimStatus } from '../sim/control.js';
import { type SimState, simDir } from '../sim/state.js';
import { die, EXIT } from './exit.js';

/** `firebreak sim up | status | down`: a simulated network on loopback addresses, run by a background daemon. */
export function simCommand(): Command {
  const sim = new Command('sim').description('start, inspect or stop a simulated network (devices on 127.x.y.z; no root needed)');
  const dirHelp = 'state folder (env FIREBREAK_SIM_DIR, default ./.sim)';

  sim
    .command('up')
    .description('start the network of a topology file in a background daemon and write its inventory')
    .requiredOption('--topology <file>', 'topology file (e.g. topologies/municipal.yaml)')
    .option('--dir <dir>', dirHelp)
    .option('--json', 'print { inventory, dir, pid, devices } as JSON')
    .action(async (o: { topology: string; dir?: string; json?: boolean }) => {
      try {
        const t0 = Date.now();
        const { simUp } = await import('../sim/control.js'); // loads every simulator: only when asked
        const state = await simUp({ topology: o.topology, dir: simDir(o.dir) });
        process.stdout.write(o.json ? `${JSON.stringify(upJson(state), null, 2)}\n` : `${formatUp(state, Date.now() - t0)}\n`);
      } catch (e) {
        die(e);
      }
    });

  sim
    .command('status')
    .description('is the daemon alive and does every device answer (exit 1 when not)')
    .option('--dir <dir>', dirHelp)
    .option('--json', 'print the status as JSON')
    .action(async (o: { dir?: string; json?: boolean }) => {
      try {
        const { simStatus } = await import('../sim/control.js');
        const s = await simStatus(simDir(o.dir));
        process.stdout.write(o.json ? `${JSON.stringify(statusJson(s), null, 2)}\n` : `${formatStatus(s)}\n`);
        process.exitCode = s.up ? EXIT.ok : EXIT.error;
      } catch (e) {
        die(e);
      }
    });

  sim
    .command('down')
    .description('stop the daemon (by the pid in state.json) and remove the inventory it wrote')
    .option('--dir <dir>', dirHelp)
    .action(async (o: { dir?: string }) => {
      try {
        const dir = simDir(o.dir);
        const { simDown } = await import('../sim/control.js');
        const r = await simDown(dir);
        process.stdout.write(
          r.wasRunning ? `sim down: daemon pid ${r.pid} stopped, inventory removed (${dir})\n` : `sim down: no daemon running in ${dir}\n`,
        );
      } catch (e) {
        die(e);
      }
    });
  return sim;
}

function deviceJson(d: SimState['devices'][number]) {
  return { id: d.id, family: d.family, address: d.address, ...(d.sshPort ? { sshPort: d.sshPort } : { snmpPort: d.snmpPort }) };
}

function upJson(s: SimState) {
  return { inventory: s.inventory, dir: s.dir, pid: s.pid, name: s.name, log: s.log, ports: s.ports, devices: s.devices.map(deviceJson) };
}

function statusJson(s: SimStatus) {
  return {
    up: s.up,
    dir: s.dir,
    pid: s.state?.pid,
    alive: s.alive,
    inventory: s.state?.inventory,
    problems: s.problems,
    devices: s.devices,
  };
}

const PORTS_WHY = { standard: 'running as root', high: 'not root', given: 'as given' } as const;

function formatUp(s: SimState, ms: number): string {
  const lines = [
    `sim network ${s.name} up in ${ms} ms: ${s.devices.length} devices, daemon pid ${s.pid}`,
    `ports: ssh ${s.ports.ssh}, snmp ${s.ports.snmp} on each device's own address (${PORTS_WHY[s.ports.kind]})`,
  ];
  for (const d of s.devices) lines.push(`  ${d.id.padEnd(14)} ${d.family.padEnd(16)} ${d.address}:${d.sshPort ?? d.snmpPort}`);
  lines.push(`inventory: ${s.inventory}   (FIREBREAK_INVENTORY=${s.inventory} firebreak plan drop-internet-uplinks)`);
  lines.push(`log: ${s.log}; \`firebreak sim down\` stops it and removes the inventory`);
  return lines.join('\n');
}

function formatStatus(s: SimStatus): string {
  const lines = [`sim: ${s.up ? 'UP' : 'DOWN or unhealthy'}  (state ${s.dir})`];
  if (s.state) lines.push(`daemon pid ${s.state.pid}: ${s.alive ? 'alive' : 'not running'}; network ${s.state.name}`);
  for (const d of s.devices)
    lines.push(`  ${d.id.padEnd(14)} ${d.family.padEnd(16)} ${d.address}:${d.port}  ${d.answers ? 'answers' : 'NO ANSWER'}`);
  for (const p of s.problems) lines.push(`problem: ${p}`);
  if (s.state) lines.push(`inventory: ${s.state.inventory}`);
  return lines.join('\n');
}
