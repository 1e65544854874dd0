import { Command } from 'commander';
import { parseScopes } from '../identity/scopes.js';
import { openTokenStore, type TokenRecord, type TokenStore, TokenNotFound } from '../identity/tokens.js';
import { API_STREAM, type Journal } from '../journal/types.js';
import { whoAmI } from './app.js';
import { withIdentityStore } from './identity-store.js';

function say(s: string): void {
  process.stdout.write(`${s}\n`);
}

/** Tokens and, when `journaled`, the journal, for one command (see identity-store.ts). */
function withTokens(
  cmd: Command,
  opts: { journaled: boolean; ifNoStore?: (file: string) => void },
  fn: (store: TokenStore, journal: Journal | undefined) => Promise<void>,
): Promise<void> {
  return withIdentityStore(cmd, openTokenStore, opts, fn);
}

const splitList = (s: string | undefined) =>
  (s ?? '')
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean);

/** `firebreak token create|list|revoke`: API tokens for `firebreak serve`. */
export function tokenCommand(): Command {
  const token = new Command('token').description('API tokens for the REST API: create (shown once), list, revoke');

  token
    .command('create')
    .description('create a token; the token itself is printed once, alone on the last line')
    .requiredOption('--name <name>', 'a name for it (a-z 0-9 . _ -), unique among live tokens')
    .requiredOption('--scopes <list>', 'comma list: read, plan, run:<playbook-id>, run:*, approve, rollback, admin')
    .option('--allow <prefixes>', 'comma list of addresses or prefixes it may be used from (default: any)')
    .action((opts: { name: string; scopes: string; allow?: string }, cmd: Command) =>
      withTokens(cmd, { journaled: true }, async (tokens, journal) => {
        const scopes = parseScopes(opts.scopes);
        const by = whoAmI();
        const { token: text, record } = await tokens.create({ name: opts.name, scopes, allow: splitList(opts.allow), by });
        try {
          await journal!.append(API_STREAM, 'token.created', {
            tokenId: record.id,
            name: record.name,
            scopes: record.scopes,
            ...(record.allow.length ? { allow: record.allow } : {}),
            by,
          });
        } catch (err) {
          // A token the journal does not know of must not stay usable.
          await tokens.revoke(record.id, by).catch(() => undefined);
          throw err;
        }
        say(`id      ${record.id}`);
        say(`name    ${record.name}`);
        say(`scopes  ${record.scopes.join(',')}`);
        say(`allow   ${record.allow.length ? record.allow.join(',') : 'any address'}`);
        say('token (shown only now; keep it secret):');
        say(text);
      }),
    );

  token
    .command('list')
    .description('every token: id, name, scopes, allowed addresses, created, last used, revoked (never the token)')
    .option('--json', 'machine-readable')
    .action((opts: { json?: boolean }, cmd: Command) =>
      withTokens(cmd, { journaled: false, ifNoStore: () => say(opts.json ? '[]' : 'no API tokens') }, async (tokens) => {
        const list = await tokens.list();
        if (opts.json) return say(JSON.stringify(list, null, 2));
        if (!list.length) return say('no API tokens');
        printTable(list);
      }),
    );

  token
    .command('revoke')
    .description('revoke a token by id or name; it is refused from the next request on')
    .argument('<id|name>')
    .action((idOrName: string, _opts: unknown, cmd: Command) =>
      withTokens(
        cmd,
        {
          journaled: true,
          ifNoStore: (file) => {
            throw new TokenNotFound(`no token "${idOrName}": there is no token store at ${file}`);
          },
        },
        async (tokens, journal) => {
          const by = whoAmI();
          const record = await tokens.revoke(idOrName, by);
          say(`revoked ${record.id} (${record.name}) at ${record.revokedAt}`);
          await journal!.append(API_STREAM, 'token.revoked', { tokenId: record.id, by });
        },
      ),
    );
  return token;
}

function printTable(list: TokenRecord[]): void {
  const rows = list.map((r) => [
    r.id,
    r.name,
    r.scopes.join(','),
    r.allow.length ? r.allow.join(',') : 'any',
    `${r.createdAt} by ${r.createdBy}`,
    r.lastUsedAt ?? '-',
    r.revokedAt ? `${r.revokedAt} by ${r.revokedBy}` : '-',
  ]);
  const head = ['ID', 'NAME', 'SCOPES', 'ALLOW', 'CREATED', 'LAST USED', 'REVOKED'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  for (const r of [head, ...rows]) say(r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  '));
}
