import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openJournal } from '../src/journal/open.js';
import { Redactor } from '../src/secrets.js';
import { type ApiHarness, startApiHarness, waitForState } from './helpers/api.js';
import { startWorkerProcess, stopProcess } from './helpers/backends.js';
import { type PrivateRedis, servicesReady, startPrivateRedis } from './helpers/services.js';

/**
 * The API in queue mode, on a private Redis this file starts and kills: runs go to a real
 * `firebreak worker`; with Redis gone, a create answers 503 within 2 s and changes nothing, and a
 * trigger that allows break-glass runs in the server's own process instead.
 */
const ready = await servicesReady({ redisServer: true });
let h: ApiHarness;
let redis: PrivateRedis;
let worker: ChildProcess | undefined;
let redisDir: string;

const TRIGGERS = `triggers:
  - name: edr
    kind: webhook
    playbook: isolate-host
    params: { address: "{{ host.ip }}" }
    secret: env:FB_TEST_EDR_HMAC
    breakGlass: true
    cooldownSeconds: 0
`;

beforeAll(async () => {
  if (!ready) return;
  process.env.FB_TEST_EDR_HMAC = 'queue-test-hmac-key-0123456789';
  redisDir = await mkdtemp(join(tmpdir(), 'fb-api-redis-'));
  redis = await startPrivateRedis(redisDir);
  h = await startApiHarness({
    name: 'api-queue',
    addressBlock: '127.52.0.0/16',
    ports: { ssh: 11522, snmp: 11561 },
    queue: { redisUrl: redis.url, prefix: 'fbtest-api' },
    triggers: TRIGGERS,
  });
  worker = await startWorkerProcess({
    REDIS_URL: redis.url,
    FIREBREAK_REDIS_PREFIX: 'fbtest-api',
    FIREBREAK_INVENTORY: h.net.inventoryDir,
    FIREBREAK_JOURNAL: h.journalFile,
  });
}, 90_000);
afterAll(async () => {
  if (worker) await stopProcess(worker);
  await h?.close();
  await redis?.stop();
  if (redisDir) await rm(redisDir, { recursive: true, force: true });
});

const fwRules = () => h.fwRules();

describe.skipIf(!ready)('the API in queue mode', () => {
  it('a run created over HTTP is executed by a worker; readyz sees Redis and the worker', async () => {
    const ok = await h.call('GET', '/readyz');
    expect([ok.status, ok.json.checks.workers?.ok, ok.json.checks.redis?.ok]).toEqual([200, true, true]);
    const r = await h.call('POST', '/api/v1/runs', {
      token: h.tokens.runner,
      body: { playbook: 'isolate-host', params: { address: '10.20.0.91' } },
    });
    expect([r.status, r.json.state]).toEqual([201, 'queued']);
    expect(await waitForState(h, r.json.runId, ['contained', 'partial', 'failed'])).toBe('contained');
    const view = (await h.call('GET', `/api/v1/runs/${r.json.runId}`, { token: h.tokens.reader })).json;
    expect(view.executor).toBe('queue');
    expect(fwRules()).toContain('10.20.0.91');
    const m = await h.call('GET', '/metrics', { token: h.tokens.reader });
    expect(
      m.json,
      m.json
        .split('\n')
        .filter((l: string) => l.includes('queue'))
        .join('\n'),
    ).toMatch(/firebreak_queue_jobs\{queue="runs",state="waiting"\} 0/);
  });

  it('Redis gone: a create answers 503 within 2 s and nothing is changed; a break-glass trigger runs in-process', async () => {
    await redis.stop();
    const rulesBefore = fwRules();
    const t0 = performance.now();
    const r = await h.call('POST', '/api/v1/runs', {
      token: h.tokens.runner,
      body: { playbook: 'isolate-host', params: { address: '10.20.0.92' } },
    });
    const ms = performance.now() - t0;
    expect([r.status, r.json.error.code]).toEqual([503, 'QUEUE_UNAVAILABLE']);
    expect(ms).toBeLessThan(2_000);
    expect(fwRules()).toBe(rulesBefore);
    const ready = await h.call('GET', '/readyz');
    expect([ready.status, ready.json.checks.redis.ok]).toEqual([503, false]);

    const { signWebhook, SIGNATURE_HEADER, TIMESTAMP_HEADER } = await import('../src/triggers/hmac.js');
    const body = JSON.stringify({ id: 'edr-1', host: { ip: '10.20.0.93' } });
    const ts = String(Math.floor(Date.now() / 1000));
    const sent = await h.call('POST', '/api/v1/triggers/edr', {
      token: h.tokens.detector,
      raw: body,
      headers: { [TIMESTAMP_HEADER]: ts, [SIGNATURE_HEADER]: `sha256=${signWebhook(process.env.FB_TEST_EDR_HMAC!, ts, body)}` },
    });
    expect([sent.status, sent.json.decision], JSON.stringify(sent.json)).toEqual([201, 'created']);
    expect(await waitForState(h, sent.json.runId, ['contained', 'partial', 'failed'])).toBe('contained');
    expect(fwRules()).toContain('10.20.0.93');
    const journal = await openJournal({ file: h.journalFile }, new Redactor());
    const glass = await journal.find({ runId: sent.json.runId, types: ['run.break-glass', 'run.state'] });
    await journal.close();
    expect(glass.map((e) => (e.type === 'run.state' ? e.data.state : e.type))).toEqual([
      'queued',
      'run.break-glass',
      'running',
      'contained',
    ]);
  });
});
