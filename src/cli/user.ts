import { Command } from 'commander';
import { FirebreakError } from '../errors.js';
import { ROLE_NAMES } from '../identity/roles.js';
import { openUserStore, type UserRecord, type UserStore, UserNotFound } from '../identity/users.js';
import { API_STREAM, type Journal } from '../journal/types.js';
import { whoAmI } from './app.js';
import { withIdentityStore } from './identity-store.js';

function say(s: string): void {
  process.stdout.write(`${s}\n`);
}

/** Users and, when `journaled`, the journal, for one command (see identity-store.ts). */
function withUsers(
  cmd: Command,
  opts: { journaled: boolean; ifNoStore?: (file: string) => void },
  fn: (store: UserStore, journal: Journal | undefined) => Promise<void>,
): Promise<void> {
  return withIdentityStore(cmd, openUserStore, opts, fn);
}

/** The password: stdin as it is (one trailing newline dropped), or asked twice on the terminal without echo. */
async function readPassword(fromStdin: boolean): Promise<string> {
  if (fromStdin) {
    let text = '';
    for await (const chunk of process.stdin) text += String(chunk);
    return text.replace(/\r?\n$/, '');
  }
  if (!process.stdin.isTTY) throw new FirebreakError('no terminal to ask the password on: pipe it in with --password-stdin');
  const first = await askHidden('password: ');
  const again = await askHidden('again:    ');
  if (first !== again) throw new FirebreakError('the two passwords differ');
  return first;
}

/** One line from the terminal, not echoed (raw mode; backspace works, Ctrl-C aborts). */
function askHidden(prompt: string): Promise<string> {
  const stdin = process.stdin;
  process.stderr.write(prompt);
  stdin.setRawMode(true);
  stdin.setEncoding('utf8');
  stdin.resume();
  return new Promise((resolve, reject) => {
    let text = '';
    const done = (err?: Error) => {
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
      process.stderr.write('\n');
      if (err) reject(err);
      else resolve(text);
    };
    const onData = (chunk: string) => {
      for (const ch of chunk) {
        if (ch === '\r' || ch === '\n') return done();
        if (ch === '\u0003' || ch === '\u0004') return done(new FirebreakError('aborted'));
        if (ch === '\u007f' || ch === '\b') text = text.slice(0, -1);
        else if (ch >= ' ') text += ch;
      }
    };
    stdin.on('data', onData);
  });
}

/** `firebreak user add|list|disable|reset-totp`: the console's operators. */
export function userCommand(): Command {
  const user = new Command('user').description('console operators: add, list, disable, reset-totp (second factor)');

  user
    .command('add')
    .description('add an operator; the TOTP second factor is enrolled at the first sign-in to the console (QR code)')
    .requiredOption('--name <name>', 'sign-in name (a-z 0-9 . _ -)')
    .requiredOption('--role <role>', `one of ${ROLE_NAMES.join(', ')}`)
    .option('--password-stdin', 'read the password from stdin (else asked twice on the terminal)')
    .action((opts: { name: string; role: string; passwordStdin?: boolean }, cmd: Command) =>
      withUsers(cmd, { journaled: true }, async (users, journal) => {
        const password = await readPassword(!!opts.passwordStdin);
        const by = whoAmI();
        const record = await users.add({ name: opts.name, role: opts.role, password, by });
        try {
          await journal!.append(API_STREAM, 'user.added', { name: record.name, role: record.role, by });
        } catch (err) {
          // An operator the journal does not know of must not be able to sign in.
          await users.disable(record.name, by).catch(() => undefined);
          throw err;
        }
        say(`name    ${record.name}`);
        say(`role    ${record.role} (${record.scopes.join(',')})`);
        say('totp    enrolled at the first sign-in to the console (it shows a QR code)');
      }),
    );

  user
    .command('list')
    .description('every operator: name, role, second factor enrolled, disabled, last sign-in (never a secret)')
    .option('--json', 'machine-readable')
    .action((opts: { json?: boolean }, cmd: Command) =>
      withUsers(cmd, { journaled: false, ifNoStore: () => say(opts.json ? '[]' : 'no console users') }, async (users) => {
        const list = await users.list();
        if (opts.json) return say(JSON.stringify(list, null, 2));
        if (!list.length) return say('no console users');
        printTable(list);
      }),
    );

  const noStore = (name: string) => (file: string) => {
    throw new UserNotFound(`no user "${name}": there is no user store at ${file}`);
  };

  user
    .command('disable')
    .description('disable an operator: refused from the next request on, its sessions ended')
    .argument('<name>')
    .action((name: string, _opts: unknown, cmd: Command) =>
      withUsers(cmd, { journaled: true, ifNoStore: noStore(name) }, async (users, journal) => {
        const by = whoAmI();
        const { record, sessionsEnded } = await users.disable(name, by);
        say(`disabled ${record.name} at ${record.disabledAt}; ${sessionsEnded} session(s) ended`);
        await journal!.append(API_STREAM, 'user.disabled', { name: record.name, by, sessionsEnded });
        if (sessionsEnded) await journal!.append(API_STREAM, 'session.ended', { name: record.name, reason: `user disabled by ${by}` });
      }),
    );

  user
    .command('reset-totp')
    .description('a new second factor: the operator enrolls again (QR code) at the next sign-in; its sessions end')
    .argument('<name>')
    .action((name: string, _opts: unknown, cmd: Command) =>
      withUsers(cmd, { journaled: true, ifNoStore: noStore(name) }, async (users, journal) => {
        const by = whoAmI();
        const { record, sessionsEnded } = await users.resetTotp(name);
        say(`second factor of ${record.name} reset; ${sessionsEnded} session(s) ended; enrolled again at the next sign-in`);
        await journal!.append(API_STREAM, 'user.totp-reset', { name: record.name, by, sessionsEnded });
        if (sessionsEnded)
          await journal!.append(API_STREAM, 'session.ended', { name: record.name, reason: `second factor reset by ${by}` });
      }),
    );
  return user;
}

function printTable(list: UserRecord[]): void {
  const rows = list.map((u) => [
    u.name,
    u.role,
    u.enrolled ? 'yes' : 'no',
    u.disabled ? `${u.disabledAt} by ${u.disabledBy}` : '-',
    u.lastSignInAt ? `${u.lastSignInAt} from ${u.lastSignInIp}` : '-',
    `${u.createdAt} by ${u.createdBy}`,
  ]);
  const head = ['NAME', 'ROLE', 'TOTP', 'DISABLED', 'LAST SIGN-IN', 'CREATED'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  for (const r of [head, ...rows]) say(r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  '));
}
