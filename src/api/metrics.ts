import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { App } from '../app/app.js';
import type { Journal } from '../journal/types.js';
import type { Plan } from '../plan/types.js';

/**
 * Prometheus metrics. Runs by state and queue depth are read when scraped; time to contain, cut
 * skew and action failures are counted from the journal as it is written (a tail from the moment
 * the server starts: a restart resets them, as Prometheus counters expect).
 */
export interface ApiMetrics {
  contentType: string;
  render(): Promise<string>;
  webhookDecision(trigger: string, decision: string): void;
  stop(): void;
}

export interface MetricsDeps {
  app: App & { journal: Journal };
  /** Jobs per queue and state (queue mode); absent in local mode. */
  queueDepth?: () => Promise<Record<string, Record<string, number>>>;
  pollMs?: number;
}

export async function startMetrics(deps: MetricsDeps): Promise<ApiMetrics> {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'firebreak_process_' });
  new Gauge({
    name: 'firebreak_runs',
    help: 'Runs in the journal by their current state',
    labelNames: ['state'],
    registers: [registry],
    async collect() {
      this.reset();
      const counts = new Map<string, number>();
      for (const r of await deps.app.listRuns()) counts.set(r.state, (counts.get(r.state) ?? 0) + 1);
      for (const [state, n] of counts) this.set({ state }, n);
    },
  });
  if (deps.queueDepth) {
    const depth = deps.queueDepth;
    new Gauge({
      name: 'firebreak_queue_jobs',
      help: 'Jobs in each BullMQ queue by state (waiting, active, delayed, failed)',
      labelNames: ['queue', 'state'],
      registers: [registry],
      async collect() {
        this.reset();
        for (const [queue, states] of Object.entries(await depth().catch(() => ({}))))
          for (const [state, n] of Object.entries(states)) this.set({ queue, state }, n);
      },
    });
  }
  const ttc = new Histogram({
    name: 'firebreak_time_to_contain_seconds',
    help: 'Trigger received to last action verified, per contained run',
    buckets: [0.05, 0.1, 0.2, 0.4, 0.8, 1.5, 3, 6, 15, 30, 60],
    registers: [registry],
  });
  const skew = new Histogram({
    name: 'firebreak_cut_skew_seconds',
    help: 'Within a stage, first change applied to last',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
  const failures = new Counter({
    name: 'firebreak_action_failures_total',
    help: 'Actions that failed, by device, driver and error code',
    labelNames: ['device', 'driver', 'code'],
    registers: [registry],
  });
  const decisions = new Counter({
    name: 'firebreak_webhook_decisions_total',
    help: 'Detector events by trigger and what became of them (created, duplicate, cooldown, ...)',
    labelNames: ['trigger', 'decision'],
    registers: [registry],
  });

  const { journal } = deps.app;
  let after = (await journal.all()).at(-1)?.seq ?? 0;
  const drivers = new Map<string, Record<string, string>>();
  const driverOf = async (runId: string, device: string) => {
    if (!drivers.has(runId)) {
      const plan = (await journal.find({ runId, types: ['run.created'] }))[0]?.data.plan as Plan | undefined;
      drivers.set(runId, Object.fromEntries(Object.values(plan?.devices ?? {}).map((d) => [d.id, d.driver])));
    }
    return drivers.get(runId)![device] ?? '?';
  };
  let stopped = false;
  const tail = async () => {
    while (!stopped) {
      try {
        for (const e of await journal.find({ types: ['run.state', 'stage.struck', 'action.failed'], afterSeq: after })) {
          after = e.seq;
          if (e.type === 'run.state' && e.data.state === 'contained' && typeof e.data.timeToContainMs === 'number')
            ttc.observe(e.data.timeToContainMs / 1000);
          if (e.type === 'stage.struck' && typeof e.data.cutSkewMs === 'number') skew.observe(e.data.cutSkewMs / 1000);
          if (e.type === 'action.failed') {
            const device = String(e.data.device);
            failures.inc({ device, driver: await driverOf(e.runId, device), code: String(e.data.code) });
          }
        }
      } catch {
        // The journal is unreachable for a moment: /readyz says so; metrics catch up when it is back.
      }
      await new Promise((r) => setTimeout(r, deps.pollMs ?? 500));
    }
  };
  void tail();
  return {
    contentType: registry.contentType,
    render: () => registry.metrics(),
    webhookDecision: (trigger, decision) => decisions.inc({ trigger, decision }),
    stop() {
      stopped = true;
    },
  };
}
