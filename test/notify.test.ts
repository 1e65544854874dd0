import { createHmac } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SMTPServer } from 'smtp-server';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { transition } from '../src/engine/lifecycle.js';
import { ConfigInvalid } from '../src/errors.js';
import { openJournal } from '../src/journal/open.js';
import type { Journal, JournalEntry } from '../src/journal/types.js';
import { loadNotifyConfig, type NotifyConfig, parseNotifyConfig } from '../src/notify/config.js';
import { type Notifier, startNotifier } from '../src/notify/notifier.js';
import { Redactor } from '../src/secrets.js';

/** The notifier against a real SQLite journal, a real HTTP receiver and a real SMTP server, all on loopback. */

let dir: string;
let journal: Journal;
const cleanups: (() => Promise<void> | void)[] = [];
const later = (f: () => Promise<void> | void) => cleanups.push(f);

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'fb-notify-'));
  journal = await openJournal({ file: join(dir, 'journal.db') }, new Redactor());
});
afterEach(async () => {
  for (const f of cleanups.splice(0).reverse()) await f();
  await journal.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A secret in the environment for one test. */
function setEnv(name: string, value: string): void {
  process.env[name] = value;
  later(() => {
    delete process.env[name];
  });
}

async function waitFor<T>(what: string, f: () => T | undefined, ms = 3000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = f();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

interface Hit {
  at: number;
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
}

/** An HTTP receiver on 127.0.0.1: answers `status`, or with `hang` never answers. */
async function httpReceiver(o: { status?: number; hang?: boolean } = {}) {
  const hits: Hit[] = [];
  const held: ServerResponse[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      hits.push({ at: performance.now(), path: req.url ?? '', headers: req.headers, body });
      if (o.hang) held.push(res);
      else res.writeHead(o.status ?? 200).end('ok');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  later(
    () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  );
  return { port, base: `http://127.0.0.1:${port}`, hits };
}

/** A port on 127.0.0.1 nobody listens on (connection refused). */
async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

interface Mail {
  at: number;
  from: string;
  to: string[];
  raw: string;
}

async function smtpReceiver() {
  const mails: Mail[] = [];
  const logins: { user: string; pass: string }[] = [];
  const server = new SMTPServer({
    secure: false,
    disabledCommands: ['STARTTLS'],
    authOptional: true,
    allowInsecureAuth: true,
    logger: false,
    onAuth(auth, _session, cb) {
      logins.push({ user: auth.username ?? '', pass: auth.password ?? '' });
      cb(null, { user: auth.username });
    },
    onData(stream, session, cb) {
      let raw = '';
      stream.on('data', (c: Buffer) => (raw += c.toString()));
      stream.on('end', () => {
        const from = session.envelope.mailFrom ? session.envelope.mailFrom.address : '';
        mails.push({ at: performance.now(), from, to: session.envelope.rcptTo.map((r) => r.address), raw });
        cb();
      });
    },
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.server.address() as AddressInfo).port;
  later(() => new Promise<void>((r) => server.close(() => r())));
  return { port, mails, logins };
}

/** A mail's text: quoted-printable undone, folded headers unfolded. */
const decode = (raw: string) =>
  raw
    .replace(/=\r?\n/g, '')
    .replace(/=([0-9A-F]{2})/g, (_m, h: string) => String.fromCharCode(Number.parseInt(h, 16)))
    .replace(/\r?\n[ \t]+/g, ' ');

function config(channels: NotifyConfig['channels'], retry = { attempts: 3, firstDelayMs: 20 }): NotifyConfig {
  return { channels, retry };
}

function notifier(cfg: NotifyConfig, o: { now?: () => number } = {}): Notifier {
  const n = startNotifier({ journal, config: cfg, ...o });
  later(() => n.stop());
  return n;
}

const PLAYBOOK = {
  id: 'drop-internet-uplinks',
  title: 'Drop the internet uplinks',
  file: 'playbooks/drop-internet-uplinks.yaml',
  sha256: 'ab'.repeat(32),
};

/** run.created as app.createRun writes it: a detector's trigger, the plan (trimmed to its real fields). */
async function createRun(runId: string): Promise<JournalEntry> {
  const plan = {
    formatVersion: 1,
    id: `p-${runId}`,
    createdAt: new Date().toISOString(),
    playbook: PLAYBOOK,
    params: {},
    policy: { onFailure: 'continue' },
    stages: [{ index: 0, name: 'cut', actionIds: ['a1', 'a2'] }],
    actions: [],
    devices: {},
    overrides: [],
    errors: [],
    warnings: [],
  };
  const trigger = { kind: 'detector', by: 'wazuh-edr', reason: 'beacon to 198.51.100.7 from h1' };
  return journal.append(runId, 'run.created', { plan, trigger, triggerAt: Date.now(), executor: 'local' });
}

/** Moves the run as the engine does (lifecycle.transition) and returns the run.state entry it wrote. */
async function move(runId: string, to: Parameters<typeof transition>[2], extra: Record<string, unknown> = {}): Promise<JournalEntry> {
  await transition(journal, runId, to, extra);
  return (await journal.find({ runId, types: ['run.state'] })).at(-1)!;
}

const notifyEntries = async (type: 'notify.sent' | 'notify.failed') => journal.find({ types: [type] });

async function expectNoSecrets(...secrets: string[]): Promise<void> {
  const all = JSON.stringify(await journal.all());
  for (const s of secrets) expect(all).not.toContain(s);
}

describe('notifier', () => {
  it('a run started by a detector reaches a signed webhook and an SMTP server within 1 s', async () => {
    const hook = await httpReceiver();
    const smtp = await smtpReceiver();
    setEnv('FB_NOTIFY_HMAC', 'hmac-key-5f2b9c7e1d');
    setEnv('FB_NOTIFY_SMTP_PASS', 'smtp-pass-83c1a0f4');
    const n = notifier(
      config([
        { name: 'soc', kind: 'webhook', url: `${hook.base}/hook`, secret: 'env:FB_NOTIFY_HMAC' },
        {
          name: 'mail',
          kind: 'smtp',
          host: '127.0.0.1',
          port: smtp.port,
          secure: false,
          from: 'firebreak@example.org',
          to: ['soc@example.org'],
          user: 'firebreak',
          password: 'env:FB_NOTIFY_SMTP_PASS',
        },
      ]),
    );
    await n.idle();
    await createRun('r-1');
    const t0 = performance.now();
    const running = await move('r-1', 'running', { by: 'local:host-1' });

    const hit = await waitFor('webhook', () => hook.hits[0]);
    const mail = await waitFor('mail', () => smtp.mails[0]);
    expect(hit.at - t0).toBeLessThan(1000);
    expect(mail.at - t0).toBeLessThan(1000);

    const body = JSON.parse(hit.body);
    expect(body).toMatchObject({ event: 'started', runId: 'r-1', seq: running.seq, state: 'running', from: 'planned' });
    expect(body.playbook).toEqual({ id: PLAYBOOK.id, title: PLAYBOOK.title });
    expect(body.trigger).toEqual({ kind: 'detector', by: 'wazuh-edr', reason: 'beacon to 198.51.100.7 from h1' });
    const ts = hit.headers['x-firebreak-timestamp'] as string;
    expect(Math.abs(Number(ts) - Date.now() / 1000)).toBeLessThan(60);
    const mac = createHmac('sha256', 'hmac-key-5f2b9c7e1d').update(`${ts}.${hit.body}`).digest('hex');
    expect(hit.headers['x-firebreak-signature']).toBe(`sha256=${mac}`);

    const text = decode(mail.raw);
    expect(mail.from).toBe('firebreak@example.org');
    expect(mail.to).toEqual(['soc@example.org']);
    expect(text).toContain('Subject: Firebreak run r-1 (drop-internet-uplinks) started');
    expect(text).toContain('Run r-1 of playbook drop-internet-uplinks (Drop the internet uplinks) is now running (was planned).');
    expect(text).toContain('Triggered by detector wazuh-edr: beacon to 198.51.100.7 from h1');
    expect(smtp.logins).toEqual([{ user: 'firebreak', pass: 'smtp-pass-83c1a0f4' }]);

    await n.idle();
    const sent = await notifyEntries('notify.sent');
    expect(sent.map((e) => [e.runId, e.data.channel, e.data.event, e.data.attempt, e.data.status, e.data.aboutSeq]).sort()).toEqual([
      ['r-1', 'mail', 'started', 1, 250, running.seq],
      ['r-1', 'soc', 'started', 1, 200, running.seq],
    ]);
    await expectNoSecrets('hmac-key-5f2b9c7e1d', 'smtp-pass-83c1a0f4', `127.0.0.1:${hook.port}`);
  });

  it('Slack and Teams get their own body shapes; a channel gets one message per entry, the most specific it wants', async () => {
    const chat = await httpReceiver();
    setEnv('FB_NOTIFY_SLACK', `${chat.base}/services/T000/B000/slacksecret42`);
    setEnv('FB_NOTIFY_TEAMS', `${chat.base}/webhookb2/teamssecret42`);
    const n = notifier(
      config([
        { name: 'chat', kind: 'slack', url: 'env:FB_NOTIFY_SLACK' },
        { name: 'teams', kind: 'teams', url: 'env:FB_NOTIFY_TEAMS', events: ['failed'] },
      ]),
    );
    await n.idle();
    await createRun('r-2');
    await move('r-2', 'running');
    const partial = await move('r-2', 'partial', {
      timeToContainMs: null,
      cutSkewMs: [4],
      notDone: [{ actionId: 'a2', device: 'core-fw', what: 'interface.disable wan2', error: 'DEVICE_TIMEOUT no answer after 5000 ms' }],
    });
    await n.idle();

    const slack = chat.hits.filter((h) => h.path.startsWith('/services/'));
    const teams = chat.hits.filter((h) => h.path.startsWith('/webhookb2/'));
    expect(slack).toHaveLength(2);
    expect(teams).toHaveLength(1);
    const [started, failed] = slack.map((h) => JSON.parse(h.body));
    expect(Object.keys(started)).toEqual(['text']);
    expect(started.text).toContain('r-2 (drop-internet-uplinks) started');
    expect(failed.text).toContain('was only partly contained');
    expect(failed.text).toContain('- a2 on core-fw: DEVICE_TIMEOUT no answer after 5000 ms');

    const card = JSON.parse(teams[0]!.body);
    expect(Object.keys(card).sort()).toEqual(['@context', '@type', 'summary', 'text', 'themeColor', 'title']);
    expect(card).toMatchObject({ '@type': 'MessageCard', '@context': 'https://schema.org/extensions', themeColor: 'D7263D' });
    expect(card.title).toBe('Firebreak run r-2 (drop-internet-uplinks) was only partly contained');
    expect(card.text).toContain('Not done (1):');

    const sent = await notifyEntries('notify.sent');
    expect(sent.map((e) => `${e.data.channel}:${e.data.event}`).sort()).toEqual(['chat:failed', 'chat:started', 'teams:failed']);
    expect(sent.find((e) => e.data.channel === 'teams')!.data.aboutSeq).toBe(partial.seq);
    await expectNoSecrets('slacksecret42', 'teamssecret42', '/services/', '/webhookb2/');
  });

  it('with the receiver down containment goes on, and every failed attempt is journaled, the last final', async () => {
    const port = await closedPort();
    setEnv('FB_NOTIFY_DOWN', `http://ops:pw-in-url-77@127.0.0.1:${port}/down`);
    const n = notifier(config([{ name: 'soc', kind: 'webhook', url: 'env:FB_NOTIFY_DOWN' }], { attempts: 3, firstDelayMs: 30 }));
    await n.idle();
    await createRun('r-3');
    const t0 = performance.now();
    const running = await move('r-3', 'running');
    const contained = await move('r-3', 'contained', { timeToContainMs: 640 });
    // The engine's appends do not wait for any delivery.
    expect(performance.now() - t0).toBeLessThan(100);
    await n.idle();

    const failed = await notifyEntries('notify.failed');
    const forRunning = failed.filter((e) => e.data.aboutSeq === running.seq);
    expect(forRunning.map((e) => [e.runId, e.data.attempt, e.data.final, e.data.error])).toEqual([
      ['r-3', 1, false, 'connection refused (ECONNREFUSED)'],
      ['r-3', 2, false, 'connection refused (ECONNREFUSED)'],
      ['r-3', 3, true, 'connection refused (ECONNREFUSED)'],
    ]);
    expect(failed.filter((e) => e.data.aboutSeq === contained.seq).map((e) => e.data.final)).toEqual([false, false, true]);
    // Contained was journaled before the first delivery about it had even given up.
    expect(contained.seq).toBeLessThan(forRunning.at(-1)!.seq);
    expect(await notifyEntries('notify.sent')).toEqual([]);
    await expectNoSecrets('pw-in-url-77', `127.0.0.1:${port}`, '/down');
  });

  it('a receiver that hangs does not delay another channel; stop() gives up on it within about 2 s', async () => {
    const hang = await httpReceiver({ hang: true });
    const ok = await httpReceiver();
    const n = notifier(
      config([
        { name: 'stuck', kind: 'webhook', url: `${hang.base}/x` },
        { name: 'soc', kind: 'webhook', url: `${ok.base}/y` },
      ]),
    );
    await n.idle();
    await createRun('r-4');
    const t0 = performance.now();
    await move('r-4', 'running');
    await waitFor('the hanging receiver to be called', () => hang.hits[0]);
    const hit = await waitFor('the healthy receiver', () => ok.hits[0]);
    expect(hit.at - t0).toBeLessThan(1000);
    await waitFor('notify.sent', () => ok.hits.length === 1 || undefined);
    const s0 = performance.now();
    await n.stop();
    expect(performance.now() - s0).toBeLessThan(3000);
    const sent = await notifyEntries('notify.sent');
    expect(sent.map((e) => e.data.channel)).toEqual(['soc']);
  });

  it('a non-2xx answer is a failure naming the status; a 4xx is not retried, a 5xx is', async () => {
    const gone = await httpReceiver({ status: 404 });
    const broken = await httpReceiver({ status: 503 });
    const n = notifier(
      config([
        { name: 'gone', kind: 'webhook', url: `${gone.base}/a` },
        { name: 'broken', kind: 'webhook', url: `${broken.base}/b` },
      ]),
    );
    await n.idle();
    await createRun('r-5');
    await move('r-5', 'running');
    await n.idle();
    const failed = await notifyEntries('notify.failed');
    expect(failed.filter((e) => e.data.channel === 'gone').map((e) => [e.data.attempt, e.data.final, e.data.error])).toEqual([
      [1, true, 'HTTP 404 Not Found'],
    ]);
    expect(failed.filter((e) => e.data.channel === 'broken').map((e) => [e.data.attempt, e.data.final])).toEqual([
      [1, false],
      [2, false],
      [3, true],
    ]);
    expect(broken.hits).toHaveLength(3);
  });

  it('a restart resumes after the last entry notified about, without re-sending, and skips what is older than 15 minutes', async () => {
    const hook = await httpReceiver();
    const cfg = config([{ name: 'soc', kind: 'webhook', url: `${hook.base}/h` }]);
    // History from before any notifier: not sent.
    await createRun('r-old');
    await move('r-old', 'running');
    const first = startNotifier({ journal, config: cfg });
    await first.idle();
    await createRun('r-6');
    await move('r-6', 'running');
    await first.idle();
    await first.stop();
    expect(hook.hits.map((h) => JSON.parse(h.body).runId)).toEqual(['r-6']);

    const whileDown = await move('r-6', 'contained', { timeToContainMs: 900 });
    const second = notifier(cfg);
    await second.idle();
    expect(hook.hits.map((h) => JSON.parse(h.body).state)).toEqual(['running', 'contained']);
    expect(JSON.parse(hook.hits[1]!.body).seq).toBe(whileDown.seq);
    await second.stop();

    // Down for longer than the window: what happened meanwhile is too old to send; what follows is sent.
    await move('r-6', 'rolling-back', { by: 'alice' });
    const third = notifier(cfg, { now: () => Date.now() + 16 * 60_000 });
    await third.idle();
    expect(hook.hits).toHaveLength(2);
    await move('r-6', 'rolled-back');
    await third.idle();
    expect(hook.hits.map((h) => JSON.parse(h.body).state)).toEqual(['running', 'contained', 'rolled-back']);
  });
});

describe('notify.yaml', () => {
  const write = (text: string) => {
    const file = join(dir, 'notify.yaml');
    writeFileSync(file, text);
    return file;
  };
  const problems = async (text: string) => {
    const file = write(text);
    const err = await loadNotifyConfig(file).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigInvalid);
    return { file, message: (err as Error).message };
  };

  it('loads a valid file, with retry defaults', async () => {
    const cfg = await loadNotifyConfig(
      write(
        'channels:\n  - name: soc\n    kind: webhook\n    url: http://127.0.0.1:9000/hook\n    secret: env:SOC_HMAC\n    events: [started, failed]\n' +
          '  - { name: chat, kind: slack, url: env:SLACK_WEBHOOK }\n  - { name: teams, kind: teams, url: "file:/etc/firebreak/teams-url" }\n' +
          '  - { name: mail, kind: smtp, host: 127.0.0.1, port: 2525, secure: false, from: firebreak@example.org, to: [soc@example.org], user: fb, password: env:SMTP_PASS }\n',
      ),
    );
    expect(cfg.channels.map((c) => `${c.name}:${c.kind}`)).toEqual(['soc:webhook', 'chat:slack', 'teams:teams', 'mail:smtp']);
    expect(cfg.retry).toEqual({ attempts: 5, firstDelayMs: 500 });
  });

  it('points at file:line:col for a bad kind, a missing url, a duplicate name and credentials in a literal URL', async () => {
    let r = await problems('channels:\n  - name: soc\n    kind: sms\n    url: http://127.0.0.1/x\n');
    expect(r.message).toBe(`${r.file}:3:11 channels[0].kind: unknown channel kind "sms" (known: webhook, slack, teams, smtp)`);
    r = await problems('channels:\n  - name: soc\n    kind: webhook\n');
    expect(r.message).toBe(`${r.file}:2:5 channels[0].url: is required`);
    r = await problems('channels:\n  - { name: soc, kind: slack, url: env:A }\n  - { name: soc, kind: teams, url: env:B }\n');
    expect(r.message).toBe(`${r.file}:3:13 channels[1].name: duplicate channel name "soc" (also channels[0])`);
    r = await problems('channels:\n  - name: soc\n    kind: webhook\n    url: https://ops:hunter2secret@hooks.example.org/x\n');
    expect(r.message).toBe(
      `${r.file}:4:10 channels[0].url: a literal URL must not carry credentials: put the whole URL in env:NAME or file:PATH`,
    );
    expect(r.message).not.toContain('hunter2secret');
  });

  it('refuses a literal secret, an unknown event and an unknown key', () => {
    expect(() => parseNotifyConfig('n.yaml', 'channels:\n  - { name: soc, kind: webhook, url: env:U, secret: s3cret-literal }\n')).toThrow(
      /^n\.yaml:2:53 channels\[0\]\.secret: must be a secret reference/,
    );
    expect(() => parseNotifyConfig('n.yaml', 'channels:\n  - { name: soc, kind: slack, url: env:U, events: [done] }\n')).toThrow(
      'n.yaml:2:52 channels[0].events[0]: unknown event "done" (known: started, state, awaiting-approval, failed)',
    );
    expect(() => parseNotifyConfig('n.yaml', 'channels: []\nretries: 3\n')).toThrow('n.yaml:2:1 retries: unknown key "retries"');
  });
});
