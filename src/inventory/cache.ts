import { createHash } from 'node:crypto';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { loadInventory } from './load.js';
import type { Inventory } from './types.js';

/**
 * The inventory as a long-running process (a worker, the API server, a bench) plans against it:
 * read every time, parsed only when a file changed. Reading 200 device files costs a few ms,
 * validating them ~100 ms: on the path from "contain!" to the first device, that is worth keeping.
 * Keyed by the files' names, sizes and modification times, so an edit is seen at the next plan.
 */
export class InventoryCache {
  private last: { dir: string; key: string; inventory: Inventory } | undefined;
  /** A load in progress (the server's load at start, when the first run comes before it ends). */
  private loading: { dir: string; key: string; inventory: Promise<Inventory> } | undefined;

  async load(dir: string): Promise<Inventory> {
    const key = await contentKey(dir).catch(() => undefined);
    if (!key) return loadInventory(dir);
    if (this.last?.dir === dir && this.last.key === key) return this.last.inventory;
    if (this.loading?.dir === dir && this.loading.key === key) return this.loading.inventory;
    const loading = { dir, key, inventory: loadInventory(dir) };
    this.loading = loading;
    try {
      const inventory = await loading.inventory;
      this.last = { dir, key, inventory };
      return inventory;
    } finally {
      if (this.loading === loading) this.loading = undefined;
    }
  }
}

/**
 * What the files are now: names, sizes, inode and modification times (ns). A synchronous stat of
 * 200 small files costs ~2 ms; reading them through the thread pool cost ~40.
 */
async function contentKey(dir: string): Promise<string> {
  const names = readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => e.name)
    .sort();
  const h = createHash('sha256');
  for (const n of names) {
    const st = statSync(join(dir, n), { bigint: true });
    h.update(`${n}\0${st.size}\0${st.ino}\0${st.mtimeNs}\0${st.ctimeNs}\n`);
  }
  return h.digest('hex');
}
