#!/usr/bin/env node
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { errorMessage } from '../errors.js';
import { redactor } from '../secrets.js';
import { startNetwork, type SimNetwork } from './network.js';
import { simulators } from './registry.js';
import { logPath, type SimState, writeState } from './state.js';
import { loadTopology } from './topology.js';

/**
 * The sim daemon: a background node process that runs one simulated network until SIGTERM or
 * SIGINT. Started (detached) by `firebreak sim up`, which waits for its `ready` or `failed`
 * message on the IPC channel; stdout/stderr go to <dir>/daemon.log. It writes <dir>/state.json,
 * and on the way out stops every device and removes the inventory.
 *
 *   node dist/src/sim/daemon.js --topology topologies/small.yaml --dir /abs/.sim
 */

type Message = { kind: 'ready' } | { kind: 'failed'; message: string };

const log = (line: string) => process.stdout.write(`${new Date().toISOString()} ${redactor.text(line)}\n`);
const tell = (m: Message) => {
  if (process.send && process.connected) process.send(m);
};

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { topology: { type: 'string' }, dir: { type: 'string' } } });
  if (!values.topology || !values.dir) throw new Error('usage: daemon.js --topology <file> --dir <absolute dir>');
  const dir = resolve(values.dir);
  const topologyFile = resolve(values.topology);
  const base = {
    formatVersion: 1 as const,
    pid: process.pid,
    name: '',
    topology: topologyFile,
    dir,
    inventory: `${dir}/devices`,
    log: logPath(dir),
    ports: { ssh: 22, snmp: 161, kind: 'standard' as const },
    startedAt: new Date().toISOString(),
    devices: [],
  };
  let network: SimNetwork | undefined;
  let stopping = false;
  const shutdown = async (why: string, code = 0) => {
    if (stopping) return;
    stopping = true;
    log(`${why}: stopping every device`);
    try {
      await network?.stop();
      log('stopped; inventory removed');
    } catch (err) {
      log(`stop: ${errorMessage(err)}`);
    }
    if (network) await writeState({ ...stateOf(network, base), status: 'stopped' }).catch(() => undefined);
    process.exit(code);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
  // A simulator bug must not leave devices listening without a daemon that can stop them.
  process.on('uncaughtException', (err) => void shutdown(`uncaught: ${errorMessage(err)}`, 1));
  // The CLI that started us goes away after `ready`: losing the channel must not end the network.
  process.on('disconnect', () => undefined);

  log(`pid ${process.pid}: topology ${topologyFile}, dir ${dir}`);
  try {
    await writeState({ ...base, status: 'starting' });
    const topology = await loadTopology(topologyFile, { simulators });
    network = await startNetwork(topology, { dir, log });
    const state: SimState = { ...stateOf(network, base), status: 'up' };
    await writeState(state);
    log(
      `network ${topology.name} up: ${network.devices.length} devices, ports ${network.ports.ssh}/${network.ports.snmp} (${network.ports.kind})`,
    );
    if (stopping) return;
    tell({ kind: 'ready' });
  } catch (err) {
    const message = redactor.text(errorMessage(err));
    log(`failed: ${message}`);
    await writeState({ ...base, status: 'failed', error: message }).catch(() => undefined);
    tell({ kind: 'failed', message });
    process.exit(1);
  }
}

function stateOf(network: SimNetwork, base: Omit<SimState, 'status'>): Omit<SimState, 'status'> {
  return {
    ...base,
    name: network.name,
    inventory: network.inventoryDir,
    ports: network.ports,
    devices: network.devices.map(({ spec }) => ({
      id: spec.id,
      family: spec.family,
      address: spec.address,
      ...(spec.sshPort !== undefined ? { sshPort: spec.sshPort } : {}),
      ...(spec.snmpPort !== undefined ? { snmpPort: spec.snmpPort } : {}),
    })),
  };
}

main().catch((err) => {
  log(`daemon: ${errorMessage(err)}`);
  tell({ kind: 'failed', message: redactor.text(errorMessage(err)) });
  process.exit(1);
});
