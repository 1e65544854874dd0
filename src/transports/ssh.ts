import { setTimeout as delay } from 'node:timers/promises';
import { createHash } from 'node:crypto';
import { connect as tcpConnect, type Socket } from 'node:net';
import { NodeSSH } from 'node-ssh';
import type { ClientChannel, ConnectConfig } from 'ssh2';
import type { Device, SshSettings } from '../inventory/types.js';
import type { CliPlatform, CliShell, ExecResult, SecretResolver, SshSession } from './types.js';
import { AuthFailed, DeviceTimeout, DeviceUnreachable, FirebreakError, HostKeyMismatch, InventoryInvalid } from '../errors.js';
import { redactor } from '../secrets.js';
import { withTimeout } from '../timeout.js';
import { openCliShell } from './cli-shell.js';
import { PersistentShell } from './shell-exec.js';

/** OpenSSH-style fingerprint of a raw host key blob: `SHA256:<base64 without padding>`. */
export function sshFingerprint(key: Buffer): string {
  return 'SHA256:' + createHash('sha256').update(key).digest('base64').replace(/=+$/, '');
}

const DEFAULT_EXEC_TIMEOUT_MS = 30_000;
const KEEPALIVE_MS = 10_000;

/**
 * Opens an authenticated SSH session to a device. The host key must match the pinned fingerprint;
 * errors are FirebreakErrors (HostKeyMismatch, AuthFailed, DeviceUnreachable) naming the device.
 */
export async function openSsh(device: Device, resolveSecret: SecretResolver): Promise<SshSession> {
  const s = device.ssh;
  if (!s) throw new InventoryInvalid(`device ${device.id}: no ssh settings`);
  const where = `${device.id} (${device.address}:${s.port})`;

  let presented: string | undefined;
  const config: ConnectConfig & { privateKey?: string; password?: string } = {
    host: device.address,
    port: s.port,
    username: s.user,
    readyTimeout: s.readyTimeoutMs,
    keepaliveInterval: KEEPALIVE_MS,
    keepaliveCountMax: 3,
    // Without a verifier ssh2 accepts any key: pin it, always.
    hostVerifier: (key: Buffer) => {
      presented = sshFingerprint(key);
      return presented === s.hostKey;
    },
  };
  if (s.key) config.privateKey = await resolveSecret(s.key);
  else if (s.password) {
    config.password = await resolveSecret(s.password);
    // Many network devices offer keyboard-interactive only; node-ssh answers its password prompt.
    (config as ConnectConfig & { tryKeyboard?: boolean }).tryKeyboard = true;
  } else throw new InventoryInvalid(`device ${device.id}: ssh needs a key or a password reference`);
  const algorithms = legacyAlgorithms(s);
  if (algorithms) config.algorithms = algorithms;

  const ssh = new NodeSSH();
  try {
    await ssh.connect({ ...config, sock: dial(device.address, s.port) });
  } catch (err) {
    ssh.dispose();
    const offered = noCommonAlgorithm(err) ? await offeredAlgorithms(config) : [];
    throw connectError(err, device, where, s.hostKey, presented, offered);
  }
  const enableSecret = s.enableSecret;
  return new NodeSshSession(ssh, where, device.id, enableSecret ? () => resolveSecret(enableSecret) : undefined);
}

/**
 * The TCP connection to the device, with Nagle's algorithm off from the first byte. ssh2 opens its
 * socket with it on and leaves it so through the handshake; each small handshake packet then waited
 * for the device's delayed ACK: ready in 103 ms p50 instead of 66 against the lab's OpenSSH, first
 * command output in 161 ms instead of 88.
 */
function dial(host: string, port: number): Socket {
  const sock = tcpConnect({ host, port, noDelay: true });
  // ssh2 reports the socket's errors; this keeps one that comes before it listens from crashing.
  sock.on('error', () => undefined);
  return sock;
}

function noCommonAlgorithm(err: unknown): boolean {
  const e = err as { level?: string; message?: string };
  return e?.level === 'handshake' && /no matching/.test(String(e.message));
}

/**
 * What the device offers in its key exchange, read by a second handshake with ssh2's debug output
 * on (only after a failure: debug formats a line for every packet), for an error that can say
 * which old algorithm it needs.
 */
async function offeredAlgorithms(config: ConnectConfig & { privateKey?: string; password?: string }): Promise<string[]> {
  const offered: string[] = [];
  const probe = new NodeSSH();
  const debug = (line: string) => {
    if (line.startsWith('Handshake: (remote) ') && offered.length < 8) offered.push(line.slice(20));
  };
  await probe.connect({ ...config, debug }).catch(() => undefined);
  probe.dispose();
  return offered;
}

/** Maps a connect failure to the error tree; library text is scrubbed of known secrets. */
function connectError(
  err: unknown,
  device: Device,
  where: string,
  expected: string,
  presented: string | undefined,
  offered: string[],
): FirebreakError {
  const e = err as Error & { code?: string; level?: string };
  const cause = redactor.text(e?.message ?? String(err));
  if (presented !== undefined && presented !== expected) {
    return new HostKeyMismatch(`${device.id}: host key mismatch at ${where}: expected ${expected}, presented ${presented}`);
  }
  if (e?.level === 'client-authentication') return new AuthFailed(`${device.id}: authentication failed at ${where} (${cause})`);
  if (noCommonAlgorithm(err)) {
    // Old firmware: say what it offers and where to allow it, never enable it silently.
    return new DeviceUnreachable(
      `${device.id}: ${where} and Firebreak share no SSH algorithm (${cause.replace(/^Handshake failed: /, '')}); ` +
        `the device offers ${offered.join('; ') || 'nothing readable'}. If it is old firmware you accept, list what it needs ` +
        'under ssh.algorithms in its inventory entry (kex, cipher, serverHostKey, hmac)',
    );
  }
  return new DeviceUnreachable(`${device.id}: cannot reach ${where}: ${e?.code ? `${e.code} ` : ''}${cause}`);
}

/** Legacy algorithms are appended to ssh2's defaults, only for the kinds the device lists. */
function legacyAlgorithms(s: SshSettings): ConnectConfig['algorithms'] | undefined {
  const a = s.algorithms;
  if (!a) return undefined;
  const out: Record<string, { append: string[] }> = {};
  for (const k of ['kex', 'cipher', 'serverHostKey', 'hmac'] as const) {
    const list = a[k];
    if (list?.length) out[k] = { append: list };
  }
  return Object.keys(out).length ? (out as ConnectConfig['algorithms']) : undefined;
}

class NodeSshSession implements SshSession {
  readonly kind = 'ssh' as const;
  private dropped: Error | undefined;
  private readonly running = new Set<(err: Error) => void>();
  private readonly closeListeners: ((reason: Error) => void)[] = [];

  private shell: Promise<PersistentShell> | undefined;
  private cliShell: { platform: string; shell: Promise<CliShell> } | undefined;

  constructor(
    private readonly ssh: NodeSSH,
    private readonly where: string,
    private readonly deviceId: string,
    private readonly enableSecret?: () => Promise<string>,
  ) {
    const conn = ssh.connection!;
    // node-ssh removes its own error listener after connect: without ours a drop would crash the process.
    conn.on('error', (err: Error) => this.drop(err));
    conn.on('close', () => this.drop(new Error('connection closed')));
  }

  private drop(err: Error): void {
    this.gone(err);
    for (const fail of [...this.running]) fail(err);
  }

  /** Marks the connection gone (the first reason stays) and tells the onClose listeners, once. */
  private gone(reason: Error): void {
    if (this.dropped) return;
    this.dropped = reason;
    for (const listener of this.closeListeners.splice(0)) {
      try {
        listener(reason);
      } catch {
        /* a listener's failure must not break the connection's event handling */
      }
    }
  }

  alive(): boolean {
    return this.dropped === undefined;
  }

  onClose(listener: (reason: Error) => void): void {
    if (this.dropped) listener(this.dropped);
    else this.closeListeners.push(listener);
  }

  async exec(command: string, opts: { timeoutMs?: number; stdin?: string } = {}): Promise<ExecResult> {
    if (this.dropped) throw new DeviceUnreachable(`${this.where}: connection lost (${redactor.text(this.dropped.message)})`);
    const timeoutMs = opts.timeoutMs ?? DEFAULT_EXEC_TIMEOUT_MS;
    let shell = this.shell ? await this.shell.catch(() => undefined) : undefined;
    if (!shell || shell.dead) {
      this.shell = this.openChannel(timeoutMs, 'exec /bin/sh', false).then((c) => new PersistentShell(c, this.where));
      shell = await this.shell;
    }
    return shell.run(command, { timeoutMs, stdin: opts.stdin });
  }

  async cli(platform: CliPlatform): Promise<CliShell> {
    if (this.dropped) throw new DeviceUnreachable(`${this.where}: connection lost (${redactor.text(this.dropped.message)})`);
    const cached = this.cliShell?.platform === platform.name ? await this.cliShell.shell.catch(() => undefined) : undefined;
    if (cached && !cached.broken) return cached;
    const shell = this.openChannel(DEFAULT_EXEC_TIMEOUT_MS, '', true).then((c) =>
      openCliShell(c, platform, { where: this.where, deviceId: this.deviceId, enableSecret: this.enableSecret }),
    );
    this.cliShell = { platform: platform.name, shell };
    return shell;
  }

  /** An exec channel running `command`, or (pty) an interactive PTY shell. */
  private openChannel(timeoutMs: number, command: string, pty: boolean): Promise<ClientChannel> {
    const conn = this.ssh.connection!;
    const opened = new Promise<ClientChannel>((resolve, reject) => {
      const cb = (err: Error | undefined, channel: ClientChannel) =>
        err
          ? reject(new DeviceUnreachable(`${this.where}: cannot open a ${pty ? 'shell' : 'session'} (${redactor.text(err.message)})`))
          : resolve(channel);
      if (pty) conn.shell({ term: 'vt100', cols: 511, rows: 24, width: 0, height: 0 }, cb);
      else conn.exec(command, cb);
    });
    return withTimeout(opened, timeoutMs, `open a session channel on ${this.deviceId}`);
  }

  async execChannel(command: string, opts: { timeoutMs?: number; stdin?: string } = {}): Promise<ExecResult> {
    if (this.dropped) throw new DeviceUnreachable(`${this.where}: connection lost (${redactor.text(this.dropped.message)})`);
    const timeoutMs = opts.timeoutMs ?? DEFAULT_EXEC_TIMEOUT_MS;
    let channel: ClientChannel | undefined;
    let timer: NodeJS.Timeout | undefined;
    let fail!: (err: Error) => void;
    const aborted = new Promise<never>((_, reject) => {
      fail = (err) =>
        reject(new DeviceUnreachable(`${this.where}: connection lost during "${short(command)}" (${redactor.text(err.message)})`));
      timer = setTimeout(() => {
        closeChannel(channel);
        reject(new DeviceTimeout(`${this.where}: "${short(command)}" did not finish within ${timeoutMs} ms`));
      }, timeoutMs);
    });
    this.running.add(fail);
    try {
      const run = this.ssh.execCommand(command, {
        stdin: opts.stdin,
        onChannel: (c) => (channel = c),
      });
      run.catch(() => undefined); // the race below reports; avoid an unhandled rejection when it loses
      const r = await Promise.race([run, aborted]);
      // A dying connection closes its channels first: no exit code plus a drop means lost, not done.
      if (r.code === null) await new Promise((res) => setImmediate(res));
      if (r.code === null && this.dropped) throw new DeviceUnreachable(`${this.where}: connection lost during "${short(command)}"`);
      return { stdout: r.stdout, stderr: r.stderr, code: r.code };
    } catch (err) {
      if (err instanceof FirebreakError) throw err;
      throw new DeviceUnreachable(`${this.where}: "${short(command)}" failed: ${redactor.text(errText(err))}`);
    } finally {
      clearTimeout(timer);
      this.running.delete(fail);
    }
  }

  async close(): Promise<void> {
    // A CLI shell puts back what its platform's set-up changed before the connection goes.
    const cli = !this.dropped && this.cliShell ? await this.cliShell.shell.catch(() => undefined) : undefined;
    if (cli && !cli.broken) {
      const bound = new AbortController();
      await Promise.race([cli.close(), delay(10_000, undefined, { signal: bound.signal })]).catch(() => undefined);
      bound.abort();
    }
    this.gone(new Error('session closed'));
    this.shell?.then((sh) => sh.close()).catch(() => undefined);
    this.ssh.dispose();
  }
}

function closeChannel(channel: ClientChannel | undefined): void {
  if (!channel) return;
  // ssh2's channel.signal() refuses once stdin was ended (node-ssh always ends it), so the request
  // goes through the protocol directly. OpenSSH honours it only outside its privileged monitor (it
  // refuses for root logins: "session signalling requires privilege separation"); then the command
  // runs on until it next writes to the closed channel or ends.
  const c = channel as unknown as {
    outgoing?: { id: number; state: string };
    _client?: { _protocol?: { signal(id: number, name: string): void } };
  };
  try {
    if (c.outgoing && (c.outgoing.state === 'open' || c.outgoing.state === 'eof')) c._client?._protocol?.signal(c.outgoing.id, 'KILL');
  } catch {
    /* channel may already be gone */
  }
  try {
    channel.close();
  } catch {
    /* already closed */
  }
}

function errText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Commands are shown in errors without their stdin, cut to one line. */
function short(command: string): string {
  const line = command.split('\n')[0] ?? '';
  return line.length > 120 ? line.slice(0, 117) + '...' : line;
}
