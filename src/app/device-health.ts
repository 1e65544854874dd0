import { errorCode, errorMessage } from '../errors.js';
import type { Device, Inventory } from '../inventory/types.js';
import type { SecretResolver, Session } from '../transports/types.js';

/**
 * Can we reach, log in to, and trust each device right now? One connection per device through the
 * normal transports: for SSH, the pinned host key is checked and the login made; for SNMP, one
 * read of sysUpTime with the configured credentials (an SNMPv3 agent drops requests that fail
 * its authentication, so wrong keys look like an unreachable agent). Nothing is changed. The console shows the
 * result; a kill switch whose credentials rotated is found before the night it is needed.
 */
export interface DeviceHealth {
  device: string;
  transport: 'ssh' | 'snmp' | 'none';
  /** The device answered on its management port. */
  reachable: boolean;
  /** Logged in (SSH) or answered with our credentials (SNMP). */
  authenticated: boolean;
  /** SSH: the host key is the pinned one (false: changed or unknown; null: not SSH). */
  hostKeyOk: boolean | null;
  /** Why not, as the error's stable code and message. */
  code?: string;
  error?: string;
  ms: number;
  checkedAt: string;
}

export const SYS_UPTIME = '1.3.6.1.2.1.1.3.0';

export type Opener = (device: Device, transport: 'ssh' | 'snmp', resolveSecret: SecretResolver) => Promise<Session>;

export async function checkDevice(device: Device, open: Opener, resolveSecret: SecretResolver): Promise<DeviceHealth> {
  const transport = device.ssh ? 'ssh' : device.snmp ? 'snmp' : 'none';
  const t0 = performance.now();
  const base = { device: device.id, transport, checkedAt: new Date().toISOString() } as const;
  if (transport === 'none')
    return {
      ...base,
      reachable: false,
      authenticated: false,
      hostKeyOk: null,
      code: 'NO_TRANSPORT',
      error: 'no ssh or snmp settings',
      ms: 0,
    };
  let session: Session | undefined;
  try {
    session = await open(device, transport, resolveSecret);
    if (session.kind === 'snmp') await session.get([SYS_UPTIME]);
    return {
      ...base,
      reachable: true,
      authenticated: true,
      hostKeyOk: transport === 'ssh' ? true : null,
      ms: Math.round(performance.now() - t0),
    };
  } catch (err) {
    return { ...base, ...failure(err, transport), ms: Math.round(performance.now() - t0) };
  } finally {
    await session?.close().catch(() => undefined);
  }
}

/** What a failed connection or first read says about the device. */
export function failure(
  err: unknown,
  transport: 'ssh' | 'snmp',
): Pick<DeviceHealth, 'reachable' | 'authenticated' | 'hostKeyOk' | 'code' | 'error'> {
  const code = errorCode(err);
  return {
    // Refused credentials or a changed key came from a device that answered.
    reachable: code === 'AUTH_FAILED' || code === 'HOST_KEY_MISMATCH' || (code === 'SNMP_ERROR' && !/timed? ?out/i.test(errorMessage(err))),
    authenticated: false,
    hostKeyOk: transport === 'ssh' ? (code === 'HOST_KEY_MISMATCH' ? false : code === 'AUTH_FAILED' ? true : null) : null,
    code,
    error: errorMessage(err),
  };
}

/** Every device of the inventory, `concurrency` at a time. */
export async function checkInventory(
  inv: Inventory,
  open: Opener,
  resolveSecret: SecretResolver,
  concurrency = 32,
): Promise<DeviceHealth[]> {
  const devices = [...inv.devices.values()];
  const out: DeviceHealth[] = new Array(devices.length);
  let next = 0;
  const lane = async () => {
    for (let i = next++; i < devices.length; i = next++) out[i] = await checkDevice(devices[i]!, open, resolveSecret);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, devices.length) }, lane));
  return out;
}
