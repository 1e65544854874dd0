import { userInfo } from 'node:os';
import type { Engine } from '../engine/engine.js';
import type { JournalStore } from '../journal/types.js';
import type { Plan } from '../plan/types.js';
import type { Paths } from './config.js';

export interface PlanRequest {
  playbook: string;
  params: Record<string, string>;
  allowLockout?: boolean;
}

/** Playbook + params + inventory -> Plan, the same way for `plan`, `run` and the demo. */
export async function planFromFiles(paths: Paths, req: PlanRequest): Promise<Plan> {
  const [{ loadPlaybookById }, { validateParams }, { loadInventory }, { makePlan }, { drivers }] = await Promise.all([
    import('../playbooks/load.js'),
    import('../playbooks/params.js'),
    import('../inventory/load.js'),
    import('../plan/plan.js'),
    import('../drivers/registry.js'),
  ]);
  const playbook = await loadPlaybookById(paths.playbooks, req.playbook);
  const params = validateParams(playbook, req.params);
  const inventory = await loadInventory(paths.inventory);
  return makePlan({ playbook, params, inventory, drivers, allowLockout: req.allowLockout });
}

/** Opens the journal and builds an engine on it; the caller closes the journal. */
export async function engineOn(journalFile: string): Promise<{ engine: Engine; journal: JournalStore }> {
  const [{ openSqliteJournal }, { createEngine, monotonicClock }, { drivers }, { openSession }, { resolveSecret }] = await Promise.all([
    import('../journal/sqlite.js'),
    import('../engine/engine.js'),
    import('../drivers/registry.js'),
    import('../transports/connect.js'),
    import('../secrets.js'),
  ]);
  const journal = openSqliteJournal(journalFile);
  const engine = createEngine({ journal, drivers, openSession, resolveSecret, clock: monotonicClock });
  return { engine, journal };
}

export function whoAmI(): string {
  try {
    return userInfo().username;
  } catch {
    return `uid:${process.getuid?.() ?? '?'}`;
  }
}
