import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { join } from 'node:path';
import * as z from 'zod';
import { InventoryInvalid } from '../errors.js';
import { issuesMessage, type SourceIssue, validateYaml } from '../yaml-source.js';
import type { Inventory } from './types.js';

/**
 * The hosts people may need to isolate, so that the console offers them by name instead of asking
 * for an address typed at 21:58: `_hosts.yaml` in the inventory folder (optional), each host with
 * its address, and where known its switch port (`device:interface` of the inventory) and segment.
 *
 *   hosts:
 *     - { name: reception-pc, address: 10.20.0.11, port: "sw:swp1", segment: staff }
 */
export interface HostEntry {
  name: string;
  address: string;
  port?: string;
  segment?: string;
}

const HOSTS_FILE = '_hosts.yaml';

const hostsSchema = z.strictObject({
  hosts: z.array(
    z.strictObject({
      name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'letters, digits, . _ - (at most 64)'),
      address: z.string().refine((v) => isIP(v) !== 0, 'an IPv4 or IPv6 address'),
      port: z
        .string()
        .regex(/^[a-z][a-z0-9-]{0,31}:[A-Za-z0-9][A-Za-z0-9._/:-]{0,63}$/, 'a device:interface of the inventory')
        .optional(),
      segment: z
        .string()
        .regex(/^[a-z][a-z0-9-]{0,31}$/, 'a segment name')
        .optional(),
    }),
  ),
});

/** `_hosts.yaml` of the inventory folder, checked against the inventory; [] when there is none. */
export async function loadHosts(dir: string, inventory: Inventory): Promise<HostEntry[]> {
  const file = join(dir, HOSTS_FILE);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new InventoryInvalid(`${file}: cannot read (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  const segments = new Set(
    [...inventory.devices.values()].flatMap((d) =>
      Object.values(d.interfaces).flatMap((i) => i.roles.filter((r) => r.startsWith('segment:')).map((r) => r.slice(8))),
    ),
  );
  const r = validateYaml(file, text, hostsSchema, (v) => {
    const issues: SourceIssue[] = [];
    const names = new Set<string>();
    v.hosts.forEach((h, i) => {
      if (names.has(h.name)) issues.push({ path: ['hosts', i, 'name'], message: `duplicate host "${h.name}"` });
      names.add(h.name);
      if (h.port) {
        const [device, ...rest] = h.port.split(':');
        const d = inventory.devices.get(device!);
        if (!d) issues.push({ path: ['hosts', i, 'port'], message: `no device "${device}" in the inventory` });
        else if (!d.interfaces[rest.join(':')])
          issues.push({ path: ['hosts', i, 'port'], message: `device ${device} has no interface "${rest.join(':')}"` });
      }
      if (h.segment && !segments.has(h.segment))
        issues.push({
          path: ['hosts', i, 'segment'],
          message: `no interface has the role segment:${h.segment} (known: ${[...segments].join(', ') || 'none'})`,
        });
    });
    return issues;
  });
  if (!r.ok) throw new InventoryInvalid(issuesMessage(r.issues));
  return r.value.hosts;
}
