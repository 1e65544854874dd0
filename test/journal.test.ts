import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { CommanderError } from 'commander';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { journalCommand } from '../src/cli/journal.js';
import { canonicalJson, entryHash, entryHashCanonical, verifyChain } from '../src/journal/chain.js';
import { exportJsonl } from '../src/journal/export.js';
import { formatEntries } from '../src/journal/format.js';
import { openSqliteJournal, openSqliteStore } from '../src/journal/sqlite.js';
import type { JournalEntry, JournalStore } from '../src/journal/types.js';
import type { Device } from '../src/inventory/types.js';
import { Redactor, redactor as processRedactor, redactorForDevices, resolveSecret, urlForDisplay } from '../src/secrets.js';

let dir: string;
let file: string;
const open: JournalStore[] = [];

/** The raw SQLite store (stores what it is given; redaction is the writer's, see journal-store.test.ts). */
function store(): JournalStore {
  const s = openSqliteStore(file);
  open.push(s);
  return s;
}

/** What an attacker with write access to the file does: a raw connection, triggers dropped. */
function tamper(sql: string, ...params: unknown[]): void {
  const raw = new Database(file);
  raw.exec('DROP TRIGGER IF EXISTS entries_no_update; DROP TRIGGER IF EXISTS entries_no_delete;');
  raw.prepare(sql).run(...params);
  raw.close();
}

/** A small run: created, intent, applied, verified, state. */
async function sampleRun(s: JournalStore, runId = 'r1'): Promise<JournalEntry[]> {
  const plan = { playbook: { id: 'isolate-host' }, actions: [{ id: 'a1' }] };
  return [
    await s.append(runId, 'run.created', { plan, trigger: { kind: 'cli', by: 'alice', reason: 'exfil seen' } }),
    await s.append(runId, 'action.intent', {
      actionId: 'a1',
      device: 'edge-fw',
      action: { kind: 'host.block', address: '10.0.0.5' },
      before: { blocked: false },
      inverse: { kind: 'host.unblock', address: '10.0.0.5' },
    }),
    await s.append(runId, 'action.applied', { actionId: 'a1', device: 'edge-fw', output: 'ok\n' }),
    await s.append(runId, 'action.verified', { actionId: 'a1', device: 'edge-fw', after: { blocked: true }, ms: 12 }),
    await s.append(runId, 'run.state', { state: 'contained', timeToContainMs: 850 }),
  ];
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'fb-journal-'));
  file = join(dir, 'nested', 'dir', 'journal.db');
});

afterEach(async () => {
  for (const s of open.splice(0)) await s.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('chain', () => {
  it('canonical JSON sorts keys at every depth and matches a JSON round trip', () => {
    const v = { b: 1, a: { d: [3, { z: 1, y: undefined }], c: 'x' }, u: undefined, t: new Date(0) };
    expect(canonicalJson(v)).toBe('{"a":{"c":"x","d":[3,{"z":1}]},"b":1,"t":"1970-01-01T00:00:00.000Z"}');
    expect(canonicalJson(JSON.parse(JSON.stringify(v)))).toBe(canonicalJson(v));
    expect(canonicalJson({ '10': 1, '2': 2 })).toBe('{"10":1,"2":2}');
  });

  it('entryHashCanonical (data serialised once, as appends do) equals entryHash', () => {
    const bodies = [
      { seq: 1, runId: 'r-1', ts: '2026-11-30T00:00:00.000Z', type: 'run.state' as const, data: {} },
      { seq: 4711, runId: 'r "q" \\', ts: 'x', type: 'action.intent' as const, data: { z: [1, { b: 2, a: 'ü\n' }], a: null } },
    ];
    for (const b of bodies) expect(entryHashCanonical('abc', b, canonicalJson(b.data))).toBe(entryHash('abc', b));
  });

  it('entryHash is hex sha256 and depends on prevHash and every field', () => {
    const body = { seq: 1, runId: 'r', ts: '2026-01-01T00:00:00.000Z', type: 'run.state' as const, data: { state: 'x' } };
    const h = entryHash('', body);
    expect(h).toMatch(/^[0-9a-f]{64}$/);
    expect(entryHash('00', body)).not.toBe(h);
    expect(entryHash('', { ...body, data: { state: 'y' } })).not.toBe(h);
    expect(entryHash('', { ...body, seq: 2 })).not.toBe(h);
  });
});

describe('sqlite journal', () => {
  it('appends and reads back, per run and in total, and creates the parent directory', async () => {
    const s = store();
    const written = await sampleRun(s, 'r1');
    await s.append('r2', 'run.created', { plan: { playbook: { id: 'cut-uplink' } }, trigger: { kind: 'api', by: 'bob' } });
    expect(existsSync(file)).toBe(true);
    expect(written.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5]);
    expect(written[0]!.prevHash).toBe('');
    expect(written[1]!.prevHash).toBe(written[0]!.hash);
    const r1 = await s.entries('r1');
    expect(r1).toEqual(written);
    expect(r1[1]!.data.action).toEqual({ kind: 'host.block', address: '10.0.0.5' });
    expect(await s.entries('nope')).toEqual([]);
    expect((await s.all()).map((e) => e.runId)).toEqual(['r1', 'r1', 'r1', 'r1', 'r1', 'r2']);
    expect(new Date(r1[0]!.ts).toISOString()).toBe(r1[0]!.ts);
  });

  it('appendMany writes a group of entries chained in order, in one transaction', async () => {
    const s = store();
    await s.append('r1', 'run.created', { plan: {}, trigger: { kind: 'test', by: 't' } });
    const group = await s.appendMany([
      { runId: 'r1', type: 'action.intent', data: { actionId: 'a1', before: { x: 1 } } },
      { runId: 'r1', type: 'action.intent', data: { actionId: 'a2', note: 'n' } },
      { runId: 'r2', type: 'action.already', data: { actionId: 'a1' } },
    ]);
    expect(group.map((e) => e.seq)).toEqual([2, 3, 4]);
    expect(group[1]!.prevHash).toBe(group[0]!.hash);
    expect(group[1]!.data.note).toBe('n');
    expect(await s.appendMany([])).toEqual([]);
    expect((await s.verify()).ok).toBe(true);
    // A group that fails half-way (its second entry's seq is taken) leaves no entry of it behind.
    tamper("INSERT INTO entries (seq, run_id, ts, type, data, prev_hash, hash) VALUES (6, 'x', 'x', 'run.state', '{}', 'x', 'x')");
    await expect(
      s.appendMany([
        { runId: 'r3', type: 'run.state', data: { state: 'running' } },
        { runId: 'r3', type: 'run.state', data: {} },
      ]),
    ).rejects.toThrow();
    expect(await s.entries('r3')).toEqual([]);
  });

  it('is consistent across reopen: WAL on, run_id index and head row in place', async () => {
    const s = store();
    await sampleRun(s);
    await s.close();
    const raw = new Database(file, { readonly: true });
    expect(raw.pragma('journal_mode', { simple: true })).toBe('wal');
    const idx = raw.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'entries'").all();
    expect(idx).toContainEqual({ name: 'entries_run_id' });
    expect(raw.prepare('SELECT seq, hash FROM head').get()).toMatchObject({ seq: 5 });
    raw.close();
    const again = store();
    expect((await again.all()).length).toBe(5);
    expect(await again.verify()).toEqual({ ok: true, entries: 5, problems: [] });
    const next = await again.append('r1', 'rollback.started', { by: 'alice', reason: 'all clear' });
    expect(next.seq).toBe(6);
  });

  it('summarises runs from run.created, run.state and rollback.finished', async () => {
    const s = store();
    await sampleRun(s, 'r1');
    await s.append('r2', 'run.created', { plan: { playbook: { id: 'cut-uplink' } }, trigger: { kind: 'api', by: 'bob' } });
    await s.append('r2', 'run.state', { state: 'running' });
    await s.append('r1', 'rollback.started', { by: 'alice' });
    await s.append('r1', 'rollback.finished', { state: 'rolled-back', reverted: 1, failed: 0 });
    const runs = await s.runs();
    const created = (await s.entries('r1'))[0]!.ts;
    expect(runs).toEqual([
      { runId: 'r1', playbook: 'isolate-host', createdAt: created, state: 'rolled-back' },
      { runId: 'r2', playbook: 'cut-uplink', createdAt: expect.any(String), state: 'running' },
    ]);
  });

  it('refuses UPDATE and DELETE through SQL while the triggers are in place', async () => {
    const s = store();
    await sampleRun(s);
    const raw = new Database(file);
    expect(() => raw.prepare("UPDATE entries SET data = '{}' WHERE seq = 2").run()).toThrow(/append-only/);
    expect(() => raw.prepare('DELETE FROM entries WHERE seq = 5').run()).toThrow(/append-only/);
    expect(() => raw.prepare('UPDATE head SET seq = 4').run()).toThrow(/forward/);
    raw.close();
    expect((await s.verify()).ok).toBe(true);
  });
});

describe('verify', () => {
  it('passes on an untouched chain', async () => {
    const s = store();
    await sampleRun(s, 'r1');
    await sampleRun(s, 'r2');
    expect(await s.verify()).toEqual({ ok: true, entries: 10, problems: [] });
  });

  it('names the seq of an entry whose data was edited in the file', async () => {
    const s = store();
    await sampleRun(s);
    tamper("UPDATE entries SET data = json_set(data, '$.after.blocked', json('false')) WHERE seq = 4");
    const report = await s.verify();
    expect(report.ok).toBe(false);
    expect(report.problems).toEqual([expect.stringMatching(/^seq 4: hash mismatch/)]);
  });

  it('catches an edit whose hash was recomputed, at the next entry', async () => {
    const s = store();
    const written = await sampleRun(s);
    const e = written[2]!;
    const data = { ...e.data, output: 'nothing happened' };
    tamper('UPDATE entries SET data = ?, hash = ? WHERE seq = 3', JSON.stringify(data), entryHash(e.prevHash, { ...e, data }));
    const report = await s.verify();
    expect(report.ok).toBe(false);
    expect(report.problems.join('\n')).toMatch(/seq 4: prevHash does not match the hash of seq 3/);
  });

  it('catches a deleted middle entry', async () => {
    const s = store();
    await sampleRun(s);
    tamper('DELETE FROM entries WHERE seq = 3');
    const report = await s.verify();
    expect(report.ok).toBe(false);
    expect(report.entries).toBe(4);
    expect(report.problems.join('\n')).toMatch(/seq 3: entry missing/);
    expect(report.problems.join('\n')).toMatch(/seq 4: prevHash/);
  });

  it('catches a deleted newest entry through the head record', async () => {
    const s = store();
    await sampleRun(s);
    tamper('DELETE FROM entries WHERE seq = 5');
    const report = await s.verify();
    expect(report.ok).toBe(false);
    expect(report.problems).toEqual([expect.stringMatching(/truncated: head says the journal ends at seq 5.*seq 4/)]);
  });

  it('verifyChain alone reports gaps, a missing first entry and a replaced head', () => {
    const mk = (seq: number, prevHash: string): JournalEntry => {
      const e = { seq, runId: 'r', ts: '2026-01-01T00:00:00.000Z', type: 'run.state' as const, data: { n: seq }, prevHash, hash: '' };
      return { ...e, hash: entryHash(prevHash, e) };
    };
    const a = mk(1, '');
    const b = mk(2, a.hash);
    const c = mk(3, b.hash);
    expect(verifyChain([a, b, c], { seq: 3, hash: c.hash })).toEqual([]);
    expect(verifyChain([b, c]).map((p) => p.kind)).toEqual(['missing', 'relinked']);
    expect(verifyChain([a, b, c], { seq: 3, hash: 'f00' }).map((p) => p.kind)).toEqual(['head']);
    expect(verifyChain([a, b, c], null).map((p) => p.kind)).toEqual(['head']);
  });
});

describe('redaction', () => {
  const SECRET = 'hunter2-Zq9!secret';

  it('openSqliteJournal (compat) redacts with the process-wide redactor, or the one it is given', async () => {
    processRedactor.add(SECRET);
    const compat = openSqliteJournal(file);
    open.push(compat);
    const e = await compat.append('r1', 'action.failed', { error: `login ${SECRET}`, cause: new Error(SECRET) });
    expect(e.data).toEqual({ error: 'login [redacted]', cause: { name: 'Error', message: '[redacted]' } });
    const own = new Redactor();
    own.add('only-this-one-1234');
    const given = openSqliteJournal(file, { redactor: own });
    open.push(given);
    expect((await given.append('r1', 'run.state', { state: 'x', a: 'only-this-one-1234', b: SECRET })).data).toEqual({
      state: 'x',
      a: '[redacted]',
      b: SECRET,
    });
    expect(readFileSync(file).includes(Buffer.from('only-this-one-1234'))).toBe(false);
  });

  it('redactorForDevices resolves every secret reference of every device into a new redactor', async () => {
    const keyFile = join(dir, 'edge.key');
    writeFileSync(keyFile, '-----BEGIN KEY-----\nAAAAkeymaterial9\n-----END KEY-----\n');
    process.env.FB_TEST_FW_PASS = 'fw-pass-Aa1!';
    const devices: Device[] = [
      device('edge-fw', { ssh: ssh({ key: `file:${keyFile}`, password: 'env:FB_TEST_FW_PASS', enableSecret: 'env:FB_TEST_NOT_SET' }) }),
      device('access-1', { snmp: { version: '2c', port: 161, community: 'env:FB_TEST_COMMUNITY', timeoutMs: 1000, retries: 1 } }),
      device('core', {
        ssh: ssh({ enableSecret: 'env:FB_TEST_ENABLE' }),
        snmp: {
          version: '3',
          port: 161,
          user: 'fb',
          auth: { protocol: 'sha', key: 'env:FB_TEST_AUTH' },
          priv: { protocol: 'aes', key: 'env:FB_TEST_PRIV' },
          timeoutMs: 1000,
          retries: 1,
        },
      }),
    ];
    // A resolver of our own: sees every reference once; the unresolvable one is skipped.
    const asked: string[] = [];
    const values: Record<string, string> = {
      'env:FB_TEST_COMMUNITY': 'comm-Q9x',
      'env:FB_TEST_ENABLE': 'en-Sec-7',
      'env:FB_TEST_AUTH': 'auth-K3y',
      'env:FB_TEST_PRIV': 'priv-K3y',
    };
    const r = await redactorForDevices(devices, async (ref) => {
      asked.push(ref);
      if (ref in values) return values[ref]!;
      return resolveSecret(ref);
    });
    expect(asked.sort()).toEqual(
      [
        'env:FB_TEST_AUTH',
        'env:FB_TEST_COMMUNITY',
        'env:FB_TEST_ENABLE',
        'env:FB_TEST_FW_PASS',
        'env:FB_TEST_NOT_SET',
        'env:FB_TEST_PRIV',
        `file:${keyFile}`,
      ].sort(),
    );
    const text = `fw-pass-Aa1! comm-Q9x en-Sec-7 auth-K3y priv-K3y -----BEGIN KEY-----\nAAAAkeymaterial9\n-----END KEY-----`;
    expect(r.text(text)).toBe('[redacted] [redacted] [redacted] [redacted] [redacted] [redacted]');
    const longLived = new Redactor();
    longLived.absorb(r);
    expect(longLived.text('x auth-K3y y')).toBe('x [redacted] y');
    // A new redactor: values that only our resolver knew never reached the process-wide one.
    expect(processRedactor.text('comm-Q9x')).toBe('comm-Q9x');
    expect(new Redactor().text('fw-pass-Aa1!')).toBe('fw-pass-Aa1!');
    delete process.env.FB_TEST_FW_PASS;
  });

  it('urlForDisplay keeps the user and drops the password', () => {
    expect(urlForDisplay('postgres://fb:s3cret@db:5432/fb')).toBe('postgres://fb@db:5432/fb');
    expect(urlForDisplay('postgresql://fb:p@ss@db/fb?sslmode=require&password=x')).toBe(
      'postgresql://fb@db/fb?sslmode=require&password=[redacted]',
    );
    expect(urlForDisplay('redis://:pw@127.0.0.1:6379')).toBe('redis://127.0.0.1:6379');
    expect(urlForDisplay('postgres://postgres@127.0.0.1:5432/postgres')).toBe('postgres://postgres@127.0.0.1:5432/postgres');
  });
});

function ssh(o: Partial<NonNullable<Device['ssh']>>): NonNullable<Device['ssh']> {
  return { port: 22, user: 'root', hostKey: 'SHA256:x', readyTimeoutMs: 1000, ...o };
}

function device(id: string, o: Partial<Device>): Device {
  return {
    id,
    site: 's',
    driver: 'linux',
    address: '127.0.0.1',
    tags: [],
    managementPath: { interfaces: [], via: [] },
    interfaces: {},
    ...o,
  };
}

describe('two stores on one file', () => {
  it('appending alternately keeps one valid chain', async () => {
    const a = store();
    const b = store();
    const seqs: number[] = [];
    for (let i = 0; i < 20; i++) {
      const s = i % 3 === 0 ? b : a;
      seqs.push((await s.append(`r${i % 2}`, 'stage.prepared', { stage: i, ms: i })).seq);
    }
    expect(seqs).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    for (const s of [a, b]) expect(await s.verify()).toEqual({ ok: true, entries: 20, problems: [] });
    const all = await a.all();
    for (let i = 1; i < all.length; i++) expect(all[i]!.prevHash).toBe(all[i - 1]!.hash);
  });
});

describe('write lock held by another process', () => {
  it('append waits without blocking the event loop, then chains after the other writer', async () => {
    const s = store();
    await sampleRun(s);
    const other = new Database(file);
    other.exec('BEGIN IMMEDIATE');
    let settled = false;
    const pending = s.append('r1', 'run.state', { state: 'rolling-back' }).finally(() => (settled = true));
    // The event loop keeps turning while the append waits for the lock.
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(settled).toBe(false);
    other.exec('COMMIT');
    other.close();
    const e = await pending;
    expect(e.seq).toBe(6);
    expect((await s.verify()).ok).toBe(true);
  });

  it('gives up with SQLITE_BUSY after busyTimeoutMs', async () => {
    const s = openSqliteStore(file, { busyTimeoutMs: 60 });
    open.push(s);
    const other = new Database(file);
    other.exec('BEGIN IMMEDIATE');
    await expect(s.append('r1', 'run.state', { state: 'x' })).rejects.toMatchObject({ code: 'SQLITE_BUSY' });
    other.exec('ROLLBACK');
    other.close();
    expect(await s.verify()).toEqual({ ok: true, entries: 0, problems: [] });
  });
});

describe('export and format', () => {
  it('exports one JSON object per line that verifies again on its own', async () => {
    const s = store();
    await sampleRun(s, 'r1');
    await sampleRun(s, 'r2');
    const lines: string[] = [];
    const n = await exportJsonl(s, (line) => lines.push(line));
    expect(n).toBe(10);
    expect(lines).toHaveLength(10);
    const parsed = lines.map((l) => {
      expect(l).not.toContain('\n');
      return JSON.parse(l) as JournalEntry;
    });
    expect(parsed.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(verifyChain(parsed)).toEqual([]);
  });

  it('formats one readable line per entry', async () => {
    const s = store();
    const text = formatEntries(await sampleRun(s));
    const lines = text.trimEnd().split('\n');
    expect(lines).toHaveLength(5);
    expect(lines[0]).toMatch(/#1 .*run\.created .*playbook isolate-host, 1 action\(s\); cli by alice: exfil seen/);
    expect(lines[1]).toMatch(/action\.intent\s+a1\s+edge-fw\s+host\.block 10\.0\.0\.5 \(inverse: host\.unblock 10\.0\.0\.5\)/);
    expect(lines[4]).toMatch(/run\.state .*contained time to contain 850 ms/);
  });
});

describe('journal CLI', () => {
  async function run(args: string[]): Promise<{ out: string; err: string; exitCode: number }> {
    let out = '';
    let err = '';
    const cmd = journalCommand(() => ({ file }))
      .exitOverride()
      .configureOutput({ writeOut: (s) => (out += s), writeErr: (s) => (err += s) });
    try {
      await cmd.parseAsync(args, { from: 'user' });
      return { out, err, exitCode: 0 };
    } catch (e) {
      if (!(e instanceof CommanderError)) throw e;
      return { out, err, exitCode: e.exitCode };
    }
  }

  it('show prints a run and refuses an unknown one', async () => {
    const s = store();
    await sampleRun(s, 'r1');
    const shown = await run(['show', 'r1']);
    expect(shown.exitCode).toBe(0);
    expect(shown.out.trimEnd().split('\n')).toHaveLength(5);
    const unknown = await run(['show', 'r9']);
    expect(unknown.exitCode).toBe(1);
    expect(unknown.err).toMatch(/unknown run "r9" \(recent runs: r1\)/);
  });

  it('verify exits 0 when intact and 3 naming each problem when not', async () => {
    const s = store();
    await sampleRun(s);
    expect(await run(['verify'])).toMatchObject({ exitCode: 0, out: 'journal ok: 5 entries, chain intact\n' });
    tamper('UPDATE entries SET data = \'{"state":"rolled-back"}\' WHERE seq = 5');
    const bad = await run(['verify']);
    expect(bad.exitCode).toBe(3);
    expect(bad.out).toMatch(/^seq 5: hash mismatch/);
    expect(bad.err).toMatch(/1 problem/);
  });

  it('export writes jsonl and rejects other formats naming the allowed ones', async () => {
    const s = store();
    await sampleRun(s);
    const ok = await run(['export', '--format', 'jsonl']);
    expect(ok.exitCode).toBe(0);
    expect(
      ok.out
        .trimEnd()
        .split('\n')
        .map((l) => (JSON.parse(l) as JournalEntry).seq),
    ).toEqual([1, 2, 3, 4, 5]);
    const csv = await run(['export', '--format', 'csv']);
    expect(csv.exitCode).toBe(1);
    expect(csv.err).toMatch(/unknown export format "csv" \(allowed: jsonl\)/);
  });

  it('does not create a journal where there is none', async () => {
    const r = await run(['verify']);
    expect(r.exitCode).toBe(1);
    expect(r.err).toMatch(/no journal at/);
    expect(existsSync(file)).toBe(false);
  });
});
