import { mkdtempSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authenticate, requireScope } from '../src/api/auth.js';
import { openTokenStore, type Identity, type TokenStore } from '../src/identity/tokens.js';
import { openJournal } from '../src/journal/open.js';
import { API_STREAM, type Journal } from '../src/journal/types.js';
import { Redactor } from '../src/secrets.js';

/** The auth middleware in a small express app on loopback, called with real fetch. */

let dir: string;
let tokens: TokenStore;
let journal: Journal;
let server: Server;
let root: string;
let base: string;
const MAX = 7;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'fb-api-auth-'));
  tokens = await openTokenStore({ file: join(dir, 'tokens.db') });
  journal = await openJournal({ file: join(dir, 'journal.db') }, new Redactor());
  const app = express();
  app.get('/api/v1/health', (_req, res) => {
    res.json({ ok: true });
  });
  const api = express.Router();
  api.use(authenticate({ tokens, journal, failures: { windowMs: 60_000, max: MAX } }));
  api.get('/runs', requireScope('read'), (_req, res) => {
    res.json({ identity: res.locals.identity as Identity });
  });
  api.post(
    '/runs/:playbook',
    requireScope((req) => `run:${String(req.params.playbook)}`),
    (req, res) => {
      res.status(201).json({ playbook: req.params.playbook, by: (res.locals.identity as Identity).name });
    },
  );
  app.use('/api/v1', api);
  // Its own counter with a short window: the block ends when the window does.
  const short = express.Router();
  short.use(authenticate({ tokens, journal, failures: { windowMs: 500, max: 1 } }));
  short.get('/ping', (_req, res) => {
    res.json({ ok: true });
  });
  app.use('/short', short);
  await new Promise<void>((resolve) => {
    server = app.listen(0, '127.0.0.1', () => resolve());
  });
  root = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  base = `${root}/api/v1`;
});

afterAll(async () => {
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  await tokens?.close();
  await journal?.close();
  rmSync(dir, { recursive: true, force: true });
});

const call = (path: string, token?: string, method = 'GET') =>
  fetch(`${base}${path}`, { method, headers: token === undefined ? {} : { authorization: `Bearer ${token}` } });
const failures = async () => (await journal.entries(API_STREAM)).filter((e) => e.type === 'auth.failed');

describe('API authentication', () => {
  // Refusals count per source address; every test shares 127.0.0.1, so the limit test runs last.
  it('lets a good token through and sets the identity; health needs no token', async () => {
    expect((await fetch(`${base}/health`)).status).toBe(200);
    const { token, record } = await tokens.create({ name: 'reader', scopes: ['read', 'run:isolate-host'], by: 'test' });
    const r = await call('/runs', token);
    expect(r.status).toBe(200);
    expect(await r.json()).toEqual({ identity: { kind: 'token', id: record.id, name: 'reader', scopes: ['read', 'run:isolate-host'] } });
    const run = await call('/runs/isolate-host', token, 'POST');
    expect(run.status).toBe(201);
    expect(await run.json()).toEqual({ playbook: 'isolate-host', by: 'reader' });
    // Successes are not journaled as failures and do not count towards the limit.
    for (let i = 0; i < MAX + 2; i++) expect((await call('/runs', token)).status).toBe(200);
    expect(await failures()).toEqual([]);
  });

  it('401 without a token, with a wrong one and with a revoked one; journaled without the token text', async () => {
    const none = await call('/runs');
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toBe('Bearer');
    expect(await none.json()).toMatchObject({ error: { code: 'UNAUTHENTICATED' } });

    const { token, record } = await tokens.create({ name: 'soon-revoked', scopes: ['admin'], by: 'test' });
    const wrong = `${token.slice(0, -4)}AAAA`;
    const w = await call('/runs', wrong);
    expect(w.status).toBe(401);
    expect(w.headers.get('www-authenticate')).toBe('Bearer');

    expect((await call('/runs', token)).status).toBe(200);
    await tokens.revoke(record.id, 'test');
    const revoked = await call('/runs', token);
    expect(revoked.status).toBe(401);
    expect(await revoked.json()).toMatchObject({ error: { code: 'UNAUTHENTICATED' } });

    const entries = await failures();
    expect(entries.map((e) => e.data)).toEqual([
      { ip: '127.0.0.1', reason: 'no token', route: 'GET /api/v1/runs' },
      { ip: '127.0.0.1', reason: 'unknown or revoked token', route: 'GET /api/v1/runs', tokenId: record.id },
      { ip: '127.0.0.1', reason: 'unknown or revoked token', route: 'GET /api/v1/runs', tokenId: record.id },
    ]);
    const all = JSON.stringify(await journal.all());
    expect(all).not.toContain(token.slice(15));
    expect(all).not.toContain(wrong.slice(15));
  });

  it('403 naming the scope needed; 403 from an address outside the allow-list', async () => {
    const { token } = await tokens.create({ name: 'runner', scopes: ['run:drop-internet-uplinks'], by: 'test' });
    const r = await call('/runs/isolate-host', token, 'POST');
    expect(r.status).toBe(403);
    const body = (await r.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('FORBIDDEN');
    expect(body.error.message).toContain('"run:isolate-host"');
    expect((await call('/runs', token)).status).toBe(403);

    const far = await tokens.create({ name: 'far-away', scopes: ['admin'], allow: ['10.250.0.0/16', '2001:db8::/32'], by: 'test' });
    const a = await call('/runs', far.token);
    expect(a.status).toBe(403);
    expect(await a.json()).toMatchObject({ error: { code: 'ADDRESS_NOT_ALLOWED' } });
    const near = await tokens.create({ name: 'near', scopes: ['read'], allow: ['127.0.0.0/8'], by: 'test' });
    expect((await call('/runs', near.token)).status).toBe(200);

    const last = (await failures()).slice(-3).map((e) => e.data);
    expect(last).toEqual([
      expect.objectContaining({ reason: 'missing scope run:isolate-host', route: 'POST /api/v1/runs/isolate-host' }),
      expect.objectContaining({ reason: 'missing scope read', route: 'GET /api/v1/runs' }),
      expect.objectContaining({ reason: 'address not allowed', tokenId: far.record.id }),
    ]);
  });

  it('429 with Retry-After after the limit, without checking the token; one journal entry for the window', async () => {
    const { token } = await tokens.create({ name: 'valid-but-blocked', scopes: ['read'], by: 'test' });
    // Earlier tests made 6 refusals from 127.0.0.1 in this window; the 7th (MAX) is still answered.
    const before = (await failures()).length;
    expect(before).toBe(MAX - 1);
    expect((await call('/runs', 'fbk_0000000000_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx')).status).toBe(401);
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) {
      const r = await call('/runs', i % 2 ? token : 'fbk_0000000000_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx');
      statuses.push(r.status);
      if (i === 0) {
        expect(await r.json()).toMatchObject({ error: { code: 'TOO_MANY_FAILED_AUTH' } });
        const after = Number(r.headers.get('retry-after'));
        expect(after).toBeGreaterThan(0);
        expect(after).toBeLessThanOrEqual(60);
      }
    }
    // Even the valid token is refused: the address is blocked before any token is looked at.
    expect(statuses).toEqual([429, 429, 429, 429, 429]);
    const now = await failures();
    expect(now.length).toBe(before + 2);
    expect(now.at(-1)!.data).toEqual({ ip: '127.0.0.1', reason: 'rate-limited', route: 'GET /api/v1/runs' });
  });

  it('the block lifts when its window ends; each window journals its first 429 once', async () => {
    const ping = () => fetch(`${root}/short/ping`);
    const before = (await failures()).length;
    expect((await ping()).status).toBe(401);
    expect((await ping()).status).toBe(429);
    expect((await ping()).status).toBe(429);
    await new Promise((r) => setTimeout(r, 600));
    expect((await ping()).status).toBe(401);
    expect((await ping()).status).toBe(429);
    const reasons = (await failures()).slice(before).map((e) => e.data.reason);
    expect(reasons).toEqual(['no token', 'rate-limited', 'no token', 'rate-limited']);
  });
});
