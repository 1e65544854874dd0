import { createHash } from 'node:crypto';
import type { EntryType, JournalEntry } from './types.js';

/**
 * The hash chain. Each entry's hash covers the previous entry's hash and everything the entry
 * says, serialised canonically, so editing, removing or reordering any entry shows up in verify.
 */

/**
 * Canonical JSON: object keys sorted by UTF-16 code units at every depth, no whitespace,
 * `undefined`/functions dropped from objects and turned into null in arrays, `toJSON` honoured,
 * non-finite numbers as null: the same value always gives the same bytes, and a value that
 * went through JSON.parse(JSON.stringify(v)) gives the same bytes as v.
 */
export function canonicalJson(value: unknown): string {
  const out = write(value);
  if (out === undefined) throw new TypeError('canonicalJson: value has no JSON form');
  return out;
}

function write(value: unknown): string | undefined {
  let v = value;
  if (v !== null && typeof v === 'object' && typeof (v as { toJSON?: unknown }).toJSON === 'function') {
    v = (v as { toJSON: () => unknown }).toJSON();
  }
  if (v === null) return 'null';
  switch (typeof v) {
    case 'string':
    case 'boolean':
      return JSON.stringify(v);
    case 'number':
      return Number.isFinite(v) ? JSON.stringify(v) : 'null';
    case 'bigint':
      throw new TypeError('canonicalJson: bigint has no JSON form');
    case 'undefined':
    case 'function':
    case 'symbol':
      return undefined;
  }
  if (Array.isArray(v)) return `[${v.map((x) => write(x) ?? 'null').join(',')}]`;
  const obj = v as Record<string, unknown>;
  const parts: string[] = [];
  for (const k of Object.keys(obj).sort()) {
    const s = write(obj[k]);
    if (s !== undefined) parts.push(`${JSON.stringify(k)}:${s}`);
  }
  return `{${parts.join(',')}}`;
}

export interface EntryBody {
  seq: number;
  runId: string;
  ts: string;
  type: EntryType;
  data: Record<string, unknown>;
}

/** Hex sha256 of the canonical JSON of `{ prevHash, seq, runId, ts, type, data }`. */
export function entryHash(prevHash: string, body: EntryBody): string {
  return entryHashCanonical(prevHash, body, canonicalJson(body.data));
}

/**
 * The same hash, given `data` already as canonical JSON (an append serialises it once, not three
 * times). The keys are written in canonical order: data, prevHash, runId, seq, ts, type.
 */
export function entryHashCanonical(prevHash: string, body: Omit<EntryBody, 'data'>, dataJson: string): string {
  const { seq, runId, ts, type } = body;
  const text = `{"data":${dataJson},"prevHash":${JSON.stringify(prevHash)},"runId":${JSON.stringify(runId)},"seq":${canonicalJson(seq)},"ts":${JSON.stringify(ts)},"type":${JSON.stringify(type)}}`;
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

/** What the store says the newest entry is; kept apart from the entries so truncation shows. */
export interface ChainHead {
  seq: number;
  hash: string;
}

export type ChainProblemKind = 'edited' | 'missing' | 'relinked' | 'truncated' | 'head';

export interface ChainProblem {
  /** The seq the problem is found at (for `truncated`, the seq the head names). */
  seq: number;
  kind: ChainProblemKind;
  message: string;
}

/**
 * Checks entries (in seq order, starting at seq 1) against each other and against the head.
 * `head` undefined means "no head record to compare with"; `null` means the store lost it.
 */
export function verifyChain(entries: readonly JournalEntry[], head?: ChainHead | null): ChainProblem[] {
  const problems: ChainProblem[] = [];
  let prevSeq = 0;
  let prevHash = '';
  for (const e of entries) {
    if (e.seq !== prevSeq + 1) {
      const from = prevSeq + 1;
      const to = e.seq - 1;
      problems.push({
        seq: from,
        kind: 'missing',
        message:
          e.seq > prevSeq
            ? `seq ${from}${to > from ? `..${to}` : ''}: entr${to > from ? 'ies' : 'y'} missing (seq jumps from ${prevSeq} to ${e.seq})`
            : `seq ${e.seq}: out of order after seq ${prevSeq}`,
      });
    }
    if (e.prevHash !== prevHash) {
      problems.push({
        seq: e.seq,
        kind: 'relinked',
        message: `seq ${e.seq}: prevHash does not match the hash of ${prevSeq === 0 ? 'the start of the journal' : `seq ${prevSeq}`} (an entry before it was removed or rewritten)`,
      });
    }
    const recomputed = entryHash(e.prevHash, e);
    if (recomputed !== e.hash) {
      problems.push({ seq: e.seq, kind: 'edited', message: `seq ${e.seq}: hash mismatch (entry ${e.type} of run ${e.runId} was edited)` });
    }
    prevSeq = e.seq;
    prevHash = e.hash;
  }
  if (head === null) {
    problems.push({ seq: prevSeq, kind: 'head', message: 'head record missing: cannot tell whether the newest entries were removed' });
  } else if (head) {
    if (head.seq > prevSeq) {
      problems.push({
        seq: head.seq,
        kind: 'truncated',
        message: `truncated: head says the journal ends at seq ${head.seq}, but the last entry present is seq ${prevSeq}`,
      });
    } else if (head.seq < prevSeq) {
      problems.push({
        seq: prevSeq,
        kind: 'head',
        message: `head says the journal ends at seq ${head.seq}, but entries run to seq ${prevSeq} (added behind the store's back)`,
      });
    } else if (head.hash !== prevHash) {
      problems.push({ seq: prevSeq, kind: 'head', message: `seq ${prevSeq}: hash does not match the head record (newest entry replaced)` });
    }
  }
  return problems;
}

/**
 * A store's verify: its rows as read (a row whose data no longer parses counts as edited), the
 * chain checked against itself and the head record.
 */
export function verifyRows<R extends { seq: number | string }>(
  rows: readonly R[],
  toEntry: (row: R) => JournalEntry,
  head: ChainHead | null | undefined,
): { ok: boolean; entries: number; problems: string[] } {
  const entries: JournalEntry[] = [];
  const problems: string[] = [];
  for (const row of rows) {
    try {
      entries.push(toEntry(row));
    } catch {
      problems.push(`seq ${row.seq}: data is not valid JSON (entry was edited)`);
    }
  }
  problems.push(...verifyChain(entries, head).map((p) => p.message));
  return { ok: problems.length === 0, entries: rows.length, problems };
}
