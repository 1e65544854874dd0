import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type App, createApp } from '../../src/app/app.js';
import { sqliteLeases } from '../../src/coord/sqlite-leases.js';
import type { Driver } from '../../src/drivers/driver.js';
import { drivers as registry } from '../../src/drivers/registry.js';
import { monotonicClock } from '../../src/engine/clock.js';
import type { RollbackResult, RunResult } from '../../src/engine/events.js';
import { localExecutor } from '../../src/engine/executors/local.js';
import type { SessionOpener } from '../../src/engine/sessions.js';
import type { JournalStore } from '../../src/journal/types.js';
import type { Plan } from '../../src/plan/types.js';
import { resolveSecret } from '../../src/secrets.js';
import { openSession as realOpenSession } from '../../src/transports/connect.js';

/**
 * The application over a given journal with the local executor and its own lease file: what the
 * CLI builds, without files for the playbook and inventory (tests hand in plans they made).
 */
export interface TestEngine {
  app: App;
  run(plan: Plan, opts?: { trigger?: { kind: 'test'; by: string } }): Promise<RunResult>;
  rollback(runId: string, opts?: { by: string }): Promise<RollbackResult>;
  close(): Promise<void>;
}

export function createEngine(deps: {
  journal: JournalStore;
  drivers?: Record<string, Driver>;
  openSession?: SessionOpener;
  resolveSecret?: typeof resolveSecret;
  clock?: () => number;
}): TestEngine {
  const dir = mkdtempSync(join(tmpdir(), 'fb-leases-'));
  const leases = sqliteLeases(join(dir, 'leases.db'));
  const executor = localExecutor({
    journal: deps.journal,
    leases,
    drivers: deps.drivers ?? registry,
    openSession: deps.openSession ?? realOpenSession,
    resolveSecret: deps.resolveSecret ?? resolveSecret,
    clock: deps.clock ?? monotonicClock,
    owner: 'vitest',
  });
  const app = createApp({
    journal: deps.journal,
    leases,
    executor,
    planner: async () => {
      throw new Error('test engine: hand in a plan');
    },
    clock: deps.clock ?? monotonicClock,
  });
  return {
    app,
    run: (plan, opts) => app.run(plan, { trigger: opts?.trigger ?? { kind: 'test', by: 'vitest' } }),
    rollback: (runId, opts) => app.rollback(runId, { by: opts?.by ?? 'vitest' }),
    async close() {
      await leases.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
