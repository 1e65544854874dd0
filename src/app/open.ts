import { dirname, join } from 'node:path';
import type { Leases } from '../coord/types.js';
import type { Device, Inventory } from '../inventory/types.js';
import type { Plan } from '../plan/types.js';
import type { Executor } from '../engine/executor.js';
import { defaultOwner } from '../engine/leases.js';
import type { Journal } from '../journal/types.js';
import { Redactor, redactorForDevices, secretRefsOf } from '../secrets.js';
import { type App, createApp, type PlanRequest } from './app.js';

/**
 * Builds the application for a trigger (CLI command, demo, API server): the journal (SQLite file,
 * or PostgreSQL with DATABASE_URL) behind the redacting writer, the leases, and the executor:
 * `queue` when REDIS_URL is set and Redis answers, `local` otherwise or with `local: true`; when
 * the queue was wanted and Redis does not answer, the local executor runs it anyway (break-glass,
 * invariant 10) and the run records why.
 */
export interface AppConfig {
  paths: { readonly inventory: string; playbooks: string; journal: string };
  databaseUrl?: string;
  /** PostgreSQL schema of the journal (default `firebreak`; tests use their own). */
  databaseSchema?: string;
  redisUrl?: string;
  /** BullMQ and lease keys live under this prefix (tests use their own). */
  redisPrefix?: string;
  /** Run in this process even when REDIS_URL is set. */
  local?: boolean;
  /** Who executes (shown in leases and the journal). */
  owner?: string;
  /** Called once when the queue was wanted but is unreachable (the CLI prints it loudly). */
  onBreakGlass?: (why: string) => void;
  /** How long an approval request stays open (default 30 min, env FIREBREAK_APPROVAL_TTL_MS). */
  approvalTtlMs?: number;
  /** A long-running process (the API server): keep device sessions warm across runs, as workers do. */
  warmSessions?: boolean;
  /**
   * A long-running process: parse and validate the inventory at start, so the first run plans
   * against it at once (200 device files took 340 ms the first time in a process, 3 ms from the
   * cache) and a broken inventory is reported now rather than when an alarm comes. Called once
   * with the outcome.
   */
  onInventory?: (r: { devices: number; ms: number } | { error: Error }) => void;
}

export async function openApp(cfg: AppConfig): Promise<App & { journal: Journal }> {
  const [{ openJournal }, { drivers }, { openSession }, { resolveSecret }, { monotonicClock }] = await Promise.all([
    import('../journal/open.js'),
    import('../drivers/registry.js'),
    import('../transports/connect.js'),
    import('../secrets.js'),
    import('../engine/clock.js'),
  ]);
  const redactor = new Redactor();
  const journal = await openJournal({ url: cfg.databaseUrl, file: cfg.paths.journal, schema: cfg.databaseSchema }, redactor);
  const owner = cfg.owner ?? defaultOwner();
  let executor: Executor;
  let leases: Leases;
  let breakGlass: string | undefined;
  const queue =
    cfg.redisUrl && !cfg.local ? await import('../queue/client.js').then((m) => m.connectQueue(cfg.redisUrl!, cfg.redisPrefix)) : undefined;
  let fallback: (() => Promise<Executor>) | undefined;
  let closeWarm: (() => Promise<void>) | undefined;
  let closeFallback: (() => Promise<void>) | undefined;
  if (queue?.ok) {
    leases = queue.leases;
    executor = queue.executor(journal);
    let local: Promise<Executor> | undefined;
    // Break-glass for triggers that allow it: in this process, device leases in a local file
    // (the workers cannot take Redis leases while Redis is down either).
    fallback = () =>
      (local ??= (async () => {
        const [{ sqliteLeases }, { localExecutor }] = await Promise.all([
          import('../coord/sqlite-leases.js'),
          import('../engine/executors/local.js'),
        ]);
        const fallbackLeases = sqliteLeases(join(dirname(cfg.paths.journal), 'leases.db'));
        closeFallback = () => fallbackLeases.close();
        const ex = localExecutor({ journal, leases: fallbackLeases, drivers, openSession, resolveSecret, clock: monotonicClock, owner });
        return withSecretsOf(ex, journal, redactor);
      })());
  } else {
    if (queue && !queue.ok) {
      breakGlass = `queue unreachable (${queue.error}): ran in-process (break-glass)`;
      cfg.onBreakGlass?.(breakGlass);
    }
    const { sqliteLeases } = await import('../coord/sqlite-leases.js');
    const { localExecutor } = await import('../engine/executors/local.js');
    leases = sqliteLeases(join(dirname(cfg.paths.journal), 'leases.db'));
    let sessions: (() => import('../engine/sessions.js').Sessions) | undefined;
    if (cfg.warmSessions) {
      const { WarmSessions } = await import('../engine/warm-sessions.js');
      const warm = new WarmSessions(openSession, resolveSecret, { clock: monotonicClock, maxSessions: 1024 });
      sessions = () => warm.forRun();
      closeWarm = () => warm.closeAll();
    }
    const local = localExecutor({ journal, leases, drivers, openSession, resolveSecret, clock: monotonicClock, owner, sessions });
    executor = withSecretsOf(local, journal, redactor);
  }
  const { InventoryCache } = await import('../inventory/cache.js');
  const inventories = new InventoryCache();
  const report = cfg.onInventory;
  if (report) {
    const t0 = monotonicClock();
    void inventories.load(cfg.paths.inventory).then(
      (inv) => report({ devices: inv.devices.size, ms: Math.round(monotonicClock() - t0) }),
      (err: unknown) => report({ error: err instanceof Error ? err : new Error(String(err)) }),
    );
  }
  const planner = async (req: PlanRequest): Promise<Plan> => {
    const plan = await planFromFiles(cfg.paths, req, inventories);
    await learnSecrets(redactor, Object.values(plan.devices));
    return plan;
  };
  const app = createApp({
    journal,
    leases,
    executor,
    planner,
    clock: monotonicClock,
    breakGlass,
    approvalTtlMs: cfg.approvalTtlMs,
    fallback,
  });
  return {
    ...app,
    journal,
    async close() {
      await app.close();
      await closeWarm?.();
      await closeFallback?.();
      await leases.close();
      await journal.close();
    },
  };
}

/** Playbook + params + inventory -> Plan, the same way for `plan`, `run`, the demo and the API. */
export async function planFromFiles(
  paths: AppConfig['paths'],
  req: PlanRequest,
  inventories?: { load(dir: string): Promise<Inventory> },
): Promise<Plan> {
  const [{ loadPlaybookById }, { validateParams }, { loadInventory }, { makePlan }, { drivers }] = await Promise.all([
    import('../playbooks/load.js'),
    import('../playbooks/params.js'),
    import('../inventory/load.js'),
    import('../plan/plan.js'),
    import('../drivers/registry.js'),
  ]);
  const playbook = await loadPlaybookById(paths.playbooks, req.playbook);
  const params = validateParams(playbook, req.params);
  const inventory = await (inventories ? inventories.load(paths.inventory) : loadInventory(paths.inventory));
  return makePlan({ playbook, params, inventory, drivers, allowLockout: req.allowLockout });
}

/**
 * The journal writer's redactor learns every secret the run's devices reference before the run
 * writes a line (not only those this process happened to resolve): from the plan in the journal,
 * so a rollback in a fresh process without the inventory scrubs them too.
 */
export function withSecretsOf(executor: Executor, journal: Journal, redactor: Redactor): Executor {
  const learn = async (runId: string) => {
    const created = (await journal.find({ runId, types: ['run.created'] }))[0];
    const plan = created?.data.plan as Plan | undefined;
    if (plan) await learnSecrets(redactor, Object.values(plan.devices));
  };
  return {
    kind: executor.kind,
    async execute(runId, opts) {
      await learn(runId);
      return executor.execute(runId, opts);
    },
    async rollback(runId, opts) {
      await learn(runId);
      return executor.rollback(runId, opts);
    },
    close: () => executor.close(),
  };
}

const learned = new WeakMap<Redactor, Set<string>>();

async function learnSecrets(redactor: Redactor, devices: Device[]): Promise<void> {
  const seen = learned.get(redactor) ?? new Set<string>();
  learned.set(redactor, seen);
  const fresh = devices.filter((d) => secretRefsOf(d).some((r) => !seen.has(r)));
  if (!fresh.length) return;
  for (const d of fresh) for (const r of secretRefsOf(d)) seen.add(r);
  redactor.absorb(await redactorForDevices(fresh));
}
