import type { ClientChannel } from 'ssh2';
import { CommandRejected, DeviceTimeout, DeviceUnreachable, FirebreakError } from '../errors.js';
import { redactor } from '../secrets.js';
import type { CliAnswer, CliLevel, CliPlatform, CliSendOptions, CliShell } from './types.js';

/**
 * The CLI session layer (Scrapli's model): bytes in from a PTY shell are rendered as a terminal
 * would (ANSI stripped, \r and backspaces applied), each command waits for its own echo and then
 * for the prompt anchored on the learned hostname, never for a timer. The pager and the questions
 * a driver expects are answered; any other question ends in a timeout that quotes it.
 */

const DEFAULT_TIMEOUT_MS = 10_000;
/** Each line that puts back the platform's set-up at close. */
const UNDO_TIMEOUT_MS = 3_000;
/** While learning: a hostname as CLIs print it (letters, digits, dots, dashes, underscores, @ for user@host). */
const LEARN_HOST = '(?<host>[A-Za-z0-9][A-Za-z0-9._@-]{0,62})';
const MAX_BUFFER = 4 * 1024 * 1024;

export interface CliShellContext {
  /** `dev (127.0.0.5:22)` for messages. */
  where: string;
  deviceId: string;
  /** Resolves the enable secret when a level asks for it. */
  enableSecret?: () => Promise<string>;
  timeoutMs?: number;
}

interface Waiter {
  /** Called on every chunk; returns true when done. */
  check(): boolean;
  fail(err: Error): void;
}

export async function openCliShell(channel: ClientChannel, platform: CliPlatform, ctx: CliShellContext): Promise<CliShell> {
  const shell = new PtyCliShell(channel, platform, ctx);
  await shell.open();
  return shell;
}

class PtyCliShell implements CliShell {
  hostname = '';
  level = '';
  broken = false;
  private raw = '';
  private queue: Promise<unknown> = Promise.resolve();
  private waiter: Waiter | undefined;
  private prompts: { level: CliLevel; re: RegExp }[] = [];
  private readonly nl: string;
  /** Lines that undo the platform's set-up, sent at close. */
  private undo: string[] = [];

  constructor(
    private readonly channel: ClientChannel,
    private readonly p: CliPlatform,
    private readonly ctx: CliShellContext,
  ) {
    this.nl = p.newline ?? '\n';
    channel.on('data', (d: Buffer) => this.data(d.toString('utf8')));
    channel.stderr?.on('data', (d: Buffer) => this.data(d.toString('utf8')));
    channel.on('close', () => this.lost(new Error('channel closed')));
    channel.on('error', (err: Error) => this.lost(err));
  }

  get platform(): string {
    return this.p.name;
  }

  async open(): Promise<void> {
    const timeoutMs = this.ctx.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const learn = this.p.levels.map((level) => ({ level, re: level.prompt(LEARN_HOST) }));
    // Some devices print their prompt only after a first keypress; nudge once, match on the prompt.
    const nudge = setTimeout(() => this.write(this.nl), 1500);
    try {
      await this.until('the first prompt', timeoutMs, () => {
        const last = this.lastLine();
        for (const { level, re } of learn) {
          const m = re.exec(last);
          if (m?.groups?.host) {
            this.hostname = m.groups.host;
            this.level = level.name;
            return true;
          }
        }
        return false;
      });
    } finally {
      clearTimeout(nudge);
    }
    const host = escapeRe(this.hostname);
    this.prompts = this.p.levels.map((level) => ({ level, re: level.prompt(host) }));
    this.raw = '';
    await this.moveTo(this.p.defaultLevel, { timeoutMs });
    for (const cmd of this.p.onOpen) await this.send(cmd, { timeoutMs, allowErrors: true });
    if (this.p.prepare) this.undo = await this.p.prepare((line) => this.send(line, { timeoutMs, allowErrors: true }));
  }

  async close(): Promise<void> {
    if (!this.broken && this.undo.length) {
      try {
        await this.moveTo(this.p.defaultLevel, { timeoutMs: UNDO_TIMEOUT_MS });
        for (const line of this.undo) await this.send(line, { timeoutMs: UNDO_TIMEOUT_MS, allowErrors: true });
      } catch {
        // The device or the connection is gone: nothing more can be put back.
      }
    }
    this.undo = [];
    this.channel.close();
  }

  send(line: string, opts: CliSendOptions = {}): Promise<string> {
    return this.serial(() => this.command(line, opts, true));
  }

  moveTo(target: string, opts: { timeoutMs?: number } = {}): Promise<void> {
    return this.serial(() => this.move(target, opts));
  }

  /** One command at a time on the shell, in call order: two callers must never share its bytes. */
  private serial<T>(work: () => Promise<T>): Promise<T> {
    const next = this.queue.then(work);
    this.queue = next.catch(() => undefined);
    return next;
  }

  private async move(target: string, opts: { timeoutMs?: number }): Promise<void> {
    const byName = new Map(this.p.levels.map((l) => [l.name, l]));
    if (!byName.has(target)) throw new FirebreakError(`${this.ctx.deviceId}: platform ${this.p.name} has no level "${target}"`);
    const chain = (name: string) => {
      const out: string[] = [];
      for (let l = byName.get(name); l; l = l.parent ? byName.get(l.parent) : undefined) out.unshift(l.name);
      return out;
    };
    // At most twice the number of levels, re-reading the prompt after every step.
    for (let step = 0; step < 2 * this.p.levels.length + 2 && this.level !== target; step++) {
      const here = chain(this.level);
      const there = chain(target);
      if (there.includes(this.level)) {
        const next = byName.get(there[there.indexOf(this.level) + 1]!)!;
        const answers: CliAnswer[] = [];
        // Many devices ask only when a secret is set on them: answer only what is configured; an
        // unanswered question becomes a timeout that quotes it and names the setting.
        if (next.secretPrompt && this.ctx.enableSecret) {
          answers.push({ prompt: next.secretPrompt, reply: `${await this.ctx.enableSecret()}${this.nl}` });
        }
        await this.command(next.enter ?? '', { ...opts, answers }, true).catch((err: unknown) => {
          if (err instanceof DeviceTimeout && next.secretPrompt && !this.ctx.enableSecret) {
            throw new DeviceTimeout(`${err.message} (${next.name} mode asks for a secret: set ssh.enableSecret)`);
          }
          throw err;
        });
      } else {
        const cur = byName.get(here[here.length - 1]!)!;
        await this.command(cur.leave ?? 'exit', opts, true);
      }
    }
    if (this.level !== target) throw new CommandRejected(`${this.ctx.deviceId}: could not reach ${target} mode (stuck at ${this.level})`);
  }

  private async command(line: string, opts: CliSendOptions, checkErrors: boolean): Promise<string> {
    if (this.broken) throw new DeviceUnreachable(`${this.ctx.where}: the CLI session is no longer usable`);
    const timeoutMs = opts.timeoutMs ?? this.ctx.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.raw = '';
    const text = line.trim();
    let echoAt = -1;
    let answeredAt = -1;
    this.write(`${line}${this.nl}`);
    let level = '';
    await this.until(`"${short(line)}"`, timeoutMs, () => {
      // Rendering keeps every \n, so line i of the rendering starts after the i-th \n of the raw
      // bytes: the whole buffer is rendered only until the echo is found, then just its last line.
      const breaks = countBreaks(this.raw);
      if (echoAt < 0) {
        if (breaks === 0) return false;
        // The echo: the line that shows what we typed, followed by a line break.
        const lines = render(this.raw);
        const i = lines.findIndex((l, n) => n < lines.length - 1 && l.trimEnd().endsWith(text));
        if (i < 0) return false;
        echoAt = i;
      }
      const last = this.lastLine();
      if (breaks > echoAt || text === '') {
        for (const { level: l, re } of this.prompts) {
          if (re.test(last)) {
            level = l.name;
            return true;
          }
        }
      }
      if (this.raw.length !== answeredAt) {
        if (this.p.pager?.test(last)) {
          answeredAt = this.raw.length;
          this.write(this.p.pagerReply ?? ' ');
          return false;
        }
        const answer = opts.answers?.find((a) => a.prompt.test(last));
        if (answer) {
          answeredAt = this.raw.length;
          this.write(answer.reply);
        }
      }
      return false;
    });
    this.level = level;
    const lines = render(this.raw);
    const output = lines
      .slice(echoAt + 1, -1)
      .map((l) => (this.p.pager ? l.replace(this.p.pager, '') : l))
      .filter((l) => !this.p.noise?.some((re) => re.test(l)));
    if (checkErrors && !opts.allowErrors) {
      const bad = output.findIndex((l) => this.p.errors.some((re) => re.test(l)));
      if (bad >= 0) {
        const words = output
          .slice(Math.max(0, bad - 1), bad + 2)
          .map((l) => l.trim())
          .filter(Boolean)
          .join(' / ');
        throw new CommandRejected(`${this.ctx.deviceId}: "${short(line)}" refused by the device: ${redactor.text(words)}`);
      }
    }
    return output.join('\n').replace(/^\n+|\s+$/g, '');
  }

  private write(s: string): void {
    if (!this.broken) this.channel.write(s);
  }

  private data(chunk: string): void {
    this.raw += chunk;
    if (this.raw.length > MAX_BUFFER) this.raw = this.raw.slice(-MAX_BUFFER);
    const w = this.waiter;
    if (w?.check()) this.waiter = undefined;
  }

  private lastLine(): string {
    return render(this.raw.slice(this.raw.lastIndexOf('\n') + 1))[0] ?? '';
  }

  private lost(err: Error): void {
    if (this.broken) return;
    this.broken = true;
    const w = this.waiter;
    this.waiter = undefined;
    w?.fail(new DeviceUnreachable(`${this.ctx.where}: connection lost (${redactor.text(err.message)})`));
  }

  /** Resolves when `check` says so after some chunk; a timeout leaves the shell unusable. */
  private until(what: string, timeoutMs: number, check: () => boolean): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiter = undefined;
        this.broken = true;
        this.channel.close();
        const last = this.lastLine().trim();
        const asked = /[?:\])]\s*$/.test(last) && last.length > 0;
        reject(
          new DeviceTimeout(
            `${this.ctx.where}: ${what} got no prompt within ${timeoutMs} ms` +
              (last
                ? asked
                  ? `; the device asks "${redactor.text(last)}", which the driver does not expect`
                  : `; last line: "${redactor.text(last.slice(0, 120))}"`
                : ''),
          ),
        );
      }, timeoutMs);
      const done = (err?: Error) => {
        clearTimeout(timer);
        if (err) reject(err);
        else resolve();
      };
      this.waiter = {
        check: () => {
          if (!check()) return false;
          done();
          return true;
        },
        fail: (err) => done(err),
      };
      if (this.broken) return done(new DeviceUnreachable(`${this.ctx.where}: the CLI session is no longer usable`));
      // Data may already be here.
      if (this.waiter.check()) this.waiter = undefined;
    });
  }
}

/**
 * Renders terminal output into lines: escape sequences dropped, \r returns to the line start,
 * backspace moves left, printable characters overwrite what is under the cursor.
 */
export function render(raw: string): string[] {
  const text = raw
    .replace(/\x1b\[[0-9;?]*[ -/]*[@-~]/g, '')
    .replace(/\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)/g, '')
    .replace(/\x1b[@-Z\\-_]/g, '')
    .replace(/\r\n/g, '\n');
  // Nothing that moves the cursor back or rings: the lines are the text's own (most output is).
  if (!/[\r\b\x07\0]/.test(text)) {
    const plain = text.split('\n');
    for (let i = 0; i < plain.length - 1; i++) plain[i] = plain[i]!.trimEnd();
    return plain;
  }
  const lines: string[] = [];
  let cur: string[] = [];
  let col = 0;
  for (const ch of text) {
    if (ch === '\n') {
      lines.push(cur.join('').trimEnd());
      cur = [];
      col = 0;
    } else if (ch === '\r') col = 0;
    else if (ch === '\b') col = Math.max(0, col - 1);
    else if (ch === '\x07' || ch === '\0') continue;
    else {
      cur[col] = ch;
      col++;
    }
  }
  // The open line keeps its trailing space: prompts like "host# " end with one.
  lines.push(cur.join(''));
  return lines;
}

function countBreaks(s: string): number {
  let n = 0;
  for (let i = s.indexOf('\n'); i >= 0; i = s.indexOf('\n', i + 1)) n++;
  return n;
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function short(line: string): string {
  return line.length > 100 ? `${line.slice(0, 97)}...` : line;
}
