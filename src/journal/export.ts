import type { JournalStore } from './types.js';

/**
 * JSON Lines export: one entry per line, in seq order, every field kept (hashes included) so the
 * export can be verified again elsewhere. Returns the number of lines written.
 */
export async function exportJsonl(store: JournalStore, write: (line: string) => void): Promise<number> {
  const entries = await store.all();
  for (const e of entries) {
    write(JSON.stringify({ seq: e.seq, runId: e.runId, ts: e.ts, type: e.type, data: e.data, prevHash: e.prevHash, hash: e.hash }));
  }
  return entries.length;
}
