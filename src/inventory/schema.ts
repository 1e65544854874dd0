import { isIPv4, isIPv6 } from 'node:net';
import * as z from 'zod';
import { DEVICE_ID, INTERFACE_NAME, SEGMENT_NAME } from '../playbooks/params.js';
import type { SourceIssue } from '../yaml-source.js';
import type { Device } from './types.js';

/** Shape of one devices/*.yaml file. Unknown keys are errors; defaults are filled here. */

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const DNS_LABEL = '[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?';
const DNS_NAME = new RegExp(`^(?=.{1,253}$)${DNS_LABEL}(?:\\.${DNS_LABEL})*\\.?$`);
const HOST_KEY = /^SHA256:[A-Za-z0-9+/]{43}$/;
const ROLE_FIXED = ['uplink', 'mgmt', 'inter-site', 'access', 'trunk', 'outlet'];

/** IPv4/IPv6 literal or DNS name (a name whose last label is all digits is a mistyped IPv4). */
export function isManagementAddress(v: string): boolean {
  if (isIPv4(v)) return true;
  if (/^[0-9A-Fa-f:.]+$/.test(v) && v.includes(':')) return isIPv6(v);
  if (!DNS_NAME.test(v)) return false;
  const labels = v.replace(/\.$/, '').split('.');
  return !/^[0-9]+$/.test(labels[labels.length - 1] ?? '');
}

/** Why a role is not valid, or undefined. */
export function roleProblem(role: string): string | undefined {
  if (ROLE_FIXED.includes(role)) return undefined;
  if (role.startsWith('segment:')) {
    return SEGMENT_NAME.test(role.slice(8)) ? undefined : `segment name in role must match ${SEGMENT_NAME.source}`;
  }
  return `unknown role (known: ${ROLE_FIXED.join(', ')}, segment:<name>)`;
}

/**
 * A credential reference. The message never repeats the value: if it is not a reference it may
 * well be the secret itself.
 */
const secretRef = z.string().superRefine((v, ctx) => {
  let problem: string | undefined;
  if (v.startsWith('env:')) {
    if (!/^env:[A-Za-z_][A-Za-z0-9_]{0,127}$/.test(v)) problem = 'env: reference must name a variable (env:NAME, letters, digits, _)';
  } else if (v.startsWith('file:')) {
    // eslint-disable-next-line no-control-regex
    if (!/^file:\/[^\x00-\x1f\x7f]{1,4095}$/.test(v)) problem = 'file: reference must be an absolute path (file:/path/to/secret)';
  } else {
    problem = 'must be a secret reference ("env:NAME" or "file:/absolute/path"), not the secret itself (value not shown)';
  }
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

const port = z.number().int().min(1).max(65535);
const timeoutMs = z.number().int().min(100).max(600_000);
const retries = z.number().int().min(0).max(10);
const stringList = z.array(z.string().min(1).max(128));

const sshSchema = z
  .strictObject({
    port: port.default(22),
    // `+` for RouterOS login options (admin+cte: no colours, no terminal detection).
    user: z.string().regex(/^[A-Za-z0-9._][A-Za-z0-9._@+-]{0,63}$/, 'must be a user name (letters, digits, . _ @ + -)'),
    key: secretRef.optional(),
    password: secretRef.optional(),
    /** The privileged-mode secret (IOS `enable`), asked for only by platforms that have one. */
    enableSecret: secretRef.optional(),
    hostKey: z.string().regex(HOST_KEY, 'must be an OpenSSH fingerprint SHA256:<43 base64 characters> (ssh-keygen -lf key.pub)'),
    readyTimeoutMs: timeoutMs.default(5000),
    algorithms: z
      .strictObject({
        kex: stringList.optional(),
        cipher: stringList.optional(),
        serverHostKey: stringList.optional(),
        hmac: stringList.optional(),
      })
      .optional(),
  })
  .superRefine((v, ctx) => {
    if (v.key === undefined && v.password === undefined) ctx.addIssue({ code: 'custom', message: 'needs a key or a password reference' });
  });

// `version: 3` unquoted is a YAML number: accept it as the string the type wants.
const v3 = z.union([z.literal('3'), z.literal(3).transform(() => '3' as const)]);

const snmpSchema = z.discriminatedUnion(
  'version',
  [
    z.strictObject({
      version: z.literal('2c'),
      port: port.default(161),
      community: secretRef,
      timeoutMs: timeoutMs.default(2000),
      retries: retries.default(1),
    }),
    z.strictObject({
      version: v3,
      port: port.default(161),
      user: z.string().regex(/^[A-Za-z0-9._-]{1,32}$/, 'must be an SNMPv3 user name'),
      auth: z.strictObject({ protocol: z.enum(['sha', 'sha256', 'sha512', 'md5']), key: secretRef }),
      priv: z.strictObject({ protocol: z.enum(['aes', 'aes256b', 'aes256r', 'des']), key: secretRef }),
      timeoutMs: timeoutMs.default(2000),
      retries: retries.default(1),
    }),
  ],
  { error: () => 'version must be "2c" or "3"' },
);

const interfaceSchema = z.strictObject({
  roles: z.array(z.string()).default([]),
  description: z.string().max(256).optional(),
  /** PDU outlets: the device this outlet powers (the lockout guard follows it). */
  feeds: z.string().regex(DEVICE_ID, `must be a device id (${DEVICE_ID.source})`).optional(),
});

export const deviceSchema = z.strictObject({
  id: z.string().regex(DEVICE_ID, `must match ${DEVICE_ID.source}`),
  site: z.string().regex(NAME, `must match ${NAME.source}`),
  driver: z.string().regex(/^[a-z][a-z0-9-]{0,31}$/, 'must be a driver family name (e.g. linux, snmp-ifmib)'),
  address: z.string().refine(isManagementAddress, 'must be an IPv4/IPv6 address or a DNS name'),
  tags: z.array(z.string().regex(NAME, `must match ${NAME.source}`)).default([]),
  ssh: sshSchema.optional(),
  snmp: snmpSchema.optional(),
  managementPath: z.strictObject({
    interfaces: z.array(z.string()).min(1, 'must name at least one interface'),
    via: z.array(z.string()).default([]),
  }),
  interfaces: z.record(z.string(), interfaceSchema),
  /** Device-side auto-revert for every change on this device (platforms that have one; see the driver). */
  autoRevert: z.strictObject({ minutes: z.number().int().min(1).max(60) }).optional(),
});

export type DeviceInput = z.output<typeof deviceSchema>;

/** Checks inside one device that need the whole (shape-valid) entry. */
export function checkDevice(d: DeviceInput): SourceIssue[] {
  const issues: SourceIssue[] = [];
  if (!d.ssh && !d.snmp) issues.push({ path: [], message: 'a device needs ssh or snmp settings' });
  for (const [name, spec] of Object.entries(d.interfaces)) {
    if (!INTERFACE_NAME.test(name)) {
      issues.push({ path: ['interfaces', name], message: `interface name must match ${INTERFACE_NAME.source}`, atKey: true });
    }
    if (spec.feeds !== undefined && !spec.roles.includes('outlet')) {
      issues.push({ path: ['interfaces', name, 'feeds'], message: 'only an interface with the role outlet feeds a device', atKey: true });
    }
    spec.roles.forEach((role, i) => {
      const problem = roleProblem(role);
      if (problem) issues.push({ path: ['interfaces', name, 'roles', i], message: `${JSON.stringify(role.slice(0, 64))}: ${problem}` });
    });
  }
  d.managementPath.interfaces.forEach((name, i) => {
    if (!Object.hasOwn(d.interfaces, name)) {
      issues.push({
        path: ['managementPath', 'interfaces', i],
        message: `interface ${JSON.stringify(name.slice(0, 64))} is not declared under interfaces`,
      });
    }
  });
  d.managementPath.via.forEach((link, i) => {
    if (parseVia(link) === undefined) {
      issues.push({ path: ['managementPath', 'via', i], message: 'must be device:interface (e.g. core-sw:Gi1/0/1)' });
    }
  });
  return issues;
}

/** `device:interface`, split at the first colon; undefined when malformed. */
export function parseVia(link: string): { device: string; interface: string } | undefined {
  const i = link.indexOf(':');
  if (i < 0) return undefined;
  const device = link.slice(0, i);
  const iface = link.slice(i + 1);
  return DEVICE_ID.test(device) && INTERFACE_NAME.test(iface) ? { device, interface: iface } : undefined;
}

/** The Device record (defaults filled) with where it came from. */
export function toDevice(d: DeviceInput, source: string): Device {
  return { ...d, source };
}

export const orchestratorSchema = z.strictObject({
  addresses: z.array(z.string().refine((v) => isIPv4(v) || (/^[0-9A-Fa-f:.]+$/.test(v) && isIPv6(v)), 'must be an IPv4 or IPv6 address')),
});
