/**
 * A device as the inventory describes it (devices/*.yaml). Holds credential *references*
 * (`env:NAME`, `file:PATH`), never secrets, so a Device may be copied into plans and journals.
 */
export type SecretRef = string;

export interface SshSettings {
  port: number;
  user: string;
  /** Private key reference (`file:PATH` or `env:NAME`). */
  key?: SecretRef;
  password?: SecretRef;
  /** Privileged-mode secret (IOS `enable`), for platforms that ask for one. */
  enableSecret?: SecretRef;
  /** Pinned host key, OpenSSH style: `SHA256:<base64 without padding>`. */
  hostKey: string;
  readyTimeoutMs: number;
  /** Extra (legacy) algorithms, appended to ssh2's defaults, only when the device needs them. */
  algorithms?: { kex?: string[]; cipher?: string[]; serverHostKey?: string[]; hmac?: string[] };
}

export type SnmpSettings =
  | { version: '2c'; port: number; community: SecretRef; timeoutMs: number; retries: number }
  | {
      version: '3';
      port: number;
      user: string;
      auth: { protocol: 'sha' | 'sha256' | 'sha512' | 'md5'; key: SecretRef };
      priv: { protocol: 'aes' | 'aes256b' | 'aes256r' | 'des'; key: SecretRef };
      timeoutMs: number;
      retries: number;
    };

export interface InterfaceSpec {
  /** `uplink`, `mgmt`, `inter-site`, `segment:<name>`, `access`, ... */
  roles: string[];
  description?: string;
  /** PDU outlets: the id of the device this outlet powers. */
  feeds?: string;
}

export interface ManagementPath {
  /** This device's interfaces that carry the orchestrator's connection to it. */
  interfaces: string[];
  /** Upstream links the connection crosses, as `device:interface`. */
  via: string[];
}

export interface Device {
  id: string;
  site: string;
  driver: string;
  /** Management address (IPv4/IPv6 literal or host name). */
  address: string;
  tags: string[];
  ssh?: SshSettings;
  snmp?: SnmpSettings;
  managementPath: ManagementPath;
  interfaces: Record<string, InterfaceSpec>;
  /** Arm the platform's own auto-revert for every change here (IOS revert timer, Junos commit confirmed, ...). */
  autoRevert?: { minutes: number };
  /** Where the device was defined, for error messages. */
  source?: string;
}

export interface Inventory {
  devices: Map<string, Device>;
  /** Addresses the orchestrator itself uses; blocking one of them would cut our own branch. */
  orchestratorAddresses: string[];
}
