import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiHarness, startApiHarness, waitForState } from './helpers/api.js';
import { alertGroup, fwRules, runJournal } from './helpers/detectors.js';

/**
 * Notifications from `firebreak serve` end to end: a detector's run reaches a real HTTP receiver
 * and a real SMTP server on loopback within a second; with both gone, containment is as fast as
 * ever and every failed delivery is journaled under the run, the last attempt marked final.
 */

interface Hit {
  at: number;
  body: Record<string, any>;
}
interface Mail {
  at: number;
  runId: string;
  raw: string;
}

const hits: Hit[] = [];
const mails: Mail[] = [];
let http: Server;
let smtp: SMTPServer;
let h: ApiHarness;

const closeHttp = () =>
  new Promise<void>((r) => {
    http.closeAllConnections();
    http.close(() => r());
  });
const closeSmtp = () => new Promise<void>((r) => smtp.close(() => r()));
let closed = false;

beforeAll(async () => {
  http = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      hits.push({ at: performance.now(), body: JSON.parse(body) });
      res.writeHead(200).end('ok');
    });
  });
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  smtp = new SMTPServer({
    secure: false,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    onData(stream, _session, cb) {
      let raw = '';
      stream.on('data', (c: Buffer) => (raw += c.toString()));
      stream.on('end', () => {
        mails.push({ at: performance.now(), runId: /^X-Firebreak-Run: (\S+)/im.exec(raw)?.[1] ?? '', raw });
        cb();
      });
    },
  });
  await new Promise<void>((r) => smtp.listen(0, '127.0.0.1', r));
  const hookPort = (http.address() as AddressInfo).port;
  const smtpPort = (smtp.server.address() as AddressInfo).port;
  h = await startApiHarness({
    name: 'api-notify',
    addressBlock: '127.49.0.0/16',
    ports: { ssh: 11222, snmp: 11261 },
    triggers: `triggers:
  - { name: am-contain, kind: alertmanager, playbook: isolate-host, params: { address: "{{ labels.src_ip }}" } }
`,
    notify: `channels:
  - { name: soc, kind: webhook, url: "http://127.0.0.1:${hookPort}/hook" }
  - { name: mail, kind: smtp, host: 127.0.0.1, port: ${smtpPort}, secure: false, from: firebreak@example.org, to: [soc@example.org] }
retry: { attempts: 3, firstDelayMs: 50 }
`,
  });
}, 60_000);
afterAll(async () => {
  await h?.close();
  if (!closed) await Promise.all([closeHttp(), closeSmtp()]);
});

async function until<T>(what: string, f: () => Promise<T | undefined> | T | undefined, ms = 5000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Fires one Alertmanager group with the detector token; the run id and when its answer came. */
async function fire(srcIp: string): Promise<{ runId: string; answeredAt: number }> {
  const r = await h.call('POST', '/api/v1/alertmanager/am-contain', {
    token: h.tokens.detector,
    body: alertGroup({ groupKey: `{}:{instance="${srcIp}"}`, srcIp }),
  });
  const answeredAt = performance.now();
  expect(r.status, JSON.stringify(r.json)).toBe(201);
  return { runId: r.json.runId, answeredAt };
}

async function containedIn(runId: string): Promise<number> {
  expect(await waitForState(h, runId, ['contained', 'partial', 'failed'])).toBe('contained');
  const view = await h.call('GET', `/api/v1/runs/${runId}`, { token: h.tokens.reader });
  expect(typeof view.json.timeToContainMs).toBe('number');
  return view.json.timeToContainMs;
}

let firstTtc = 0;

describe('notifications from firebreak serve', () => {
  it("a detector's run reaches the webhook and the SMTP receiver within 1 s of the trigger's answer", async () => {
    const { runId, answeredAt } = await fire('10.20.0.111');
    const hook = await until('the webhook', () => hits.find((x) => x.body.runId === runId));
    const mail = await until('the mail', () => mails.find((m) => m.runId === runId));
    expect(hook.at - answeredAt).toBeLessThan(1000);
    expect(mail.at - answeredAt).toBeLessThan(1000);
    expect(hook.body.trigger).toMatchObject({ kind: 'webhook' });
    expect(String(hook.body.trigger.by)).toContain('am-contain');
    firstTtc = await containedIn(runId);
    expect(fwRules(h)).toContain('10.20.0.111');
    // Every state the run went through reaches both channels, and each delivery is journaled once.
    const contained = await until('the contained message', () => hits.find((x) => x.body.runId === runId && x.body.state === 'contained'));
    expect(contained.body.timeToContainMs).toBe(firstTtc);
    await until('every delivery journaled', async () => {
      const entries = await runJournal(h, runId);
      const states = entries.filter((e) => e.type === 'run.state').length;
      const sent = entries.filter((e) => e.type === 'notify.sent');
      return sent.length === 2 * states ? sent : undefined;
    });
    expect((await runJournal(h, runId)).filter((e) => e.type === 'notify.failed')).toEqual([]);
    expect(mails.filter((m) => m.runId === runId).length).toBe(hits.filter((x) => x.body.runId === runId).length);
  });

  it('with both receivers gone, a run contains as fast and every failed delivery is journaled, the last final', async () => {
    closed = true;
    await Promise.all([closeHttp(), closeSmtp()]);
    const { runId } = await fire('10.20.0.112');
    const ttc = await containedIn(runId);
    expect(fwRules(h)).toContain('10.20.0.112');
    expect(ttc).toBeLessThan(1000);
    expect(ttc).toBeLessThan(2 * firstTtc + 100);

    const failed = await until('the final failures', async () => {
      const entries = await runJournal(h, runId);
      const states = entries.filter((e) => e.type === 'run.state').length;
      const f = entries.filter((e) => e.type === 'notify.failed');
      return f.filter((e) => e.data.final === true).length === 2 * states ? f : undefined;
    });
    for (const channel of ['soc', 'mail']) {
      const mine = failed.filter((e) => e.data.channel === channel);
      expect(mine.length, channel).toBeGreaterThan(0);
      // Per message: attempts 1, 2, 3 in order, only the third final.
      for (const about of new Set(mine.map((e) => e.data.aboutSeq))) {
        const tries = mine.filter((e) => e.data.aboutSeq === about);
        expect(tries.map((e) => [e.data.attempt, e.data.final])).toEqual([
          [1, false],
          [2, false],
          [3, true],
        ]);
        expect(String(tries.at(-1)!.data.error)).toMatch(/ECONNREFUSED|connection refused/i);
      }
    }
    expect(failed.at(-1)!.data.final).toBe(true);
    expect(JSON.stringify(failed)).not.toMatch(/https?:\/\//);
    expect((await runJournal(h, runId)).filter((e) => e.type === 'notify.sent')).toEqual([]);
  });
});
