import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openJournal } from '../src/journal/open.js';
import { openTokenStore } from '../src/identity/tokens.js';
import { Redactor } from '../src/secrets.js';
import { type ApiHarness, startApiHarness, waitForState } from './helpers/api.js';

/**
 * `firebreak serve` over loopback with a real HTTP client: each route, each scope refusal, token
 * revocation, the OpenAPI document against the routes it describes, idempotency, strict bodies and
 * injection refused before any device or the journal sees it. Devices are simulators (fw, edge, sw).
 */
let h: ApiHarness;
const NO_SUCH_RUN = 'r-20260101-000000-0000';

beforeAll(async () => {
  h = await startApiHarness({ name: 'api', addressBlock: '127.47.0.0/16', ports: { ssh: 11022, snmp: 11061 } });
}, 60_000);
afterAll(async () => {
  await h?.close();
});

const fwRules = () => h.fw.control.snapshot().rules.map((r) => r.text);
const runCount = async () => (await h.call('GET', '/api/v1/runs?limit=1000', { token: h.tokens.reader })).json.length as number;

async function contain(address: string, token = h.tokens.runner, headers?: Record<string, string>) {
  return h.call('POST', '/api/v1/runs', { token, headers, body: { playbook: 'isolate-host', params: { address }, reason: 'api test' } });
}

describe('firebreak serve: runs over HTTP', () => {
  it('a run through the API contains on the firewall (rule read back from the device) and rolls back', async () => {
    expect((await h.call('GET', '/healthz')).json).toEqual({ status: 'ok' });
    const ready = await h.call('GET', '/readyz');
    expect(ready.status).toBe(200);
    expect(ready.json.checks.journal.ok).toBe(true);
    const r = await contain('10.20.0.11');
    expect(r.status, JSON.stringify(r.json)).toBe(201);
    expect(r.json).toMatchObject({ created: true, link: `/api/v1/runs/${r.json.runId}` });
    expect(await waitForState(h, r.json.runId, ['contained', 'partial', 'failed'])).toBe('contained');
    expect(fwRules().join('\n')).toContain('10.20.0.11');
    const view = (await h.call('GET', `/api/v1/runs/${r.json.runId}`, { token: h.tokens.reader })).json;
    expect(view.trigger).toMatchObject({ kind: 'api', by: 'runner' });
    expect(view.actions.every((a: { state: string }) => a.state === 'verified')).toBe(true);
    expect(view.timeToContainMs).toBeGreaterThan(0);
    const rb = await h.call('POST', `/api/v1/runs/${r.json.runId}/rollback`, { token: h.tokens.runner, body: { reason: 'done' } });
    expect(rb.status, JSON.stringify(rb.json)).toBe(202);
    expect(await waitForState(h, r.json.runId, ['rolled-back', 'rollback-failed'])).toBe('rolled-back');
    expect(fwRules().join('\n')).not.toContain('10.20.0.11');
    const journal = (await h.call('GET', `/api/v1/runs/${r.json.runId}/journal`, { token: h.tokens.reader })).json;
    expect(journal.map((e: { type: string }) => e.type)).toEqual(
      expect.arrayContaining(['run.created', 'action.intent', 'action.verified', 'action.reverted']),
    );
    expect((await h.call('GET', '/api/v1/journal/verify', { token: h.tokens.reader })).json.ok).toBe(true);
    // One log line per request, carrying the run id.
    expect(
      h.logs.find((l) => l.path === '/api/v1/runs' && l.method === 'POST' && l.runId === r.json.runId && l.status === 201),
    ).toBeTruthy();
  });

  it('the catalog: playbooks, devices with reachability (no credentials), plan preview changing nothing', async () => {
    const pbs = (await h.call('GET', '/api/v1/playbooks', { token: h.tokens.reader })).json;
    expect(pbs.map((p: { id: string }) => p.id)).toEqual(expect.arrayContaining(['isolate-host', 'drop-internet-uplinks']));
    expect((await h.call('GET', '/api/v1/playbooks/isolate-host', { token: h.tokens.reader })).json.params.address.type).toBe('ipv4');
    expect((await h.call('GET', '/api/v1/playbooks/nope', { token: h.tokens.reader })).status).toBe(404);
    const devices = await h.call('GET', '/api/v1/devices', { token: h.tokens.reader });
    const fw = devices.json.find((d: { id: string }) => d.id === 'fw');
    expect(fw).toMatchObject({ driver: 'fortios', transport: 'ssh', reachable: true });
    expect(devices.json.find((d: { id: string }) => d.id === 'sw')).toMatchObject({ transport: 'snmp', reachable: null });
    expect(JSON.stringify(devices.json)).not.toMatch(/env:|file:|password|community/i);
    // The server loaded the inventory when it started, not at the first run.
    expect(h.logs.find((l) => l.msg === 'inventory loaded')).toMatchObject({ inventory: { devices: devices.json.length } });
    const health = await h.call('GET', '/api/v1/devices/health?refresh=1', { token: h.tokens.reader });
    expect(
      health.json.map((d: { device: string; authenticated: boolean; hostKeyOk: boolean | null }) => [
        d.device,
        d.authenticated,
        d.hostKeyOk,
      ]),
    ).toEqual(
      [
        ['fw', true, true],
        ['edge', true, true],
        ['sw', true, null],
      ].sort((a, b) => String(a[0]).localeCompare(String(b[0]))),
    );
    const before = fwRules();
    const plan = await h.call('POST', '/api/v1/plans', {
      token: h.tokens.runner,
      body: { playbook: 'isolate-host', params: { address: '10.20.0.12' } },
    });
    expect(plan.status).toBe(200);
    expect(plan.json.actions[0]).toMatchObject({ device: 'fw', action: { kind: 'host.block' } });
    expect(fwRules()).toEqual(before);
  });

  it('every route but health needs a token; each scope is enforced with 403 naming the scope', async () => {
    const doc = (await h.call('GET', '/api/v1/openapi.json', { token: h.tokens.reader })).json;
    // Public: health, and the ways in (sign-in, which provider to offer, the provider's return). Nothing else.
    const PUBLIC = [
      'get /healthz',
      'get /readyz',
      'post /api/v1/session',
      'get /api/v1/session/providers',
      'get /api/v1/session/oidc/start',
      'get /api/v1/session/oidc/callback',
    ];
    const documentedPublic: string[] = [];
    for (const [path, methods] of Object.entries(doc.paths as Record<string, Record<string, { security?: unknown[] }>>))
      for (const [method, op] of Object.entries(methods)) {
        if (Array.isArray(op.security) && op.security.length === 0) documentedPublic.push(`${method} ${path}`);
        if (PUBLIC.includes(`${method} ${path}`)) continue;
        const url = path.replace('{id}', NO_SUCH_RUN).replace('{name}', 'x');
        const r = await h.call(method.toUpperCase(), url, { body: method === 'post' ? {} : undefined });
        expect([r.status, r.json.error?.code], `${method} ${path}`).toEqual([401, 'UNAUTHENTICATED']);
      }
    // The session's own routes read the cookie themselves (401 without one, checked above).
    const SELF_CHECKED = ['get /api/v1/session', 'delete /api/v1/session'];
    expect(documentedPublic.filter((p) => !PUBLIC.includes(p) && !SELF_CHECKED.includes(p))).toEqual([]);
    expect(documentedPublic).toEqual(expect.arrayContaining(['get /healthz', 'get /readyz', 'post /api/v1/session']));
    expect((await h.call('GET', '/api/v1/openapi.json')).status).toBe(401);
    expect((await h.call('GET', '/metrics')).status).toBe(401);
    const refusals: [string, string, string, unknown, string][] = [
      ['reader', 'POST', '/api/v1/runs', { playbook: 'isolate-host', params: { address: '10.20.0.13' } }, 'run:isolate-host'],
      ['detector', 'POST', '/api/v1/runs', { playbook: 'drop-internet-uplinks' }, 'run:drop-internet-uplinks'],
      ['reader', 'POST', '/api/v1/plans', { playbook: 'isolate-host', params: {} }, 'plan'],
      ['reader', 'POST', `/api/v1/runs/${NO_SUCH_RUN}/approve`, {}, 'approve'],
      ['runner', 'POST', `/api/v1/runs/${NO_SUCH_RUN}/approve`, {}, 'approve'],
      ['reader', 'POST', `/api/v1/runs/${NO_SUCH_RUN}/rollback`, {}, 'rollback'],
      ['detector', 'GET', '/api/v1/runs', undefined, 'read'],
    ];
    const runs = await runCount();
    for (const [who, method, path, body, scope] of refusals) {
      const r = await h.call(method, path, { token: h.tokens[who as keyof ApiHarness['tokens']], body });
      expect([r.status, r.json.error.code], `${who} ${method} ${path}`).toEqual([403, 'FORBIDDEN']);
      expect(r.json.error.message).toContain(scope);
    }
    const lockout = await h.call('POST', '/api/v1/runs', {
      token: h.tokens.runner,
      body: { playbook: 'isolate-host', params: { address: '10.20.0.13' }, allowLockout: true },
    });
    expect([lockout.status, lockout.json.error.field]).toEqual([403, 'allowLockout']);
    expect(await runCount()).toBe(runs);
  });

  it('a revoked token is refused on its very next request', async () => {
    const { token } = await h.store.create({ name: 'short-lived', scopes: ['read'], by: 'vitest' });
    expect((await h.call('GET', '/api/v1/runs', { token })).status).toBe(200);
    const other = await openTokenStore({ file: `${h.dir}/tokens.db` });
    await other.revoke('short-lived', 'vitest');
    await other.close();
    const r = await h.call('GET', '/api/v1/runs', { token });
    expect([r.status, r.json.error.code, r.headers.get('www-authenticate')]).toEqual([401, 'UNAUTHENTICATED', 'Bearer']);
  });

  it('the OpenAPI document describes exactly the routes the server answers, with the schemas that validate them', async () => {
    const doc = (await h.call('GET', '/api/v1/openapi.json', { token: h.tokens.reader })).json;
    expect(doc.openapi).toBe('3.1.0');
    const documented = Object.entries(doc.paths as Record<string, Record<string, { requestBody?: any }>>).flatMap(([path, ms]) =>
      Object.entries(ms).map(([method, op]) => ({ path, method, op })),
    );
    expect(documented.length).toBeGreaterThanOrEqual(20);
    for (const { path, method, op } of documented) {
      const url = path.replace('{id}', NO_SUCH_RUN).replace('{name}', 'x');
      const r = await h.call(method.toUpperCase(), url, {
        token: h.tokens.admin,
        body: method === 'post' ? { __unknown_field: 1 } : undefined,
      });
      // Answered by its route (whatever it thinks of the request), never the catch-all.
      expect(r.json?.error?.message ?? '', `${method} ${path}`).not.toMatch(/^no route/);
      const schema = op.requestBody?.content['application/json'].schema;
      // Detector payloads are open by nature (their fields feed templates); everything else is strict.
      const detector = /^\/api\/v1\/(alertmanager|wazuh|triggers)\//.test(path);
      if (schema && !detector) {
        // Strict in the document, strict in the server: the unknown field is refused by name.
        expect(schema.additionalProperties, `${method} ${path}`).toBe(false);
        expect([r.status, r.json.error?.field], `${method} ${path}`).toEqual([400, '__unknown_field']);
      }
    }
    // Methods the document does not list are not answered.
    for (const [method, path] of [
      ['DELETE', '/api/v1/runs'],
      ['PUT', '/api/v1/runs/x'],
      ['GET', '/api/v1/tokens'],
      ['POST', '/api/v1/holds'],
    ] as const) {
      const r = await h.call(method, path, { token: h.tokens.admin });
      expect([r.status, r.json.error.message], `${method} ${path}`).toEqual([404, expect.stringMatching(/^no route/)]);
      expect(doc.paths[path]?.[method.toLowerCase()]).toBeUndefined();
    }
    // The required fields of the document are the ones the server asks for.
    const create = doc.paths['/api/v1/runs'].post.requestBody.content['application/json'].schema;
    expect(create.required).toEqual(['playbook']);
    const missing = await h.call('POST', '/api/v1/runs', { token: h.tokens.runner, body: { params: {} } });
    expect([missing.status, missing.json.error.field]).toEqual([400, 'playbook']);
  });

  it('Idempotency-Key: a repeated create answers 200 with the first run, never a second run', async () => {
    const runs = await runCount();
    const key = { 'Idempotency-Key': 'soc-case-4711' };
    const first = await contain('10.20.0.21', h.tokens.runner, key);
    const again = await contain('10.20.0.21', h.tokens.runner, key);
    expect([first.status, again.status]).toEqual([201, 200]);
    expect(again.json).toMatchObject({ runId: first.json.runId, created: false });
    expect(await runCount()).toBe(runs + 1);
    const bad = await contain('10.20.0.21', h.tokens.runner, { 'Idempotency-Key': 'a b;c' });
    expect([bad.status, bad.json.error.field]).toEqual([400, 'header.Idempotency-Key']);
    expect(await waitForState(h, first.json.runId, ['contained'])).toBe('contained');
    await h.call('POST', `/api/v1/runs/${first.json.runId}/rollback`, { token: h.tokens.runner, body: {} });
    expect(await waitForState(h, first.json.runId, ['rolled-back'])).toBe('rolled-back');
  });

  it('injection through the body is refused with 400 naming the field; nothing reaches a device or the journal', async () => {
    const runs = await runCount();
    const sent = h.fw.control.received!().length;
    const rules = fwRules();
    const evil = [
      '10.20.0.1\nshow run',
      '10.20.0.1;reboot',
      '$(reboot)',
      '`id`',
      "10.20.0.1' or '1",
      '10.20.0.1"',
      `10.20.0.${'1'.repeat(300)}`,
      '１０.20.0.11',
      '10.20.0.1 && rm',
    ];
    for (const address of evil) {
      const r = await contain(address);
      expect([r.status, r.json.error.code, r.json.error.field], JSON.stringify(address)).toEqual([400, 'PARAM_INVALID', 'params.address']);
    }
    const odd: [unknown, string][] = [
      [{ playbook: 'isolate-host', params: { address: '10.20.0.1' }, reason: 'line\nbreak' }, 'reason'],
      [{ playbook: 'isolate-host;x', params: {} }, 'playbook'],
      [{ playbook: 'isolate-host', params: { 'addr;ess': '10.20.0.1' } }, 'params.addr;ess'],
      [{ playbook: 'isolate-host', params: { address: 7 } }, 'params.address'],
      [{ playbook: 'isolate-host', params: {}, extra: 1 }, 'extra'],
    ];
    for (const [body, field] of odd) {
      const r = await h.call('POST', '/api/v1/runs', { token: h.tokens.runner, body });
      expect([r.status, r.json.error.field], JSON.stringify(body)).toEqual([400, field]);
    }
    const notJson = await h.call('POST', '/api/v1/runs', { token: h.tokens.runner, raw: '{"playbook": ' });
    expect([notJson.status, notJson.json.error.code]).toEqual([400, 'BODY_INVALID_JSON']);
    const huge = await h.call('POST', '/api/v1/runs', {
      token: h.tokens.runner,
      raw: JSON.stringify({ playbook: 'x', reason: 'a'.repeat(400_000) }),
    });
    expect([huge.status, huge.json.error.code]).toEqual([413, 'BODY_TOO_LARGE']);
    expect(await runCount()).toBe(runs);
    expect(h.fw.control.received!().length).toBe(sent);
    expect(fwRules()).toEqual(rules);
    const journal = await openJournal({ file: h.journalFile }, new Redactor());
    const text = JSON.stringify(await journal.all());
    await journal.close();
    for (const v of ['show run', 'reboot', '`id`', "' or '", '１０', '&& rm']) expect(text).not.toContain(v);
  });

  it('metrics: runs by state, time to contain, behind a token', async () => {
    const r = await contain('10.20.0.31');
    expect(await waitForState(h, r.json.runId, ['contained'])).toBe('contained');
    await new Promise((res) => setTimeout(res, 700));
    const m = await h.call('GET', '/metrics', { token: h.tokens.reader });
    expect(m.status).toBe(200);
    expect(m.json).toMatch(/firebreak_runs\{state="contained"\} [1-9]/);
    expect(m.json).toMatch(/firebreak_time_to_contain_seconds_count [1-9]/);
    await h.call('POST', `/api/v1/runs/${r.json.runId}/rollback`, { token: h.tokens.runner, body: {} });
    expect(await waitForState(h, r.json.runId, ['rolled-back'])).toBe('rolled-back');
  });
});
