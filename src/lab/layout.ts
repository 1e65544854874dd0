/**
 * The lab layout as data (see the agreed lab spec). Builders, health checks and status all read
 * this one description, so the lab that is built is the lab that is checked.
 */

/** Namespaces, in creation order. Every lab namespace starts with `fb-` (machine rule). */
export const NAMESPACES = { inet: 'fb-inet', fw: 'fb-fw', sw: 'fb-sw', h1: 'fb-h1', h2: 'fb-h2' } as const;
export type LabNamespace = (typeof NAMESPACES)[keyof typeof NAMESPACES];
export const NAMESPACE_LIST: LabNamespace[] = Object.values(NAMESPACES);

/** `null` means the root namespace (the orchestrator's side of a management link). */
export interface LinkEnd {
  ns: LabNamespace | null;
  name: string;
}

/** Veth pairs, created in this order so ifindexes come out the same on every build. */
export const VETHS: Array<[LinkEnd, LinkEnd]> = [
  [
    { ns: 'fb-h1', name: 'eth0' },
    { ns: 'fb-sw', name: 'swp1' },
  ],
  [
    { ns: 'fb-h2', name: 'eth0' },
    { ns: 'fb-sw', name: 'swp2' },
  ],
  [
    { ns: 'fb-fw', name: 'eth-lan' },
    { ns: 'fb-sw', name: 'swp-up' },
  ],
  [
    { ns: 'fb-inet', name: 'eth0' },
    { ns: 'fb-fw', name: 'eth-uplink' },
  ],
  [
    { ns: null, name: 'fbm-fw' },
    { ns: 'fb-fw', name: 'mgmt0' },
  ],
  [
    { ns: null, name: 'fbm-sw' },
    { ns: 'fb-sw', name: 'mgmt0' },
  ],
];

export const BRIDGE = { ns: 'fb-sw' as LabNamespace, name: 'br0', ports: ['swp1', 'swp2', 'swp-up'] };

/** Addresses per namespace and interface (CIDR). `null` namespace = root. */
export const ADDRESSES: Array<{ ns: LabNamespace | null; dev: string; cidr: string }> = [
  { ns: 'fb-inet', dev: 'eth0', cidr: '198.51.100.1/30' },
  { ns: 'fb-inet', dev: 'lo', cidr: '198.51.100.200/32' },
  { ns: 'fb-fw', dev: 'eth-uplink', cidr: '198.51.100.2/30' },
  { ns: 'fb-fw', dev: 'eth-lan', cidr: '10.20.0.1/24' },
  { ns: 'fb-fw', dev: 'mgmt0', cidr: '10.250.1.2/30' },
  { ns: 'fb-sw', dev: 'mgmt0', cidr: '10.250.2.2/30' },
  { ns: 'fb-h1', dev: 'eth0', cidr: '10.20.0.11/24' },
  { ns: 'fb-h2', dev: 'eth0', cidr: '10.20.0.12/24' },
  { ns: null, dev: 'fbm-fw', cidr: '10.250.1.1/30' },
  { ns: null, dev: 'fbm-sw', cidr: '10.250.2.1/30' },
];

/** Routes inside the lab namespaces (`dst` as `ip -j route` prints it). */
export const ROUTES: Array<{ ns: LabNamespace; dst: string; via: string }> = [
  { ns: 'fb-inet', dst: '10.20.0.0/24', via: '198.51.100.2' },
  { ns: 'fb-fw', dst: 'default', via: '198.51.100.1' },
  { ns: 'fb-h1', dst: 'default', via: '10.20.0.1' },
  { ns: 'fb-h2', dst: 'default', via: '10.20.0.1' },
];

/**
 * Every lab prefix; only these may be pinged, and the root namespace never routes them out.
 * The third documentation range (TEST-NET-3) is deliberately not used: some machines reach their
 * package registry there, and a root `unreachable` route for it would cut npm and apt while the lab is up.
 */
export const LAB_PREFIXES = ['10.20.0.0/24', '198.51.100.0/24', '10.250.0.0/16'] as const;

export const MANAGEMENT = { fw: '10.250.1.2', sw: '10.250.2.2' } as const;
export const ORCHESTRATOR_ADDRESSES = ['10.250.1.1', '10.250.2.1'] as const;
export const HOSTS = { h1: '10.20.0.11', h2: '10.20.0.12', internet: '198.51.100.200' } as const;
export const SNMP_USER = 'firebreak';

/** The lab's own nft table in fb-fw: hosts never reach the management network or fw's mgmt address. */
export const FBLAB_NFT = `table inet fblab {
  chain forward {
    type filter hook forward priority 0; policy accept;
    iifname "mgmt0" drop
    oifname "mgmt0" drop
  }
  chain input {
    type filter hook input priority 0; policy accept;
    iifname != { "lo", "mgmt0" } ip daddr 10.250.0.0/16 drop
  }
}
`;
