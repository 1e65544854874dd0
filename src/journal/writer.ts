import type { Redactor } from '../secrets.js';
import { toPlainJson } from './plain.js';
import type { Journal, JournalStore } from './types.js';

/**
 * The one redaction step on the way into the journal (invariant 9): a JournalStore that scrubs
 * every entry's data with `redactor` before the store sees it, so what is hashed, stored and
 * replicated never held a secret. Reads pass through unchanged.
 */
export function journalWriter(store: JournalStore, redactor: Redactor): Journal {
  return {
    append: (runId, type, data) => store.append(runId, type, redactData(redactor, data)),
    appendMany: (items) => store.appendMany(items.map((i) => ({ runId: i.runId, type: i.type, data: redactData(redactor, i.data) }))),
    entries: (runId) => store.entries(runId),
    find: (q) => store.find(q),
    all: () => store.all(),
    runs: () => store.runs(),
    verify: () => store.verify(),
    close: () => store.close(),
  };
}

/** Entry data with every known secret scrubbed: in values, in object keys, and in Error messages. */
export function redactData(redactor: Redactor, data: Record<string, unknown>): Record<string, unknown> {
  return redactDeep(redactor, toPlainJson(data)) as Record<string, unknown>;
}

/** Redactor.json scrubs values (and masks secret-named keys); object keys (e.g. output keyed by line) are scrubbed here too. */
function redactDeep(r: Redactor, v: unknown): unknown {
  const scrubbed = r.json(v);
  const keys = (x: unknown): unknown => {
    if (Array.isArray(x)) return x.map(keys);
    if (x && typeof x === 'object') {
      const out: Record<string, unknown> = {};
      for (const [k, y] of Object.entries(x)) out[r.text(k)] = keys(y);
      return out;
    }
    return x;
  };
  return keys(scrubbed);
}
