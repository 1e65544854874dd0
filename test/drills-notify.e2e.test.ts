import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiHarness, startApiHarness } from './helpers/api.js';

/**
 * People are told when a drill fails: a verify drill run while the firewall refuses our login
 * fails, and the notify.yaml webhook receives a "drill FAILED" message naming the drill; a good
 * drill sends nothing.
 */
const DRILLS = `drills:
  - { id: fw-preflight, playbook: isolate-host, params: { address: "10.20.0.9" }, mode: verify }
`;

const hits: { event: string; title: string; state: string }[] = [];
let http: Server;
let h: ApiHarness;

beforeAll(async () => {
  http = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      hits.push(JSON.parse(body));
      res.writeHead(200).end('ok');
    });
  });
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  const port = (http.address() as AddressInfo).port;
  h = await startApiHarness({
    name: 'drills-notify',
    addressBlock: '127.62.0.0/16',
    ports: { ssh: 12522, snmp: 12561 },
    drills: DRILLS,
    notify: `channels:
  - { name: soc, kind: webhook, url: "http://127.0.0.1:${port}/hook", events: [failed] }
retry: { attempts: 2, firstDelayMs: 50 }
`,
  });
}, 60_000);
afterAll(async () => {
  await h?.close();
  await new Promise<void>((r) => {
    http.closeAllConnections();
    http.close(() => r());
  });
});

async function runDrill(): Promise<any> {
  const before = (await h.call('GET', '/api/v1/drills/fw-preflight/reports', { token: h.tokens.reader })).json.length;
  expect((await h.call('POST', '/api/v1/drills/fw-preflight/run', { token: h.tokens.runner, body: {} })).status).toBe(202);
  for (let i = 0; i < 100; i++) {
    const list = (await h.call('GET', '/api/v1/drills/fw-preflight/reports', { token: h.tokens.reader })).json;
    if (list.length > before) return list.at(-1);
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('no drill report within 10 s');
}

describe('drill notifications', () => {
  it('a good drill tells nobody; a failed one reaches the webhook, naming the drill', async () => {
    expect((await runDrill()).ok).toBe(true);
    await new Promise((r) => setTimeout(r, 500));
    expect(hits).toEqual([]);
    h.fw.control.inject({ kind: 'refuse-auth' });
    try {
      const failed = await runDrill();
      expect(failed).toMatchObject({ ok: false, state: 'failed' });
      expect(failed.failures[0]).toMatchObject({ device: 'fw', code: 'AUTH_FAILED' });
    } finally {
      h.fw.control.clearFaults();
    }
    for (let i = 0; i < 50 && !hits.length; i++) await new Promise((r) => setTimeout(r, 100));
    expect(hits).toHaveLength(1);
    expect(hits[0]).toMatchObject({ event: 'failed', state: 'drill-failed' });
    expect(hits[0]!.title).toBe('Firebreak drill fw-preflight: drill FAILED');
    expect((hits[0] as unknown as { lines: string[] }).lines.join('\n')).toMatch(/fw.*AUTH_FAILED/);
  });
});
