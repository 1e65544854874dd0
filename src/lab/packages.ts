import { existsSync } from 'node:fs';
import { LabError } from '../errors.js';
import { isRoot, must, run } from './exec.js';

/** Tools the lab runs, and the Debian packages that bring them. */
const TOOLS: Array<[string, string]> = [
  ['/usr/sbin/sshd', 'openssh-server'],
  ['/usr/bin/ssh-keygen', 'openssh-client'],
  ['/usr/sbin/snmpd', 'snmpd'],
  ['/usr/bin/snmpget', 'snmp'],
  ['/usr/sbin/nft', 'nftables'],
  ['/usr/bin/unshare', 'util-linux'],
  ['/usr/bin/ping', 'iputils-ping'],
];

async function hasIp(): Promise<boolean> {
  return (await run('ip', ['-V'])).code === 0;
}

/** Installs what is missing with apt-get (root only); quick no-op when everything is there. */
export async function ensurePackages(log: (line: string) => void): Promise<void> {
  const missing = TOOLS.filter(([path]) => !existsSync(path));
  const needIp = !(await hasIp());
  if (missing.length === 0 && !needIp) return;
  const names = [...new Set(['openssh-server', 'snmpd', 'snmp', 'nftables', 'iproute2', 'iputils-ping', ...missing.map(([, pkg]) => pkg)])];
  const what = [...missing.map(([path]) => path), ...(needIp ? ['ip'] : [])].join(', ');
  if (!isRoot()) throw new LabError(`lab: missing ${what}; run as root so the lab can install: ${names.join(' ')}`);
  log(`lab: installing ${names.join(' ')} (missing: ${what})`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  await must('apt-get', ['update'], { env, timeoutMs: 300_000 });
  await must('apt-get', ['install', '-y', '--no-install-recommends', ...names], { env, timeoutMs: 600_000 });
}
