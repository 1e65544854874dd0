/** What drivers see of a connection. Only files in transports/ open device sockets. */

export interface ExecResult {
  stdout: string;
  stderr: string;
  code: number | null;
}

export interface SshSession {
  readonly kind: 'ssh';
  /**
   * Runs one command in the session's persistent POSIX shell (opened once, so a login shell's
   * start-up cost is paid once per session, not per command); stdout and stderr kept apart.
   * Throws DeviceTimeout past timeoutMs (that shell is then dropped and the next command gets a
   * fresh one), DeviceUnreachable if the connection drops.
   */
  exec(command: string, opts?: { timeoutMs?: number; stdin?: string }): Promise<ExecResult>;
  /** The same, on a fresh SSH exec channel of its own (one channel per command). */
  execChannel(command: string, opts?: { timeoutMs?: number; stdin?: string }): Promise<ExecResult>;
  /**
   * The interactive PTY shell of a CLI platform (IOS, EOS, Junos, ...), opened on first use and
   * kept for the session: prompt learned, paging off, privilege raised as the platform says.
   */
  cli(platform: CliPlatform): Promise<CliShell>;
  close(): Promise<void>;
  /** False once the connection is gone (closed here, closed by the device, keepalive failed). */
  alive?(): boolean;
  /** Calls `listener` once when the connection goes (at once if it already has). */
  onClose?(listener: (reason: Error) => void): void;
}

/**
 * What a CLI platform looks like to the session layer; a driver supplies one (see
 * transports/cli-platform.ts for the shape and drivers/cisco-ios.ts for an example).
 */
export interface CliPlatform {
  name: string;
  /**
   * Privilege / mode levels, the login level first. `prompt(host)` returns the whole-line prompt
   * pattern for a hostname pattern (the learned, escaped hostname, or a capture group `(?<host>...)`
   * while the prompt is being learned), e.g. for IOS config: `^${host}\(config[^)]*\)#\s?$`.
   */
  levels: CliLevel[];
  /** The level commands are normally sent at (e.g. `privileged`); the shell moves there at open. */
  defaultLevel: string;
  /** Sent once at open, at the default level, to turn paging off and widen the terminal. */
  onOpen: string[];
  /**
   * Set-up that is a configuration change on this platform (FortiOS keeps the console's paging
   * in its config): done after onOpen, returning the lines that put it back, sent at close, so a
   * session leaves the device as it found it (a preflight must change nothing).
   */
  prepare?(send: (line: string) => Promise<string>): Promise<string[]>;
  /** A pager prompt (`--More--`), answered with `pagerReply` as a fallback when paging is still on. */
  pager?: RegExp;
  pagerReply?: string;
  /** Output lines that mean the device refused the command (`% Invalid input`, `error:`, ...). */
  errors: RegExp[];
  /** Lines to drop from output before a driver sees it (Junos `[edit]`, `{master:0}`). */
  noise?: RegExp[];
  /** Line ending to send (default `\n`). */
  newline?: string;
}

export interface CliLevel {
  name: string;
  prompt: (host: string) => RegExp;
  /** The level this one is entered from, with the command that enters it and the one that leaves. */
  parent?: string;
  enter?: string;
  leave?: string;
  /** The device asks for the enable secret (ssh.enableSecret) on the way in, at this prompt. */
  secretPrompt?: RegExp;
}

export interface CliAnswer {
  /** The question as the device asks it, e.g. /\[confirm\]\s*$/. */
  prompt: RegExp;
  /** Sent as is (include the newline when the device wants one). */
  reply: string;
}

export interface CliSendOptions {
  timeoutMs?: number;
  /** Questions this command may ask and their answers; any other question is a timeout naming it. */
  answers?: CliAnswer[];
  /** Return the output even when an error pattern matches (the driver inspects it). */
  allowErrors?: boolean;
}

export interface CliShell {
  readonly platform: string;
  /** Learned from the first prompt. */
  readonly hostname: string;
  /** The level of the last prompt seen. */
  readonly level: string;
  /**
   * Sends one line; waits for its echo, then for the prompt (never for a timer); answers the
   * pager and the expected questions; returns the output in between (ANSI, \r and backspaces
   * stripped). An error line becomes CommandRejected carrying the device's words.
   */
  send(line: string, opts?: CliSendOptions): Promise<string>;
  /** Moves to a level along the platform's level graph (enable, configure, ...). */
  moveTo(level: string, opts?: { timeoutMs?: number }): Promise<void>;
  /** True once the shell is unusable (timed out mid-command, connection lost). */
  readonly broken: boolean;
  /** Puts back what the platform's set-up changed (see CliPlatform.prepare), then closes the channel. */
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
  /** UDP has no connection: absent means alive until closed. */
  alive?(): boolean;
  onClose?(listener: (reason: Error) => void): void;
}

export type Session = SshSession | SnmpSession;

/** Resolves a secret reference (`env:NAME`, `file:PATH`) to its value. */
export type SecretResolver = (ref: string) => Promise<string>;
