import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serve } from '../src/api/serve.js';
import { openJournal } from '../src/journal/open.js';
import { Redactor } from '../src/secrets.js';
import { type ApiHarness, startApiHarness, waitForState } from './helpers/api.js';
import { repo } from './helpers/lab.js';

/**
 * Expiring containment: a run with a time to live is rolled back when it runs out, through holds
 * (a target another run still holds stays contained), unless kept; and the deadline lives in the
 * journal, so a server started after every Firebreak process was stopped still fires it.
 */
let h: ApiHarness;
beforeAll(async () => {
  h = await startApiHarness({ name: 'expiry', addressBlock: '127.58.0.0/16', ports: { ssh: 12122, snmp: 12161 } });
}, 60_000);
afterAll(async () => {
  await h?.close();
});

const fwRules = () => h.fwRules();
const contain = (address: string, ttlSeconds?: number) =>
  h.call('POST', '/api/v1/runs', {
    token: h.tokens.runner,
    body: { playbook: 'isolate-host', params: { address }, ...(ttlSeconds ? { ttlSeconds } : {}) },
  });

async function entries(runId: string) {
  const j = await openJournal({ file: h.journalFile }, new Redactor());
  try {
    return await j.entries(runId);
  } finally {
    await j.close();
  }
}

/** How late the expiry fired: its due time to the rollback's start, in ms. */
async function lateness(runId: string): Promise<number> {
  const list = await entries(runId);
  const due = Number(list.find((e) => e.type === 'run.expires')!.data.at);
  const started = list.find((e) => e.type === 'rollback.started')!;
  expect(started.data.by).toBe('expiry');
  return Date.parse(started.ts) - due;
}

describe('expiring containment (time to live)', () => {
  it('is rolled back when its time runs out, within 2 s, by `expiry`', async () => {
    const r = await contain('10.20.0.101', 2);
    expect(r.status).toBe(201);
    expect(await waitForState(h, r.json.runId, ['contained'])).toBe('contained');
    expect(fwRules()).toContain('10.20.0.101');
    expect(await waitForState(h, r.json.runId, ['rolled-back'], 6_000)).toBe('rolled-back');
    expect(fwRules()).not.toContain('10.20.0.101');
    const late = await lateness(r.json.runId);
    expect(late).toBeGreaterThanOrEqual(0);
    expect(late).toBeLessThan(2_000);
  });

  it('a target another run holds stays contained when the first expires', async () => {
    const a = await contain('10.20.0.102', 2);
    expect(await waitForState(h, a.json.runId, ['contained'])).toBe('contained');
    const b = await contain('10.20.0.102');
    expect(await waitForState(h, b.json.runId, ['contained'])).toBe('contained');
    expect(await waitForState(h, a.json.runId, ['rolled-back'], 6_000)).toBe('rolled-back');
    expect(fwRules()).toContain('10.20.0.102');
    expect((await entries(a.json.runId)).some((e) => e.type === 'hold.released')).toBe(true);
    expect(await waitForState(h, b.json.runId, ['contained'], 100)).toBe('contained');
    await h.call('POST', `/api/v1/runs/${b.json.runId}/rollback`, { token: h.tokens.runner, body: {} });
    expect(await waitForState(h, b.json.runId, ['rolled-back'])).toBe('rolled-back');
    expect(fwRules()).not.toContain('10.20.0.102');
  });

  it('kept, it stays; extended, it expires at the new time', async () => {
    const kept = await contain('10.20.0.103', 2);
    const ext = await contain('10.20.0.104', 2);
    expect(await waitForState(h, kept.json.runId, ['contained'])).toBe('contained');
    expect(await waitForState(h, ext.json.runId, ['contained'])).toBe('contained');
    expect(
      (await h.call('POST', `/api/v1/runs/${kept.json.runId}/keep`, { token: h.tokens.runner, body: { reason: 'confirmed by SOC' } }))
        .status,
    ).toBe(204);
    const e = await h.call('POST', `/api/v1/runs/${ext.json.runId}/expiry`, { token: h.tokens.runner, body: { ttlSeconds: 4 } });
    expect(e.status).toBe(200);
    await new Promise((r) => setTimeout(r, 3_000));
    expect(await waitForState(h, kept.json.runId, ['contained'], 100)).toBe('contained');
    expect(await waitForState(h, ext.json.runId, ['contained'], 100)).toBe('contained');
    expect(await waitForState(h, ext.json.runId, ['rolled-back'], 5_000)).toBe('rolled-back');
    expect(Date.parse((await entries(ext.json.runId)).find((x) => x.type === 'rollback.started')!.ts)).toBeGreaterThanOrEqual(
      e.json.expiresAt,
    );
    expect(fwRules()).toContain('10.20.0.103');
    expect(fwRules()).not.toContain('10.20.0.104');
    await h.call('POST', `/api/v1/runs/${kept.json.runId}/rollback`, { token: h.tokens.runner, body: {} });
    expect(await waitForState(h, kept.json.runId, ['rolled-back'])).toBe('rolled-back');
  });

  it('every Firebreak process stopped before the expiry: the next server started fires it within 2 s', async () => {
    const r = await contain('10.20.0.105', 2);
    expect(await waitForState(h, r.json.runId, ['contained'])).toBe('contained');
    await h.serving.stop();
    await new Promise((res) => setTimeout(res, 3_000));
    expect(fwRules()).toContain('10.20.0.105');
    const t0 = Date.now();
    const again = await serve({
      app: { paths: { inventory: h.net.inventoryDir, playbooks: join(repo, 'playbooks'), journal: h.journalFile }, local: true },
      host: '127.0.0.1',
      port: 0,
      version: 'test',
      log: pino({ level: 'silent' }),
    });
    try {
      let state = '';
      while (Date.now() - t0 < 5_000 && state !== 'rolled-back') {
        const res = await fetch(`${again.url}/api/v1/runs/${r.json.runId}`, { headers: { authorization: `Bearer ${h.tokens.reader}` } });
        state = ((await res.json()) as { state: string }).state;
        await new Promise((res) => setTimeout(res, 50));
      }
      expect(state).toBe('rolled-back');
      const started = (await entries(r.json.runId)).find((e) => e.type === 'rollback.started')!;
      expect(Date.parse(started.ts) - t0).toBeLessThan(2_000);
      expect(fwRules()).not.toContain('10.20.0.105');
    } finally {
      await again.stop();
    }
  });
});
