/**
 * The closed set of vendor-neutral actions. A playbook names the forward ones; rollback runs
 * their inverses, which a driver computes from the state it observed before the change.
 * Every field here has been validated (address, prefix, interface name) before it is built.
 */
export const FORWARD_ACTIONS = ['interface.disable', 'egress.block', 'host.block', 'port.vlan', 'power.off'] as const;
export type ForwardActionKind = (typeof FORWARD_ACTIONS)[number];

export interface StaticRoute {
  /** `default` or a prefix. */
  dst: string;
  gateway?: string;
  metric?: number;
}

export type Action =
  /** Take an interface administratively down. */
  | { kind: 'interface.disable'; interface: string }
  /** Inverse of interface.disable; `routes` are static routes through it seen before the change. */
  | { kind: 'interface.enable'; interface: string; routes?: StaticRoute[] }
  /** Drop all forwarded traffic from and to an address or prefix. */
  | { kind: 'host.block'; address: string }
  /** Remove exactly the rules a host.block added (found by their tag). */
  | { kind: 'host.unblock'; address: string }
  /**
   * Stop a segment reaching the internet: drop what enters on the segment's interfaces and
   * leaves by an uplink, except towards the allow-list.
   */
  | { kind: 'egress.block'; segment: string; interfaces: string[]; uplinks: string[]; allow: string[] }
  | { kind: 'egress.unblock'; segment: string }
  /** Move an access port to a (quarantine) VLAN; its voice VLAN is removed too, so the host can't hop into it. */
  | { kind: 'port.vlan'; interface: string; vlan: number }
  /**
   * Inverse of port.vlan: the exact mode (in the platform's own word: `access`, `dynamic auto`, ...),
   * access VLAN and voice VLAN the port had before.
   */
  | { kind: 'port.restore'; interface: string; mode: string; vlan: number | null; voiceVlan: number | null }
  /** Last resort: switch a PDU outlet off (the firewall behind it can't be reached or trusted). */
  | { kind: 'power.off'; outlet: string }
  | { kind: 'power.on'; outlet: string };

export type ActionKind = Action['kind'];

/** Every action kind, forward and inverse. */
export const ACTION_KINDS = [
  'interface.disable',
  'interface.enable',
  'host.block',
  'host.unblock',
  'egress.block',
  'egress.unblock',
  'port.vlan',
  'port.restore',
  'power.off',
  'power.on',
] as const satisfies readonly ActionKind[];

/** Human one-liner for progress lines and tables: `interface.disable eth-uplink`. */
export function describeAction(a: Action): string {
  switch (a.kind) {
    case 'interface.disable':
    case 'interface.enable':
      return `${a.kind} ${a.interface}`;
    case 'host.block':
    case 'host.unblock':
      return `${a.kind} ${a.address}`;
    case 'egress.block':
      return `${a.kind} ${a.segment} (${a.interfaces.join(',')} -> ${a.uplinks.join(',')}${a.allow.length ? `, allow ${a.allow.join(',')}` : ''})`;
    case 'egress.unblock':
      return `${a.kind} ${a.segment}`;
    case 'port.vlan':
      return `${a.kind} ${a.interface} -> vlan ${a.vlan}`;
    case 'port.restore':
      return `${a.kind} ${a.interface} (${a.mode}${a.vlan !== null ? ` vlan ${a.vlan}` : ''}${a.voiceVlan !== null ? ` voice ${a.voiceVlan}` : ''})`;
    case 'power.off':
    case 'power.on':
      return `${a.kind} ${a.outlet}`;
  }
}
