/**
 * A topology of access switches, as YAML text: `count` switches of one family, four access ports
 * each (access mode, VLAN 10) plus a management port, spread over `sites` in turn. What the scale
 * benchmarks and the service tests start; every switch on its own loopback address.
 */
export interface AccessSwitchesOptions {
  name: string;
  count: number;
  /** Site of switch i: sites[i % sites.length]. */
  sites: string[];
  latencyMs: number;
  /** Loopback address of switch i (127.x.y.z). */
  address: (i: number) => string;
  family?: string;
}

/** Access ports and the management port, per family. */
export const ACCESS_PORTS: Record<string, { access: string[]; mgmt: string }> = {
  'cisco-ios': { access: ['Gi1/0/1', 'Gi1/0/2', 'Gi1/0/3', 'Gi1/0/4'], mgmt: 'Gi1/0/48' },
  'arista-eos': { access: ['Ethernet1', 'Ethernet2', 'Ethernet3', 'Ethernet4'], mgmt: 'Management1' },
  junos: { access: ['ge-0/0/1', 'ge-0/0/2', 'ge-0/0/3', 'ge-0/0/4'], mgmt: 'me0' },
  'aruba-aoscx': { access: ['1/1/1', '1/1/2', '1/1/3', '1/1/4'], mgmt: '1/1/48' },
};

export function accessSwitches(o: AccessSwitchesOptions): string {
  const family = o.family ?? 'cisco-ios';
  const ports = ACCESS_PORTS[family];
  if (!ports) throw new Error(`no port names for ${family} (known: ${Object.keys(ACCESS_PORTS).join(', ')})`);
  const lines = [`name: ${o.name}`, `defaults: { latencyMs: ${o.latencyMs} }`, `sites: [${[...new Set(o.sites)].join(', ')}]`, 'devices:'];
  for (let i = 0; i < o.count; i++)
    lines.push(
      `  - id: sw${i}`,
      `    family: ${family}`,
      `    site: ${o.sites[i % o.sites.length]}`,
      `    hostname: sw${i}`,
      `    address: ${o.address(i)}`,
      '    ports:',
      ...ports.access.map((p) => `      "${p}": { roles: [access], mode: access, vlan: 10 }`),
      `      "${ports.mgmt}": { roles: [mgmt] }`,
      `    managementPath: { interfaces: ["${ports.mgmt}"] }`,
    );
  return `${lines.join('\n')}\n`;
}
