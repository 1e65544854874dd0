import { isIPv4 } from 'node:net';
import { addressWithin } from '../address.js';
import { LabError } from '../errors.js';
import { nsExec } from './exec.js';
import { LAB_PREFIXES } from './layout.js';

/** Reachability checks from inside lab namespaces, aimed only at lab addresses. */

export function isLabAddress(address: string): boolean {
  return isIPv4(address) && LAB_PREFIXES.some((prefix) => addressWithin(address, prefix));
}

/** One ping (1 s timeout) from `ns` to `address`; true when it answered. Refuses non-lab addresses. */
export async function canReach(ns: string, address: string): Promise<boolean> {
  if (!isLabAddress(address)) {
    throw new LabError(`lab: refusing to ping ${JSON.stringify(address)}: only lab addresses (${LAB_PREFIXES.join(', ')})`);
  }
  const r = await nsExec(ns, ['ping', '-n', '-q', '-c1', '-W1', address], { timeoutMs: 5000 });
  return r.code === 0;
}
