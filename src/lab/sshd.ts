import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { LabError } from '../errors.js';
import { alivePid, stopDaemon, tcpOpen, waitUntil, type DaemonRef } from './daemon.js';
import { must } from './exec.js';
import { MANAGEMENT } from './layout.js';
import type { LabPaths } from './paths.js';

/** A real OpenSSH sshd per lab device, in its namespace, with its own hostname (unshare --uts). */

export type SshDevice = 'fw' | 'sw';

const SSHD = '/usr/sbin/sshd'; // sshd refuses to re-exec unless started by absolute path

function dirOf(p: LabPaths, dev: SshDevice): string {
  return dev === 'fw' ? p.fwDir : p.swDir;
}

export function sshdRef(p: LabPaths, dev: SshDevice): DaemonRef {
  return { label: `${dev} sshd`, ns: `fb-${dev}`, pidFile: join(dirOf(p, dev), 'sshd.pid'), comm: 'sshd' };
}

function sshdConfig(p: LabPaths, dev: SshDevice): string {
  const dir = dirOf(p, dev);
  return [
    `# Written by firebreak labUp; the lab's own sshd for device ${dev}.`,
    `ListenAddress ${MANAGEMENT[dev]}:22`,
    `HostKey ${p.hostKey[dev]}`,
    `PidFile ${join(dir, 'sshd.pid')}`,
    'PermitRootLogin prohibit-password',
    'PubkeyAuthentication yes',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
    'StrictModes no',
    'UsePAM no',
    'PrintMotd no',
    // Load tests open many sessions at once: do not start dropping them at 10.
    'MaxStartups 200:30:400',
    'MaxSessions 50',
    '',
  ].join('\n');
}

/** Starts sshd for a device unless it already runs; waits until the port accepts connections. */
export async function ensureSshd(p: LabPaths, dev: SshDevice, log: (line: string) => void): Promise<{ pid: number; started: boolean }> {
  const ref = sshdRef(p, dev);
  const running = await alivePid(ref);
  if (running !== undefined && (await tcpOpen(MANAGEMENT[dev], 22))) return { pid: running, started: false };
  if (running !== undefined) await stopDaemon(ref);
  const dir = dirOf(p, dev);
  await mkdir(dir, { recursive: true });
  await mkdir('/run/sshd', { recursive: true, mode: 0o755 }); // privilege-separation dir sshd insists on
  await copyFile(`${p.orchestratorKey}.pub`, join(dir, 'authorized_keys'));
  const config = join(dir, 'sshd_config');
  await writeFile(config, sshdConfig(p, dev), { mode: 0o644 });
  await must(SSHD, ['-t', '-f', config]);
  // The device is a firewall, not this machine's root account: in its own mount namespace the
  // host's /root/.bashrc (here pyenv, ~115 ms per command, since bash reads it for every ssh exec)
  // is hidden behind the device's own empty one.
  const rc = join(dir, 'bashrc');
  await writeFile(rc, '# the lab device root shell rc: empty on purpose\n', { mode: 0o644 });
  // Positional parameters, not interpolation: the shell only runs `hostname`, the bind mount, then execs sshd.
  await must('ip', [
    'netns',
    'exec',
    ref.ns,
    'unshare',
    '--uts',
    '--mount',
    '--',
    'sh',
    '-c',
    'hostname "$1" && { [ ! -f /root/.bashrc ] || mount --bind "$5" /root/.bashrc; } && exec "$2" -f "$3" -E "$4"',
    'sh',
    dev,
    SSHD,
    config,
    join(dir, 'sshd.log'),
    rc,
  ]);
  await waitUntil(ref.label, async () => (await alivePid(ref)) !== undefined && (await tcpOpen(MANAGEMENT[dev], 22)));
  const pid = await alivePid(ref);
  if (pid === undefined) throw new LabError(`lab: ${ref.label} exited after start (see ${join(dir, 'sshd.log')})`);
  log(`lab: ${ref.label} running (pid ${pid}) on ${MANAGEMENT[dev]}:22`);
  return { pid, started: true };
}
