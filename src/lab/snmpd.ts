import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { LabError } from '../errors.js';
import { alivePid, stopDaemon, waitUntil, type DaemonRef } from './daemon.js';
import { must, run } from './exec.js';
import { readSecret } from './keys.js';
import { MANAGEMENT, SNMP_USER } from './layout.js';
import type { LabPaths } from './paths.js';

/** The real net-snmp agent of the lab switch, run as root in fb-sw (as Debian-snmp a SET fails). */

const SNMPD = '/usr/sbin/snmpd';

export function snmpdRef(p: LabPaths): DaemonRef {
  return { label: 'sw snmpd', ns: 'fb-sw', pidFile: join(p.swDir, 'snmpd.pid'), comm: 'snmpd' };
}

/** True when the agent's UDP socket is bound in fb-sw. */
export async function snmpdListening(): Promise<boolean> {
  const r = await run('ip', ['netns', 'exec', 'fb-sw', 'ss', '-Hlun']);
  return r.code === 0 && r.stdout.includes(`${MANAGEMENT.sw}:161`);
}

/** Starts snmpd unless it already runs and listens; the config holds the secrets (mode 600). */
export async function ensureSnmpd(p: LabPaths, log: (line: string) => void): Promise<{ pid: number; started: boolean }> {
  const ref = snmpdRef(p);
  const running = await alivePid(ref);
  if (running !== undefined && (await snmpdListening())) return { pid: running, started: false };
  if (running !== undefined) await stopDaemon(ref);
  await mkdir(p.swDir, { recursive: true });
  const persist = join(p.swDir, 'snmp-persist');
  // A fresh persistent dir: stale usmUser keys from older secrets would shadow createUser.
  await rm(persist, { recursive: true, force: true });
  await mkdir(persist, { recursive: true, mode: 0o700 });
  const s = p.secrets;
  const conf = [
    '# Written by firebreak labUp (contains secrets; mode 600).',
    `agentAddress udp:${MANAGEMENT.sw}:161`,
    `rocommunity ${await readSecret(s.swRoCommunity)} default`,
    `rwcommunity ${await readSecret(s.swRwCommunity)} default`,
    `createUser ${SNMP_USER} SHA ${await readSecret(s.swAuth)} AES ${await readSecret(s.swPriv)}`,
    `rwuser ${SNMP_USER} priv`,
    'dontLogTCPWrappersConnects yes', // one log line per request is noise under load
    '',
  ].join('\n');
  const confFile = join(p.swDir, 'snmpd.conf');
  await rm(confFile, { force: true });
  await writeFile(confFile, conf, { mode: 0o600 });
  const logFile = join(p.swDir, 'snmpd.log');
  // -C: only our config; -p: pid file; -Lf: log file. Without -u it stays root, which SETs need.
  await must(
    'ip',
    [
      'netns',
      'exec',
      ref.ns,
      'unshare',
      '--uts',
      '--',
      'sh',
      '-c',
      'hostname "$1" && exec "$2" -C -c "$3" -p "$4" -Lf "$5"',
      'sh',
      'sw',
      SNMPD,
      confFile,
      ref.pidFile,
      logFile,
    ],
    { env: { ...process.env, SNMP_PERSISTENT_DIR: persist, MIBS: '' } },
  );
  await waitUntil(ref.label, async () => (await alivePid(ref)) !== undefined && (await snmpdListening()));
  const pid = await alivePid(ref);
  if (pid === undefined) throw new LabError(`lab: ${ref.label} exited after start (see ${logFile})`);
  log(`lab: ${ref.label} running (pid ${pid}) on udp:${MANAGEMENT.sw}:161`);
  return { pid, started: true };
}
