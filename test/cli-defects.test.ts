import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openSqliteJournal } from '../src/journal/sqlite.js';
import { labState } from '../src/lab/status.js';
import { cli, cliEnv, firebreak, isRoot, json } from './helpers/lab.js';

/** Defects a new user hit (issue 6), each checked through the built CLI as an operator runs it. */

const run = promisify(execFile);
let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'fb-defects-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('output into a closed pipe', () => {
  it('`journal export | head -1` stops quietly with the broken-pipe status', async () => {
    const file = join(dir, 'journal.db');
    const store = openSqliteJournal(file);
    // ~1.5 MB of JSON Lines: far more than a pipe buffer holds, so writes go on after head exits.
    await store.appendMany(
      Array.from({ length: 5000 }, (_, i) => ({ runId: 'run-1', type: 'run.created' as const, data: { i, note: 'x'.repeat(200) } })),
    );
    await store.close();
    const r = await run(
      'bash',
      ['-c', 'set -o pipefail; "$0" "$1" --journal "$2" journal export | head -1; echo "pipeline=$?" >&2', process.execPath, cli, file],
      { env: cliEnv() },
    );
    expect(r.stderr).not.toMatch(/EPIPE|Error|\n\s+at /);
    expect(r.stderr.trim()).toBe('pipeline=141'); // 128 + SIGPIPE, as `yes | head -1` reports
    expect(JSON.parse(r.stdout)).toMatchObject({ seq: 1, runId: 'run-1', type: 'run.created' });
  });
});

describe('lab status exit code', () => {
  const ns = (present: boolean[]) => present.map((p, i) => ({ name: `fb-${i}`, present: p }));
  const daemon = (alive: boolean, serving = alive) => ({ name: 'd', alive, serving });

  it('is up only when the status says all is up; down when nothing of it exists; partial otherwise', () => {
    expect(labState({ up: true, namespaces: ns([true, true]), daemons: [daemon(true)] })).toBe('up');
    expect(labState({ up: false, namespaces: ns([false, false]), daemons: [daemon(false)] })).toBe('down');
    expect(labState({ up: false, namespaces: ns([true, false]), daemons: [daemon(false)] })).toBe('partial');
    expect(labState({ up: false, namespaces: ns([false, false]), daemons: [daemon(true, false)] })).toBe('partial');
    expect(labState({ up: false, namespaces: ns([true, true]), daemons: [daemon(true), daemon(false)] })).toBe('partial');
  });

  // Read-only: a state folder that does not exist has no daemons, so this lab is never up,
  // whatever another process is doing with the fb-* namespaces.
  it.skipIf(!isRoot)('`lab status` exits 3 when the lab is down, 2 when partly up (never 0)', async () => {
    const r = await firebreak(['lab', 'status', '--json', '--dir', join(dir, 'no-lab-here')]);
    const s = json<{ up: boolean; state: string }>(r);
    expect(s.up).toBe(false);
    expect(r.code).toBe(s.state === 'down' ? 3 : 2);
    expect(['down', 'partial']).toContain(s.state);
  });
});
