import { randomBytes } from 'node:crypto';
import type { ClientChannel } from 'ssh2';
import { DeviceTimeout, DeviceUnreachable } from '../errors.js';
import { redactor } from '../secrets.js';
import type { ExecResult } from './types.js';

/**
 * `exec` over one persistent POSIX shell (no PTY, so stdout and stderr stay apart and nothing is
 * echoed): the user's login shell starts once per session instead of once per command, which on
 * a box with an ordinary .bashrc saves ~110 ms a command. Each command is framed by a random end
 * marker that carries its exit status; its stdin comes from a heredoc or /dev/null, so it can
 * never read the commands that follow it.
 */
export class PersistentShell {
  private out = '';
  private err = '';
  private pending: { check: () => void; fail: (e: Error) => void } | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  dead = false;

  constructor(
    private readonly channel: ClientChannel,
    private readonly where: string,
  ) {
    channel.on('data', (d: Buffer) => {
      this.out += d.toString('utf8');
      this.pending?.check();
    });
    channel.stderr.on('data', (d: Buffer) => {
      this.err += d.toString('utf8');
      this.pending?.check();
    });
    channel.on('close', () => this.lost('shell closed'));
    channel.on('error', (e: Error) => this.lost(e.message));
  }

  /** One command at a time, in order. */
  run(command: string, opts: { timeoutMs: number; stdin?: string }): Promise<ExecResult> {
    const next = this.queue.then(() => this.runNow(command, opts));
    this.queue = next.catch(() => undefined);
    return next;
  }

  close(): void {
    this.dead = true;
    try {
      this.channel.close();
    } catch {
      /* already closed */
    }
  }

  private runNow(command: string, opts: { timeoutMs: number; stdin?: string }): Promise<ExecResult> {
    if (this.dead) return Promise.reject(new DeviceUnreachable(`${this.where}: shell is closed`));
    const nonce = randomBytes(8).toString('hex');
    const end = `__fb_end_${nonce}`;
    const input = opts.stdin === undefined ? '</dev/null' : `<<'__fb_in_${nonce}'\n${opts.stdin.replace(/\n?$/, '\n')}__fb_in_${nonce}`;
    this.out = '';
    this.err = '';
    this.channel.write(`{ ${command}\n} ${input}\n__fb_rc=$?; printf '\\n${end} %d\\n' "$__fb_rc"; printf '\\n${end}\\n' >&2\n`);
    const outEnd = new RegExp(`\\n${end} (\\d+)\\n`);
    const errEnd = `\n${end}\n`;
    return new Promise<ExecResult>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending = undefined;
        // The command may run on; this shell is given up and the next command gets a new one.
        this.close();
        reject(new DeviceTimeout(`${this.where}: "${short(command)}" did not finish within ${opts.timeoutMs} ms`));
      }, opts.timeoutMs);
      this.pending = {
        check: () => {
          const m = outEnd.exec(this.out);
          const e = this.err.indexOf(errEnd);
          if (!m || e < 0) return;
          clearTimeout(timer);
          this.pending = undefined;
          // node-ssh trimmed exec output; keep the same contract for the drivers.
          resolve({ stdout: this.out.slice(0, m.index).trim(), stderr: this.err.slice(0, e).trim(), code: Number(m[1]) });
        },
        fail: (err) => {
          clearTimeout(timer);
          this.pending = undefined;
          reject(err);
        },
      };
    });
  }

  private lost(why: string): void {
    this.dead = true;
    this.pending?.fail(new DeviceUnreachable(`${this.where}: connection lost (${redactor.text(why)})`));
  }
}

function short(command: string): string {
  const line = command.split('\n')[0] ?? '';
  return line.length > 120 ? line.slice(0, 117) + '...' : line;
}
