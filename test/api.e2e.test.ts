import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiHarness, startApiHarness, waitForState } from './helpers/api.js';

let h: ApiHarness;
beforeAll(async () => {
  h = await startApiHarness({ name: 'api', addressBlock: '127.47.0.0/16', ports: { ssh: 11022, snmp: 11061 } });
}, 60_000);
afterAll(async () => {
  await h?.close();
});

describe('firebreak serve: runs', () => {
  it('smoke: a run through the API contains on the firewall and rolls back', async () => {
    expect((await h.call('GET', '/healthz')).status).toBe(200);
    const r = await h.call('POST', '/api/v1/runs', {
      token: h.tokens.runner,
      body: { playbook: 'isolate-host', params: { address: '10.20.0.11' }, reason: 'test' },
    });
    expect(r.status, JSON.stringify(r.json)).toBe(201);
    expect(await waitForState(h, r.json.runId, ['contained', 'partial', 'failed'])).toBe('contained');
    expect(
      h.fw.control
        .snapshot()
        .rules.map((x) => x.text)
        .join('\n'),
    ).toContain('10.20.0.11');
    const rb = await h.call('POST', `/api/v1/runs/${r.json.runId}/rollback`, { token: h.tokens.runner, body: {} });
    expect(rb.status, JSON.stringify(rb.json)).toBe(202);
    expect(await waitForState(h, r.json.runId, ['rolled-back', 'rollback-failed'])).toBe('rolled-back');
    expect(
      h.fw.control
        .snapshot()
        .rules.map((x) => x.text)
        .join('\n'),
    ).not.toContain('10.20.0.11');
  });
});
