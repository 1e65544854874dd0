import { dirname, join } from 'node:path';
import pino, { type Logger } from 'pino';
import type { AppConfig } from '../app/open.js';
import { errorMessage } from '../errors.js';
import { redactor } from '../secrets.js';
import type { ReadyReport } from './routes/health.js';
import { builtConsoleDir } from './console.js';
import { createApi, listen } from './server.js';

/**
 * `firebreak serve` assembled: the application (journal, leases, executor), tokens, triggers,
 * metrics, notifications and approval expiry around the HTTP API. `stop()` is the graceful
 * shutdown: no new connections, event streams ended, requests in flight answered, runs this
 * process executes itself finished (queued runs live in Redis and lose nothing), then closed.
 */
export interface ServeOptions {
  app: AppConfig;
  host: string;
  port: number;
  triggersFile?: string;
  notifyFile?: string;
  drillsFile?: string;
  version: string;
  log?: Logger;
  /** Failed sign-ins per source address before 429 (tests lower it). */
  failures?: { windowMs: number; max: number };
  /** The built console (default dist/console). */
  consoleDir?: string;
  /** How long stop() waits for runs executing in this process. */
  drainMs?: number;
  /** Single sign-on (default: FIREBREAK_OIDC_* from the environment, off when none is set). */
  oidc?: import('../identity/oidc.js').OidcOptions;
}

export interface Serving {
  address: string;
  url: string;
  executor: 'local' | 'queue';
  stop(): Promise<void>;
}

export async function serve(o: ServeOptions): Promise<Serving> {
  const log = o.log ?? pino({ base: { svc: 'firebreak' }, redact: { paths: ['req.headers.authorization'], remove: true } });
  const [
    { openApp },
    { openTokenStore },
    { openUserStore },
    { loadTriggers },
    { listPlaybooks },
    { createIntake },
    { startMetrics },
    hmac,
  ] = await Promise.all([
    import('../app/open.js'),
    import('../identity/tokens.js'),
    import('../identity/users.js'),
    import('../triggers/config.js'),
    import('../playbooks/load.js'),
    import('../app/intake.js'),
    import('./metrics.js'),
    import('../triggers/hmac.js'),
  ]);
  const app = await openApp({
    warmSessions: true,
    onInventory: (r) =>
      'error' in r
        ? log.warn({ inventory: redactor.text(r.error.message) }, 'the inventory does not load: no run can be planned until it is fixed')
        : log.info({ inventory: r }, 'inventory loaded'),
    ...o.app,
    onBreakGlass: (why) =>
      log.warn({ breakGlass: redactor.text(why) }, 'queue unreachable: runs go through the local executor (break-glass)'),
  });
  const cleanup: (() => Promise<unknown> | unknown)[] = [() => app.close()];
  try {
    const tokens = await openTokenStore({
      url: o.app.databaseUrl,
      schema: o.app.databaseSchema,
      file: join(dirname(o.app.paths.journal), 'tokens.db'),
    });
    cleanup.unshift(() => tokens.close());
    const users = await openUserStore({
      url: o.app.databaseUrl,
      schema: o.app.databaseSchema,
      file: join(dirname(o.app.paths.journal), 'tokens.db'),
    });
    cleanup.unshift(() => users.close());
    const oidc = await openOidc(o, users.sessions);
    if (oidc) cleanup.unshift(() => oidc.store.close());
    const playbookIds = await listPlaybooks(o.app.paths.playbooks);
    const triggers = o.triggersFile ? await loadTriggers(o.triggersFile, playbookIds) : [];
    const redis = o.app.redisUrl && app.executor === 'queue' ? await connectedRedis(o.app.redisUrl) : undefined;
    if (redis) cleanup.unshift(() => redis.disconnect());
    const prefix = o.app.redisPrefix ?? 'firebreak';
    const queues = redis ? await queueProbe(redis, prefix) : undefined;
    if (queues) cleanup.unshift(() => queues.close());
    const replays = redis ? fallbackReplayCache(hmac.redisReplayCache(redis, prefix), hmac.memoryReplayCache()) : hmac.memoryReplayCache();
    const metrics = await startMetrics({ app, queueDepth: queues?.depth });
    cleanup.unshift(() => metrics.stop());
    const intake = createIntake({ app, onDecision: (t, d) => metrics.webhookDecision(t, d) });
    if (o.notifyFile) {
      const [{ loadNotifyConfig }, { startNotifier }] = await Promise.all([import('../notify/config.js'), import('../notify/notifier.js')]);
      const notifier = startNotifier({
        journal: app.journal,
        config: await loadNotifyConfig(o.notifyFile),
        log: (line) => log.info({ notify: line }),
      });
      cleanup.unshift(() => notifier.stop());
    }
    // Containment with a time to live is rolled back when it runs out, through holds.
    const { startExpirySweeper, EXPIRY_BY } = await import('../app/expiry.js');
    const expiries = startExpirySweeper({
      journal: app.journal,
      rollback: (runId) => app.requestRollback(runId, { by: EXPIRY_BY, identity: EXPIRY_BY, reason: 'its time to live ran out' }),
      log: (line) => log.warn({ expiry: line }),
    });
    cleanup.unshift(() => expiries.stop());
    // Drills: run on their schedule (BullMQ job schedulers with Redis, timers without), or on request.
    const drills = o.drillsFile ? await import('../drills/config.js').then((m) => m.loadDrills(o.drillsFile!, playbookIds)) : [];
    let runDrill: ((spec: import('../drills/types.js').DrillSpec, occurrence: string | undefined) => Promise<unknown>) | undefined;
    if (drills.length) {
      const [{ runDrill: run }, { startDrillScheduler }, { drivers }, { openSession }, { resolveSecret }] = await Promise.all([
        import('../drills/run.js'),
        import('../drills/scheduler.js'),
        import('../drivers/registry.js'),
        import('../transports/connect.js'),
        import('../secrets.js'),
      ]);
      const { loadInventory } = await import('../inventory/load.js');
      const inventory = async (id: string) => (await loadInventory(o.app.paths.inventory)).devices.get(id);
      runDrill = (spec, occurrence) =>
        run({ app, preflight: { drivers, openSession, resolveSecret }, inventory }, spec, {
          by: occurrence ? 'schedule' : 'api',
          occurrence,
        });
      const scheduler = await startDrillScheduler({
        drills,
        journal: app.journal,
        run: (spec, occurrence) => runDrill!(spec, occurrence),
        redis: redis && o.app.redisUrl ? { url: o.app.redisUrl, prefix } : undefined,
        log: (line) => log.warn({ drill: line }),
      });
      cleanup.unshift(() => scheduler.stop());
    }
    // Approval requests end on time even when nobody looks at them.
    const expiry = setInterval(
      () => void app.expireApprovals().catch((err) => log.warn({ err: errorMessage(err) }, 'approval expiry failed')),
      1_000,
    );
    cleanup.unshift(() => clearInterval(expiry));
    const ready = async (): Promise<ReadyReport> => {
      const checks: ReadyReport['checks'] = {};
      checks.journal = await app.journal.find({ limit: 1 }).then(
        () => ({ ok: true }),
        (err) => ({ ok: false, detail: redactor.text(errorMessage(err)) }),
      );
      if (app.executor === 'queue' && redis && queues) {
        checks.redis = await redis.ping().then(
          () => ({ ok: true }),
          (err: unknown) => ({ ok: false, detail: redactor.text(errorMessage(err)) }),
        );
        const workers = await queues.workers().catch(() => -1);
        checks.workers =
          workers > 0
            ? { ok: true, detail: `${workers} coordinating worker(s)` }
            : { ok: false, detail: workers < 0 ? 'cannot ask Redis' : 'no worker is listening: start `firebreak worker`' };
      } else {
        checks.executor = {
          ok: true,
          detail: app.breakGlass ? `local (break-glass: ${redactor.text(app.breakGlass)})` : 'local (in this process)',
        };
      }
      return { ok: Object.values(checks).every((c) => c.ok), checks };
    };
    const api = createApi({
      app,
      tokens,
      users: oidc ? (await import('../identity/oidc-store.js')).withOidcSessions(users, oidc.store) : users,
      oidc,
      paths: o.app.paths,
      triggers,
      replays,
      metrics,
      log,
      ready,
      clock: monotonic(),
      version: o.version,
      intake,
      failures: o.failures,
      consoleDir: o.consoleDir ?? builtConsoleDir(),
      drills,
      runDrill,
    });
    const http = await listen(api, o.host, o.port);
    log.info({ address: http.address, executor: app.executor, triggers: triggers.map((t) => t.name) }, 'serving');
    let stopping: Promise<void> | undefined;
    return {
      address: http.address,
      url: `http://${http.address}`,
      executor: app.executor,
      stop: () =>
        (stopping ??= (async () => {
          await http.stop();
          const left = await app.drain(o.drainMs ?? 60_000);
          if (left) log.warn({ runs: left }, 'runs still executing at shutdown: they show as interrupted and can be resumed');
          for (const c of cleanup) await Promise.resolve(c()).catch(() => undefined);
          log.info('stopped');
        })()),
    };
  } catch (err) {
    for (const c of cleanup) await Promise.resolve(c()).catch(() => undefined);
    throw err;
  }
}

/** OIDC sign-in when ServeOptions.oidc or FIREBREAK_OIDC_* says so: its config checked, secret read, tables opened. */
async function openOidc(o: ServeOptions, sessions: import('../identity/users.js').SessionPolicy) {
  const { oidcFromEnv, loadOidc } = await import('../identity/oidc.js');
  const options = o.oidc ?? oidcFromEnv();
  if (!options) return undefined;
  const { config, clientSecret } = await loadOidc(options, o.oidc ? 'options' : 'env');
  const { openOidcStore } = await import('../identity/oidc-store.js');
  const file = join(dirname(o.app.paths.journal), 'tokens.db');
  const store = await openOidcStore({ url: o.app.databaseUrl, schema: o.app.databaseSchema, file, sessions });
  return { config, clientSecret, store };
}

/**
 * Replays are checked in Redis (shared by every server), and in this process while Redis does not
 * answer: a break-glass trigger still works then, and a replay to this same server is still refused.
 */
function fallbackReplayCache(shared: import('../triggers/hmac.js').ReplayCache, local: import('../triggers/hmac.js').ReplayCache) {
  return {
    async seen(key: string, ttlMs: number) {
      const here = await local.seen(key, ttlMs);
      try {
        return await shared.seen(key, ttlMs);
      } catch {
        return here;
      }
    },
  };
}

/** A client connection for readiness, replays and queue depth (commands fail fast while Redis is down). */
async function connectedRedis(url: string) {
  const { connectRedis, redisReady } = await import('../coord/redis.js');
  const redis = connectRedis(url, { role: 'client' });
  await redisReady(redis).catch(() => undefined);
  return redis;
}

/** The application's clock (the same one run.created's triggerAt uses). */
function monotonic(): () => number {
  return () => performance.timeOrigin + performance.now();
}

async function queueProbe(redis: import('ioredis').Redis, prefix: string) {
  const { Queue } = await import('bullmq');
  const { RUNS_QUEUE, workerKey } = await import('../queue/keys.js');
  // One Queue object per queue name for the server's life (a scrape must not open new ones).
  const queues = new Map<string, InstanceType<typeof Queue>>();
  const queue = (name: string) => {
    let q = queues.get(name);
    if (!q) {
      q = new Queue(name, { connection: redis, prefix, skipWaitingForReady: true });
      q.on('error', () => undefined);
      queues.set(name, q);
    }
    return q;
  };
  /** Every key matching `pattern`, by SCAN (KEYS would block Redis on a big keyspace). */
  const scan = async (pattern: string): Promise<string[]> => {
    const out: string[] = [];
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      cursor = next;
      out.push(...keys);
    } while (cursor !== '0');
    return out;
  };
  return {
    async depth() {
      const sites = (await scan(`${prefix}:site-*:meta`)).map((k) => k.slice(prefix.length + 1, -':meta'.length));
      const out: Record<string, Record<string, number>> = {};
      for (const name of [RUNS_QUEUE, ...sites]) out[name] = await queue(name).getJobCounts('waiting', 'active', 'delayed', 'failed');
      return out;
    },
    /** Coordinating workers whose presence key is fresh (src/queue/worker.ts announces every 5 s). */
    async workers() {
      const keys = await scan(workerKey(prefix, '*'));
      return (keys.length ? await redis.mget(keys) : []).filter((v) => v && JSON.parse(v).coordinate).length;
    },
    close: () => Promise.all([...queues.values()].map((q) => q.close())),
  };
}
