import { t } from './i18n.js';
import type { Action, Device, Plan, PlannedAction } from './types.js';

/**
 * Blast radius in words, from the plan and the inventory's interface roles: what each action
 * cuts, and in sum which segments lose what and how many hosts are cut off.
 */
export interface Blast {
  lines: { actionId: string; device: string; text: string; severe: boolean }[];
  /** Segments that lose the internet (`all` when an uplink goes down). */
  segmentsOffline: string[];
  allSegments: boolean;
  hosts: string[];
  ports: string[];
  rules: number;
  devices: string[];
  sites: string[];
}

type Roles = (device: string, iface: string) => string[];

/** Every segment named in the inventory (`segment:<name>` roles). */
export function segmentsOf(devices: readonly Device[]): string[] {
  const out = new Set<string>();
  for (const d of devices)
    for (const i of Object.values(d.interfaces)) for (const r of i.roles) if (r.startsWith('segment:')) out.add(r.slice(8));
  return [...out].sort();
}

export function blastRadius(plan: Plan, devices: readonly Device[]): Blast {
  const byId = new Map(devices.map((d) => [d.id, d]));
  const roles: Roles = (dev, iface) => byId.get(dev)?.interfaces[iface]?.roles ?? plan.devices[dev]?.interfaces[iface]?.roles ?? [];
  const segments = new Set<string>();
  const hosts = new Set<string>();
  const ports = new Set<string>();
  let rules = 0;
  let allSegments = false;
  const lines = plan.actions.map((pa) => {
    const r = describe(pa, roles);
    for (const s of r.segments) segments.add(s);
    if (r.all) allSegments = true;
    for (const h of r.hosts) hosts.add(h);
    if (r.port) ports.add(r.port);
    rules += r.rules;
    return { actionId: pa.id, device: pa.device, text: `${pa.device}: ${r.text}`, severe: r.all || r.segments.length > 0 };
  });
  const touched = [...new Set(plan.actions.map((a) => a.device))];
  const sites = [...new Set(touched.map((d) => byId.get(d)?.site ?? plan.devices[d]?.site).filter((s): s is string => !!s))];
  return {
    lines,
    segmentsOffline: allSegments ? segmentsOf(devices) : [...segments].sort(),
    allSegments,
    hosts: [...hosts],
    ports: [...ports],
    rules,
    devices: touched,
    sites,
  };
}

interface Described {
  text: string;
  segments: string[];
  all: boolean;
  hosts: string[];
  port?: string;
  rules: number;
}

function describe(pa: PlannedAction, roles: Roles): Described {
  const a: Action = pa.action;
  const none = { segments: [], all: false, hosts: [], rules: 0 };
  switch (a.kind) {
    case 'interface.disable': {
      const rs = roles(pa.device, a.interface);
      const segs = rs.filter((r) => r.startsWith('segment:')).map((r) => r.slice(8));
      const port = `${pa.device}:${a.interface}`;
      if (rs.includes('uplink')) return { ...none, text: t('blast.uplinkDown', { iface: a.interface }), all: true };
      if (segs.length) return { ...none, text: t('blast.segmentDown', { iface: a.interface, segment: segs.join(', ') }), segments: segs };
      if (rs.includes('access')) return { ...none, text: t('blast.portDown', { iface: a.interface }), port, hosts: [port] };
      if (rs.includes('mgmt')) return { ...none, text: t('blast.mgmtDown', { iface: a.interface }) };
      return { ...none, text: t('blast.ifaceDown', { iface: a.interface }), port };
    }
    case 'host.block':
      return { ...none, text: t('blast.hostBlock', { address: a.address }), hosts: [a.address], rules: 1 };
    case 'egress.block':
      return {
        ...none,
        text: a.allow.length
          ? t('blast.egressAllow', { segment: a.segment, allow: a.allow.join(', ') })
          : t('blast.egress', { segment: a.segment }),
        segments: [a.segment],
        rules: 1,
      };
    case 'port.vlan':
      return {
        ...none,
        text: t('blast.portVlan', { iface: a.interface, vlan: a.vlan }),
        port: `${pa.device}:${a.interface}`,
        hosts: [`${pa.device}:${a.interface}`],
      };
    case 'power.off':
      return { ...none, text: t('blast.powerOff', { outlet: a.outlet }), all: false };
    default:
      return { ...none, text: `${a.kind}` };
  }
}
