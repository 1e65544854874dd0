import { createHash, randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import ssh2 from 'ssh2';
import { stringify } from 'yaml';
import { errorMessage, SimError } from '../errors.js';
import { loadInventory } from '../inventory/load.js';
import { redactor } from '../secrets.js';
import { LEGACY_ALGORITHMS, newHostKey } from './cli-server.js';
import { simulators as registry, simTransport } from './registry.js';
import type { Topology, TopologyDevice } from './topology.js';
import type { RunningSim, SimCredentials, SimFactory } from './types.js';

/**
 * Starts every device of a topology on its own loopback address and writes the inventory that
 * reaches them (dir/devices/*.yaml, the schema of src/inventory/schema.ts): random credentials
 * in mode-600 files (the inventory holds `file:` references only), SSH host keys kept under
 * dir/keys so a restart keeps the pins.
 */

export interface StartNetworkOptions {
  /** State folder: keys/ (kept), secrets/ and devices/ (removed by stop()). */
  dir: string;
  simulators?: Record<string, SimFactory>;
  /** Default: 22/161 as root, else 10022/10161, on each device's own address. */
  ports?: { ssh: number; snmp: number };
  /** Bound on one device's start (default 20 s). */
  startTimeoutMs?: number;
  /** Devices started at once (default 8). */
  concurrency?: number;
  log?: (line: string) => void;
}

export interface SimNetwork {
  name: string;
  dir: string;
  inventoryDir: string;
  /** `standard`: 22/161 (root); `high`: 10022/10161 (not root); `given`: from the options. */
  ports: { ssh: number; snmp: number; kind: 'standard' | 'high' | 'given' };
  devices: RunningSim[];
  /** Stops every device and removes the inventory and the secrets (keys stay). */
  stop(): Promise<void>;
}

const USER = 'firebreak';
const SNMP_USER = 'firebreak';
const STOP_TIMEOUT_MS = 5000;

/**
 * 22/161 as root, so inventories look like real ones, unless something on this machine already
 * holds them on every address (an sshd on 0.0.0.0:22 refuses our 127.x.y.z:22); else 10022/10161.
 */
export async function defaultPorts(): Promise<SimNetwork['ports']> {
  const high = { ssh: 10022, snmp: 10161, kind: 'high' as const };
  if (process.getuid?.() !== 0) return high;
  const probe = '127.31.255.254';
  const tcpFree = await new Promise<boolean>((res) => {
    const srv = createServer();
    srv.once('error', () => res(false));
    srv.listen(22, probe, () => srv.close(() => res(true)));
  });
  const udpFree = await new Promise<boolean>((res) => {
    const sock = createSocket('udp4');
    sock.once('error', () => res(false));
    sock.bind(161, probe, () => sock.close(() => res(true)));
  });
  return tcpFree && udpFree ? { ssh: 22, snmp: 161, kind: 'standard' } : high;
}

export async function startNetwork(topology: Topology, opts: StartNetworkOptions): Promise<SimNetwork> {
  const simulators = opts.simulators ?? registry;
  const log = opts.log ?? (() => undefined);
  const dir = resolve(opts.dir);
  const paths = { keys: join(dir, 'keys'), secrets: join(dir, 'secrets'), inventory: join(dir, 'devices') };
  const ports = opts.ports ? { ...opts.ports, kind: 'given' as const } : await defaultPorts();

  await mkdir(dir, { recursive: true, mode: 0o700 });
  await mkdir(paths.keys, { recursive: true, mode: 0o700 });
  // Fresh credentials on every start: nothing from an earlier network stays valid.
  await rm(paths.secrets, { recursive: true, force: true });
  await mkdir(paths.secrets, { mode: 0o700 });
  await rm(paths.inventory, { recursive: true, force: true });

  const started: RunningSim[] = [];
  const stopAll = async () => {
    await Promise.all(started.map((s) => bounded(s.stop(), STOP_TIMEOUT_MS).catch(() => undefined)));
    await rm(paths.inventory, { recursive: true, force: true });
    await rm(paths.secrets, { recursive: true, force: true });
  };

  const entries: Record<string, object> = {};
  const failures: string[] = [];
  const startOne = async (d: TopologyDevice) => {
    const factory = Object.hasOwn(simulators, d.family) ? simulators[d.family] : undefined;
    const transport = simTransport(d.family);
    const spec = { ...d, ...(transport === 'ssh' ? { sshPort: ports.ssh } : { snmpPort: ports.snmp }) };
    const where = `${d.id} (${d.family} at ${d.address}:${transport === 'ssh' ? ports.ssh : ports.snmp})`;
    if (!factory) {
      failures.push(`${where}: no simulator registered for family "${d.family}" (known: ${Object.keys(simulators).sort().join(', ')})`);
      return;
    }
    try {
      const secrets = await writeCredentials(paths.secrets, d);
      const hostKey = transport === 'ssh' ? await ensureHostKey(paths.keys, d) : undefined;
      const pending = factory(spec, secrets.creds, hostKey ? { hostKey: hostKey.pem } : {});
      let late = false;
      // A start that finishes after its deadline is stopped at once: nothing keeps listening unseen.
      pending.then(
        (sim) => (late ? sim.stop().catch(() => undefined) : undefined),
        () => undefined,
      );
      const limit = opts.startTimeoutMs ?? 20_000;
      const sim = await bounded(pending, limit, `did not start within ${limit} ms`).catch((err: unknown) => {
        late = true;
        throw err;
      });
      started.push(sim);
      entries[d.id] = inventoryEntry(d, sim, spec, secrets.refs, hostKey?.fingerprint);
      log(`${where} up`);
    } catch (err) {
      failures.push(`${where}: ${redactor.text(errorMessage(err))}`);
    }
  };

  try {
    await inPool(topology.devices, opts.concurrency ?? 8, startOne);
    if (failures.length > 0) throw new SimError(`sim: ${failures.length} device(s) did not start:\n${failures.join('\n')}`);
    await mkdir(paths.inventory, { recursive: true, mode: 0o700 });
    const header = `# Generated by firebreak sim for topology ${topology.name} (${topology.file}); rewritten on every start.\n`;
    for (const d of topology.devices) await writeFile(join(paths.inventory, `${d.id}.yaml`), header + stringify(entries[d.id]));
    // The orchestrator's own address, so the lockout guard never lets a playbook block it.
    await writeFile(join(paths.inventory, '_orchestrator.yaml'), header + stringify({ addresses: ['127.0.0.1'] }));
    await loadInventory(paths.inventory).catch((err: unknown) => {
      throw new SimError(`sim: the inventory written to ${paths.inventory} does not load:\n${errorMessage(err)}`);
    });
  } catch (err) {
    await stopAll();
    throw err;
  }
  // Topology order, whatever order the devices came up in.
  const devices = topology.devices.map((d) => started.find((s) => s.spec.id === d.id)!);
  let stopping: Promise<void> | undefined;
  return {
    name: topology.name,
    dir,
    inventoryDir: paths.inventory,
    ports,
    devices,
    stop: () => {
      stopping ??= stopAll();
      return stopping;
    },
  };
}

interface SecretRefs {
  password: string;
  enable?: string;
  community?: string;
  auth?: string;
  priv?: string;
}

/** Random credentials, each in its own mode-600 file; returns the values (for the simulator) and the references. */
async function writeCredentials(dir: string, d: TopologyDevice): Promise<{ creds: SimCredentials; refs: SecretRefs }> {
  const make = async (name: string) => {
    const value = randomBytes(16).toString('hex');
    redactor.add(value);
    const file = join(dir, `${d.id}.${name}`);
    // No trailing newline: SSH passwords are read as is.
    await writeFile(file, value, { mode: 0o600 });
    return { value, ref: `file:${file}` };
  };
  const password = await make('password');
  const creds: SimCredentials = { user: USER, password: password.value };
  const refs: SecretRefs = { password: password.ref };
  if (d.enableSecret) {
    const enable = await make('enable');
    creds.enableSecret = enable.value;
    refs.enable = enable.ref;
  }
  if (simTransport(d.family) === 'snmp') {
    const [community, auth, priv] = [await make('community'), await make('auth'), await make('priv')];
    Object.assign(creds, { community: community.value, snmpUser: SNMP_USER, authKey: auth.value, privKey: priv.value });
    Object.assign(refs, { community: community.ref, auth: auth.ref, priv: priv.ref });
  }
  return { creds, refs };
}

/** The device's SSH host key (ed25519, or RSA for legacyOnly devices), made once and kept. */
async function ensureHostKey(dir: string, d: TopologyDevice): Promise<{ pem: string; fingerprint: string }> {
  const type = d.legacyOnly ? 'rsa' : 'ed25519';
  const file = join(dir, `${d.id}.${type}`);
  let pem = await readFile(file, 'utf8').catch(() => undefined);
  let parsed = pem === undefined ? undefined : ssh2.utils.parseKey(pem);
  if (pem === undefined || parsed === undefined || parsed instanceof Error) {
    pem = newHostKey(type === 'rsa');
    await writeFile(file, pem, { mode: 0o600 });
    parsed = ssh2.utils.parseKey(pem);
  }
  await chmod(file, 0o600);
  const key = Array.isArray(parsed) ? parsed[0] : parsed;
  if (!key || key instanceof Error) throw new SimError(`sim: ${file}: cannot read the host key`);
  const fingerprint = `SHA256:${createHash('sha256').update(key.getPublicSSH()).digest('base64').replace(/=+$/, '')}`;
  return { pem, fingerprint };
}

function inventoryEntry(
  d: TopologyDevice,
  sim: RunningSim,
  spec: { sshPort?: number; snmpPort?: number },
  refs: SecretRefs,
  keyFingerprint?: string,
): object {
  const entry: Record<string, unknown> = { id: d.id, site: d.site, driver: d.family, address: d.address, tags: d.tags ?? [] };
  if (simTransport(d.family) === 'ssh') {
    entry.ssh = {
      port: spec.sshPort,
      // RouterOS login options: no colours, no terminal detection (the session layer copes either way).
      user: d.family === 'routeros' ? `${USER}+cte` : USER,
      password: refs.password,
      ...(refs.enable ? { enableSecret: refs.enable } : {}),
      // What the device presents is what gets pinned.
      hostKey: sim.hostKey ?? keyFingerprint,
      ...(d.legacyOnly ? { algorithms: LEGACY_ALGORITHMS } : {}),
    };
  } else {
    entry.snmp =
      d.snmpVersion === '2c'
        ? { version: '2c', port: spec.snmpPort, community: refs.community }
        : {
            version: '3',
            port: spec.snmpPort,
            user: SNMP_USER,
            auth: { protocol: 'sha', key: refs.auth },
            priv: { protocol: 'aes', key: refs.priv },
          };
  }
  entry.managementPath = d.managementPath;
  entry.interfaces = Object.fromEntries(
    d.ports.map((p) => [
      p.name,
      { roles: p.roles ?? [], ...(p.description ? { description: p.description } : {}), ...(p.feeds ? { feeds: p.feeds } : {}) },
    ]),
  );
  return entry;
}

/** Runs `work` over `items`, at most `limit` at a time. */
async function inPool<T>(items: T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await work(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
}

/** `p`, or a SimError after `ms` (the timer never keeps the process alive). */
function bounded<T>(p: Promise<T>, ms: number, message = `no answer within ${ms} ms`): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new SimError(message)), ms);
    timer.unref();
  });
  return Promise.race([p, deadline]).finally(() => clearTimeout(timer));
}
