import { createHash, randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { LabError } from '../errors.js';
import { must } from './exec.js';
import { MANAGEMENT } from './layout.js';
import type { LabPaths } from './paths.js';

/** SSH keys and SNMP secrets of the lab. Made once and kept, so pins and references stay valid. */

async function ensureEd25519(path: string, comment: string): Promise<boolean> {
  if (existsSync(path) && existsSync(`${path}.pub`)) return false;
  await must('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', path], { input: 'y\n' });
  return true;
}

/** OpenSSH-style fingerprint (`SHA256:<base64, no padding>`) of a `.pub` file. */
export async function fingerprint(pubPath: string): Promise<{ fingerprint: string; line: string }> {
  const line = (await readFile(pubPath, 'utf8')).trim();
  const blob = line.split(/\s+/)[1];
  if (!blob) throw new LabError(`lab: ${pubPath} is not an OpenSSH public key`);
  const digest = createHash('sha256').update(Buffer.from(blob, 'base64')).digest('base64').replace(/=+$/, '');
  return { fingerprint: `SHA256:${digest}`, line };
}

export interface LabKeys {
  /** Pinned fingerprints (`SHA256:...`) of the lab sshd host keys. */
  hostKey: { fw: string; sw: string };
  /** True when a key was (re)made now: running daemons must be restarted to use it. */
  created: boolean;
}

/** Orchestrator key + one host key per sshd; writes keys/known_hosts for the openssh client. */
export async function ensureKeys(p: LabPaths): Promise<LabKeys> {
  await mkdir(p.keysDir, { recursive: true, mode: 0o700 });
  let created = await ensureEd25519(p.orchestratorKey, 'firebreak-lab-orchestrator');
  created = (await ensureEd25519(p.hostKey.fw, 'fw')) || created;
  created = (await ensureEd25519(p.hostKey.sw, 'sw')) || created;
  const fw = await fingerprint(`${p.hostKey.fw}.pub`);
  const sw = await fingerprint(`${p.hostKey.sw}.pub`);
  const hostLine = (addr: string, pub: string) => `${addr} ${pub.split(/\s+/).slice(0, 2).join(' ')}\n`;
  const known = hostLine(MANAGEMENT.fw, fw.line) + hostLine(MANAGEMENT.sw, sw.line);
  if ((await readFile(p.knownHosts, 'utf8').catch(() => '')) !== known) await writeFile(p.knownHosts, known, { mode: 0o644 });
  return { hostKey: { fw: fw.fingerprint, sw: sw.fingerprint }, created };
}

/** Random SNMP secrets in mode-600 files; kept across down/up (hex: safe in snmpd.conf). True if one was made. */
export async function ensureSnmpSecrets(p: LabPaths): Promise<boolean> {
  let created = false;
  await mkdir(p.secretsDir, { recursive: true, mode: 0o700 });
  await chmod(p.secretsDir, 0o700);
  for (const file of Object.values(p.secrets)) {
    if (existsSync(file) && /^[0-9a-f]{16,}$/.test((await readFile(file, 'utf8')).trim())) {
      await chmod(file, 0o600);
      continue;
    }
    await writeFile(file, randomBytes(16).toString('hex'), { mode: 0o600 });
    created = true;
  }
  return created;
}

/** Reads one secret file for building daemon configs (never logged). */
export async function readSecret(file: string): Promise<string> {
  return (await readFile(file, 'utf8')).trim();
}
