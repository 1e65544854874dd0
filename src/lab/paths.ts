import { isAbsolute, join, resolve } from 'node:path';
import { LabError } from '../errors.js';
import { packageRoot } from '../package-root.js';

/** Paths go into sshd_config and snmpd.conf unquoted: allow only plain characters. */
const SAFE_PATH = /^\/[A-Za-z0-9._/+-]*$/;

export interface LabPaths {
  dir: string;
  lock: string;
  keysDir: string;
  orchestratorKey: string;
  knownHosts: string;
  hostKey: { fw: string; sw: string };
  secretsDir: string;
  secrets: { swRoCommunity: string; swRwCommunity: string; swAuth: string; swPriv: string };
  inventoryDir: string;
  fwDir: string;
  swDir: string;
}

/** State folder: explicit option, then FIREBREAK_LAB_DIR, then `<repo>/.lab`. */
export function labPaths(dirOpt?: string): LabPaths {
  const raw = dirOpt ?? process.env.FIREBREAK_LAB_DIR ?? join(packageRoot, '.lab');
  const dir = isAbsolute(raw) ? resolve(raw) : resolve(process.cwd(), raw);
  if (!SAFE_PATH.test(dir)) throw new LabError(`lab: state folder "${dir}" must be a plain path (letters, digits, . _ - + /)`);
  const keysDir = join(dir, 'keys');
  const secretsDir = join(dir, 'secrets');
  return {
    dir,
    lock: join(dir, 'lock'),
    keysDir,
    orchestratorKey: join(keysDir, 'orchestrator'),
    knownHosts: join(keysDir, 'known_hosts'),
    // Host keys live under keys/ (kept by labDown) so the pinned fingerprints survive down/up.
    hostKey: { fw: join(keysDir, 'fw_host_ed25519'), sw: join(keysDir, 'sw_host_ed25519') },
    secretsDir,
    secrets: {
      swRoCommunity: join(secretsDir, 'sw-ro-community'),
      swRwCommunity: join(secretsDir, 'sw-rw-community'),
      swAuth: join(secretsDir, 'sw-auth'),
      swPriv: join(secretsDir, 'sw-priv'),
    },
    inventoryDir: join(dir, 'devices'),
    fwDir: join(dir, 'fw'),
    swDir: join(dir, 'sw'),
  };
}
