import { readFile } from 'node:fs/promises';
import { isIPv4 } from 'node:net';
import * as z from 'zod';
import { addressWithin } from '../address.js';
import { SimError } from '../errors.js';
import { parseVia, roleProblem } from '../inventory/schema.js';
import { DEVICE_ID, INTERFACE_NAME } from '../playbooks/params.js';
import { issuesMessage, type SourceIssue, validateYaml } from '../yaml-source.js';
import { simTransport } from './registry.js';
import type { SimDeviceSpec, SimFactory, SimPortSpec } from './types.js';

/**
 * A simulated network as a YAML file (topologies/*.yaml) -> validated device specs. Every problem
 * is reported at once, one `file:line:col path: message` per line, in one SimError. Simulated
 * devices only ever take loopback addresses: anything outside 127.0.0.0/8 is refused.
 *
 * ```yaml
 * name: small
 * defaults: { latencyMs: 0, minuteMs: 2000 }
 * sites: [city-hall]
 * devices:
 *   - id: edge
 *     family: cisco-ios
 *     site: city-hall
 *     ports:
 *       Gi0/0/0: { roles: [uplink] }
 *       Gi0/0/1: { roles: [mgmt] }
 *     managementPath: { interfaces: [Gi0/0/1], via: [] }   # default: the ports with role mgmt
 * ```
 */

/** A port of the topology: what the simulator needs, plus a description for the inventory. */
export interface TopologyPort extends SimPortSpec {
  description?: string;
  feeds?: string;
}

/** A device of the topology: what its simulator needs, plus what its inventory entry needs. */
export interface TopologyDevice extends SimDeviceSpec {
  ports: TopologyPort[];
  managementPath: { interfaces: string[]; via: string[] };
  /** SNMP families: which SNMP version the inventory entry uses (default 3, authPriv). */
  snmpVersion?: '2c' | '3';
  /** CLI families: the device asks for an enable secret (default: cisco-ios only). */
  enableSecret: boolean;
}

export interface Topology {
  name: string;
  file: string;
  devices: TopologyDevice[];
  /** Devices left out because their family has no simulator yet (only with `skipUnregistered`). */
  skipped: { id: string; family: string }[];
}

export interface TopologyOptions {
  /** The simulators registry (family -> factory); a family missing from it is an error. */
  simulators: Record<string, SimFactory>;
  /** Leave out, instead of refusing, devices whose family has no simulator (demos on a partial registry). */
  skipUnregistered?: boolean;
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const HOSTNAME = /^[A-Za-z][A-Za-z0-9._-]{0,62}$/;
const FAMILY = /^[a-z][a-z0-9-]{0,31}$/;
/** Default block: devices get 127.31.<site index>.<10, 11, ...>. */
const DEFAULT_BLOCK = '127.31.0.0/16';
const FIRST_HOST = 10;

const vlanId = z.number().int().min(1).max(4094);
const latencyMs = z.number().int().min(0).max(60_000);
const minuteMs = z.number().int().min(10).max(3_600_000);
// `snmp: 3` unquoted is a YAML number: accept it as the string the type wants.
const snmpVersion = z.union([z.literal('2c'), z.literal('3'), z.literal(3).transform(() => '3' as const)]);

const portSchema = z.strictObject({
  roles: z.array(z.string()).default([]),
  adminUp: z.boolean().default(true),
  mode: z
    .string()
    .regex(/^[a-z][a-z -]{0,31}$/, 'must be the platform word for the mode (access, trunk, dynamic auto, ...)')
    .optional(),
  vlan: vlanId.nullable().optional(),
  voiceVlan: vlanId.nullable().optional(),
  description: z.string().max(256).optional(),
  /** PDU outlets: the device this outlet powers (written to the inventory for the lockout guard). */
  feeds: z.string().regex(DEVICE_ID, `must be a device id (${DEVICE_ID.source})`).optional(),
});

const deviceSchema = z.strictObject({
  id: z.string().regex(DEVICE_ID, `must match ${DEVICE_ID.source}`),
  family: z.string().regex(FAMILY, 'must be a simulator family name (e.g. cisco-ios, snmp-qbridge)'),
  site: z.string().regex(NAME, `must match ${NAME.source}`),
  tags: z.array(z.string().regex(NAME, `must match ${NAME.source}`)).default([]),
  hostname: z.string().regex(HOSTNAME, `must match ${HOSTNAME.source}`).optional(),
  address: z.string().optional(),
  ports: z.record(z.string(), portSchema),
  managementPath: z
    .strictObject({
      interfaces: z.array(z.string()).min(1, 'must name at least one port'),
      via: z.array(z.string()).default([]),
    })
    .optional(),
  legacyOnly: z.boolean().optional(),
  oneExecThenClose: z.boolean().optional(),
  banner: z.string().max(2000).optional(),
  enableSecret: z.boolean().optional(),
  snmp: snmpVersion.optional(),
  latencyMs: latencyMs.optional(),
  minuteMs: minuteMs.optional(),
});

const topologySchema = z.strictObject({
  name: z.string().regex(NAME, `must match ${NAME.source}`),
  description: z.string().max(2000).optional(),
  /** A /16 inside 127.0.0.0/8 that absent addresses are taken from. */
  addressBlock: z.string().default(DEFAULT_BLOCK),
  defaults: z.strictObject({ latencyMs: latencyMs.optional(), minuteMs: minuteMs.optional(), snmp: snmpVersion.optional() }).default({}),
  sites: z.array(z.string().regex(NAME, `must match ${NAME.source}`)).min(1, 'must name at least one site'),
  devices: z.array(deviceSchema).min(1, 'must list at least one device'),
});

type TopologyInput = z.output<typeof topologySchema>;
type DeviceInput = TopologyInput['devices'][number];

/** Why `address` may not be a simulated device's address, or undefined when it may. */
export function simAddressProblem(address: string): string | undefined {
  if (!isIPv4(address) || !addressWithin(address, '127.0.0.0/8')) {
    return `${JSON.stringify(address.slice(0, 64))} is not a loopback address: simulated devices listen only on 127.0.0.0/8, never on a real network`;
  }
  if (addressWithin(address, '127.0.0.0/24')) {
    return `${address} is in 127.0.0.0/24, which is left to this host (127.0.0.1 is the orchestrator's own address): use e.g. 127.31.1.10`;
  }
  return undefined;
}

/** Reads and validates a topology file. */
export async function loadTopology(file: string, opts: TopologyOptions): Promise<Topology> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new SimError(`${file}: cannot read topology (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  return parseTopology(file, text, opts);
}

/** Pure: topology text -> Topology, or SimError carrying every problem. */
export function parseTopology(file: string, text: string, opts: TopologyOptions): Topology {
  const r = validateYaml(file, text, topologySchema, (t) => checkTopology(t, opts));
  if (!r.ok) throw new SimError(issuesMessage(r.issues));
  const t = r.value;
  const addresses = assignAddresses(t);
  const known = (family: string) => Object.hasOwn(opts.simulators, family);
  const skipped = t.devices.filter((d) => !known(d.family)).map((d) => ({ id: d.id, family: d.family }));
  const gone = new Set(skipped.map((s) => s.id));
  const devices = t.devices
    .filter((d) => known(d.family))
    .map((d): TopologyDevice => {
      const ssh = simTransport(d.family) === 'ssh';
      const via = (d.managementPath?.via ?? []).filter((link) => !gone.has(parseVia(link)?.device ?? ''));
      const mgmt = d.managementPath?.interfaces ?? mgmtPorts(d);
      const latency = d.latencyMs ?? t.defaults.latencyMs;
      const minute = d.minuteMs ?? t.defaults.minuteMs;
      return {
        id: d.id,
        family: d.family,
        site: d.site,
        tags: d.tags,
        hostname: d.hostname ?? d.id,
        address: addresses.get(d.id)!,
        ports: Object.entries(d.ports).map(([name, p]) => ({
          name,
          adminUp: p.adminUp,
          roles: p.roles,
          ...(p.mode !== undefined ? { mode: p.mode } : {}),
          ...(p.vlan !== undefined ? { vlan: p.vlan } : {}),
          ...(p.voiceVlan !== undefined ? { voiceVlan: p.voiceVlan } : {}),
          ...(p.description !== undefined ? { description: p.description } : {}),
          ...(p.feeds !== undefined ? { feeds: p.feeds } : {}),
        })),
        ...(d.legacyOnly ? { legacyOnly: true } : {}),
        ...(d.oneExecThenClose ? { oneExecThenClose: true } : {}),
        ...(d.banner !== undefined ? { banner: d.banner } : {}),
        ...(latency !== undefined ? { latencyMs: latency } : {}),
        ...(minute !== undefined ? { minuteMs: minute } : {}),
        managementPath: { interfaces: mgmt, via },
        ...(ssh ? {} : { snmpVersion: d.snmp ?? t.defaults.snmp ?? '3' }),
        enableSecret: ssh && (d.enableSecret ?? d.family === 'cisco-ios'),
      };
    });
  return { name: t.name, file, devices, skipped: opts.skipUnregistered ? skipped : [] };
}

function mgmtPorts(d: DeviceInput): string[] {
  return Object.entries(d.ports)
    .filter(([, p]) => p.roles.includes('mgmt'))
    .map(([name]) => name);
}

function blockBase(block: string): [number, number] | undefined {
  const m = /^127\.(\d{1,3})\.0\.0\/16$/.exec(block);
  const second = m ? Number(m[1]) : Number.NaN;
  return second >= 1 && second <= 255 ? [127, second] : undefined;
}

/** Explicit addresses as given; the others <block>.<site index>.<10, 11, ...>, skipping taken ones. */
function assignAddresses(t: TopologyInput): Map<string, string> {
  const [a, b] = blockBase(t.addressBlock)!;
  const out = new Map<string, string>();
  const taken = new Set(t.devices.map((d) => d.address).filter((x): x is string => x !== undefined));
  const next = new Map<string, number>();
  for (const d of t.devices) {
    if (d.address !== undefined) {
      out.set(d.id, d.address);
      continue;
    }
    const site = t.sites.indexOf(d.site) + 1;
    let n = next.get(d.site) ?? FIRST_HOST;
    while (taken.has(`${a}.${b}.${site}.${n}`)) n++;
    const address = `${a}.${b}.${site}.${n}`;
    taken.add(address);
    next.set(d.site, n + 1);
    out.set(d.id, address);
  }
  return out;
}

/** Checks that need the whole (shape-valid) topology. */
function checkTopology(t: TopologyInput, opts: TopologyOptions): SourceIssue[] {
  const issues: SourceIssue[] = [];
  const families = Object.keys(opts.simulators).sort();
  if (!blockBase(t.addressBlock)) {
    issues.push({ path: ['addressBlock'], message: 'must be a /16 inside 127.0.0.0/8 other than 127.0.0.0/16 (e.g. 127.31.0.0/16)' });
  }
  t.sites.forEach((s, i) => {
    if (t.sites.indexOf(s) !== i) issues.push({ path: ['sites', i], message: `duplicate site "${s}"` });
  });
  const freeSlots = 255 - FIRST_HOST;
  for (const site of t.sites) {
    if (t.devices.filter((d) => d.site === site && d.address === undefined).length > freeSlots) {
      issues.push({ path: ['sites'], message: `site "${site}" has more than ${freeSlots} devices without an address` });
    }
  }
  const byId = new Map<string, DeviceInput>();
  const addressOwner = new Map<string, string>();
  t.devices.forEach((d, i) => {
    const at = (...rest: (string | number)[]) => ['devices', i, ...rest];
    if (byId.has(d.id)) issues.push({ path: at('id'), message: `duplicate device id "${d.id}"` });
    else byId.set(d.id, d);
    if (!families.includes(d.family) && !opts.skipUnregistered) {
      issues.push({
        path: at('family'),
        message: `unknown simulator family "${d.family}" (known: ${families.length ? families.join(', ') : 'none registered yet'})`,
      });
    }
    if (!t.sites.includes(d.site)) issues.push({ path: at('site'), message: `unknown site "${d.site}" (sites: ${t.sites.join(', ')})` });
    if (d.address !== undefined) {
      const problem = simAddressProblem(d.address);
      if (problem) issues.push({ path: at('address'), message: problem });
      const owner = addressOwner.get(d.address);
      if (owner) issues.push({ path: at('address'), message: `address ${d.address} is already ${owner}'s` });
      else addressOwner.set(d.address, d.id);
    }
    const ssh = simTransport(d.family) === 'ssh';
    for (const key of ['legacyOnly', 'oneExecThenClose', 'banner', 'enableSecret'] as const) {
      if (!ssh && d[key] !== undefined) issues.push({ path: at(key), message: `only for CLI (SSH) families, not ${d.family}` });
    }
    if (ssh && d.snmp !== undefined) issues.push({ path: at('snmp'), message: `only for SNMP families (snmp-*), not ${d.family}` });
    if (Object.keys(d.ports).length === 0) issues.push({ path: at('ports'), message: 'must declare at least one port' });
    for (const [name, p] of Object.entries(d.ports)) {
      if (!INTERFACE_NAME.test(name))
        issues.push({ path: at('ports', name), message: `port name must match ${INTERFACE_NAME.source}`, atKey: true });
      p.roles.forEach((role, k) => {
        const problem = roleProblem(role);
        if (problem) issues.push({ path: at('ports', name, 'roles', k), message: `${JSON.stringify(role.slice(0, 64))}: ${problem}` });
      });
    }
    if (!d.managementPath) {
      if (mgmtPorts(d).length === 0) {
        issues.push({
          path: at('ports'),
          message: 'no managementPath and no port with role mgmt: say which ports carry the management connection',
        });
      }
    } else {
      d.managementPath.interfaces.forEach((name, k) => {
        if (!Object.hasOwn(d.ports, name)) {
          issues.push({
            path: at('managementPath', 'interfaces', k),
            message: `port ${JSON.stringify(name.slice(0, 64))} is not declared under ports`,
          });
        }
      });
    }
  });
  // Via links name device:port pairs of this topology (checked once every id is known).
  t.devices.forEach((d, i) => {
    for (const [name, p] of Object.entries(d.ports)) {
      if (p.feeds === undefined) continue;
      const path = ['devices', i, 'ports', name, 'feeds'];
      if (!p.roles.includes('outlet')) issues.push({ path, message: 'only a port with the role outlet feeds a device', atKey: true });
      else if (!byId.has(p.feeds))
        issues.push({ path, message: `unknown device "${p.feeds}" (known: ${[...byId.keys()].sort().join(', ')})` });
    }
    d.managementPath?.via.forEach((link, k) => {
      const path = ['devices', i, 'managementPath', 'via', k];
      const via = parseVia(link);
      const up = via ? byId.get(via.device) : undefined;
      if (!via) issues.push({ path, message: 'must be device:port (e.g. ch-dist:Ethernet3)' });
      else if (!up) issues.push({ path, message: `unknown device "${via.device}" (known: ${[...byId.keys()].sort().join(', ')})` });
      else if (via.device === d.id) issues.push({ path, message: 'a device is not reached through its own port' });
      else if (!Object.hasOwn(up.ports, via.interface)) {
        issues.push({
          path,
          message: `device "${via.device}" has no port "${via.interface}" (it has: ${Object.keys(up.ports).join(', ')})`,
        });
      }
    });
  });
  return issues;
}
