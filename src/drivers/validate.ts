import { isIP } from 'node:net';
import { CommandRejected } from '../errors.js';

/**
 * The drivers' own wall: the planner validates parameters first, but nothing reaches a command
 * line or an nft comment without passing these checks again here.
 */

const IFNAME = /^[A-Za-z0-9][A-Za-z0-9._/:-]{0,63}$/;
const TAG = /^[A-Za-z0-9:._-]{1,48}$/;
const SEGMENT = /^[A-Za-z0-9._-]{1,32}$/;

export function checkInterface(deviceId: string, name: string, maxLen = 64): string {
  if (typeof name !== 'string' || !IFNAME.test(name) || name.length > maxLen) {
    throw new CommandRejected(
      `${deviceId}: interface name ${JSON.stringify(String(name).slice(0, 80))} is not valid here (letters, digits, . _ / : -, at most ${maxLen} chars)`,
    );
  }
  return name;
}

export function checkTag(deviceId: string, tag: string): string {
  if (typeof tag !== 'string' || !TAG.test(tag)) {
    throw new CommandRejected(
      `${deviceId}: action tag ${JSON.stringify(String(tag).slice(0, 80))} is not valid (letters, digits, : . _ -, at most 48 chars)`,
    );
  }
  return tag;
}

export function checkSegment(deviceId: string, segment: string): string {
  if (typeof segment !== 'string' || !SEGMENT.test(segment)) {
    throw new CommandRejected(
      `${deviceId}: segment name ${JSON.stringify(String(segment).slice(0, 80))} is not valid (letters, digits, . _ -, at most 32 chars)`,
    );
  }
  return segment;
}

/** An IPv4/IPv6 address or prefix; returns its family. */
export function checkAddress(deviceId: string, value: string, what = 'address'): 4 | 6 {
  const family = addressFamily(value);
  if (!family)
    throw new CommandRejected(`${deviceId}: ${what} ${JSON.stringify(String(value).slice(0, 80))} is not an IPv4/IPv6 address or prefix`);
  return family;
}

export function addressFamily(value: string): 4 | 6 | null {
  if (typeof value !== 'string') return null;
  const m = /^([0-9A-Fa-f:.]+)(?:\/(\d{1,3}))?$/.exec(value);
  if (!m) return null;
  const family = isIP(m[1]!);
  if (family !== 4 && family !== 6) return null;
  if (m[2] !== undefined && Number(m[2]) > (family === 4 ? 32 : 128)) return null;
  return family;
}

/** A route destination as `ip route` shows it: `default` or an address/prefix. */
export function checkRouteDst(deviceId: string, dst: string): void {
  if (dst !== 'default') checkAddress(deviceId, dst, 'route destination');
}

export function checkMetric(deviceId: string, metric: unknown): void {
  if (metric === undefined) return;
  if (typeof metric !== 'number' || !Number.isInteger(metric) || metric < 0 || metric > 0xffffffff) {
    throw new CommandRejected(`${deviceId}: route metric ${JSON.stringify(metric)} is not a 32-bit unsigned integer`);
  }
}

/** An 802.1Q VLAN id (1-4094). */
export function checkVlan(deviceId: string, vlan: unknown, what = 'VLAN'): number {
  if (typeof vlan !== 'number' || !Number.isInteger(vlan) || vlan < 1 || vlan > 4094) {
    throw new CommandRejected(`${deviceId}: ${what} ${JSON.stringify(vlan)} is not a VLAN id (1-4094)`);
  }
  return vlan;
}
