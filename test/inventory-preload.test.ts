import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openApp, planFromFiles } from '../src/app/open.js';
import { InventoryCache } from '../src/inventory/cache.js';
import { repo } from './helpers/lab.js';

/**
 * A long-running process (the API server) loads the inventory when it starts: the first run then
 * plans against a parsed inventory, and a broken one is reported at start, naming file and line,
 * instead of at the first alarm.
 */
const dirs: string[] = [];
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), 'fb-preload-'));
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

type Outcome = { devices: number; ms: number } | { error: Error };

async function openWith(inventory: string): Promise<Outcome> {
  const dir = tmp();
  let settle: (r: Outcome) => void = () => undefined;
  const outcome = new Promise<Outcome>((resolve) => (settle = resolve));
  const app = await openApp({
    paths: { inventory, playbooks: join(repo, 'playbooks'), journal: join(dir, 'journal.db') },
    local: true,
    onInventory: settle,
  });
  try {
    return await outcome;
  } finally {
    await app.close();
  }
}

describe('the inventory loaded at start', () => {
  it('reports how many devices it holds', async () => {
    const r = await openWith(join(repo, 'devices'));
    expect(r).toMatchObject({ devices: 2 });
  });

  it('reports a broken inventory with the file and line of the problem', async () => {
    const inventory = tmp();
    cpSync(join(repo, 'test', 'malformed', 'inventories', 'duplicate-id'), inventory, { recursive: true });
    const r = await openWith(inventory);
    expect('error' in r && r.error.message).toMatch(/[ab]\.yaml:2:\d+.*duplicate device id "fw"/);
  });

  it('a plan asked for while the load is running waits for that load instead of parsing again', async () => {
    const inventory = tmp();
    cpSync(join(repo, 'devices'), inventory, { recursive: true });
    const cache = new InventoryCache();
    const [a, b] = await Promise.all([cache.load(inventory), cache.load(inventory)]);
    expect(a).toBe(b);
    // An edit is seen by the next load.
    writeFileSync(join(inventory, 'edge-fw.yaml'), `${'# edited\n'}${readFileSync(join(repo, 'devices', 'edge-fw.yaml'), 'utf8')}`);
    const c = await cache.load(inventory);
    expect(c).not.toBe(a);
    const plan = await planFromFiles(
      { inventory, playbooks: join(repo, 'playbooks'), journal: '' },
      { playbook: 'drop-internet-uplinks', params: {} },
      cache,
    );
    expect(plan.errors).toEqual([]);
  });
});
