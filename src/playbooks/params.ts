import { isIPv4, isIPv6 } from 'node:net';
import { addressWithin, ipToBigInt } from '../address.js';
import { ParamInvalid } from '../errors.js';
import type { ParamType, Playbook } from './types.js';

/**
 * Strict validators for run parameters. A parameter value can end up in a device command line,
 * so each type accepts only its own characters; there is no free-text type.
 */

export const DEVICE_ID = /^[a-z][a-z0-9-]{0,31}$/;
export const SEGMENT_NAME = /^[a-z][a-z0-9-]{0,31}$/;
export const INTERFACE_NAME = /^[A-Za-z0-9][A-Za-z0-9._/:-]{0,63}$/;

const MAX_LEN = 2048;
const MAX_LIST = 64;

const WHAT: Record<ParamType, string> = {
  ipv4: 'an IPv4 address',
  ipv6: 'an IPv6 address',
  ip: 'an IP address',
  'ipv4-prefix': 'an IPv4 prefix (a.b.c.d/n)',
  'ipv6-prefix': 'an IPv6 prefix (x::/n)',
  prefix: 'an IPv4 or IPv6 prefix',
  address: 'an IP address or prefix',
  'prefix-list': 'a comma-separated list of addresses or prefixes',
  interface: 'an interface name',
  'device-interface': 'a device:interface',
  segment: 'a segment name',
  device: 'a device id',
  vlan: 'a VLAN id (1-4094)',
};

/** The types a host.block address accepts (schema.ts ACCEPTS.address); not the egress allow-list. */
const ADDRESS_TYPES: ReadonlySet<ParamType> = new Set(['ipv4', 'ipv6', 'ip', 'ipv4-prefix', 'ipv6-prefix', 'prefix', 'address']);

/** Characters refused in every type, whatever the type's own rules say. */
const FORBIDDEN: Record<string, string> = {
  ';': '";"',
  '|': '"|"',
  '&': '"&"',
  $: '"$"',
  '`': 'backtick',
  "'": 'quote',
  '"': 'double quote',
  ' ': 'space',
  '<': '"<"',
  '>': '">"',
  '\\': 'backslash',
  '\n': 'newline',
  '\r': 'carriage return',
  '\t': 'tab',
};

function forbiddenChar(value: string): string | undefined {
  for (const ch of value) {
    if (FORBIDDEN[ch]) return FORBIDDEN[ch];
    const code = ch.codePointAt(0)!;
    if (code < 0x20 || code === 0x7f) return `control character 0x${code.toString(16).padStart(2, '0')}`;
    if (code > 0x7e) return `non-ASCII character U+${code.toString(16).toUpperCase().padStart(4, '0')}`;
  }
  return undefined;
}

function ipv4Ok(v: string): boolean {
  return /^[0-9.]+$/.test(v) && isIPv4(v);
}

function ipv6Ok(v: string): boolean {
  // isIPv6 accepts zone ids (`%eth0`); the whitelist refuses them.
  return /^[0-9A-Fa-f:.]+$/.test(v) && v.includes(':') && isIPv6(v);
}

/**
 * Addresses that name no single host. A value that can become a host.block target must not be
 * one: blocking these means nothing or, for loopback, cuts a device off from itself. First match
 * wins (0.0.0.0 before 0.0.0.0/8). A subnet's own broadcast needs its prefix to be known: left.
 */
const NOT_A_HOST: [block: string, what: string][] = [
  ['0.0.0.0/32', 'the unspecified address'],
  ['255.255.255.255/32', 'the broadcast address'],
  ['0.0.0.0/8', 'in "this network" (0.0.0.0/8)'],
  ['127.0.0.0/8', 'a loopback address (127.0.0.0/8)'],
  ['224.0.0.0/4', 'a multicast address (224.0.0.0/4)'],
  ['::/128', 'the unspecified address'],
  ['::1/128', 'the loopback address'],
  ['ff00::/8', 'a multicast address (ff00::/8)'],
];

/**
 * Why a syntactically valid address, or a host-length prefix (/32, /128: the same one address),
 * is not a unicast host; undefined when it is one or is a wider prefix. IPv4-mapped IPv6
 * (::ffff:a.b.c.d) is judged by its IPv4 address.
 */
function notAHost(value: string): string | undefined {
  const [addr = '', len] = value.split('/');
  const v4 = ipv4Ok(addr);
  if (len !== undefined && Number(len) !== (v4 ? 32 : 128)) return undefined;
  let plain = addr;
  if (!v4) {
    const n = ipToBigInt(addr);
    if (n >> 32n === 0xffffn) plain = [24n, 16n, 8n, 0n].map((shift) => (n >> shift) & 0xffn).join('.');
  }
  const hit = NOT_A_HOST.find(([block]) => addressWithin(plain, block));
  return hit && `is ${hit[1]}, not a unicast host address`;
}

/** Reason a prefix is wrong, or undefined. `family` limits it to one address family. */
function prefixProblem(v: string, family: 4 | 6 | 0): string | undefined {
  const parts = v.split('/');
  if (parts.length !== 2) return 'needs exactly one /length';
  const [addr = '', lenText = ''] = parts;
  if (!/^(0|[1-9][0-9]{0,2})$/.test(lenText)) return 'prefix length is not a number';
  const len = Number(lenText);
  const v4 = ipv4Ok(addr);
  const v6 = !v4 && ipv6Ok(addr);
  if (family === 4 && !v4) return 'address part is not an IPv4 address';
  if (family === 6 && !v6) return 'address part is not an IPv6 address';
  if (!v4 && !v6) return 'address part is not an IP address';
  const bits = v4 ? 32 : 128;
  if (len > bits) return `prefix length ${len} is longer than ${bits}`;
  const n = ipToBigInt(addr);
  const hostMask = (1n << BigInt(bits - len)) - 1n;
  if ((n & hostMask) !== 0n) return 'host bits are set after the prefix length';
  return undefined;
}

function isPrefix(v: string, family: 4 | 6 | 0): boolean {
  return prefixProblem(v, family) === undefined;
}

function isAddressOrPrefix(v: string): boolean {
  return v.includes('/') ? isPrefix(v, 0) : ipv4Ok(v) || ipv6Ok(v);
}

function isDeviceInterface(v: string): boolean {
  const i = v.indexOf(':');
  if (i < 0) return false;
  return DEVICE_ID.test(v.slice(0, i)) && INTERFACE_NAME.test(v.slice(i + 1));
}

/** Reason a value does not fit its type, or undefined when it fits. Pure; never throws. */
export function checkValue(type: ParamType, value: unknown): string | undefined {
  if (typeof value !== 'string') return `is not a string (got ${value === null ? 'null' : typeof value})`;
  const what = WHAT[type];
  if (value === '') return `is empty; expected ${what}`;
  if (value.length > MAX_LEN) return `is longer than ${MAX_LEN} characters`;
  const shown = showValue(value);
  const bad = forbiddenChar(value);
  if (bad) return `${shown} is not ${what} (forbidden character: ${bad})`;
  let ok: boolean;
  let detail: string | undefined;
  switch (type) {
    case 'ipv4':
      ok = ipv4Ok(value);
      break;
    case 'ipv6':
      ok = ipv6Ok(value);
      break;
    case 'ip':
      ok = ipv4Ok(value) || ipv6Ok(value);
      break;
    case 'ipv4-prefix':
      detail = prefixProblem(value, 4);
      ok = !detail;
      break;
    case 'ipv6-prefix':
      detail = prefixProblem(value, 6);
      ok = !detail;
      break;
    case 'prefix':
      detail = prefixProblem(value, 0);
      ok = !detail;
      break;
    case 'address':
      ok = isAddressOrPrefix(value);
      if (!ok && value.includes('/')) detail = prefixProblem(value, 0);
      break;
    case 'prefix-list': {
      const items = value.split(',');
      const badItem = items.find((x) => !isAddressOrPrefix(x));
      ok = badItem === undefined && items.length <= MAX_LIST;
      if (badItem !== undefined) detail = badItem === '' ? 'empty item' : `item ${showValue(badItem)} is not an address or prefix`;
      else if (!ok) detail = `more than ${MAX_LIST} items`;
      break;
    }
    case 'interface':
      ok = INTERFACE_NAME.test(value);
      break;
    case 'device-interface':
      ok = isDeviceInterface(value);
      break;
    case 'segment':
      ok = SEGMENT_NAME.test(value);
      break;
    case 'device':
      ok = DEVICE_ID.test(value);
      break;
    case 'vlan':
      ok = /^[1-9][0-9]{0,3}$/.test(value) && Number(value) <= 4094;
      break;
  }
  if (!ok) return `${shown} is not ${what}${detail ? ` (${detail})` : ''}`;
  if (ADDRESS_TYPES.has(type)) {
    const notHost = notAHost(value);
    if (notHost) return `${shown} ${notHost}`;
  }
  return undefined;
}

/** A value as shown in an error: JSON-quoted (newlines visible), cut at 80 characters. */
function showValue(v: string): string {
  return JSON.stringify(v.length > 80 ? `${v.slice(0, 80)}…` : v);
}

/** Validates one value of a type; returns it unchanged or throws ParamInvalid naming `name`. */
export function validateValue(type: ParamType, value: unknown, name = 'value'): string {
  const problem = checkValue(type, value);
  if (problem !== undefined) throw new ParamInvalid(`param ${showValue(name)} (${type}): ${problem}`);
  return value as string;
}

/** Splits a validated prefix-list into its items. */
export function splitPrefixList(value: string): string[] {
  return value.split(',');
}

/**
 * Validates run parameters against a playbook: unknown names, missing required ones and bad
 * values are all reported in one ParamInvalid (one per line). Defaults are applied; unset
 * optional parameters are absent from the result.
 */
export function validateParams(playbook: Playbook, raw: Record<string, string>): Record<string, string> {
  const problems: string[] = [];
  const out: Record<string, string> = {};
  const known = Object.keys(playbook.params);
  for (const name of Object.keys(raw)) {
    if (!Object.hasOwn(playbook.params, name)) {
      problems.push(`unknown param ${showValue(name)} for playbook ${playbook.id} (known: ${known.join(', ') || 'none'})`);
    }
  }
  for (const [name, spec] of Object.entries(playbook.params)) {
    const given = Object.hasOwn(raw, name) ? raw[name] : undefined;
    const value = given ?? spec.default;
    if (value === undefined) {
      if (spec.required) problems.push(`param ${showValue(name)} (${spec.type}) is required`);
      continue;
    }
    const problem = checkValue(spec.type, value);
    if (problem !== undefined) problems.push(`param ${showValue(name)} (${spec.type}): ${problem}`);
    else out[name] = value;
  }
  if (problems.length > 0) throw new ParamInvalid(problems.join('\n'));
  return out;
}
