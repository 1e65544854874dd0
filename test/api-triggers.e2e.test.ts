import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiHarness, startApiHarness, waitForState } from './helpers/api.js';
import {
  alertGroup,
  decisionCount,
  HOSTILE_ADDRESSES,
  fwReceived,
  fwRules,
  runCount,
  runJournal,
  signedWebhook,
  triggerEvents,
  wazuhAlert,
  wholeJournal,
} from './helpers/detectors.js';
import { repo } from './helpers/lab.js';

/**
 * The detector receivers end to end: a real `firebreak serve` over the simulated firewall, fed
 * Alertmanager groups, Wazuh alerts and signed webhooks. Each test has its own 10.20.0.x so that
 * no test sees another's holds; what counts is what the firewall, the run list and the journal show.
 */

const SECRET = 'whsec-e2e-3f9a1c7b5d2e8f40';
const many = 'rateLimit: { runs: 1000, perSeconds: 60 }';
const TRIGGERS = `triggers:
  - { name: am-contain, kind: alertmanager, playbook: isolate-host, params: { address: "{{ labels.src_ip }}" }, ${many} }
  - { name: am-undo, kind: alertmanager, playbook: isolate-host, params: { address: "{{ labels.src_ip }}" }, onResolved: rollback, ${many} }
  - { name: wz-contain, kind: wazuh, playbook: isolate-host, params: { address: "{{ data.srcip }}" }, minLevel: 10, ${many} }
  - { name: hook-edr, kind: webhook, playbook: isolate-host, secret: "env:FB_E2E_HOOK_SECRET", params: { address: "{{ host.ip }}" }, ${many} }
  - { name: am-limited, kind: alertmanager, playbook: isolate-host-limited, params: { address: "{{ labels.src_ip }}" }, rateLimit: { runs: 2, perSeconds: 60 } }
  - { name: am-uplinks, kind: alertmanager, playbook: drop-internet-uplinks, ${many} }
`;
// The rate is counted per playbook: the rate-limit test gets a playbook no other test runs.
const LIMITED = readFileSync(join(repo, 'playbooks', 'isolate-host.yaml'), 'utf8').replace(
  /^id: isolate-host$/m,
  'id: isolate-host-limited',
);

let h: ApiHarness;
beforeAll(async () => {
  process.env.FB_E2E_HOOK_SECRET = SECRET;
  h = await startApiHarness({
    name: 'api-triggers',
    addressBlock: '127.48.0.0/16',
    ports: { ssh: 11122, snmp: 11161 },
    triggers: TRIGGERS,
    playbooks: { 'isolate-host-limited.yaml': LIMITED },
  });
}, 60_000);
afterAll(async () => {
  await h?.close();
  delete process.env.FB_E2E_HOOK_SECRET;
});

const am = (trigger: string, body: unknown, token = h.tokens.detector) =>
  h.call('POST', `/api/v1/alertmanager/${trigger}`, { token, body });
const wz = (body: unknown) => h.call('POST', '/api/v1/wazuh/wz-contain', { token: h.tokens.detector, body });
const hook = (req: { raw: string; headers: Record<string, string> }) =>
  h.call('POST', '/api/v1/triggers/hook-edr', { token: h.tokens.detector, raw: req.raw, headers: req.headers });
const show = (r: { status: number; json: unknown }) => `${r.status} ${JSON.stringify(r.json)}`;
const contained = async (runId: string) => expect(await waitForState(h, runId, ['contained', 'partial', 'failed'])).toBe('contained');
const stateOf = async (runId: string) => (await h.call('GET', `/api/v1/runs/${runId}`, { token: h.tokens.reader })).json.state;
/** Commands that wrote the address into the firewall's configuration (reads are `show ...`). */
const writesOf = (address: string) => fwReceived(h).filter((l) => l.includes(address) && !l.startsWith('show'));

describe('Alertmanager receiver', () => {
  it('firing, repeated and resolved notifications of one group make one run; a second group makes a second', async () => {
    const before = await runCount(h);
    const g1 = alertGroup({ groupKey: '{}:{alertname="SuspiciousOutbound", instance="h21"}', srcIp: '10.20.0.21' });
    const first = await am('am-contain', g1);
    expect(first.status, show(first)).toBe(201);
    expect(first.json.decision).toBe('created');
    const runId: string = first.json.runId;
    await contained(runId);
    expect(fwRules(h)).toContain('10.20.0.21');

    const again = await am('am-contain', g1);
    expect(again.status, show(again)).toBe(200);
    expect(again.json).toMatchObject({ decision: 'duplicate', runId });

    const resolved = await am('am-contain', alertGroup({ groupKey: g1.groupKey, srcIp: '10.20.0.21', status: 'resolved' }));
    expect(resolved.status, show(resolved)).toBe(200);
    expect(resolved.json).toMatchObject({ decision: 'resolved-recorded', runId });
    // Recorded only: nothing rolls back, the block stays on the firewall.
    await new Promise((r) => setTimeout(r, 300));
    expect(await stateOf(runId)).toBe('contained');
    expect(fwRules(h)).toContain('10.20.0.21');
    const entries = await runJournal(h, runId);
    expect(entries.filter((e) => e.type === 'rollback.started' || e.type === 'rollback.requested')).toEqual([]);
    expect((await triggerEvents(h, runId)).map((d) => d.decision)).toEqual(['created', 'duplicate', 'resolved-recorded']);

    const g2 = alertGroup({ groupKey: '{}:{alertname="SuspiciousOutbound", instance="h22"}', srcIp: '10.20.0.22' });
    const second = await am('am-contain', g2);
    expect(second.status, show(second)).toBe(201);
    expect(second.json.runId).not.toBe(runId);
    await contained(second.json.runId);
    expect(fwRules(h)).toContain('10.20.0.22');
    // A resolved group Firebreak never saw firing is recorded, and is no run.
    const unknown = await am('am-contain', alertGroup({ groupKey: '{}:{instance="h23"}', srcIp: '10.20.0.23', status: 'resolved' }));
    expect(unknown.status, show(unknown)).toBe(200);
    expect(unknown.json).toMatchObject({ decision: 'resolved-unknown' });
    expect(unknown.json.runId).toBeUndefined();
    expect(await runCount(h)).toBe(before + 2);
  });

  it('50 concurrent copies of one new alert make one run, and the firewall is changed once', async () => {
    const before = await runCount(h);
    const g = alertGroup({ groupKey: '{}:{alertname="SuspiciousOutbound", instance="h31"}', srcIp: '10.20.0.31' });
    const answers = await Promise.all(Array.from({ length: 50 }, () => am('am-contain', g)));
    const created = answers.filter((a) => a.status === 201);
    expect(created.length, answers.map(show).join('\n')).toBe(1);
    const runId: string = created[0]!.json.runId;
    const dups = answers.filter((a) => a.status === 200);
    expect(dups).toHaveLength(49);
    for (const d of dups) expect(d.json).toMatchObject({ decision: 'duplicate', runId });
    await contained(runId);
    expect(await runCount(h)).toBe(before + 1);
    // Repeats are journaled at most once per 10 s (their count goes with the next one).
    expect((await triggerEvents(h, runId)).map((d) => d.decision)).toEqual(['created', 'duplicate']);
    // One address object and one policy per direction, each written once.
    const rules = h.fw.control.snapshot().rules.filter((x) => x.text.includes('10.20.0.31'));
    expect(rules.map((x) => / (src|dst)"/.exec(x.text)?.[1]).sort()).toEqual(['dst', 'src']);
    expect(writesOf('10.20.0.31').filter((l) => l.startsWith('set subnet'))).toEqual(['set subnet 10.20.0.31/32']);
  });

  it('onResolved rollback: resolved asks for a rollback that waits for a person with approve', async () => {
    const g = alertGroup({ groupKey: '{}:{alertname="SuspiciousOutbound", instance="h41"}', srcIp: '10.20.0.41' });
    const fired = await am('am-undo', g);
    expect(fired.status, show(fired)).toBe(201);
    const runId: string = fired.json.runId;
    await contained(runId);

    const resolved = await am('am-undo', alertGroup({ groupKey: g.groupKey, srcIp: '10.20.0.41', status: 'resolved' }));
    expect(resolved.status, show(resolved)).toBe(202);
    expect(resolved.json).toMatchObject({ decision: 'rollback-requested', runId });
    await new Promise((r) => setTimeout(r, 300));
    const waiting = await h.call('GET', `/api/v1/runs/${runId}`, { token: h.tokens.reader });
    expect(waiting.json.state).toBe('contained');
    expect(waiting.json.pendingApproval).toMatchObject({ for: 'rollback', requestedBy: 'trigger:am-undo' });
    expect(fwRules(h)).toContain('10.20.0.41');

    const byDetector = await h.call('POST', `/api/v1/runs/${runId}/approve`, { token: h.tokens.detector, body: {} });
    expect(byDetector.status, show(byDetector)).toBe(403);
    expect(fwRules(h)).toContain('10.20.0.41');

    const ok = await h.call('POST', `/api/v1/runs/${runId}/approve`, { token: h.tokens.approver, body: {} });
    expect(ok.status, show(ok)).toBe(200);
    expect(ok.json.for).toBe('rollback');
    expect(await waitForState(h, runId, ['rolled-back', 'rollback-failed'])).toBe('rolled-back');
    expect(fwRules(h)).not.toContain('10.20.0.41');
  });
});

describe('generic webhook (HMAC)', () => {
  it('a valid signature creates a run; bad, missing, stale and replayed ones are refused and journaled without the secret', async () => {
    const before = await runCount(h);
    const valid = signedWebhook(SECRET, { id: 'edr-51', summary: 'beacon', host: { ip: '10.20.0.51' } });
    const ok = await hook(valid);
    expect(ok.status, show(ok)).toBe(201);
    await contained(ok.json.runId);
    expect(fwRules(h)).toContain('10.20.0.51');

    const body = { id: 'edr-52', summary: 'beacon', host: { ip: '10.20.0.52' } };
    const cases: [string, { raw: string; headers: Record<string, string> }][] = [
      ['SIGNATURE_INVALID', signedWebhook('not-the-secret', body)],
      ['SIGNATURE_MISSING', { raw: JSON.stringify(body), headers: {} }],
      ['TIMESTAMP_STALE', signedWebhook(SECRET, body, { timestampS: Math.floor(Date.now() / 1000) - 600 })],
      ['REPLAY', valid],
    ];
    for (const [code, req] of cases) {
      const r = await hook(req);
      expect(r.status, `${code}: ${show(r)}`).toBe(401);
      expect(r.json.error.code).toBe(code);
    }
    expect(await runCount(h)).toBe(before + 1);
    expect(fwRules(h)).not.toContain('10.20.0.52');

    const all = await wholeJournal(h);
    const failed = all.filter((e) => e.runId === '_api' && e.type === 'auth.failed' && String(e.data.route).includes('hook-edr'));
    for (const [code] of cases)
      expect(
        failed.some((e) => String(e.data.reason).startsWith(code)),
        code,
      ).toBe(true);
    expect(JSON.stringify(all)).not.toContain(SECRET);
    expect(JSON.stringify(h.logs)).not.toContain(SECRET);
  });
});

describe('Wazuh receiver', () => {
  it('an alert with data.srcip blocks that address; one below minLevel is ignored', async () => {
    const before = await runCount(h);
    const r = await wz(wazuhAlert({ id: '1764481272.55', srcip: '10.20.0.55' }));
    expect(r.status, show(r)).toBe(201);
    await contained(r.json.runId);
    expect(fwRules(h)).toContain('10.20.0.55');
    const view = await h.call('GET', `/api/v1/runs/${r.json.runId}`, { token: h.tokens.reader });
    expect(view.json.params).toMatchObject({ address: '10.20.0.55' });

    const low = await wz(wazuhAlert({ id: '1764481272.56', srcip: '10.20.0.56', level: 3 }));
    expect(low.status, show(low)).toBe(200);
    expect(low.json.decision).toBe('ignored');
    expect(low.json.runId).toBeUndefined();
    expect(await runCount(h)).toBe(before + 1);
    expect(fwRules(h)).not.toContain('10.20.0.56');
  });
});

describe('hostile values in labels and bodies', () => {
  it('are refused with 400 naming params.address; no run, no device traffic, nothing journaled', async () => {
    const runsBefore = await runCount(h);
    const receivedBefore = fwReceived(h);
    const rulesBefore = h.fw.control.snapshot().rules;
    const senders: [string, (value: string, i: number) => Promise<{ status: number; json: any }>][] = [
      ['alertmanager commonLabels.src_ip', (v, i) => am('am-contain', alertGroup({ groupKey: `{}:{evil="${i}"}`, srcIp: v }))],
      ['wazuh data.srcip', (v, i) => wz(wazuhAlert({ id: `1764481272.60${i}`, srcip: v }))],
      ['webhook host.ip', (v, i) => hook(signedWebhook(SECRET, { id: `evil-${i}`, summary: 'x', host: { ip: v } }))],
    ];
    for (const [via, send] of senders) {
      for (const [i, bad] of HOSTILE_ADDRESSES.entries()) {
        const r = await send(bad.value, i);
        const what = `${via}, ${bad.what}: ${show(r)}`;
        expect(r.status, what).toBe(400);
        expect(r.json.error, what).toMatchObject({ code: bad.code, field: 'params.address' });
      }
    }
    expect(await runCount(h)).toBe(runsBefore);
    expect(fwReceived(h)).toEqual(receivedBefore);
    expect(h.fw.control.snapshot().rules).toEqual(rulesBefore);
    const all = await wholeJournal(h);
    const text = JSON.stringify(all);
    for (const bad of HOSTILE_ADDRESSES) expect(text, bad.what).not.toContain(JSON.stringify(bad.value).slice(1, -1));
    // The refusals themselves are journaled: which parameter and which code, never the value.
    const refused = all.filter((e) => e.type === 'trigger.event' && e.data.decision === 'refused');
    expect(refused.length).toBeGreaterThan(0);
    for (const e of refused) expect(e.data.detail).toMatch(/^(PARAM_INVALID|TRIGGER_INVALID) params\.address$/);
  });
});

describe('what Firebreak holds already', () => {
  it("another trigger's event for an address a run holds is matched to that run", async () => {
    const a = await am('am-contain', alertGroup({ groupKey: '{}:{instance="h71"}', srcIp: '10.20.0.71' }));
    expect(a.status, show(a)).toBe(201);
    await contained(a.json.runId);
    const before = await runCount(h);
    const b = await wz(wazuhAlert({ id: '1764481272.71', srcip: '10.20.0.71' }));
    expect(b.status, show(b)).toBe(200);
    expect(b.json).toMatchObject({ decision: 'already-contained', runId: a.json.runId });
    expect(await runCount(h)).toBe(before);
    const events = await triggerEvents(h, a.json.runId);
    expect(events.filter((d) => d.trigger === 'wz-contain').map((d) => d.decision)).toEqual(['already-contained']);
    expect(h.fw.control.snapshot().rules.filter((x) => x.text.includes('10.20.0.71'))).toHaveLength(2);
  });

  it('a new alert for the same target within cooldownSeconds is matched to the recent run', async () => {
    const first = await wz(wazuhAlert({ id: '1764481272.81', srcip: '10.20.0.81' }));
    expect(first.status, show(first)).toBe(201);
    await contained(first.json.runId);
    const before = await runCount(h);
    const next = await wz(wazuhAlert({ id: '1764481272.810', srcip: '10.20.0.81' }));
    expect(next.status, show(next)).toBe(200);
    expect(next.json).toMatchObject({ decision: 'cooldown', runId: first.json.runId });
    expect(await runCount(h)).toBe(before);
    expect((await triggerEvents(h, first.json.runId)).map((d) => d.decision)).toEqual(['created', 'cooldown']);
  });

  it('over rateLimit { runs: 2, perSeconds: 60 } the third target is refused with 429', async () => {
    const before = await runCount(h);
    const fire = (n: number) => am('am-limited', alertGroup({ groupKey: `{}:{instance="h${n}"}`, srcIp: `10.20.0.${n}` }), h.tokens.runner);
    const one = await fire(82);
    const two = await fire(83);
    const three = await fire(84);
    expect([one.status, two.status, three.status], [one, two, three].map(show).join('\n')).toEqual([201, 201, 429]);
    expect(three.json.decision).toBe('rate-limited');
    expect(three.json.runId).toBeUndefined();
    await contained(two.json.runId);
    expect(await runCount(h)).toBe(before + 2);
    expect(fwRules(h)).not.toContain('10.20.0.84');
  });
});

describe('scopes', () => {
  it('the detector token may start isolate-host only; no token is 401', async () => {
    const before = await runCount(h);
    const edgeBefore = h.net.devices.find((d) => d.spec.id === 'edge')!.control.snapshot().ports;
    const g = alertGroup({ groupKey: '{}:{instance="h90"}', srcIp: '10.20.0.90' });
    const uplinks = await am('am-uplinks', g);
    expect(uplinks.status, show(uplinks)).toBe(403);
    expect(uplinks.json.error.code).toBe('FORBIDDEN');
    const anonymous = await h.call('POST', '/api/v1/alertmanager/am-contain', { body: g });
    expect(anonymous.status, show(anonymous)).toBe(401);
    const noTokenHook = await h.call(
      'POST',
      '/api/v1/triggers/hook-edr',
      signedWebhook(SECRET, { id: 'anon', host: { ip: '10.20.0.90' } }),
    );
    expect(noTokenHook.status, show(noTokenHook)).toBe(401);
    expect(await runCount(h)).toBe(before);
    expect(h.net.devices.find((d) => d.spec.id === 'edge')!.control.snapshot().ports).toEqual(edgeBefore);
    expect(fwRules(h)).not.toContain('10.20.0.90');
    // The same group on a trigger of isolate-host is the detector's to start.
    const allowed = await am('am-contain', g);
    expect(allowed.status, show(allowed)).toBe(201);
    await contained(allowed.json.runId);
    expect(fwRules(h)).toContain('10.20.0.90');
  });
});

describe('/metrics', () => {
  it('counts webhook decisions by trigger: created and duplicate', async () => {
    const scrape = async () => {
      const r = await h.call('GET', '/metrics', { token: h.tokens.reader });
      expect(r.status).toBe(200);
      return String(r.json);
    };
    const before = await scrape();
    const g = alertGroup({ groupKey: '{}:{instance="h95"}', srcIp: '10.20.0.95' });
    expect((await am('am-contain', g)).status).toBe(201);
    expect((await am('am-contain', g)).status).toBe(200);
    const after = await scrape();
    for (const decision of ['created', 'duplicate'])
      expect(decisionCount(after, 'am-contain', decision), decision).toBe(decisionCount(before, 'am-contain', decision) + 1);
    expect(after).toMatch(/^firebreak_webhook_decisions_total\{trigger="am-contain",decision="created"\} \d+$/m);
  });
});
