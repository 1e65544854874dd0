import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigInvalid, ParamInvalid } from '../src/errors.js';
import { listPlaybooks, loadPlaybook } from '../src/playbooks/load.js';
import { validateParams } from '../src/playbooks/params.js';
import type { Playbook } from '../src/playbooks/types.js';
import { alertmanagerEvent } from '../src/triggers/alertmanager.js';
import { loadTriggers, parseTriggers } from '../src/triggers/config.js';
import { memoryReplayCache, type ReplayCache, redisReplayCache, signWebhook, verifyWebhook } from '../src/triggers/hmac.js';
import { renderParams } from '../src/triggers/template.js';
import { TriggerInvalid, type TriggerSpec } from '../src/triggers/types.js';
import { wazuhEvent } from '../src/triggers/wazuh.js';
import { webhookEvent } from '../src/triggers/webhook.js';
import { redisUrl, servicesReady, testPrefix } from './helpers/services.js';

const redisOk = await servicesReady({ redis: true });
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const fixture = async (name: string): Promise<any> => JSON.parse(await readFile(join(root, 'test', 'fixtures', name), 'utf8'));

const GOOD = `triggers:
  - name: exfil
    kind: alertmanager
    playbook: isolate-host
    params: { address: "{{ commonLabels.src_ip }}", port: "{{ commonLabels.switch }}:{{ commonLabels.switch_port }}" }
    match: { alertname: SuspiciousOutbound }
    cooldownSeconds: 900
    approval: required
    onResolved: record
    breakGlass: false
    rateLimit: { runs: 5, perSeconds: 60 }
  - { name: wazuh-av, kind: wazuh, playbook: isolate-host, params: { address: "{{ data.srcip }}" }, minLevel: 10 }
  - { name: edr, kind: webhook, playbook: isolate-host, params: { address: "{{ host.ip }}" }, secret: env:EDR_HMAC }
`;

let dir: string;
let playbooks: string[];
let isolateHost: Playbook;
let specs: TriggerSpec[];
const spec = (name: string, over: Partial<TriggerSpec> = {}): TriggerSpec => ({ ...specs.find((s) => s.name === name)!, ...over });

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fb-triggers-'));
  playbooks = await listPlaybooks(join(root, 'playbooks'));
  isolateHost = await loadPlaybook(join(root, 'playbooks', 'isolate-host.yaml'));
  await writeFile(join(dir, 'triggers.yaml'), GOOD);
  specs = await loadTriggers(join(dir, 'triggers.yaml'), playbooks);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** 1-based line:col of the first `needle` in `text`. */
function at(text: string, needle: string): string {
  const i = text.indexOf(needle);
  if (i < 0) throw new Error(`${needle} not in text`);
  const before = text.slice(0, i).split('\n');
  return `${before.length}:${before[before.length - 1]!.length + 1}`;
}

function refusal(fn: () => unknown): Error {
  try {
    fn();
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a refusal');
}

describe('triggers.yaml', () => {
  it('loads the example with defaults applied', () => {
    expect(specs.map((s) => [s.name, s.kind])).toEqual([
      ['exfil', 'alertmanager'],
      ['wazuh-av', 'wazuh'],
      ['edr', 'webhook'],
    ]);
    expect(spec('exfil')).toMatchObject({ cooldownSeconds: 900, approval: 'required', rateLimit: { runs: 5, perSeconds: 60 } });
    expect(spec('wazuh-av')).toEqual({
      name: 'wazuh-av',
      kind: 'wazuh',
      playbook: 'isolate-host',
      params: { address: '{{ data.srcip }}' },
      match: {},
      minLevel: 10,
      cooldownSeconds: 600,
      approval: 'playbook',
      onResolved: 'record',
      breakGlass: false,
      rateLimit: { runs: 10, perSeconds: 60 },
    });
    expect(spec('edr').secret).toBe('env:EDR_HMAC');
  });

  const cases: [what: string, edit: (t: string) => string, needle: string, path: string, message: string][] = [
    [
      'unknown key',
      (t) => t.replace('    breakGlass: false\n', '    breakGlass: false\n    colour: red\n'),
      'colour',
      'triggers[0].colour',
      'unknown key "colour"',
    ],
    ['bad kind', (t) => t.replace('kind: alertmanager', 'kind: prometheus'), 'prometheus', 'triggers[0].kind', 'unknown kind "prometheus"'],
    [
      'webhook without secret',
      (t) => t.replace(', secret: env:EDR_HMAC', ''),
      '{ name: edr',
      'triggers[2]',
      'a webhook trigger needs secret',
    ],
    [
      'unknown playbook',
      (t) => t.replace('playbook: isolate-host\n', 'playbook: isolate-hots\n'),
      'isolate-hots',
      'triggers[0].playbook',
      'unknown playbook "isolate-hots"',
    ],
    [
      'bad placeholder',
      (t) => t.replace('"{{ data.srcip }}"', '"{{ data.srcip | lower }}"'),
      '"{{ data.srcip | lower',
      'triggers[1].params.address',
      'is not a placeholder',
    ],
    [
      'code in braces',
      (t) => t.replace('"{{ host.ip }}"', '"x{{ process.env }}}"'),
      '"x{{',
      'triggers[2].params.address',
      '"}" at character 19',
    ],
    [
      'duplicate name',
      (t) => t.replace('name: edr', 'name: exfil'),
      'exfil, kind: webhook',
      'triggers[2].name',
      'already defined (triggers[0])',
    ],
    [
      'minLevel on alertmanager',
      (t) => t.replace('    cooldownSeconds: 900', '    minLevel: 3\n    cooldownSeconds: 900'),
      'minLevel: 3',
      'triggers[0].minLevel',
      'only for wazuh',
    ],
  ];
  it.each(cases)('%s: refused at file:line:col', (_what, edit, needle, path, message) => {
    const text = edit(GOOD);
    expect(text).not.toBe(GOOD);
    const err = refusal(() => parseTriggers('t.yaml', text, playbooks));
    expect(err).toBeInstanceOf(ConfigInvalid);
    const line = err.message.split('\n').find((l) => l.startsWith(`t.yaml:${at(text, needle)} ${path}: `));
    expect(line, err.message).toBeDefined();
    expect(line).toContain(message);
  });

  it('a literal secret is refused without being repeated, and every problem comes at once', () => {
    const text = GOOD.replace('secret: env:EDR_HMAC', 'secret: hunter2-very-secret').replace('kind: alertmanager', 'kind: nope');
    const err = refusal(() => parseTriggers('t.yaml', text, playbooks));
    expect(err.message).not.toContain('hunter2');
    expect(err.message.split('\n')).toEqual([
      expect.stringMatching(/^t\.yaml:3:11 triggers\[0\]\.kind: unknown kind/),
      expect.stringMatching(/^t\.yaml:13:\d+ triggers\[2\]\.secret: must be a reference/),
    ]);
  });

  it('an unknown playbook passes when no list is given; an unreadable file is ConfigInvalid', async () => {
    expect(parseTriggers('t.yaml', GOOD.replace('playbook: isolate-host\n', 'playbook: isolate-hots\n'))[0]!.playbook).toBe('isolate-hots');
    await expect(loadTriggers(join(dir, 'absent.yaml'))).rejects.toThrow(/absent\.yaml: cannot read \(ENOENT\)/);
  });
});

describe('Alertmanager webhook v4', () => {
  it('firing and resolved of one group: same dedupKey, own status, params that validate against isolate-host', async () => {
    const firing = alertmanagerEvent(spec('exfil'), await fixture('alertmanager-webhook-v4.json'));
    const resolved = alertmanagerEvent(spec('exfil'), await fixture('alertmanager-webhook-v4-resolved.json'));
    const groupKey = '{}:{alertname="SuspiciousOutbound", instance="h1"}';
    expect(firing.dedupKey).toBe(`am:exfil:${createHash('sha256').update(groupKey).digest('hex').slice(0, 16)}`);
    expect(resolved.dedupKey).toBe(firing.dedupKey);
    expect([firing.status, resolved.status]).toEqual(['firing', 'resolved']);
    expect(firing).toMatchObject({ trigger: 'exfil', kind: 'alertmanager', matched: true, target: 'address=10.20.0.11 port=sw:swp1' });
    expect(firing.summary).toBe('Alertmanager firing SuspiciousOutbound: h1 beaconing to 198.51.100.1 (1 alert)');
    expect(validateParams(isolateHost, firing.params)).toEqual({ address: '10.20.0.11', port: 'sw:swp1', quarantineVlan: '999' });
    expect(validateParams(isolateHost, resolved.params)).toEqual(validateParams(isolateHost, firing.params));
  });

  it('labels/annotations aliases and alert indexes render; another group gets another key', async () => {
    const p = await fixture('alertmanager-webhook-v4.json');
    const s = spec('exfil', { params: { address: '{{ labels.src_ip }}', port: '{{ alerts.0.labels.switch }}:{{annotations.runbook}}' } });
    expect(alertmanagerEvent(s, p).params).toEqual({ address: '10.20.0.11', port: 'sw:contain-host' });
    expect(alertmanagerEvent(s, { ...p, groupKey: '{}:{alertname="SuspiciousOutbound", instance="h2"}' }).dedupKey).not.toBe(
      alertmanagerEvent(s, p).dedupKey,
    );
  });

  it('a group that fails match is not matched and renders nothing', async () => {
    const p = await fixture('alertmanager-webhook-v4.json');
    delete p.commonLabels.src_ip;
    const e = alertmanagerEvent(spec('exfil', { match: { alertname: 'PortScan' } }), p);
    expect(e).toMatchObject({ matched: false, params: {}, target: '' });
    expect(e.why).toBe('commonLabels.alertname is "SuspiciousOutbound", the trigger wants "PortScan"');
  });

  it('malformed payloads and a trigger of another kind are TriggerInvalid at their field', async () => {
    const p = await fixture('alertmanager-webhook-v4.json');
    const fields = [
      refusal(() => alertmanagerEvent(spec('exfil'), { ...p, version: '3' })),
      refusal(() => alertmanagerEvent(spec('exfil'), { ...p, alerts: [{ ...p.alerts[0], status: 'pending' }] })),
      refusal(() => alertmanagerEvent(spec('wazuh-av'), p)),
    ].map((e) => (e as TriggerInvalid).field);
    expect(fields).toEqual(['version', 'alerts[0].status', 'kind']);
  });

  it('the summary is one line: control and format characters gone, at most 200 characters', async () => {
    const p = await fixture('alertmanager-webhook-v4.json');
    p.commonAnnotations.summary = `evil\r\n\u001b[31mFAKE: run approved\u202e${'x'.repeat(400)}`;
    const { summary } = alertmanagerEvent(spec('exfil'), p);
    expect(summary.length).toBeLessThanOrEqual(200);
    expect(summary).toMatch(/^Alertmanager firing SuspiciousOutbound: evil \[31mFAKE: run approvedx+…$/);
  });
});

describe('Wazuh custom integration', () => {
  it('the ransomware alert contains its host by data.srcip', async () => {
    const e = wazuhEvent(spec('wazuh-av'), await fixture('wazuh-alert.json'));
    expect(e).toMatchObject({
      status: 'firing',
      matched: true,
      dedupKey: 'wazuh:wazuh-av:1764481272.4081923',
      target: 'address=10.20.0.11',
    });
    expect(e.summary).toBe('Wazuh rule 100200 (level 12) on agent 001 h1: Ransomware behaviour');
    expect(validateParams(isolateHost, e.params)).toEqual({ address: '10.20.0.11', quarantineVlan: '999' });
  });

  it('below minLevel or failing a dotted match it is not matched, and says why', async () => {
    const alert = await fixture('wazuh-alert.json');
    expect(wazuhEvent(spec('wazuh-av', { minLevel: 13 }), alert)).toMatchObject({
      matched: false,
      why: "rule level 12 is below the trigger's minLevel 13",
    });
    expect(wazuhEvent(spec('wazuh-av', { match: { 'rule.groups.2': 'ransomware', 'agent.id': '001' } }), alert).matched).toBe(true);
    expect(wazuhEvent(spec('wazuh-av', { match: { 'rule.id': '100201' } }), alert).why).toBe(
      'rule.id is "100200", the trigger wants "100201"',
    );
  });

  it('a missing or non-scalar field is TriggerInvalid naming the param and the path', async () => {
    const alert = await fixture('wazuh-alert.json');
    delete alert.data.srcip;
    const err = refusal(() => wazuhEvent(spec('wazuh-av'), alert));
    expect(err).toBeInstanceOf(TriggerInvalid);
    expect(err.message).toBe('params.address: {{ data.srcip }} is missing in the event');
    expect((err as TriggerInvalid).field).toBe('params.address');
    expect(() => renderParams({ params: { address: '{{ data }}' } }, alert)).toThrow(
      'params.address: {{ data }} is an object in the event',
    );
  });
});

describe('generic webhook', () => {
  it('dedupKey: the id when given, else the canonical body (key order and status do not matter)', () => {
    const s = spec('edr');
    expect(webhookEvent(s, { id: 'evt-42', host: { ip: '10.20.0.11' } })).toMatchObject({
      dedupKey: 'wh:edr:evt-42',
      params: { address: '10.20.0.11' },
    });
    const a = webhookEvent(s, { host: { ip: '10.20.0.11', name: 'h1' }, rule: 'beacon' });
    const b = webhookEvent(s, { rule: 'beacon', status: 'resolved', host: { name: 'h1', ip: '10.20.0.11' } });
    expect(a.dedupKey).toMatch(/^wh:edr:[0-9a-f]{16}$/);
    expect([b.dedupKey, b.status]).toEqual([a.dedupKey, 'resolved']);
    expect(webhookEvent(s, { host: { ip: '10.20.0.12', name: 'h1' }, rule: 'beacon' }).dedupKey).not.toBe(a.dedupKey);
  });

  it('refuses a body that is not an object, a bad status or id', () => {
    const fields = [[1, 2], { status: 'maybe', host: { ip: '10.20.0.11' } }, { id: 'a b' }].map(
      (body) => (refusal(() => webhookEvent(spec('edr'), body)) as TriggerInvalid).field,
    );
    expect(fields).toEqual(['body', 'status', 'id']);
  });
});

describe('webhook HMAC', () => {
  const secret = 'whsec-0123456789abcdef';
  const body = Buffer.from('{"id":"evt-1","host":{"ip":"10.20.0.11"}}');
  const now = 1_764_481_272_000;
  const ts = String(now / 1000);
  const sig = (t = ts, b: Buffer | string = body, k = secret) => `sha256=${signWebhook(k, t, b)}`;

  /** Counts the cache's calls: forged and stale requests must never reach it. */
  function counting(cache: ReplayCache): ReplayCache & { calls: number } {
    const c = {
      calls: 0,
      seen(k: string, ttl: number) {
        c.calls++;
        return cache.seen(k, ttl);
      },
    };
    return c;
  }

  function suite(name: string, make: () => ReplayCache) {
    it(`${name}: valid, missing, bad, stale (past and future), replayed`, async () => {
      const replays = counting(make());
      const verify = (over: Partial<Parameters<typeof verifyWebhook>[0]>) =>
        verifyWebhook({ secret, timestamp: ts, signature: sig(), rawBody: body, nowMs: now, replays, ...over });
      const code = async (over: Partial<Parameters<typeof verifyWebhook>[0]>) => {
        const r = await verify(over);
        if (!r.ok) expect(r.message).not.toContain(secret);
        return r.ok ? 'ok' : r.code;
      };
      expect(await code({ signature: undefined })).toBe('SIGNATURE_MISSING');
      expect(await code({ timestamp: undefined })).toBe('SIGNATURE_MISSING');
      expect(await code({ rawBody: Buffer.from(body.toString().replace('.11', '.12')) })).toBe('SIGNATURE_INVALID');
      expect(await code({ signature: sig(ts, body, 'other-secret') })).toBe('SIGNATURE_INVALID');
      expect(await code({ signature: signWebhook(secret, ts, body) })).toBe('SIGNATURE_INVALID');
      expect(await code({ timestamp: `${ts}.5` })).toBe('SIGNATURE_INVALID');
      const old = String(Number(ts) - 301);
      const ahead = String(Number(ts) + 301);
      expect(await code({ timestamp: old, signature: sig(old) })).toBe('TIMESTAMP_STALE');
      expect(await verify({ timestamp: ahead, signature: sig(ahead) })).toMatchObject({
        message: 'timestamp is 301 s in the future (tolerance 300 s)',
      });
      expect(replays.calls).toBe(0);
      expect(await code({ rawBody: body.toString() })).toBe('ok');
      expect(await code({})).toBe('REPLAY');
      const next = String(Number(ts) + 1);
      expect(await code({ timestamp: next, signature: sig(next), nowMs: now + 299_000 })).toBe('ok');
      expect(replays.calls).toBe(3);
    });
  }

  suite('memory', () => memoryReplayCache());

  it('memory: entries expire after their ttl and the cache stays bounded', async () => {
    let t = 0;
    const cache = memoryReplayCache(3, () => t);
    expect(await cache.seen('a', 1000)).toBe(false);
    expect(await cache.seen('a', 1000)).toBe(true);
    t = 1000;
    expect(await cache.seen('a', 1000)).toBe(false);
    for (const k of ['b', 'c', 'd']) await cache.seen(k, 60_000);
    expect(await cache.seen('d', 60_000)).toBe(true);
    expect(await cache.seen('a', 60_000)).toBe(false); // evicted as the oldest
  });

  describe.runIf(redisOk)('redis', () => {
    const prefix = testPrefix('triggers');
    let redis: Redis;
    beforeAll(() => {
      redis = new Redis(redisUrl(), { lazyConnect: false, maxRetriesPerRequest: 1 });
    });
    afterAll(async () => {
      const keys = await redis.keys(`${prefix}:*`);
      if (keys.length > 0) await redis.del(...keys);
      await redis.quit();
    });
    suite('redis', () => redisReplayCache(redis, prefix));
    it('redis: the key is there with a ttl within the window', async () => {
      const keys = await redis.keys(`${prefix}:*`);
      expect(keys.sort()).toEqual(
        [`${prefix}:sig:${signWebhook(secret, ts, body)}`, `${prefix}:sig:${signWebhook(secret, String(Number(ts) + 1), body)}`].sort(),
      );
      const ttl = await redis.pttl(keys[0]!);
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(601_000);
    });
  });
});

describe('injection through a detector event: render, then validate as CLI params', () => {
  const corpus: [what: string, param: 'address' | 'port', value: string, refusedBy: 'ParamInvalid' | 'TriggerInvalid'][] = [
    ['newline', 'address', '10.20.0.11\nreboot', 'ParamInvalid'],
    ['semicolon', 'address', '10.20.0.11;reload', 'ParamInvalid'],
    ['command substitution', 'address', '$(reboot)', 'ParamInvalid'],
    ['backticks', 'port', 'sw:`reboot`', 'ParamInvalid'],
    ['double quote', 'address', '10.20.0.11"', 'ParamInvalid'],
    ['single quote', 'port', "sw:swp1'", 'ParamInvalid'],
    ['300-char value', 'address', '1'.repeat(300), 'TriggerInvalid'],
    ['250-char interface', 'port', `sw:${'a'.repeat(247)}`, 'ParamInvalid'],
    ['fullwidth digits', 'address', '１０.20.0.11', 'ParamInvalid'],
    ['Cyrillic i in an interface', 'port', 'sw:Gі1/0/7', 'ParamInvalid'],
    ['Cyrillic s in a device', 'port', 'ѕw:swp1', 'ParamInvalid'],
    ['zero-width space', 'address', '10.20.0.11\u200b', 'ParamInvalid'],
    ['carriage return', 'port', 'sw:swp1\r', 'ParamInvalid'],
  ];

  const receivers = {
    alertmanager: async (param: string, value: string) => {
      const p = await fixture('alertmanager-webhook-v4.json');
      p.commonLabels[param === 'address' ? 'src_ip' : 'switch_port'] = param === 'address' ? value : value.split(':').slice(1).join(':');
      if (param === 'port') p.commonLabels.switch = value.split(':')[0];
      return alertmanagerEvent(spec('exfil'), p);
    },
    wazuh: async (param: string, value: string) => {
      const a = await fixture('wazuh-alert.json');
      a.data.srcip = value;
      return wazuhEvent(spec('wazuh-av', { params: { [param]: '{{ data.srcip }}' } }), a);
    },
    webhook: async (param: string, value: string) =>
      webhookEvent(spec('edr', { params: { [param]: '{{ host.ip }}' } }), { host: { ip: value } }),
  };

  for (const [receiver, event] of Object.entries(receivers)) {
    it.each(corpus)(`${receiver}: %s is refused naming the %s param`, async (_what, param, value, refusedBy) => {
      let err: unknown;
      try {
        const e = await event(param, value);
        validateParams(isolateHost, e.params);
      } catch (caught) {
        err = caught;
      }
      if (refusedBy === 'TriggerInvalid') {
        expect(err).toBeInstanceOf(TriggerInvalid);
        expect((err as TriggerInvalid).field).toBe(`params.${param}`);
      } else {
        expect(err).toBeInstanceOf(ParamInvalid);
        expect((err as Error).message).toMatch(new RegExp(`^param "${param}" \\(`));
        expect((err as Error).message).not.toContain('\n');
      }
    });
  }

  it('the same chain accepts the clean values (the corpus fails for its payload, not for the setup)', async () => {
    for (const event of Object.values(receivers)) {
      expect(validateParams(isolateHost, (await event('address', '10.20.0.11')).params)).toMatchObject({ address: '10.20.0.11' });
      expect(validateParams(isolateHost, (await event('port', 'sw:Gi1/0/7')).params)).toMatchObject({ port: 'sw:Gi1/0/7' });
    }
  });
});
