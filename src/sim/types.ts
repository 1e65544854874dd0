/**
 * Simulated devices: stateful stand-ins for real gear (ssh2 Server CLIs, net-snmp Agent switches
 * and PDUs), each on its own loopback address. They serve the conformance suite, scale benchmarks,
 * chaos tests and demos without root. Nothing here is imported by the engine or the drivers.
 */

/** One port as a test (or a before/after comparison) sees it, independent of any driver. */
export interface SimPort {
  adminUp: boolean;
  /** The platform's own word: `access`, `trunk`, `dynamic auto`, ... (absent where the port has no switching). */
  mode?: string;
  /** Access VLAN (untagged / PVID); null where the port has none. */
  vlan?: number | null;
  voiceVlan?: number | null;
}

/** What a device looks like from the outside: for tests and for snapshots around a run. */
export interface SimSnapshot {
  hostname: string;
  ports: Record<string, SimPort>;
  /**
   * Filter entries (ACL lines, firewall filter terms, policies, address-list entries), each with
   * what identifies it (its name / comment) and its text as the device would list it.
   */
  rules: { id: string; text: string }[];
  /** PDU outlets: on (true) / off (false). */
  outlets?: Record<string, boolean>;
  /** The running configuration as the device would show it. */
  config: string;
}

/** Faults a test injects; each stays until cleared unless it says `once`. */
export type SimFault =
  /** Every login is refused (as if the password was changed). */
  | { kind: 'refuse-auth' }
  /** The connection drops when a command matching `on` arrives (SSH: the TCP connection; SNMP: no answer). */
  | { kind: 'drop'; on: RegExp; once?: boolean }
  /** A command matching `on` is refused with the platform's real error text (or `message`). */
  | { kind: 'reject'; on: RegExp; message?: string; once?: boolean }
  /** A command matching `on` never returns its prompt (SNMP: the request is never answered). */
  | { kind: 'hang'; on: RegExp; once?: boolean }
  /** Confirmation of an armed auto-revert is ignored: the timer fires and undoes the change. */
  | { kind: 'never-confirm' }
  /** A syslog line printed in the middle of the next output of a command matching `on`. */
  | { kind: 'syslog'; on: RegExp; line?: string; once?: boolean };

export interface SimControl {
  snapshot(): SimSnapshot;
  inject(fault: SimFault): void;
  clearFaults(): void;
  /** Back to the state the device started with (faults cleared, timers cancelled). */
  reset(): void;
  /** Per-command (or per-PDU) latency in ms, added to every answer. */
  setLatency(ms: number): void;
  /** CLI simulators: every line typed at a prompt since start or reset, in order (tests count sessions and commits with it). */
  received?(): string[];
}

/** A port as a topology declares it. */
export interface SimPortSpec {
  name: string;
  adminUp?: boolean;
  mode?: string;
  vlan?: number | null;
  voiceVlan?: number | null;
  /** Inventory roles (uplink, mgmt, segment:<name>, access, trunk, outlet). */
  roles?: string[];
}

/** Everything needed to start one simulated device. */
export interface SimDeviceSpec {
  id: string;
  /** Driver family it imitates: cisco-ios, junos, snmp-qbridge, snmp-pdu, ... */
  family: string;
  site: string;
  tags?: string[];
  hostname: string;
  /** Loopback address it listens on (127.x.y.z; never anything else). */
  address: string;
  sshPort?: number;
  snmpPort?: number;
  ports: SimPortSpec[];
  /** snmp-pdu: which outlet MIB the PDU speaks (APC PowerNet-MIB or CyberPower CPS-MIB; default apc). */
  pduMib?: 'apc' | 'cyberpower';
  /** Offer only legacy algorithms (diffie-hellman-group1-sha1, ssh-rsa, aes128-cbc, hmac-sha1). */
  legacyOnly?: boolean;
  /** Offer only keyboard-interactive login (the password asked as a prompt), as many network devices do. */
  keyboardInteractiveOnly?: boolean;
  /** Close the connection after one exec command, as IOS does. */
  oneExecThenClose?: boolean;
  /** A login banner (shown before the first prompt). */
  banner?: string;
  /** Per-command latency in ms. */
  latencyMs?: number;
  /** How long a platform "minute" lasts here, for auto-revert timers (default 60 000). */
  minuteMs?: number;
}

/** Credentials a simulator accepts; the inventory refers to them through secret references. */
export interface SimCredentials {
  user: string;
  password: string;
  /** Enable secret where the platform has one. */
  enableSecret?: string;
  /** SNMP: v2c community (rw) and v3 user keys. */
  community?: string;
  snmpUser?: string;
  authKey?: string;
  privKey?: string;
}

export interface RunningSim {
  spec: SimDeviceSpec;
  control: SimControl;
  /** `SHA256:...` fingerprint of its SSH host key (for CLI simulators). */
  hostKey?: string;
  stop(): Promise<void>;
}

/** Starts a simulator of one family. `hostKey` is a PEM private key (stable across restarts when given). */
export type SimFactory = (spec: SimDeviceSpec, creds: SimCredentials, opts: { hostKey?: string }) => Promise<RunningSim>;
