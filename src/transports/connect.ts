import type { Device } from '../inventory/types.js';
import type { SecretResolver, Session } from './types.js';
import { InventoryInvalid } from '../errors.js';

/** Opens the session a driver asks for; the device must carry settings for that transport. */
export async function openSession(device: Device, transport: 'ssh' | 'snmp', resolveSecret: SecretResolver): Promise<Session> {
  if (transport === 'ssh') {
    if (!device.ssh) throw new InventoryInvalid(`device ${device.id}${at(device)}: driver ${device.driver} needs ssh settings, none given`);
    // Loaded on first use: a CLI run that touches no SNMP device never pays for net-snmp, and back.
    const { openSsh } = await import('./ssh.js');
    return openSsh(device, resolveSecret);
  }
  if (!device.snmp) throw new InventoryInvalid(`device ${device.id}${at(device)}: driver ${device.driver} needs snmp settings, none given`);
  const { openSnmp } = await import('./snmp.js');
  return openSnmp(device, resolveSecret);
}

function at(device: Device): string {
  return device.source ? ` (${device.source})` : '';
}
