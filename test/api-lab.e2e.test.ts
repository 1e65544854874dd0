import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { serve, type Serving } from '../src/api/serve.js';
import { openTokenStore, type TokenStore } from '../src/identity/tokens.js';
import { openSqliteStore } from '../src/journal/sqlite.js';
import { canReach, nsExec } from '../src/lab/lab.js';
import { HOSTS, NAMESPACES } from '../src/lab/layout.js';
import { describeLab, lab, reach, repo, resetLab } from './helpers/lab.js';

/**
 * The API on the real lab: a Wazuh alert naming h1 (data.srcip) POSTed to a real `serve()` (local
 * executor, SQLite journal) blocks h1 at the lab firewall, proven by traffic both ways, and the
 * API's rollback lets it through again. A Wazuh alert whose srcip carries a shell/nft injection is
 * refused with 400 and the firewall's ruleset stays byte-identical.
 */
const TRIGGERS = `triggers:
  - name: wazuh-lab
    kind: wazuh
    playbook: isolate-host
    params: { address: "{{ data.srcip }}" }
    minLevel: 10
    cooldownSeconds: 0
    rateLimit: { runs: 1000, perSeconds: 60 }
`;

let alertSeq = 0;
async function wazuhAlert(srcip: string): Promise<Record<string, any>> {
  const a = JSON.parse(await readFile(join(repo, 'test', 'fixtures', 'wazuh-alert.json'), 'utf8'));
  // Every alert its own id: a re-sent id would be a duplicate of the first run, not a new one.
  a.id = `${Math.floor(Date.now() / 1000)}.${process.pid}${++alertSeq}`;
  a.data.srcip = srcip;
  return a;
}

const fwRuleset = async () => {
  const r = await nsExec(NAMESPACES.fw, ['nft', 'list', 'ruleset']);
  if (r.code !== 0) throw new Error(`nft list ruleset in ${NAMESPACES.fw} failed: ${r.stderr}`);
  return r.stdout;
};

describeLab('the API on the lab: a Wazuh alert isolates h1, proven by traffic', () => {
  let dir: string;
  let serving: Serving;
  let store: TokenStore;
  let detector: string;
  let operator: string;

  const call = async (method: string, path: string, token: string, body?: unknown) => {
    const res = await fetch(`${serving.url}/api/v1${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    let json: any = text;
    try {
      json = JSON.parse(text);
    } catch {}
    return { status: res.status, json };
  };

  /** Polls GET /runs/<id> until the run is in one of `states` (bounded); returns the last view. */
  const until = async (runId: string, states: string[], timeoutMs = 20_000) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const r = await call('GET', `/runs/${runId}`, operator);
      if (states.includes(r.json.state) || Date.now() > deadline) return r.json;
      await new Promise((res) => setTimeout(res, 50));
    }
  };

  beforeAll(async () => {
    await resetLab();
    dir = await mkdtemp(join(tmpdir(), 'fb-api-lab-'));
    const triggersFile = join(dir, 'triggers.yaml');
    await writeFile(triggersFile, TRIGGERS);
    store = await openTokenStore({ file: join(dir, 'tokens.db') });
    detector = (await store.create({ name: 'wazuh', scopes: ['run:isolate-host'], by: 'vitest' })).token;
    operator = (await store.create({ name: 'operator', scopes: ['read', 'rollback'], by: 'vitest' })).token;
    serving = await serve({
      app: { paths: { inventory: lab.inventoryDir, playbooks: join(repo, 'playbooks'), journal: join(dir, 'journal.db') }, local: true },
      host: '127.0.0.1',
      port: 0,
      triggersFile,
      version: 'test',
      log: pino({ level: 'silent' }),
      failures: { windowMs: 60_000, max: 1000 },
    });
  });
  afterEach(resetLab);
  afterAll(async () => {
    await serving?.stop();
    await store?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('an alert for h1 blocks h1 both ways at the firewall (h2 untouched); the API rollback lets it through again', async () => {
    expect(HOSTS.h1).toBe('10.20.0.11');
    expect(await reach('h1')).toBe(true);
    expect(await canReach(NAMESPACES.inet, HOSTS.h1)).toBe(true);

    const posted = await call('POST', '/wazuh/wazuh-lab', detector, await wazuhAlert(HOSTS.h1));
    expect(posted.status, JSON.stringify(posted.json)).toBe(201);
    expect(posted.json.decision).toBe('created');
    const runId = posted.json.runId as string;

    const run = await until(runId, ['contained', 'failed', 'partial', 'interrupted']);
    expect(run.state, JSON.stringify(run)).toBe('contained');
    expect(run.params).toEqual({ address: HOSTS.h1, quarantineVlan: '999' });
    expect(run.timeToContainMs).toBeGreaterThan(0);
    expect(await reach('h1')).toBe(false); // h1 -> internet
    expect(await canReach(NAMESPACES.inet, HOSTS.h1)).toBe(false); // internet -> h1
    expect(await reach('h2')).toBe(true);
    expect(await fwRuleset()).toContain(HOSTS.h1);

    // The detector's token may start the playbook but not undo it.
    expect((await call('POST', `/runs/${runId}/rollback`, detector, {})).status).toBe(403);
    const rb = await call('POST', `/runs/${runId}/rollback`, operator, { reason: 'false positive' });
    expect(rb.status, JSON.stringify(rb.json)).toBe(202);
    expect(rb.json.pending).toBe(false);
    expect((await until(runId, ['rolled-back', 'failed', 'partial'])).state).toBe('rolled-back');
    expect(await reach('h1')).toBe(true);
    expect(await canReach(NAMESPACES.inet, HOSTS.h1)).toBe(true);
    expect(await fwRuleset()).not.toContain(HOSTS.h1);
  });

  for (const [label, srcip] of [
    ['a semicolon', '10.0.0.1;nft flush ruleset'],
    ['a newline', '10.0.0.1\nnft flush ruleset'],
    ['a newline before the address', 'nft flush ruleset\n10.20.0.11'],
  ] as const) {
    it(`an alert whose data.srcip carries ${label} and an nft command gets 400; the firewall ruleset is byte-identical`, async () => {
      const before = await fwRuleset();
      expect(before).toContain('table inet fblab'); // the lab's own table: a flush would take it away
      const runsBefore = (await call('GET', '/runs', operator)).json.length;
      const r = await call('POST', '/wazuh/wazuh-lab', detector, await wazuhAlert(srcip));
      expect(r.status, JSON.stringify(r.json)).toBe(400);
      expect(r.json.error.code).toBe('PARAM_INVALID');
      expect(r.json.error.field).toBe('params.address');
      expect(r.json.error.message).toMatch(/is not an IPv4 address/);
      // Whatever a run would have done happens after the answer: give it the time a cut takes.
      await new Promise((res) => setTimeout(res, 500));
      expect(await fwRuleset()).toBe(before);
      expect((await call('GET', '/runs', operator)).json.length).toBe(runsBefore);
      expect(await reach('h1')).toBe(true);
      // The refused value never reached the journal (only which parameter and why).
      const j = openSqliteStore(join(dir, 'journal.db'));
      try {
        const all = await j.all();
        expect(JSON.stringify(all)).not.toContain('flush');
        const refused = all.filter((e) => e.type === 'trigger.event' && e.data.decision === 'refused');
        expect(refused.at(-1)?.data).toMatchObject({ trigger: 'wazuh-lab', decision: 'refused', targets: [] });
      } finally {
        await j.close();
      }
    });
  }
});
