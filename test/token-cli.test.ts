import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTokenStore, type TokenRecord } from '../src/identity/tokens.js';
import { openJournal } from '../src/journal/open.js';
import { API_STREAM } from '../src/journal/types.js';
import { Redactor } from '../src/secrets.js';

/** `firebreak token create|list|revoke` through the built CLI (CI builds before the tests). */

const cli = resolve(import.meta.dirname, '..', 'dist', 'src', 'cli', 'main.js');
let dir: string;
let journalFile: string;

beforeAll(() => {
  if (!existsSync(cli)) throw new Error(`${cli} is missing: build first (npx tsc -p tsconfig.json; npm test does)`);
  dir = mkdtempSync(join(tmpdir(), 'fb-token-cli-'));
  journalFile = join(dir, 'journal.db');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The CLI without the service settings the test process may have (tokens go to the SQLite file). */
function firebreak(args: string[]): { code: number; stdout: string; stderr: string } {
  const { DATABASE_URL: _db, FIREBREAK_DATABASE_SCHEMA: _s, FIREBREAK_JOURNAL: _j, ...env } = process.env;
  try {
    const stdout = execFileSync(process.execPath, [cli, '--journal', journalFile, 'token', ...args], {
      env,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    return { code: 0, stdout, stderr: '' };
  } catch (err) {
    const e = err as { status?: number; stdout?: string; stderr?: string };
    return { code: e.status ?? -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

const withStore = async <T>(fn: (s: Awaited<ReturnType<typeof openTokenStore>>) => Promise<T>): Promise<T> => {
  const store = await openTokenStore({ file: join(dir, 'tokens.db') });
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
};

describe('firebreak token', () => {
  it('list before any token says so and creates no store', () => {
    const r = firebreak(['list']);
    expect(r).toMatchObject({ code: 0, stdout: 'no API tokens\n' });
    expect(existsSync(join(dir, 'tokens.db'))).toBe(false);
    expect(firebreak(['list', '--json']).stdout.trim()).toBe('[]');
  });

  it('create prints the token alone on the last line; it authenticates; list never shows it; revoke ends it', async () => {
    const created = firebreak(['create', '--name', 'ci', '--scopes', 'run:*,read,rollback', '--allow', '10.0.0.0/8,127.0.0.1']);
    expect(created.code, created.stderr).toBe(0);
    const lines = created.stdout.trimEnd().split('\n');
    const token = lines.at(-1)!;
    expect(token).toMatch(/^fbk_[0-9a-f]{10}_[A-Za-z0-9_-]{43}$/);
    const id = token.slice(4, 14);
    expect(created.stdout).toContain(`id      ${id}`);
    expect(created.stdout).toContain('scopes  run:*,read,rollback');

    const record = await withStore((s) => s.authenticate(token));
    expect(record).toMatchObject({ id, name: 'ci', scopes: ['run:*', 'read', 'rollback'], allow: ['10.0.0.0/8', '127.0.0.1'] });
    expect(record!.createdBy).toBe(userInfo().username);

    const list = firebreak(['list']);
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(new RegExp(`^${id}\\s+ci\\s+run:\\*,read,rollback\\s+10\\.0\\.0\\.0/8,127\\.0\\.0\\.1`, 'm'));
    expect(list.stdout).not.toContain(token.slice(15));
    const json = JSON.parse(firebreak(['list', '--json']).stdout) as TokenRecord[];
    expect(json.map((r) => r.id)).toEqual([id]);
    expect(json[0]!.lastUsedAt).toBeDefined(); // the authenticate above

    const revoked = firebreak(['revoke', 'ci']);
    expect(revoked.code, revoked.stderr).toBe(0);
    expect(revoked.stdout).toContain(`revoked ${id} (ci)`);
    expect(await withStore((s) => s.authenticate(token))).toBeUndefined();
    expect(firebreak(['list']).stdout).toMatch(new RegExp(`^${id}.*\\d{4}-\\d\\d-\\d\\dT\\S+ by \\S+$`, 'm'));

    const again = firebreak(['revoke', id]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/error \[TOKEN_ALREADY_REVOKED\]: .*already revoked/);

    const journal = await openJournal({ file: journalFile }, new Redactor());
    try {
      const entries = await journal.entries(API_STREAM);
      expect(entries.map((e) => [e.type, e.data])).toEqual([
        [
          'token.created',
          { tokenId: id, name: 'ci', scopes: ['run:*', 'read', 'rollback'], allow: ['10.0.0.0/8', '127.0.0.1'], by: userInfo().username },
        ],
        ['token.revoked', { tokenId: id, by: userInfo().username }],
      ]);
      expect(JSON.stringify(await journal.all())).not.toContain(token.slice(15));
    } finally {
      await journal.close();
    }
  });

  it('refuses bad input with the reason and creates nothing', async () => {
    const bad = firebreak(['create', '--name', 'x', '--scopes', 'read,deploy']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/error \[SCOPE_INVALID\]: unknown scope "deploy" \(known scopes: read, plan/);
    const allow = firebreak(['create', '--name', 'x', '--scopes', 'read', '--allow', '10.0.0.0/40']);
    expect(allow.stderr).toMatch(/error \[TOKEN_INVALID\]: allow entry "10.0.0.0\/40"/);
    const name = firebreak(['create', '--name', 'Has Spaces', '--scopes', 'read']);
    expect(name.stderr).toMatch(/token name "Has Spaces"/);
    const unknown = firebreak(['revoke', 'nobody']);
    expect(unknown.stderr).toMatch(/error \[TOKEN_NOT_FOUND\]/);
    expect((await withStore((s) => s.list())).map((r) => r.name)).toEqual(['ci']);
  });
});
