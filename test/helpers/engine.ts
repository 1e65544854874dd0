import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { onTestFinished } from 'vitest';
import { type App, createApp } from '../../src/app/app.js';
import { sqliteLeases } from '../../src/coord/sqlite-leases.js';
import type { Driver } from '../../src/drivers/driver.js';
import { drivers as registry } from '../../src/drivers/registry.js';
import { monotonicClock } from '../../src/engine/clock.js';
import type { RollbackResult, RunResult } from '../../src/engine/events.js';
import { localExecutor } from '../../src/engine/executors/local.js';
import type { SessionOpener } from '../../src/engine/sessions.js';
import { openPostgresJournal } from '../../src/journal/postgres.js';
import { openSqliteStore } from '../../src/journal/sqlite.js';
import type { JournalStore } from '../../src/journal/types.js';
import { journalWriter } from '../../src/journal/writer.js';
import type { Plan } from '../../src/plan/types.js';
import { connectQueue } from '../../src/queue/client.js';
import { type RunningWorker, startWorker } from '../../src/queue/worker.js';
import { Redactor, resolveSecret } from '../../src/secrets.js';
import { openSession as realOpenSession } from '../../src/transports/connect.js';
import { dropPrefix } from './backends.js';
import { freshSchema, pgUrl, redisUrl, testPrefix } from './services.js';

/**
 * The application as the CLI builds it, over a journal and an executor of the test's choosing,
 * without playbook and inventory files (tests hand in plans they made). `queue` runs a real
 * worker in this process (BullMQ on Redis, its own key prefix) serving the plan's sites.
 */
export interface TestEngine {
  app: App;
  journal: JournalStore;
  run(plan: Plan, opts?: { trigger?: { kind: 'test'; by: string } }): Promise<RunResult>;
  rollback(runId: string, opts?: { by: string }): Promise<RollbackResult>;
  close(): Promise<void>;
}

export interface EngineOptions {
  journal: JournalStore;
  drivers?: Record<string, Driver>;
  openSession?: SessionOpener;
  resolveSecret?: typeof resolveSecret;
  clock?: () => number;
}

/** The local executor over the given journal, with its own lease file. */
export function createEngine(deps: EngineOptions): TestEngine {
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
  const engine = wrap(appOver(deps.journal, leases, executor), deps.journal, async () => {
    await leases.close();
    rmSync(dir, { recursive: true, force: true });
  });
  // Made inside a test: its lease folder goes when the test ends, closed by the test or not.
  try {
    onTestFinished(() => engine.close());
  } catch {
    // Made outside a test (beforeAll): whoever made it closes it.
  }
  return engine;
}

/** Any executor over any store: what the engine tests run against, with the same assertions. */
export async function engineOn(
  executor: 'local' | 'queue',
  store: 'sqlite' | 'postgres',
  sites: string[],
  deps: Omit<EngineOptions, 'journal'> = {},
): Promise<TestEngine> {
  const dir = mkdtempSync(join(tmpdir(), 'fb-engine-'));
  const schema = store === 'postgres' ? freshSchema('fbtest_engine') : undefined;
  const raw = schema ? await openPostgresJournal(pgUrl(), { schema: schema.schema }) : openSqliteStore(join(dir, 'journal.db'));
  const journal = journalWriter(raw, new Redactor());
  const cleanup = async () => {
    await journal.close();
    await schema?.drop();
    rmSync(dir, { recursive: true, force: true });
  };
  if (executor === 'local') {
    const local = createEngine({ ...deps, journal });
    return {
      ...local,
      async close() {
        await local.close();
        await cleanup();
      },
    };
  }
  const prefix = testPrefix('engine');
  let worker: RunningWorker | undefined;
  try {
    worker = await startWorker({
      redisUrl: redisUrl(),
      prefix,
      sites,
      coordinate: true,
      journal,
      drivers: deps.drivers ?? registry,
      openSession: deps.openSession ?? realOpenSession,
      resolveSecret: deps.resolveSecret ?? resolveSecret,
      clock: deps.clock ?? monotonicClock,
      owner: 'vitest-worker',
    });
    const q = await connectQueue(redisUrl(), prefix);
    if (!q.ok) throw new Error(`queue: ${q.error}`);
    const exec = q.executor(journal);
    return wrap(appOver(journal, q.leases, exec), journal, async () => {
      await exec.close();
      await worker?.close();
      await dropPrefix(prefix);
      await cleanup();
    });
  } catch (err) {
    await worker?.close();
    await cleanup();
    throw err;
  }
}

function appOver(
  journal: JournalStore,
  leases: Parameters<typeof createApp>[0]['leases'],
  executor: Parameters<typeof createApp>[0]['executor'],
): App {
  return createApp({
    journal,
    leases,
    executor,
    planner: async () => {
      throw new Error('test engine: hand in a plan');
    },
    clock: monotonicClock,
  });
}

function wrap(app: App, journal: JournalStore, close: () => Promise<void>): TestEngine {
  return {
    app,
    journal,
    run: (plan, opts) => app.run(plan, { trigger: opts?.trigger ?? { kind: 'test', by: 'vitest' } }),
    rollback: (runId, opts) => app.rollback(runId, { by: opts?.by ?? 'vitest' }),
    close,
  };
}
