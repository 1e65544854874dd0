import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasScope, parseScopes } from '../src/identity/scopes.js';
import { addressAllowed, openTokenStore, type TokenRecord, type TokenStore } from '../src/identity/tokens.js';
import { freshSchema, pgAvailable, pgUrl, withPg } from './helpers/services.js';

/** The token store on both backends: what it keeps, what it refuses, and that revocation is seen at once. */

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'fb-tokens-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const hasPg = await pgAvailable();

interface Backend {
  open(): Promise<TokenStore>;
  /** Everything the backend holds for tokens, as text, read behind the store's back. */
  raw(): Promise<string>;
  done(): Promise<void>;
}

function sqliteBackend(): Backend {
  const file = join(dir, `tokens-${Math.random().toString(36).slice(2)}.db`);
  return {
    open: () => openTokenStore({ file }),
    // The main file and its WAL: a row not yet checkpointed lives in the -wal file.
    raw: async () =>
      readdirSync(dir)
        .filter((f) => f.startsWith(file.split('/').pop()!))
        .map((f) => readFileSync(join(dir, f)).toString('latin1'))
        .join('\n'),
    done: async () => undefined,
  };
}

function pgBackend(): Backend {
  const s = freshSchema('fbtokens');
  return {
    open: () => openTokenStore({ url: pgUrl(), schema: s.schema, file: join(dir, 'unused.db') }),
    raw: () => withPg(async (c) => JSON.stringify((await c.query(`SELECT * FROM "${s.schema}".api_tokens`)).rows)),
    done: () => s.drop(),
  };
}

const backends: [string, boolean, () => Backend][] = [
  ['sqlite', true, sqliteBackend],
  ['postgres', hasPg, pgBackend],
];

for (const [name, available, make] of backends) {
  describe.skipIf(!available)(`token store (${name})`, () => {
    let backend: Backend;
    let store: TokenStore;
    let other: TokenStore;
    beforeAll(async () => {
      backend = make();
      store = await backend.open();
      other = await backend.open();
    });
    afterAll(async () => {
      await store?.close();
      await other?.close();
      await backend?.done();
    });

    it('creates a token shown once; the store keeps neither it nor its secret', async () => {
      const { token, record } = await store.create({ name: 'ci', scopes: ['run:*', 'read'], allow: ['10.0.0.0/8'], by: 'alice' });
      expect(token).toMatch(/^fbk_[0-9a-f]{10}_[A-Za-z0-9_-]{43}$/);
      expect(token.slice(4, 14)).toBe(record.id);
      expect(record).toMatchObject({ name: 'ci', scopes: ['run:*', 'read'], allow: ['10.0.0.0/8'], createdBy: 'alice' });
      const secret = token.slice(15);
      const raw = await backend.raw();
      expect(raw).toContain(record.id); // the raw read does see the row...
      expect(raw).not.toContain(secret); // ...but not the secret
      expect(raw).not.toContain(secret.slice(0, 20));
      const listed = await store.list();
      expect(JSON.stringify(listed)).not.toContain(secret);
      expect(Object.keys(listed.find((r) => r.id === record.id)!).sort()).toEqual(
        ['allow', 'createdAt', 'createdBy', 'id', 'name', 'scopes'].sort(),
      );
    });

    it('authenticates the exact token only', async () => {
      const { token, record } = await store.create({ name: 'auth-check', scopes: ['read'], by: 'alice' });
      const got = await store.authenticate(token);
      expect(got).toMatchObject({ id: record.id, name: 'auth-check', scopes: ['read'] });
      expect(got!.lastUsedAt).toBeDefined();
      // One changed character in the secret, the id of another token, junk: all refused.
      const last = token.at(-1) === 'A' ? 'B' : 'A';
      expect(await store.authenticate(token.slice(0, -1) + last)).toBeUndefined();
      expect(await store.authenticate(`fbk_0000000000_${token.slice(15)}`)).toBeUndefined();
      expect(await store.authenticate('fbk_nonsense')).toBeUndefined();
      expect(await store.authenticate('')).toBeUndefined();
      // lastUsedAt is written at most once a minute: a second use keeps the first time.
      const again = await other.authenticate(token);
      expect(again!.lastUsedAt).toBe(got!.lastUsedAt);
    });

    it('a revoke through another store instance is refused by the first at once', async () => {
      const { token, record } = await store.create({ name: 'to-revoke', scopes: ['approve'], by: 'alice' });
      expect(await store.authenticate(token)).toBeDefined();
      const revoked = await other.revoke('to-revoke', 'bob');
      expect(revoked).toMatchObject({ id: record.id, revokedBy: 'bob' });
      expect(revoked.revokedAt).toBeDefined();
      expect(await store.authenticate(token)).toBeUndefined();
      await expect(store.revoke(record.id, 'carol')).rejects.toThrow(/already revoked/);
      await expect(store.revoke('to-revoke', 'carol')).rejects.toThrow(/already revoked/);
      await expect(store.revoke('no-such-token', 'carol')).rejects.toMatchObject({ code: 'TOKEN_NOT_FOUND' });
      // The name is free again for a new token; the revoked one stays in the list.
      const again = await store.create({ name: 'to-revoke', scopes: ['approve'], by: 'alice' });
      const list = await store.list();
      const same = list.filter((r: TokenRecord) => r.name === 'to-revoke');
      expect(same.map((r) => [r.id, r.revokedAt !== undefined])).toEqual([
        [record.id, true],
        [again.record.id, false],
      ]);
    });

    it('refuses bad names, scopes and allow entries, and a name in use, with messages naming them', async () => {
      const create = (o: { name?: string; scopes?: string[]; allow?: string[] }) =>
        store.create({ name: o.name ?? 'ok-name', scopes: o.scopes ?? ['read'], allow: o.allow, by: 'alice' });
      await expect(create({ name: 'Bad Name' })).rejects.toThrow(/token name "Bad Name"/);
      await expect(create({ name: '-dash' })).rejects.toMatchObject({ code: 'TOKEN_INVALID' });
      await expect(create({ name: 'x'.repeat(65) })).rejects.toThrow(/token name/);
      await expect(create({ scopes: ['read', 'sudo'] })).rejects.toThrow(/unknown scope "sudo".*run:\*/);
      await expect(create({ scopes: [] })).rejects.toThrow(/at least one scope/);
      await expect(create({ allow: ['10.0.0.0/33'] })).rejects.toThrow(/allow entry "10.0.0.0\/33"/);
      await expect(create({ allow: ['example.org'] })).rejects.toThrow(/allow entry "example.org"/);
      await expect(create({ allow: ['fe80::/129'] })).rejects.toMatchObject({ code: 'TOKEN_INVALID' });
      await expect(create({ name: 'ci' })).rejects.toThrow(/a token named "ci" already exists/);
      expect((await store.list()).some((r) => r.name === 'ok-name')).toBe(false);
    });
  });
}

describe('scopes', () => {
  it('parses a comma list and names an unknown or malformed scope with the known ones', () => {
    expect(parseScopes(' run:* , read,rollback,read')).toEqual(['run:*', 'read', 'rollback']);
    expect(parseScopes('run:isolate-host,plan,approve,admin')).toEqual(['run:isolate-host', 'plan', 'approve', 'admin']);
    expect(() => parseScopes('read,write')).toThrow(/unknown scope "write" \(known scopes: read, plan, run:<playbook-id>, run:\*/);
    expect(() => parseScopes('run:Isolate')).toThrow(/scope "run:Isolate"/);
    expect(() => parseScopes('run:')).toThrow(/scope "run:"/);
    expect(() => parseScopes(`run:a${'b'.repeat(64)}`)).toThrow(/not a playbook id/);
    expect(() => parseScopes(' , ')).toThrow(/no scopes given/);
  });

  it('admin implies every scope; run:* covers every run:X and nothing else', () => {
    expect(hasScope(['admin'], 'rollback')).toBe(true);
    expect(hasScope(['admin'], 'run:drop-internet-uplinks')).toBe(true);
    expect(hasScope(['run:*'], 'run:isolate-host')).toBe(true);
    expect(hasScope(['run:*'], 'read')).toBe(false);
    expect(hasScope(['run:isolate-host'], 'run:isolate-host')).toBe(true);
    expect(hasScope(['run:isolate-host'], 'run:drop-internet-uplinks')).toBe(false);
    expect(hasScope(['run:isolate-host'], 'run:*')).toBe(false);
    expect(hasScope(['read', 'plan'], 'approve')).toBe(false);
    expect(hasScope([], 'read')).toBe(false);
  });
});

describe('address allow-list', () => {
  const rec = (allow: string[]): TokenRecord => ({ id: 'x', name: 'x', scopes: [], allow, createdAt: '', createdBy: '' });
  it('empty allows any; prefixes and addresses of either family; IPv4-mapped IPv6 as IPv4', () => {
    expect(addressAllowed(rec([]), '198.51.100.9')).toBe(true);
    expect(addressAllowed(rec(['10.0.0.0/8']), '10.2.3.4')).toBe(true);
    expect(addressAllowed(rec(['10.0.0.0/8']), '::ffff:10.2.3.4')).toBe(true);
    expect(addressAllowed(rec(['10.0.0.0/8']), '11.0.0.1')).toBe(false);
    expect(addressAllowed(rec(['10.0.0.0/8']), '::ffff:11.0.0.1')).toBe(false);
    expect(addressAllowed(rec(['127.0.0.1']), '127.0.0.1')).toBe(true);
    expect(addressAllowed(rec(['127.0.0.1']), '127.0.0.2')).toBe(false);
    expect(addressAllowed(rec(['2001:db8::/32', '10.250.0.1']), '2001:db8:1::5')).toBe(true);
    expect(addressAllowed(rec(['2001:db8::/32']), '2001:db9::5')).toBe(false);
    expect(addressAllowed(rec(['fe80::/10']), 'fe80::1%eth0')).toBe(true);
    expect(addressAllowed(rec(['10.0.0.0/8']), 'not-an-ip')).toBe(false);
  });
});
