import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { openJournal } from '../../src/journal/open.js';
import type { JournalEntry } from '../../src/journal/types.js';
import { Redactor } from '../../src/secrets.js';
import { signWebhook } from '../../src/triggers/hmac.js';
import type { ApiHarness } from './api.js';
import { repo } from './lab.js';

/**
 * Detector payloads for the receiver tests (built from the real fixtures, one field changed), and
 * what the tests read back: run counts, journals, the firewall's rules.
 */

const fixture = (name: string): Record<string, any> => JSON.parse(readFileSync(join(repo, 'test', 'fixtures', name), 'utf8'));

/** An Alertmanager v4 group (the fixture) for one source address, under its own groupKey. */
export function alertGroup(o: { groupKey: string; srcIp: string; status?: 'firing' | 'resolved' }): Record<string, any> {
  const status = o.status ?? 'firing';
  const p = fixture(status === 'firing' ? 'alertmanager-webhook-v4.json' : 'alertmanager-webhook-v4-resolved.json');
  p.groupKey = o.groupKey;
  p.commonLabels.src_ip = o.srcIp;
  for (const a of p.alerts) a.labels.src_ip = o.srcIp;
  return p;
}

/** The Wazuh fixture alert with its own id, source address and rule level. */
export function wazuhAlert(o: { id: string; srcip: string; level?: number }): Record<string, any> {
  const a = fixture('wazuh-alert.json');
  a.id = o.id;
  a.data.srcip = o.srcip;
  if (o.level !== undefined) a.rule.level = o.level;
  return a;
}

/** A generic-webhook request: the exact body bytes and the HMAC headers over them. */
export function signedWebhook(secret: string, body: unknown, o: { timestampS?: number; signature?: string } = {}) {
  const raw = JSON.stringify(body);
  const ts = o.timestampS ?? Math.floor(Date.now() / 1000);
  return {
    raw,
    headers: {
      'X-Firebreak-Timestamp': String(ts),
      'X-Firebreak-Signature': o.signature ?? `sha256=${signWebhook(secret, ts, raw)}`,
    },
  };
}

/** How many runs the API lists. */
export async function runCount(h: ApiHarness): Promise<number> {
  const r = await h.call('GET', '/api/v1/runs?limit=1000', { token: h.tokens.reader });
  if (r.status !== 200) throw new Error(`GET /runs: ${r.status} ${JSON.stringify(r.json)}`);
  return r.json.length;
}

/** A run's journal as the API shows it. */
export async function runJournal(h: ApiHarness, runId: string): Promise<JournalEntry[]> {
  const r = await h.call('GET', `/api/v1/runs/${runId}/journal`, { token: h.tokens.reader });
  if (r.status !== 200) throw new Error(`GET /runs/${runId}/journal: ${r.status} ${JSON.stringify(r.json)}`);
  return r.json;
}

/** The run's `trigger.event` entries' data. */
export async function triggerEvents(h: ApiHarness, runId: string): Promise<Record<string, any>[]> {
  return (await runJournal(h, runId)).filter((e) => e.type === 'trigger.event').map((e) => e.data);
}

/** Every journal entry, read straight from the server's SQLite file (the `_api` stream included). */
export async function wholeJournal(h: ApiHarness): Promise<JournalEntry[]> {
  const j = await openJournal({ file: h.journalFile }, new Redactor());
  try {
    return await j.all();
  } finally {
    await j.close();
  }
}

/** The firewall's filter rules, one text per line. */
export const fwRules = (h: ApiHarness): string =>
  h.fw.control
    .snapshot()
    .rules.map((x) => x.text)
    .join('\n');

/** Lines typed at the firewall's CLI since it started. */
export const fwReceived = (h: ApiHarness): string[] => h.fw.control.received?.() ?? [];

/** Addresses a detector can be made to send: each must be refused before it reaches a device or the journal. */
export const HOSTILE_ADDRESSES: { what: string; value: string; code: 'PARAM_INVALID' | 'TRIGGER_INVALID' }[] = [
  { what: 'newline', value: '10.20.0.61\nexecute reboot', code: 'PARAM_INVALID' },
  { what: 'semicolon', value: '10.20.0.62; execute reboot', code: 'PARAM_INVALID' },
  { what: 'command substitution', value: '$(reboot)', code: 'PARAM_INVALID' },
  { what: 'backticks', value: '10.20.0.63`reboot`', code: 'PARAM_INVALID' },
  { what: 'single quotes', value: "10.20.0.64' or '1'='1", code: 'PARAM_INVALID' },
  { what: 'double quotes', value: '10.20.0.65" ; set action accept "', code: 'PARAM_INVALID' },
  // Longer than a rendered parameter may be: refused while rendering, before the playbook sees it.
  { what: '300 characters', value: `10.20.0.66${'7'.repeat(290)}`, code: 'TRIGGER_INVALID' },
  { what: 'fullwidth digits', value: '１０.20.0.11', code: 'PARAM_INVALID' },
  { what: 'Cyrillic o for 0', value: '1\u043e.20.0.11', code: 'PARAM_INVALID' },
  { what: 'Cyrillic Ze for 3', value: '10.20.0.\u04173', code: 'PARAM_INVALID' },
];

/** firebreak_webhook_decisions_total for one trigger and decision, from /metrics text (0 when absent). */
export function decisionCount(metrics: string, trigger: string, decision: string): number {
  const line = metrics
    .split('\n')
    .find(
      (l) =>
        l.startsWith('firebreak_webhook_decisions_total{') && l.includes(`trigger="${trigger}"`) && l.includes(`decision="${decision}"`),
    );
  return line ? Number(line.split(' ').at(-1)) : 0;
}
