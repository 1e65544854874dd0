import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { entryHash } from '../src/journal/chain.js';
import { DEVICE_HOLD_TYPES } from '../src/engine/holds.js';
import { findSql } from '../src/journal/query.js';
import { openJournal } from '../src/journal/open.js';
import { openPostgresJournal } from '../src/journal/postgres.js';
import { openSqliteStore } from '../src/journal/sqlite.js';
import type { JournalEntry, JournalStore } from '../src/journal/types.js';
import { journalWriter } from '../src/journal/writer.js';
import { Redactor } from '../src/secrets.js';
import { freshSchema, pgAvailable, pgUrl, withPg } from './helpers/services.js';

/**
 * One conformance suite for every journal store: the same assertions over SQLite (a file in a
 * temp dir) and PostgreSQL (a schema of its own per test, dropped afterwards); then what only
 * PostgreSQL has: migrations, writers in other processes, its errors.
 */

interface StoreKind {
  name: string;
  /** Why this kind cannot run here, if it cannot. */
  unavailable?: string;
  /** A fresh, empty journal for the next test. */
  setup(): Promise<void>;
  /** A new store instance (own connection) on the current journal: the raw store, no redaction. */
  open(): Promise<JournalStore>;
  /** Raw SQL on the journal (`?` placeholders, unqualified table names), as someone with database access would. */
  sql(text: string, params?: unknown[], opts?: { bypassTriggers?: boolean }): Promise<void>;
  /** Every byte the journal keeps, as text (to look for secrets). */
  storedText(): Promise<string>;
  teardown(): Promise<void>;
}

function sqliteKind(): StoreKind {
  let dir = '';
  let file = '';
  return {
    name: 'sqlite',
    async setup() {
      dir = mkdtempSync(join(tmpdir(), 'fb-store-'));
      file = join(dir, 'journal.db');
    },
    async open() {
      return openSqliteStore(file);
    },
    async sql(text, params = [], opts = {}) {
      const raw = new Database(file);
      try {
        // What an attacker with write access to the file does: drop the triggers.
        if (opts.bypassTriggers)
          for (const t of ['entries_no_update', 'entries_no_delete', 'head_no_delete']) raw.exec(`DROP TRIGGER IF EXISTS ${t}`);
        raw.prepare(text).run(...params);
      } finally {
        raw.close();
      }
    },
    async storedText() {
      return [file, `${file}-wal`]
        .filter(existsSync)
        .map((f) => readFileSync(f).toString('latin1'))
        .join('\n');
    },
    async teardown() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function pgKind(unavailable?: string): StoreKind {
  let current: ReturnType<typeof freshSchema> | undefined;
  const schema = () => current!.schema;
  return {
    name: 'postgres',
    ...(unavailable ? { unavailable } : {}),
    async setup() {
      current = freshSchema('fbtest');
    },
    open: () => openPostgresJournal(pgUrl(), { schema: schema(), poolSize: 2 }),
    async sql(text, params = [], opts = {}) {
      let n = 0;
      const pgText = text.replace(/\?/g, () => `$${++n}`);
      await withPg(async (c) => {
        await c.query(`SET search_path TO "${schema()}"`);
        // What a superuser does: replica mode fires no ordinary triggers.
        if (opts.bypassTriggers) await c.query('SET session_replication_role = replica');
        await c.query(pgText, params);
      });
    },
    storedText: () =>
      withPg(async (c) => {
        const r = await c.query(
          `SELECT coalesce(string_agg(run_id || ts || type || data || hash, E'\\n'), '') AS t FROM "${schema()}".entries`,
        );
        return r.rows[0].t as string;
      }),
    async teardown() {
      await current?.drop();
    },
  };
}

const pgUp = await pgAvailable();
const kinds: StoreKind[] = [sqliteKind(), pgKind(pgUp ? undefined : 'PostgreSQL not reachable')];

/** A small run: created, intent, applied, verified, state. */
async function sampleRun(s: JournalStore, runId = 'r1'): Promise<JournalEntry[]> {
  const plan = { playbook: { id: 'isolate-host' }, actions: [{ id: 'a1' }] };
  const a = { actionId: 'a1', device: 'edge-fw' };
  return [
    await s.append(runId, 'run.created', { plan, trigger: { kind: 'cli', by: 'alice', reason: 'exfil seen' } }),
    await s.append(runId, 'action.intent', {
      ...a,
      action: { kind: 'host.block', address: '10.0.0.5' },
      before: { blocked: false },
      inverse: null,
    }),
    await s.append(runId, 'action.applied', { ...a, output: 'ok\n' }),
    await s.append(runId, 'action.verified', { ...a, after: { blocked: true }, ms: 12 }),
    await s.append(runId, 'run.state', { state: 'contained', timeToContainMs: 850 }),
  ];
}

const seqs = (es: JournalEntry[]) => es.map((e) => e.seq);
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe.each(kinds)('$name journal store', (kind) => {
  if (kind.unavailable) {
    it.skip(`skipped: ${kind.unavailable}`, () => undefined);
    return;
  }
  const open: JournalStore[] = [];
  const store = async () => {
    const s = await kind.open();
    open.push(s);
    return s;
  };
  beforeEach(() => kind.setup());
  afterEach(async () => {
    for (const s of open.splice(0)) await s.close();
    await kind.teardown();
  });

  it('appends, chains and reads back in seq order, per run and in total', async () => {
    const s = await store();
    const written = await sampleRun(s, 'r1');
    await s.append('r2', 'run.created', { plan: { playbook: { id: 'cut-uplink' } }, trigger: { kind: 'api', by: 'bob' } });
    expect(seqs(written)).toEqual([1, 2, 3, 4, 5]);
    expect(written[0]!.prevHash).toBe('');
    for (let i = 1; i < written.length; i++) expect(written[i]!.prevHash).toBe(written[i - 1]!.hash);
    expect(await s.entries('r1')).toEqual(written);
    expect(await s.entries('nope')).toEqual([]);
    expect((await s.all()).map((e) => e.runId)).toEqual(['r1', 'r1', 'r1', 'r1', 'r1', 'r2']);
    expect(new Date(written[0]!.ts).toISOString()).toBe(written[0]!.ts);
    // What is returned is what the canonical JSON reads back as: an Error keeps its message.
    const e = await s.append('r2', 'action.failed', { actionId: 'a1', cause: new Error('no route'), at: new Date(0), gone: undefined });
    expect(e.data).toEqual({ actionId: 'a1', cause: { name: 'Error', message: 'no route' }, at: '1970-01-01T00:00:00.000Z' });
    expect((await s.entries('r2'))[1]).toEqual(e);
  });

  it('appendMany chains a group in one transaction; a group that fails leaves nothing behind', async () => {
    const s = await store();
    await s.append('r1', 'run.created', { plan: {}, trigger: { kind: 'test', by: 't' } });
    const group = await s.appendMany([
      { runId: 'r1', type: 'action.intent', data: { actionId: 'a1' } },
      { runId: 'r1', type: 'action.intent', data: { actionId: 'a2' } },
      { runId: 'r2', type: 'action.already', data: { actionId: 'a1' } },
    ]);
    expect(seqs(group)).toEqual([2, 3, 4]);
    expect(group[1]!.prevHash).toBe(group[0]!.hash);
    expect(await s.appendMany([])).toEqual([]);
    expect(await s.verify()).toEqual({ ok: true, entries: 4, problems: [] });
    // Seq 6 taken behind the store's back: the group's second entry collides, the first must not stay.
    await kind.sql("INSERT INTO entries (seq, run_id, ts, type, data, prev_hash, hash) VALUES (6, 'x', 'x', 'run.state', '{}', 'x', 'x')");
    const failing = [
      { runId: 'r3', type: 'run.state' as const, data: { state: 'running' } },
      { runId: 'r3', type: 'run.state' as const, data: {} },
    ];
    await expect(s.appendMany(failing)).rejects.toThrow();
    expect(await s.entries('r3')).toEqual([]);
  });

  it('appends asked for at once (200 devices journaling together) each land once in one chain; one refused by the idempotency index fails alone', async () => {
    const s = await store();
    await s.append('r0', 'run.created', { plan: {}, trigger: { kind: 'test', by: 't' }, idempotencyKey: 'k1' });
    const asks = Array.from({ length: 60 }, (_, i) =>
      i === 30
        ? s.append('rdup', 'run.created', { plan: {}, trigger: { kind: 'test', by: 't' }, idempotencyKey: 'k1' })
        : i % 2
          ? s.append(`r${i}`, 'action.intent', { actionId: `a${i}`, device: `sw${i}` })
          : s.appendMany([
              { runId: `r${i}`, type: 'action.intent', data: { actionId: `a${i}`, device: `sw${i}` } },
              { runId: `r${i}`, type: 'action.applied', data: { actionId: `a${i}`, device: `sw${i}` } },
            ]),
    );
    const settled = await Promise.allSettled(asks);
    const refused = settled.filter((r) => r.status === 'rejected');
    expect(refused).toHaveLength(1);
    expect(String((refused[0] as PromiseRejectedResult).reason.name)).toBe('IdempotencyTaken');
    expect(await s.entries('rdup')).toEqual([]);
    const all = await s.all();
    // 1 + 30 singles + 29 pairs, seqs without gaps; a group's entries stay next to each other.
    expect(seqs(all)).toEqual(range(1, 1 + 30 + 2 * 29));
    for (let i = 0; i < 60; i += 2) {
      if (i === 30) continue;
      const mine = all.filter((e) => e.runId === `r${i}`);
      expect(mine[1]!.seq - mine[0]!.seq).toBe(1);
    }
    expect((await s.verify()).ok).toBe(true);
  });

  it('find filters by run, types, afterSeq and limit, in seq order', async () => {
    const s = await store();
    await sampleRun(s, 'r1');
    await sampleRun(s, 'r2');
    expect(seqs(await s.find({}))).toEqual(range(1, 10));
    expect(seqs(await s.find({ runId: 'r2' }))).toEqual(range(6, 10));
    expect(seqs(await s.find({ types: ['run.created', 'run.state'] }))).toEqual([1, 5, 6, 10]);
    expect(seqs(await s.find({ runId: 'r1', types: ['run.state', 'action.intent'] }))).toEqual([2, 5]);
    expect(seqs(await s.find({ runId: 'r2', afterSeq: 7 }))).toEqual([8, 9, 10]);
    expect(seqs(await s.find({ afterSeq: 3, limit: 2 }))).toEqual([4, 5]);
    expect(seqs(await s.find({ types: ['action.applied'], afterSeq: 3, limit: 5 }))).toEqual([8]);
    expect(await s.find({ types: [] })).toEqual([]);
    expect(await s.find({ limit: 0 })).toEqual([]);
    expect(await s.find({ afterSeq: 10 })).toEqual([]);
    expect((await s.find({ runId: 'r1', types: ['action.verified'] }))[0]).toEqual((await s.entries('r1'))[3]);
    // By the device the entry's data names: a device's holds without reading every other device's.
    expect(seqs(await s.find({ device: 'edge-fw' }))).toEqual([2, 3, 4, 7, 8, 9]);
    expect(seqs(await s.find({ device: 'edge-fw', runId: 'r2', types: ['action.intent'] }))).toEqual([7]);
    expect(await s.find({ device: "edge-fw' OR '1'='1" })).toEqual([]);
  });

  it('summarises runs and reopens where it left off', async () => {
    const s = await store();
    await sampleRun(s, 'r1');
    await s.append('r2', 'run.created', { plan: { playbook: { id: 'cut-uplink' } }, trigger: { kind: 'api', by: 'bob' } });
    await s.append('r1', 'rollback.finished', { state: 'rolled-back', reverted: 1, failed: 0 });
    expect(await s.runs()).toEqual([
      { runId: 'r1', playbook: 'isolate-host', createdAt: (await s.entries('r1'))[0]!.ts, state: 'rolled-back' },
      { runId: 'r2', playbook: 'cut-uplink', createdAt: expect.any(String), state: 'pending' },
    ]);
    await s.close();
    const again = await store();
    expect(await again.verify()).toEqual({ ok: true, entries: 7, problems: [] });
    expect((await again.append('r2', 'run.state', { state: 'running' })).seq).toBe(8);
  });

  it('refuses UPDATE and DELETE while the triggers are in place', async () => {
    const s = await store();
    await sampleRun(s);
    await expect(kind.sql("UPDATE entries SET data = '{}' WHERE seq = 2")).rejects.toThrow(/append-only/);
    await expect(kind.sql('DELETE FROM entries WHERE seq = 5')).rejects.toThrow(/append-only/);
    await expect(kind.sql('UPDATE head SET seq = 4')).rejects.toThrow(/forward/);
    await expect(kind.sql('DELETE FROM head')).rejects.toThrow(/head cannot be deleted/);
    expect((await s.verify()).ok).toBe(true);
  });

  describe('verify names each kind of tampering', () => {
    const tampered = async (sql: string, params: unknown[] = []) => {
      const s = await store();
      const written = await sampleRun(s);
      await kind.sql(sql, params, { bypassTriggers: true });
      return { report: await s.verify(), written };
    };

    it('an edited row, at its seq', async () => {
      const { report } = await tampered('UPDATE entries SET data = ? WHERE seq = 4', ['{"actionId":"a1","after":{"blocked":false}}']);
      expect(report).toMatchObject({ ok: false, entries: 5, problems: [expect.stringMatching(/^seq 4: hash mismatch/)] });
    });

    it('a relinked row (edited, hash recomputed), at the next entry', async () => {
      const s = await store();
      const e = (await sampleRun(s))[2]!;
      const data = { ...e.data, output: 'nothing happened' };
      await kind.sql('UPDATE entries SET data = ?, hash = ? WHERE seq = 3', [JSON.stringify(data), entryHash(e.prevHash, { ...e, data })], {
        bypassTriggers: true,
      });
      expect((await s.verify()).problems.join('\n')).toMatch(/seq 4: prevHash does not match the hash of seq 3/);
    });

    it('a deleted middle row', async () => {
      const { report } = await tampered('DELETE FROM entries WHERE seq = 3');
      expect(report.entries).toBe(4);
      expect(report.problems.join('\n')).toMatch(/seq 3: entry missing[\s\S]*seq 4: prevHash/);
    });

    it('a truncated tail, through the head record', async () => {
      const { report } = await tampered('DELETE FROM entries WHERE seq >= 4');
      expect(report.problems).toEqual([expect.stringMatching(/truncated: head says the journal ends at seq 5.*seq 3/)]);
    });

    it('every entry deleted', async () => {
      expect((await tampered('DELETE FROM entries')).report.problems).toEqual([expect.stringMatching(/truncated: .*seq 5.*seq 0/)]);
    });

    it('the head record deleted', async () => {
      expect((await tampered('DELETE FROM head')).report.problems).toEqual([expect.stringMatching(/head record missing/)]);
    });
  });

  it('4 writers (own instances, own connections) appending at once keep one chain with no seq gaps', async () => {
    // Opened together: on PostgreSQL a fresh schema, so the four also migrate at once.
    const writers = await Promise.all([0, 1, 2, 3].map(() => store()));
    const per = 30;
    const written = await Promise.all(
      writers.map(async (w, k) => {
        const mine: JournalEntry[] = [];
        for (let i = 0; i < per; i++) {
          if (i % 10 === 9) {
            const pair = [1, 2].map((part) => ({ runId: `w${k}`, type: 'stage.prepared' as const, data: { i, part } }));
            mine.push(...(await w.appendMany(pair)));
          } else mine.push(await w.append(`w${k}`, 'stage.prepared', { i }));
        }
        return mine;
      }),
    );
    const total = 4 * (per + 3);
    const all = await writers[0]!.all();
    expect(seqs(all)).toEqual(range(1, total));
    expect(await writers[3]!.verify()).toEqual({ ok: true, entries: total, problems: [] });
    for (const [k, mine] of written.entries()) expect(all.filter((e) => e.runId === `w${k}`)).toEqual(mine);
    // A group is never split by another writer.
    for (const e of all.filter((x) => x.data.part === 1)) expect(all[e.seq]).toMatchObject({ runId: e.runId, data: { part: 2 } });
    const handovers = all.filter((e, i) => i > 0 && e.runId !== all[i - 1]!.runId).length;
    expect(handovers).toBeGreaterThan(3);
  });

  it('stores what it is given; the writer in front of it never lets a secret through', async () => {
    const SECRET = 'hunter2-Zq9!secret';
    const failure = () => ({
      actionId: 'a1',
      device: 'edge-fw',
      error: `ssh: authentication failed for root with password ${SECRET}`,
      cause: new Error(`spawn sshpass -p ${SECRET} failed`),
      transcript: [{ line: 1, text: `enable\n${SECRET}\n` }, [[`deep ${SECRET} deep`]]],
      device_cfg: { ssh: { password: 'env:FW_PASS' }, community: 'public' },
      [`key-${SECRET}`]: 'secret in a key',
    });
    const raw = await store();
    const kept = await raw.append('r0', 'action.failed', failure());
    expect(JSON.stringify(kept.data)).toContain(SECRET);
    expect(await kind.storedText()).toContain(SECRET);
    await raw.close();
    await kind.teardown();
    await kind.setup();

    const r = new Redactor();
    r.add(SECRET);
    const w = journalWriter(await store(), r);
    const returned = await w.append('r1', 'action.failed', { phase: 'apply', code: 'X', ...failure() });
    const [group] = await w.appendMany([
      { runId: 'r1', type: 'run.state', data: { state: 'failed', reason: `login with ${SECRET} refused` } },
    ]);
    expect(await kind.storedText()).not.toContain(SECRET);
    const [failed, state] = await w.entries('r1');
    expect(failed).toEqual(returned);
    expect(state).toEqual(group);
    expect(JSON.stringify(failed!.data)).not.toContain(SECRET);
    expect(failed!.data.error).toBe('ssh: authentication failed for root with password [redacted]');
    expect(failed!.data.cause).toMatchObject({ name: 'Error', message: 'spawn sshpass -p [redacted] failed' });
    expect(failed!.data.device_cfg).toMatchObject({ ssh: { password: 'env:FW_PASS' }, community: '[redacted]' });
    expect(failed!.data['key-[redacted]']).toBe('secret in a key');
    expect(state!.data.reason).toBe('login with [redacted] refused');
    expect(await w.find({ runId: 'r1', types: ['run.state'] })).toEqual([group]);
    expect((await w.verify()).ok).toBe(true);
  });
});

describe.skipIf(!pgUp)('postgres only', () => {
  const schemas: ReturnType<typeof freshSchema>[] = [];
  const open: JournalStore[] = [];
  const fresh = () => {
    const s = freshSchema('fbtest');
    schemas.push(s);
    return s.schema;
  };
  const openOn = async (schema: string) => {
    const s = await openPostgresJournal(pgUrl(), { schema, poolSize: 2 });
    open.push(s);
    return s;
  };
  const spawned: ChildProcess[] = [];
  afterEach(async () => {
    // A writer process still running after a failed test is stopped, by its pid.
    for (const c of spawned.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    for (const s of open.splice(0)) await s.close();
    for (const s of schemas.splice(0)) await s.drop();
  });

  it('migrates once, whoever starts first, and records the version', async () => {
    const schema = fresh();
    await Promise.all([1, 2, 3].map(() => openOn(schema)));
    await openOn(schema);
    const rows = await withPg((c) => c.query(`SELECT version FROM "${schema}".schema_migrations ORDER BY version`));
    expect(rows.rows).toEqual([{ version: 1 }, { version: 2 }, { version: 3 }, { version: 4 }]);
  });

  it("migration 2 gives rows written before it their device, so a device's holds are found in old journals too", async () => {
    const schema = fresh();
    const s = await openOn(schema);
    await s.append('r1', 'action.intent', {
      actionId: 'a1',
      device: 'fw',
      action: { kind: 'host.block', address: '10.0.0.5' },
      before: {},
      inverse: null,
    });
    // As a version-1 journal would have it: no device column value, versions 2 and 3 not applied yet.
    await withPg(async (c) => {
      await c.query(`ALTER TABLE "${schema}".entries DISABLE TRIGGER entries_no_change`);
      await c.query(`UPDATE "${schema}".entries SET device = NULL`);
      await c.query(`ALTER TABLE "${schema}".entries ENABLE TRIGGER entries_no_change`);
      await c.query(`DROP INDEX "${schema}".entries_device`);
      await c.query(`ALTER TABLE "${schema}".entries DROP COLUMN device`);
      await c.query(`DROP INDEX "${schema}".entries_idempotency`);
      await c.query(`DELETE FROM "${schema}".schema_migrations WHERE version >= 2`);
    });
    const again = await openOn(schema);
    expect((await again.find({ device: 'fw' })).map((e) => e.seq)).toEqual([1]);
    expect((await again.verify()).ok).toBe(true);
    await withPg((c) => c.query(`INSERT INTO "${schema}".schema_migrations (version, description) VALUES (99, 'from the future')`));
    await expect(openOn(schema)).rejects.toMatchObject({
      code: 'JOURNAL_CORRUPT',
      message: expect.stringMatching(/version 99.*upgrade Firebreak/),
    });
  });

  it('appends asked for at once share transactions (group commit): 100 appends, a handful of commits', async () => {
    const s = await openOn(fresh());
    await Promise.all(Array.from({ length: 100 }, (_, i) => s.append('r1', 'action.intent', { actionId: `a${i}`, device: `sw${i}` })));
    const all = await s.all();
    expect(seqs(all)).toEqual(range(1, 100));
    // A transaction takes its timestamp once, with the head: one per commit. Taking turns, 100
    // appends of ~1 ms each showed dozens of distinct timestamps.
    expect(new Set(all.map((e) => e.ts)).size).toBeLessThanOrEqual(5);
    expect((await s.verify()).ok).toBe(true);
  });

  it('2 processes and 2 in-process writers, all starting on a fresh schema at once, keep one intact chain', async () => {
    const schema = fresh();
    const per = 40;
    const children = ['p0', 'p1'].map((runId) =>
      spawn(process.execPath, ['--input-type=module', '-e', CHILD, pgUrl(), schema, runId, String(per)], {
        cwd: fileURLToPath(new URL('..', import.meta.url)),
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      }),
    );
    spawned.push(...children);
    const exited = children.map((c) => new Promise<number | null>((resolve) => c.once('exit', resolve)));
    const ready = children.map((c) => new Promise((resolve) => c.once('message', resolve)));
    const local = await Promise.all([openOn(schema), openOn(schema)]);
    const early = exited.map((p) => p.then((code) => Promise.reject(new Error(`a writer process exited (${code}) before it was ready`))));
    await Promise.race([Promise.all(ready), ...early]);
    for (const c of children) c.send('go');
    await Promise.all(
      local.map(async (w, k) => {
        for (let i = 0; i < per; i++) await w.append(`l${k}`, 'stage.prepared', { i });
      }),
    );
    expect(await Promise.all(exited)).toEqual([0, 0]);
    const all = await local[0]!.all();
    const total = 2 * (per + per / 10) + 2 * per;
    expect(seqs(all)).toEqual(range(1, total));
    expect(await local[1]!.verify()).toEqual({ ok: true, entries: total, problems: [] });
    for (const runId of ['p0', 'p1', 'l0', 'l1']) {
      // Each writer's entries are all there, in the order it appended them.
      const mine = all.filter((e) => e.runId === runId).map((e) => e.data.i as number);
      expect(mine).toEqual([...mine].sort((a, b) => a - b));
      expect(new Set(mine).size).toBe(per);
    }
  });

  it('an append waits for a writer holding the head, and gives up after lockTimeoutMs', async () => {
    const schema = fresh();
    const s = await openOn(schema);
    await s.append('r1', 'run.state', { state: 'running' });
    const other = new pg.Client({ connectionString: pgUrl() });
    await other.connect();
    try {
      await other.query(`BEGIN; SELECT * FROM "${schema}".head FOR UPDATE`);
      let settled = false;
      const pending = s.append('r1', 'run.state', { state: 'contained' }).finally(() => (settled = true));
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(settled).toBe(false);
      await other.query('COMMIT');
      expect((await pending).seq).toBe(2);
      const impatient = await openPostgresJournal(pgUrl(), { schema, lockTimeoutMs: 100 });
      open.push(impatient);
      await other.query(`BEGIN; SELECT * FROM "${schema}".head FOR UPDATE`);
      await expect(impatient.append('r1', 'run.state', { state: 'x' })).rejects.toMatchObject({
        code: 'JOURNAL_UNAVAILABLE',
        message: expect.stringMatching(/another writer held the journal head/),
      });
      await other.query('ROLLBACK');
    } finally {
      await other.end();
    }
    expect(await s.verify()).toEqual({ ok: true, entries: 2, problems: [] });
  });

  it('turns connection failures into JournalUnavailable naming the URL without its password', async () => {
    const refused = openPostgresJournal('postgres://fb:pw-Xy7%40secret@127.0.0.1:1/firebreak', { connectTimeoutMs: 2000 });
    await expect(refused).rejects.toMatchObject({
      code: 'JOURNAL_UNAVAILABLE',
      message: expect.stringMatching(/^journal postgres:\/\/fb@127\.0\.0\.1:1\/firebreak: cannot reach PostgreSQL/),
    });
    await expect(refused).rejects.not.toThrow(/pw-Xy7|secret/);
    const url = new URL(pgUrl());
    url.pathname = '/fb_no_such_db';
    await expect(openPostgresJournal(url.toString())).rejects.toMatchObject({
      code: 'JOURNAL_UNAVAILABLE',
      message: expect.stringMatching(/does not exist \(3D000\)/),
    });
    await expect(openPostgresJournal(pgUrl(), { schema: 'Robert"; DROP' })).rejects.toMatchObject({ code: 'CONFIG_INVALID' });
  });

  it('openJournal picks PostgreSQL for a postgres URL and SQLite for a file, both behind the writer', async () => {
    const schema = fresh();
    const r = new Redactor();
    r.add('open-journal-secret');
    const pgStore = await openJournal({ url: pgUrl(), schema }, r);
    open.push(pgStore);
    await pgStore.append('r1', 'run.state', { state: 'running', note: 'open-journal-secret' });
    const rows = await withPg((c) => c.query(`SELECT data FROM "${schema}".entries`));
    expect(rows.rows).toEqual([{ data: '{"note":"[redacted]","state":"running"}' }]);
    const dir = mkdtempSync(join(tmpdir(), 'fb-open-'));
    try {
      const file = join(dir, 'j.db');
      const sqlite = await openJournal({ file }, r);
      await sqlite.append('r1', 'run.state', { state: 'running', note: 'open-journal-secret' });
      expect(await sqlite.find({})).toMatchObject([{ data: { note: '[redacted]' } }]);
      await sqlite.close();
      expect(existsSync(file)).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    await expect(openJournal({ url: 'mysql://u:hunter2x@db/x', file: 'x.db' }, r)).rejects.toMatchObject({
      code: 'CONFIG_INVALID',
      message: expect.stringMatching(/^journal mysql:\/\/u@db\/x: unsupported URL/),
    });
  });
});

/**
 * A rollback reads each device's entries of the run (engine/rollback.ts, revertDevice). Through an
 * index on (run, device) that read stays the size of the device's part of the run; without it the
 * stores walked the device's whole history or the whole run, for every device.
 */
describe("a device's entries in one run are read through the (run, device) index", () => {
  const types = [...DEVICE_HOLD_TYPES, 'action.confirmed'] as const;
  /** Fills `s`, then finds sw7's hold entries of run11: exactly its own two. */
  async function fillAndFind(s: JournalStore): Promise<void> {
    await fill(s);
    const found = await s.find({ runId: 'run11', device: 'sw7', types: [...types] });
    expect(found.map((e) => [e.runId, e.data.device, e.type])).toEqual([
      ['run11', 'sw7', 'action.intent'],
      ['run11', 'sw7', 'hold.released'],
    ]);
  }
  /** 12 runs x 40 devices x 4 entries, as a journal with some history holds them. */
  async function fill(s: JournalStore): Promise<void> {
    for (let r = 0; r < 12; r++) {
      const items = [];
      for (let d = 0; d < 40; d++)
        for (const type of ['action.intent', 'action.applied', 'action.verified', 'hold.released'] as const)
          items.push({ runId: `run${r}`, type, data: { actionId: `a${d}`, device: `sw${d}` } });
      await s.appendMany(items);
    }
  }

  it('sqlite', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fb-idx-'));
    try {
      const store = openSqliteStore(join(dir, 'j.db'));
      await fillAndFind(store);
      await store.close();
      const db = new Database(join(dir, 'j.db'), { readonly: true });
      const q = findSql({ runId: 'run11', device: 'sw7', types: [...types] }, 'entries', () => '?')!;
      const plan = db.prepare(`EXPLAIN QUERY PLAN ${q.sql}`).all(...q.params) as { detail: string }[];
      db.close();
      expect(plan.map((p) => p.detail).join(' | ')).toMatch(/USING INDEX entries_run_device \(run_id=\? AND <expr>=\?\)/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it.skipIf(!pgUp)(`postgres${pgUp ? '' : ' (skipped: PostgreSQL not reachable)'}`, async () => {
    const fresh = freshSchema('fbtest');
    const store = await openPostgresJournal(pgUrl(), { schema: fresh.schema, poolSize: 2 });
    try {
      await fillAndFind(store);
      const t = `"${fresh.schema}".entries`;
      const q = findSql({ runId: 'run11', device: 'sw7', types: [...types] }, t, (n) => `$${n}`, '*', 'device')!;
      const plan = await withPg(async (c) => {
        await c.query(`ANALYZE ${t}`);
        return (await c.query(`EXPLAIN ${q.sql}`, q.params)).rows.map((r) => r['QUERY PLAN'] as string);
      });
      expect(plan.join('\n')).toMatch(/(Index Scan using|Bitmap Index Scan on) entries_run_device/);
      expect(plan.join('\n')).not.toMatch(/BitmapAnd/);
    } finally {
      await store.close();
      await fresh.drop();
    }
  });
});

/** A writer in another process: the real store module, loaded through Vite (the tests run from source). */
const CHILD = `
const { runnerImport } = await import('vite');
const { module: m } = await runnerImport(${JSON.stringify(fileURLToPath(new URL('../src/journal/postgres.ts', import.meta.url)))}, { configFile: false, logLevel: 'error' });
const [url, schema, runId, n] = process.argv.slice(1);
const store = await m.openPostgresJournal(url, { schema, poolSize: 1 });
process.send('ready');
await new Promise((resolve) => process.once('message', resolve));
for (let i = 0; i < Number(n); i++) {
  if (i % 10 === 9) await store.appendMany([1, 2].map((part) => ({ runId, type: 'stage.prepared', data: { i, part } })));
  else await store.append(runId, 'stage.prepared', { i });
}
await store.close();
process.disconnect();
`;
