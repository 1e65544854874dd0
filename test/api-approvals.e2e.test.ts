import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTokenStore } from '../src/identity/tokens.js';
import { openJournal } from '../src/journal/open.js';
import { Redactor } from '../src/secrets.js';
import { type ApiHarness, startApiHarness, waitForState } from './helpers/api.js';
import { repo } from './helpers/lab.js';

/**
 * Four eyes and live progress over HTTP: a run that waits for a second identity, one that is
 * refused or expires, a rollback that needs approval; the SSE stream resumed with Last-Event-ID;
 * and a graceful shutdown that loses no accepted run.
 */
let h: ApiHarness;
const TTL_MS = 2_500;

beforeAll(async () => {
  const isolate = await readFile(join(repo, 'playbooks', 'isolate-host.yaml'), 'utf8');
  h = await startApiHarness({
    name: 'approvals',
    addressBlock: '127.51.0.0/16',
    ports: { ssh: 11422, snmp: 11461 },
    approvalTtlMs: TTL_MS,
    playbooks: {
      'isolate-host-4eyes.yaml': isolate
        .replace('id: isolate-host', 'id: isolate-host-4eyes')
        .replace(
          'policy: { approval: none, onFailure: continue }',
          'policy: { approval: required, rollbackApproval: required, onFailure: continue }',
        ),
    },
  });
}, 60_000);
afterAll(async () => {
  await h?.close();
});

const fwRules = () => h.fwRules();
const create = (playbook: string, address: string, extra: Record<string, unknown> = {}) =>
  h.call('POST', '/api/v1/runs', { token: h.tokens.runner, body: { playbook, params: { address }, ...extra } });
const approve = (runId: string, token: string) => h.call('POST', `/api/v1/runs/${runId}/approve`, { token, body: {} });

describe('approvals over HTTP', () => {
  it('a run that needs approval waits, the requester cannot approve it, a second identity can, and then it runs', async () => {
    const r = await create('isolate-host-4eyes', '10.20.0.41');
    expect([r.status, r.json.state]).toEqual([201, 'awaiting-approval']);
    const inbox = (await h.call('GET', '/api/v1/approvals', { token: h.tokens.reader })).json;
    expect(inbox).toContainEqual(expect.objectContaining({ runId: r.json.runId, for: 'run' }));
    expect(fwRules()).not.toContain('10.20.0.41');
    // The runner token has no approve scope; an admin token made by the same identity still may not approve its own run.
    expect((await approve(r.json.runId, h.tokens.runner)).status).toBe(403);
    const self = await create('isolate-host', '10.20.0.42', { approval: true });
    const own = await h.call('POST', `/api/v1/runs/${self.json.runId}/approve`, { token: h.tokens.runner, body: {} });
    expect(own.status).toBe(403);
    const { token: both } = await h.store.create({ name: 'both', scopes: ['run:*', 'approve', 'read'], by: 'vitest' });
    const mine = await h.call('POST', '/api/v1/runs', {
      token: both,
      body: { playbook: 'isolate-host-4eyes', params: { address: '10.20.0.43' } },
    });
    const refused = await approve(mine.json.runId, both);
    expect([refused.status, refused.json.error.code]).toEqual([403, 'APPROVAL_REFUSED']);
    expect(await waitForState(h, mine.json.runId, ['awaiting-approval'], 100)).toBe('awaiting-approval');

    const ok = await approve(r.json.runId, h.tokens.approver);
    expect(ok.status, JSON.stringify(ok.json)).toBe(200);
    expect(await waitForState(h, r.json.runId, ['contained', 'partial', 'failed'])).toBe('contained');
    expect(fwRules()).toContain('10.20.0.41');
    const journal = (await h.call('GET', `/api/v1/runs/${r.json.runId}/journal`, { token: h.tokens.reader })).json;
    expect(journal.find((e: { type: string }) => e.type === 'approval.decided').data).toMatchObject({
      decision: 'approved',
      by: 'approver',
      for: 'run',
    });
    // Approved twice: nothing waits any more.
    expect((await approve(r.json.runId, h.tokens.approver)).status).toBe(409);

    // Rollback of a four-eyes playbook waits too, and is approved by someone else.
    const rb = await h.call('POST', `/api/v1/runs/${r.json.runId}/rollback`, {
      token: h.tokens.runner,
      body: { reason: 'false positive' },
    });
    expect([rb.status, rb.json.pending]).toEqual([202, true]);
    expect(fwRules()).toContain('10.20.0.41');
    expect((await h.call('POST', `/api/v1/runs/${r.json.runId}/approve`, { token: both, body: {} })).status).toBe(200);
    expect(await waitForState(h, r.json.runId, ['rolled-back', 'rollback-failed'])).toBe('rolled-back');
    expect(fwRules()).not.toContain('10.20.0.41');
  });

  it('a rejected run never runs; an unapproved one expires, journaled, and cannot be approved after', async () => {
    const rej = await create('isolate-host-4eyes', '10.20.0.51');
    const r = await h.call('POST', `/api/v1/runs/${rej.json.runId}/reject`, {
      token: h.tokens.approver,
      body: { reason: 'not this host' },
    });
    expect([r.status, r.json.state]).toEqual([200, 'rejected']);
    const exp = await create('isolate-host-4eyes', '10.20.0.52');
    expect(await waitForState(h, exp.json.runId, ['expired'], TTL_MS + 3_000)).toBe('expired');
    const late = await approve(exp.json.runId, h.tokens.approver);
    expect([late.status, late.json.error.code]).toEqual([409, 'RUN_STATE_CONFLICT']);
    const journal = (await h.call('GET', `/api/v1/runs/${exp.json.runId}/journal`, { token: h.tokens.reader })).json;
    expect(journal.find((e: { type: string }) => e.type === 'approval.decided').data).toMatchObject({ decision: 'expired', by: 'expiry' });
    expect(fwRules()).not.toMatch(/10\.20\.0\.5[12]/);
  });
});

describe('firebreak approve|reject from a shell', () => {
  it('approves a run an API token asked for (a different identity), follows it to contained; reject refuses another', async () => {
    const { execFile } = await import('node:child_process');
    const cli = (...args: string[]) =>
      new Promise<{ code: number; out: string }>((resolve) =>
        execFile(
          process.execPath,
          [
            join(repo, 'dist', 'src', 'cli', 'main.js'),
            '--journal',
            h.journalFile,
            '--inventory',
            h.net.inventoryDir,
            '--playbooks',
            join(h.dir, 'playbooks'),
            ...args,
          ],
          { env: { ...process.env, DATABASE_URL: '', REDIS_URL: '' } },
          (err, out, errOut) => resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, out: out + errOut }),
        ),
      );
    const a = await create('isolate-host-4eyes', '10.20.0.81');
    const ok = await cli('approve', a.json.runId);
    expect(ok.out).toContain('approved by');
    expect([ok.code, await waitForState(h, a.json.runId, ['contained'], 100)]).toEqual([0, 'contained']);
    expect(fwRules()).toContain('10.20.0.81');
    const b = await create('isolate-host-4eyes', '10.20.0.82');
    const no = await cli('reject', b.json.runId, '--reason', 'wrong host');
    expect([no.code, await waitForState(h, b.json.runId, ['rejected'], 100)]).toEqual([0, 'rejected']);
    const again = await cli('approve', b.json.runId);
    expect([again.code, again.out]).toEqual([1, expect.stringContaining('RUN_STATE_CONFLICT')]);
    expect(fwRules()).not.toContain('10.20.0.82');
  });
});

/** Reads an SSE stream until `stopWhen` says so or the stream ends; returns the events with their ids. */
async function readEvents(runId: string, o: { lastEventId?: string; stopWhen: (e: { id: string; event: string }) => boolean }) {
  const ctl = new AbortController();
  const res = await fetch(`${h.url}/api/v1/runs/${runId}/events`, {
    headers: { authorization: `Bearer ${h.tokens.reader}`, ...(o.lastEventId ? { 'last-event-id': o.lastEventId } : {}) },
    signal: ctl.signal,
  });
  expect(res.headers.get('content-type')).toContain('text/event-stream');
  const events: { id: string; event: string; data: any }[] = [];
  const decoder = new TextDecoder();
  let buf = '';
  try {
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      buf += decoder.decode(chunk, { stream: true });
      let cut = buf.indexOf('\n\n');
      while (cut >= 0) {
        const block = buf.slice(0, cut);
        buf = buf.slice(cut + 2);
        cut = buf.indexOf('\n\n');
        const f = Object.fromEntries(block.split('\n').map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 2)]));
        if (!f.event) continue;
        const e = { id: f.id ?? '', event: f.event, data: JSON.parse(f.data ?? 'null') };
        events.push(e);
        if (e.event === 'end' || o.stopWhen(e)) {
          ctl.abort();
          return events;
        }
      }
    }
  } catch (err) {
    if (!ctl.signal.aborted) throw err;
  }
  return events;
}

describe('live events (SSE)', () => {
  it('disconnect mid-run, reconnect with Last-Event-ID: every journal entry exactly once, in order', async () => {
    h.fw.control.setLatency(60);
    try {
      const r = await create('isolate-host-4eyes', '10.20.0.61');
      const first = await readEvents(r.json.runId, { stopWhen: (e) => e.event === 'run.state' });
      expect(first.map((e) => e.event)).toEqual(['run.created', 'run.state']);
      await approve(r.json.runId, h.tokens.approver);
      // Disconnected while the run goes on; catch up from the last id seen, then follow live.
      const second = await readEvents(r.json.runId, { lastEventId: first.at(-1)!.id, stopWhen: () => false });
      expect(second.at(-1)!.event).toBe('end');
      expect(second.at(-1)!.data.state).toBe('contained');
      const ids = [...first, ...second].filter((e) => e.event !== 'end').map((e) => Number(e.id));
      const journal = (await h.call('GET', `/api/v1/runs/${r.json.runId}/journal`, { token: h.tokens.reader })).json as {
        seq: number;
        type: string;
      }[];
      expect(ids).toEqual(journal.map((e) => e.seq));
      const verified = second.filter((e) => e.event === 'action.verified');
      expect(verified.length).toBeGreaterThan(0);
      expect(verified[0]!.data.progress).toMatchObject({ type: 'action', state: 'verified', device: 'fw' });
    } finally {
      h.fw.control.setLatency(0);
    }
  });
});

describe('graceful shutdown', () => {
  it('SIGTERM right after a run is accepted: the server finishes the run, then exits 0; nothing is lost', async () => {
    const journalFile = join(h.dir, 'shutdown', 'journal.db');
    const { mkdir } = await import('node:fs/promises');
    await mkdir(join(h.dir, 'shutdown'));
    const store = await openTokenStore({ file: join(h.dir, 'shutdown', 'tokens.db') });
    const { token } = await store.create({ name: 'op', scopes: ['run:*', 'read'], by: 'vitest' });
    await store.close();
    const port = 11490;
    const child = spawn(
      process.execPath,
      [join(repo, 'dist', 'src', 'cli', 'main.js'), 'serve', '--listen', `127.0.0.1:${port}`, '--local'],
      {
        env: { ...process.env, FIREBREAK_INVENTORY: h.net.inventoryDir, FIREBREAK_JOURNAL: journalFile, DATABASE_URL: '', REDIS_URL: '' },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      for (let i = 0; i < 100 && !stderr.includes('serving'); i++) await new Promise((r) => setTimeout(r, 100));
      expect(stderr).toContain('serving');
      h.fw.control.setLatency(150);
      const res = await fetch(`http://127.0.0.1:${port}/api/v1/runs`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ playbook: 'isolate-host', params: { address: '10.20.0.71' } }),
      });
      const accepted = (await res.json()) as { runId: string; state: string };
      expect(res.status).toBe(201);
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      const journal = await openJournal({ file: journalFile }, new Redactor());
      const states = (await journal.find({ runId: accepted.runId, types: ['run.state'] })).map((e) => e.data.state);
      await journal.close();
      expect(states.at(-1)).toBe('contained');
      expect(fwRules()).toContain('10.20.0.71');
    } finally {
      h.fw.control.setLatency(0);
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});
