import { mkdir, rm } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { LabError } from '../errors.js';
import { stopDaemon } from './daemon.js';
import { isRoot, run } from './exec.js';
import { ensureKeys, ensureSnmpSecrets } from './keys.js';
import { writeInventory } from './inventory.js';
import { canReach } from './traffic.js';
import { HOSTS, MANAGEMENT, NAMESPACES, NAMESPACE_LIST, ORCHESTRATOR_ADDRESSES, SNMP_USER } from './layout.js';
import { withLabLock } from './lock.js';
import { deleteNamespace, foreignDaemons, listNamespaces, namespacePids } from './netns.js';
import { ensurePackages } from './packages.js';
import { labPaths, type LabPaths } from './paths.js';
import { ensureSnmpd, snmpdRef } from './snmpd.js';
import { ensureSshd, sshdRef } from './sshd.js';
import { addSafetyRoutes, buildTopology, checkTopology, removeSafetyRoutes, resetDrift } from './topology.js';

/** labUp / labDown: build, check, repair and remove the namespace lab. */

// One import site for callers (tests, CLI): status and traffic helpers are re-exported here.
export { labStatus, formatLabStatus, type LabStatus } from './status.js';
export { canReach, isLabAddress } from './traffic.js';
export { nsExec, type ExecResult } from './exec.js';

export interface LabOptions {
  /** State folder (default FIREBREAK_LAB_DIR, then `<repo>/.lab`). */
  dir?: string;
  log?: (line: string) => void;
}

export interface LabUpOptions extends LabOptions {
  /** Also undo drift (links down, bridge ports blocked, foreign nft tables in fb-fw/fb-sw). */
  reset?: boolean;
}

export interface LabDownOptions extends LabOptions {
  /** Keep the root `unreachable` routes after teardown (safer on shared machines). Default false. */
  keepSafetyRoutes?: boolean;
}

export interface LabInfo {
  dir: string;
  inventoryDir: string;
  keys: { orchestrator: string; orchestratorPub: string; knownHosts: string };
  /** Pinned host key fingerprints (`SHA256:...`), as written into the inventory. */
  hostKeys: { fw: string; sw: string };
  /** Paths of the secret files (never the values). */
  secrets: { swRoCommunity: string; swRwCommunity: string; swAuth: string; swPriv: string };
  snmpUser: string;
  namespaces: typeof NAMESPACES;
  management: { fw: string; sw: string };
  orchestratorAddresses: string[];
  hosts: { h1: string; h2: string; internet: string };
  /** ifindex per lab namespace and interface (stable across rebuilds; SNMP ifIndex in fb-sw). */
  ifindex: Record<string, Record<string, number>>;
  pids: { fwSshd: number; swSshd: number; swSnmpd: number };
  /** State that differs from a fresh lab (links down, extra nft tables); empty when clean. */
  drift: string[];
  /** True when the lab was already up and healthy (nothing built, no daemon started). */
  reused: boolean;
  elapsedMs: number;
}

const quiet = () => undefined;

function requireRoot(what: string): void {
  if (!isRoot()) throw new LabError(`lab: ${what} needs root (network namespaces, veths, routes)`);
}

/** Brings the lab up; on a healthy lab only checks it (well under a second). Idempotent. */
export async function labUp(opts: LabUpOptions = {}): Promise<LabInfo> {
  requireRoot('lab up');
  const started = Date.now();
  const log = opts.log ?? quiet;
  const p = labPaths(opts.dir);
  await mkdir(p.dir, { recursive: true });
  return withLabLock(p.lock, async () => {
    let built = false;
    let check = await checkTopology();
    const present = new Set(await listNamespaces());
    const foreign = await foreignDaemons(
      NAMESPACE_LIST.filter((ns) => present.has(ns)),
      p.dir,
    );
    if (foreign.length)
      check = { ...check, problems: [...check.problems, ...foreign.map((f) => `another lab owns the namespaces (${f})`)] };
    const keys = await ensureKeys(p).catch(async () => {
      await ensurePackages(log); // ssh-keygen missing on a bare machine
      return ensureKeys(p);
    });
    const secretsMade = await ensureSnmpSecrets(p);
    if (check.problems.length > 0) {
      for (const pr of check.problems) log(`lab: rebuild because ${pr}`);
      await ensurePackages(log);
      await teardown(p, log, true);
      await buildTopology(log);
      await addSafetyRoutes();
      built = true;
      check = await checkTopology();
      if (check.problems.length > 0) throw new LabError(`lab: built but unhealthy: ${check.problems.join('; ')}`);
    }
    // New keys or secrets: the running daemons hold the old ones.
    if (keys.created) for (const dev of ['fw', 'sw'] as const) await stopDaemon(sshdRef(p, dev));
    if (secretsMade) await stopDaemon(snmpdRef(p));
    if (opts.reset && check.drift.length > 0) {
      for (const d of check.drift) log(`lab: reset: ${d}`);
      await resetDrift(log);
      check = await checkTopology();
    }
    const daemons = await Promise.all([ensureSshd(p, 'fw', log), ensureSshd(p, 'sw', log), ensureSnmpd(p, log)]);
    const [fwSshd, swSshd, swSnmpd] = daemons.map((d) => d.pid) as [number, number, number];
    const reused = !built && !daemons.some((d) => d.started);
    if (built) await smokeTest();
    for (const d of check.drift) log(`lab: drift: ${d}`);
    for (const f of await writeInventory(p, keys)) log(`lab: wrote ${f}`);
    const elapsedMs = Date.now() - started;
    log(reused ? `lab: already up (checked in ${elapsedMs} ms)` : `lab: up in ${elapsedMs} ms`);
    return info(p, keys.hostKey, check.ifindex, { fwSshd, swSshd, swSnmpd }, check.drift, reused, elapsedMs);
  });
}

/** Removes every lab namespace (and the processes in them), the root veths and the safety routes. */
export async function labDown(opts: LabDownOptions = {}): Promise<void> {
  requireRoot('lab down');
  const log = opts.log ?? quiet;
  const p = labPaths(opts.dir);
  await mkdir(p.dir, { recursive: true });
  await withLabLock(p.lock, () => teardown(p, log, opts.keepSafetyRoutes ?? false));
}

async function teardown(p: LabPaths, log: (line: string) => void, keepSafetyRoutes: boolean): Promise<void> {
  const present = new Set(await listNamespaces());
  const ours = NAMESPACE_LIST.filter((ns) => present.has(ns));
  // Kill everything living in our namespaces (listener daemons and their per-session children).
  const pids = (await Promise.all(ours.map((ns) => namespacePids(ns)))).flat();
  const signal = (sig: NodeJS.Signals) => {
    for (const pid of pids) {
      try {
        process.kill(pid, sig);
      } catch {
        /* already gone */
      }
    }
  };
  if (pids.length > 0) {
    signal('SIGTERM');
    for (let i = 0; i < 40; i++) {
      const left = (await Promise.all(ours.map((ns) => namespacePids(ns)))).flat();
      if (left.length === 0) break;
      await sleep(50);
    }
    signal('SIGKILL');
    log(`lab: stopped ${pids.length} process(es) in lab namespaces`);
  }
  for (const ns of ours) await deleteNamespace(ns);
  for (const dev of ['fbm-fw', 'fbm-sw']) await run('ip', ['link', 'del', dev]); // gone with its peer, normally
  if (!keepSafetyRoutes) await removeSafetyRoutes();
  for (const f of [sshdRef(p, 'fw'), sshdRef(p, 'sw'), snmpdRef(p)]) await rm(f.pidFile, { force: true });
  // No inventory for a lab that is not there: a run aimed at it would otherwise send its packets
  // towards the lab addresses through the default route once the safety routes are gone.
  await rm(p.inventoryDir, { recursive: true, force: true });
  if (ours.length > 0) log(`lab: removed namespaces ${ours.join(', ')}`);
}

/** A fresh lab must carry traffic before labUp returns: h1 and h2 ping the internet server (3 tries). */
async function smokeTest(): Promise<void> {
  for (const ns of [NAMESPACES.h1, NAMESPACES.h2]) {
    let ok = false;
    for (let i = 0; i < 3 && !ok; i++) ok = await canReach(ns, HOSTS.internet);
    if (!ok) throw new LabError(`lab: built, but ${ns} cannot reach ${HOSTS.internet}`);
  }
}

function info(
  p: LabPaths,
  hostKeys: { fw: string; sw: string },
  ifindex: Record<string, Record<string, number>>,
  pids: LabInfo['pids'],
  drift: string[],
  reused: boolean,
  elapsedMs: number,
): LabInfo {
  return {
    dir: p.dir,
    inventoryDir: p.inventoryDir,
    keys: { orchestrator: p.orchestratorKey, orchestratorPub: `${p.orchestratorKey}.pub`, knownHosts: p.knownHosts },
    hostKeys,
    secrets: { ...p.secrets },
    snmpUser: SNMP_USER,
    namespaces: NAMESPACES,
    management: { ...MANAGEMENT },
    orchestratorAddresses: [...ORCHESTRATOR_ADDRESSES],
    hosts: { ...HOSTS },
    ifindex,
    pids,
    drift,
    reused,
    elapsedMs,
  };
}
