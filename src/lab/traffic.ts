import { isIPv4 } from 'node:net';
import { LabError } from '../errors.js';
import { nsExec } from './exec.js';
import { LAB_PREFIXES } from './layout.js';

/** Reachability checks from inside lab namespaces, aimed only at lab addresses. */

function toInt(ip: string): number {
  return ip.split('.').reduce((n, o) => n * 256 + Number(o), 0);
}

export function isLabAddress(address: string): boolean {
  if (!isIPv4(address)) return false;
  return LAB_PREFIXES.some((prefix) => {
    const [net, len] = prefix.split('/') as [string, string];
    const bits = Number(len);
    const mask = bits === 0 ? 0 : (~0 << (32 - bits)) >>> 0;
    return (toInt(address) & mask) >>> 0 === (toInt(net) & mask) >>> 0;
  });
}

/** One ping (1 s timeout) from `ns` to `address`; true when it answered. Refuses non-lab addresses. */
export async function canReach(ns: string, address: string): Promise<boolean> {
  if (!isLabAddress(address)) {
    throw new LabError(`lab: refusing to ping ${JSON.stringify(address)}: only lab addresses (${LAB_PREFIXES.join(', ')})`);
  }
  const r = await nsExec(ns, ['ping', '-n', '-q', '-c1', '-W1', address], { timeoutMs: 5000 });
  return r.code === 0;
}
