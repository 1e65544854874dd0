/** What drivers see of a connection. Only files in transports/ open device sockets. */

export interface ExecResult {
  stdout: string;
  stderr: string;
  code: number | null;
}

export interface SshSession {
  readonly kind: 'ssh';
  /** Runs one command; throws DeviceTimeout past timeoutMs, DeviceUnreachable if the connection drops. */
  exec(command: string, opts?: { timeoutMs?: number; stdin?: string }): Promise<ExecResult>;
  close(): Promise<void>;
}

export type SnmpValue = number | string | Buffer;

export interface SnmpVarbind {
  oid: string;
  /** net-snmp ObjectType name: Integer, OctetString, Gauge32, Unsigned32, ... */
  type: 'Integer' | 'OctetString' | 'Gauge32' | 'Unsigned32' | 'Counter32' | 'TimeTicks' | 'OID';
  value: SnmpValue;
}

export interface SnmpSession {
  readonly kind: 'snmp';
  /** Every varbind is checked: a missing object throws SnmpError naming its OID. */
  get(oids: string[]): Promise<Map<string, SnmpValue>>;
  /** Several varbinds in one PDU; the agent applies all or none. */
  set(varbinds: SnmpVarbind[]): Promise<void>;
  /** Walks a subtree; returns oid -> value. */
  walk(oid: string): Promise<Map<string, SnmpValue>>;
  close(): Promise<void>;
}

export type Session = SshSession | SnmpSession;

/** Resolves a secret reference (`env:NAME`, `file:PATH`) to its value. */
export type SecretResolver = (ref: string) => Promise<string>;
