import { isIPv4 } from 'node:net';
import ssh2 from 'ssh2';
import { sshFingerprint } from '../transports/ssh.js';
import type { SimCredentials, SimDeviceSpec, SimFault } from './types.js';

const { Server, utils } = ssh2;

/**
 * The SSH side every CLI simulator shares: an ssh2 Server on the device's own loopback address
 * that authenticates (password or keyboard-interactive), hands out a PTY shell that echoes what is
 * typed like a terminal line discipline, pages long output, injects faults and latency, and can
 * serve one exec and then close (as IOS does). What the commands *mean* is the vendor's logic.
 */

/** What a vendor simulator implements for one logged-in session (its mode lives here). */
export interface CliLogic {
  /** The prompt shown now, e.g. `core-sw1(config-if)#`. It changes with the mode. */
  prompt(): string;
  /** Handles one line typed at the prompt; writes its output through io. */
  handle(line: string, io: CliIo): void | Promise<void>;
  /** Whether output longer than the terminal is paged now (the platform's "terminal length 0" turns it off). */
  paging(): boolean;
  /** The pager prompt exactly as the platform prints it, e.g. ` --More-- `. */
  readonly pagerPrompt: string;
  /** The platform's own words for a refused command (the `reject` fault prints this). */
  rejectText(line: string): string;
  /** One command on an exec channel; undefined when the platform has no exec. */
  exec?(command: string): string;
}

export interface CliIo {
  /** Output of the current command; paged by the server when paging is on. */
  write(text: string): void;
  /** Asks a question and returns the answer: one keypress (`char`) or a line; `echo: false` for secrets. */
  ask(question: string, opts?: { char?: boolean; echo?: boolean }): Promise<string>;
  /** Ends the session after this command (logout). */
  close(): void;
  /** Is a fault of this kind injected (vendor logic checks `never-confirm`)? */
  fault(kind: SimFault['kind']): boolean;
}

export interface CliServerOptions {
  spec: SimDeviceSpec;
  creds: SimCredentials;
  /** PEM private host key; generated when absent (RSA for legacy-only devices). */
  hostKey?: string;
  /** A new session's logic (its mode state); device state is shared by the vendor's closure. */
  logic: (user: string) => CliLogic;
  /** The account a login name stands for (RouterOS: `admin+cte` is `admin` with console options). */
  account?: (login: string) => string;
}

export interface CliServer {
  hostKey: string;
  faults: FaultSet;
  /** Every line typed at a prompt, all sessions, in order (bounded). */
  received: string[];
  setLatency(ms: number): void;
  stop(): Promise<void>;
}

/** Injected faults; `once` faults are consumed by the first command they hit. */
export class FaultSet {
  private list: SimFault[] = [];
  add(f: SimFault): void {
    this.list.push(f);
  }
  clear(): void {
    this.list = [];
  }
  has(kind: SimFault['kind']): boolean {
    return this.list.some((f) => f.kind === kind);
  }
  /** The first fault of a matching kind whose pattern matches `line`, consumed if `once`. */
  take(line: string, kinds: SimFault['kind'][]): SimFault | undefined {
    const i = this.list.findIndex((f) => kinds.includes(f.kind) && 'on' in f && f.on.test(line));
    if (i < 0) return undefined;
    const f = this.list[i]!;
    if ('once' in f && f.once) this.list.splice(i, 1);
    return f;
  }
}

/** What a device with only old firmware offers (the client must append these on purpose). */
export const LEGACY_ALGORITHMS = {
  kex: ['diffie-hellman-group1-sha1'],
  cipher: ['aes128-cbc'],
  serverHostKey: ['ssh-rsa'],
  hmac: ['hmac-sha1'],
} satisfies ssh2.Algorithms;

export function checkLoopback(spec: SimDeviceSpec): void {
  if (!isIPv4(spec.address) || !spec.address.startsWith('127.')) {
    throw new Error(`simulated device ${spec.id}: address ${spec.address} is not a 127.x.y.z loopback address`);
  }
}

export async function startCliServer(opts: CliServerOptions): Promise<CliServer> {
  const { spec, creds } = opts;
  checkLoopback(spec);
  const pem = opts.hostKey ?? newHostKey(spec.legacyOnly === true);
  const parsed = utils.parseKey(pem);
  if (parsed instanceof Error) throw new Error(`simulated device ${spec.id}: bad host key: ${parsed.message}`);
  if (spec.legacyOnly && parsed.type !== 'ssh-rsa')
    throw new Error(`simulated device ${spec.id}: a legacy-only device needs an RSA host key`);
  const faults = new FaultSet();
  const received: string[] = [];
  let latencyMs = spec.latencyMs ?? 0;
  const clients = new Set<ssh2.Connection>();

  const server = new Server({ hostKeys: [pem], ...(spec.legacyOnly ? { algorithms: LEGACY_ALGORITHMS } : {}) }, (client) => {
    // Echo, output and prompt go out as small writes: without this each waits on a delayed ACK (~40 ms).
    (client as unknown as { setNoDelay(on: boolean): void }).setNoDelay(true);
    clients.add(client);
    client.on('close', () => clients.delete(client));
    client.on('error', () => undefined);
    let user = '';
    client.on('authentication', (ctx) => {
      user = ctx.username;
      const account = opts.account ? opts.account(ctx.username) : ctx.username;
      const good = (pw: string) => !faults.has('refuse-auth') && account === creds.user && pw === creds.password;
      // Many network devices take keyboard-interactive only (the password asked as a prompt).
      const methods: ('password' | 'keyboard-interactive')[] = spec.keyboardInteractiveOnly
        ? ['keyboard-interactive']
        : ['password', 'keyboard-interactive'];
      if (ctx.method === 'password' && methods.includes('password')) return good(ctx.password) ? ctx.accept() : ctx.reject(methods);
      if (ctx.method === 'keyboard-interactive') {
        return ctx.prompt([{ prompt: 'Password: ', echo: false }], (answers) => (good(answers[0] ?? '') ? ctx.accept() : ctx.reject()));
      }
      ctx.reject(methods);
    });
    client.on('ready', () => {
      client.on('session', (acceptSession) => {
        const session = acceptSession();
        let rows = 24;
        session.on('pty', (accept, _reject, info) => {
          rows = info.rows || 24;
          accept?.();
        });
        session.on('window-change', (accept, _reject, info) => {
          rows = info.rows || rows;
          accept?.();
        });
        session.on('shell', (accept) => {
          const stream = accept();
          const term = new Terminal(
            stream,
            opts.logic(user),
            faults,
            () => latencyMs,
            () => rows,
            client,
            received,
            spec.banner,
          );
          term.start();
        });
        session.on('exec', (accept, reject, info) => {
          const logic = opts.logic(user);
          if (!logic.exec) return reject?.();
          const stream = accept();
          const out = logic.exec(info.command);
          setTimeout(() => {
            stream.write(out.replace(/\n/g, '\r\n'));
            stream.exit(0);
            stream.end();
            // IOS serves one exec per connection, then closes it.
            if (spec.oneExecThenClose) setTimeout(() => client.end(), 5);
          }, latencyMs);
        });
      });
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(spec.sshPort ?? 22, spec.address, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    hostKey: sshFingerprint(parsed.getPublicSSH()),
    faults,
    received,
    setLatency: (ms) => {
      latencyMs = ms;
    },
    stop: async () => {
      for (const c of clients) destroy(c);
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/**
 * A new SSH private key (OpenSSH PEM). About 1 in 200 ed25519 keys from ssh2's generator is one
 * its own parser calls malformed (seen: 15 of 3000), so a key is kept only once it parses.
 */
export function newHostKey(rsa: boolean): string {
  for (;;) {
    const pem = rsa ? utils.generateKeyPairSync('rsa', { bits: 2048 }).private : utils.generateKeyPairSync('ed25519').private;
    if (!(utils.parseKey(pem) instanceof Error)) return pem;
  }
}

function destroy(client: ssh2.Connection): void {
  const sock = (client as unknown as { _sock?: { destroy(): void } })._sock;
  if (sock) sock.destroy();
  else client.end();
}

const MAX_RECEIVED = 10_000;
const sleep = (ms: number) => (ms > 0 ? new Promise((r) => setTimeout(r, ms)) : Promise.resolve());

/** A PTY line discipline in front of the vendor logic: echo, line editing, questions, paging. */
class Terminal {
  private line = '';
  private lastWasCr = false;
  /** Someone waiting for a keypress or a line (a question, or the pager). */
  private waiter: { char: boolean; echo: boolean; resolve: (s: string) => void } | undefined;
  private busy = false;
  private hung = false;
  private closing = false;
  private readonly queue: string[] = [];

  constructor(
    private readonly stream: ssh2.ServerChannel,
    private readonly logic: CliLogic,
    private readonly faults: FaultSet,
    private readonly latency: () => number,
    private readonly rows: () => number,
    private readonly client: ssh2.Connection,
    private readonly received: string[],
    private readonly banner?: string,
  ) {}

  start(): void {
    this.stream.on('data', (d: Buffer) => this.input(d.toString('latin1')));
    this.stream.on('error', () => undefined);
    if (this.banner) this.out(`${this.banner.replace(/\n?$/, '\n')}`);
    this.out(`\n${this.logic.prompt()}`);
  }

  private out(text: string): void {
    if (this.held !== undefined) this.held += text;
    else if (this.stream.writable) this.stream.write(text.replace(/\r?\n/g, '\r\n'));
  }

  private input(data: string): void {
    if (this.hung) return;
    // Echo is collected per chunk and written once, as a terminal's TCP stack would coalesce it.
    this.held = '';
    try {
      this.inputChars(data);
    } finally {
      const text = this.held;
      this.held = undefined;
      if (text) this.out(text);
    }
  }

  /** Output held back while an input chunk is being echoed. */
  private held: string | undefined;

  private inputChars(data: string): void {
    for (const ch of data) {
      if (this.waiter?.char) {
        const w = this.waiter;
        this.waiter = undefined;
        if (w.echo && ch >= ' ') this.out(ch);
        w.resolve(ch);
        continue;
      }
      if (ch === '\n' && this.lastWasCr) {
        this.lastWasCr = false;
        continue;
      }
      this.lastWasCr = ch === '\r';
      if (ch === '\r' || ch === '\n') {
        const line = this.line;
        this.line = '';
        this.out('\n');
        if (this.waiter) {
          const w = this.waiter;
          this.waiter = undefined;
          w.resolve(line);
        } else {
          this.queue.push(line);
          void this.pump();
        }
      } else if (ch === '\x7f' || ch === '\b') {
        if (this.line.length) {
          this.line = this.line.slice(0, -1);
          if (this.waiter?.echo !== false) this.out('\b \b');
        }
      } else if (ch === '\x03') {
        this.line = '';
        this.out(`^C\n${this.logic.prompt()}`);
      } else if (ch >= ' ' || ch === '\t') {
        this.line += ch;
        if (this.waiter?.echo !== false) this.out(ch);
      }
    }
  }

  private async pump(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      while (this.queue.length && !this.hung && !this.closing) await this.run(this.queue.shift()!);
    } finally {
      this.busy = false;
    }
  }

  private async run(line: string): Promise<void> {
    this.received.push(line);
    if (this.received.length > MAX_RECEIVED) this.received.splice(0, this.received.length - MAX_RECEIVED);
    await sleep(this.latency());
    const f = this.faults.take(line, ['drop', 'hang', 'reject', 'syslog']);
    if (f?.kind === 'drop') return destroy(this.client);
    if (f?.kind === 'hang') {
      this.hung = true;
      return;
    }
    let output = '';
    const io: CliIo = {
      write: (t) => {
        output += t;
      },
      ask: async (question, opts = {}) => {
        await this.page(output);
        output = '';
        this.out(question);
        return new Promise((resolve) => {
          this.waiter = { char: opts.char ?? false, echo: opts.echo ?? true, resolve };
        });
      },
      close: () => {
        this.closing = true;
      },
      fault: (kind) => this.faults.has(kind),
    };
    if (f?.kind === 'reject') output = `${f.message ?? this.logic.rejectText(line)}\n`;
    else if (line.trim()) await this.logic.handle(line, io);
    if (f?.kind === 'syslog') output = withSyslog(output, f.line);
    // The output and the prompt after it in one write, as a device's TCP stack sends them together
    // (and one SSH packet instead of two for 200 simulated devices sharing a CPU).
    await this.page(output, this.closing ? '' : this.logic.prompt());
    if (this.closing) {
      this.stream.exit(0);
      this.stream.end();
    }
  }

  /** Writes output then `after`, stopping at a pager prompt every screenful while the platform pages. */
  private async page(text: string, after = ''): Promise<void> {
    if (!text) {
      if (after) this.out(after);
      return;
    }
    const lines = text.replace(/\n$/, '').split('\n');
    const screen = Math.max(2, this.rows() - 1);
    if (!this.logic.paging() || lines.length <= screen) {
      this.out(`${lines.join('\n')}\n${after}`);
      return;
    }
    for (let i = 0; i < lines.length; ) {
      const chunk = lines.slice(i, i + screen);
      i += chunk.length;
      this.out(`${chunk.join('\n')}\n`);
      if (i >= lines.length) break;
      this.out(this.logic.pagerPrompt);
      const key = await new Promise<string>((resolve) => {
        this.waiter = { char: true, echo: false, resolve };
      });
      // Real pagers erase their prompt with backspaces before going on.
      const n = this.logic.pagerPrompt.length;
      this.out(`${'\b'.repeat(n)}${' '.repeat(n)}${'\b'.repeat(n)}`);
      if (key === 'q') break;
    }
    if (after) this.out(after);
  }
}

/** A syslog line lands after the first line of the output, as a console log message would. */
function withSyslog(output: string, line?: string): string {
  const log = line ?? '*Nov 30 12:00:01.123: %LINK-3-UPDOWN: Interface GigabitEthernet1/0/24, changed state to down';
  const lines = output.split('\n');
  lines.splice(Math.min(1, lines.length), 0, log);
  return lines.join('\n');
}
