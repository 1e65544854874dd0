/**
 * What a rollback pays to decide its holds as the journal's history grows: 200 devices with 4
 * changed ports each, after R earlier runs that changed and rolled back the same ports (daily live
 * drills leave that much). For every device, the rollback's hold reader (engine/rollback.ts,
 * deviceHolds) is asked once per action, as a rollback asks it. SQLite journal; no devices
 * needed. Prints a table; asserts nothing.
 *   node dist/bench/holds-history.js [runs=0,30,300]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deviceHolds } from '../src/engine/rollback.js';
import { openSqliteStore } from '../src/journal/sqlite.js';
import { printTable } from './lib/table.js';

const histories = (process.argv[2] ?? '0,30,300').split(',').map(Number);
const DEVICES = 200;
const PORTS = 4;

function intent(run: string, d: number, p: number) {
  return {
    runId: run,
    type: 'action.intent' as const,
    data: {
      actionId: `a-sw${d}-${p}`,
      device: `sw${d}`,
      driver: 'cisco-ios',
      action: { kind: 'interface.disable', interface: `Gi1/0/${p + 1}` },
      before: { admin: 'up' },
      inverse: { kind: 'interface.enable', interface: `Gi1/0/${p + 1}` },
    },
  };
}

const rows: string[][] = [];
for (const runs of histories) {
  const dir = mkdtempSync(join(tmpdir(), 'fb-holds-'));
  const store = openSqliteStore(join(dir, 'journal.db'));
  try {
    for (let r = 0; r < runs; r++) {
      const items = [];
      for (let d = 0; d < DEVICES; d++)
        for (let p = 0; p < PORTS; p++) {
          items.push(intent(`old${r}`, d, p));
          items.push({
            runId: `old${r}`,
            type: 'action.reverted' as const,
            data: { actionId: `a-sw${d}-${p}`, device: `sw${d}`, after: { admin: 'up' } },
          });
        }
      await store.appendMany(items);
    }
    const now = [];
    for (let d = 0; d < DEVICES; d++) for (let p = 0; p < PORTS; p++) now.push(intent('now', d, p));
    await store.appendMany(now);
    const t0 = performance.now();
    let decided = 0;
    for (let d = 0; d < DEVICES; d++) {
      const holds = deviceHolds(store, `sw${d}`);
      for (let p = 0; p < PORTS; p++) if ((await holds.now()).holders.size) decided++;
    }
    const ms = performance.now() - t0;
    rows.push([String(runs), String(runs * DEVICES * PORTS * 2), String(decided), ms.toFixed(0), (ms / DEVICES).toFixed(2)]);
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
printTable(
  `hold decisions of a ${DEVICES}-device rollback (${PORTS} actions each) against the journal's history (node ${process.version})`,
  ['earlier runs on the same ports', 'history entries', 'hold decisions', 'total ms', 'ms per device'],
  rows,
);
