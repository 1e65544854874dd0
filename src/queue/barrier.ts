import type { Redis } from 'ioredis';
import type { Barrier } from '../engine/stage.js';
import { BARRIER_DEADLINE_MS, BARRIER_TTL_S, barrierKeys, type DeviceJob, goPattern } from './keys.js';

/** What the stage announces: who was ready at the go, or stop (nobody strikes). */
export interface GoSignal {
  at: number;
  ready: string[];
  stop?: boolean;
}

/**
 * The worker side of the coordinated cut across workers: a prepared device adds itself to the
 * stage's ready set, then waits for the stage's one "go" (pub/sub, with the go key as the record
 * a late or reconnecting worker reads). A device that arrives after the go strikes at once, late,
 * and the journal says it was not ready in time.
 */
export class GoListener {
  private readonly waiting = new Map<string, Set<(g: GoSignal) => void>>();

  constructor(
    private readonly redis: Redis,
    private readonly sub: Redis,
    private readonly prefix: string,
  ) {}

  async start(): Promise<void> {
    this.sub.on('pmessage', (_p: string, channel: string, message: string) => {
      const set = this.waiting.get(channel);
      if (!set) return;
      const g = JSON.parse(message) as GoSignal;
      for (const w of set) w(g);
    });
    await this.sub.psubscribe(goPattern(this.prefix));
  }

  barrier(job: DeviceJob): Barrier {
    const keys = barrierKeys(this.prefix, job.runId, job.stage, job.op);
    return {
      arrive: async (device) => {
        const answer = (g: GoSignal) => (g.stop ? 'stop' : g.ready.includes(device) ? 'go' : 'late');
        const got = new Promise<GoSignal | undefined>((resolve) => {
          const set = this.waiting.get(keys.channel) ?? new Set<(g: GoSignal) => void>();
          this.waiting.set(keys.channel, set);
          const done = (g: GoSignal | undefined) => {
            set.delete(done as (g: GoSignal) => void);
            if (!set.size) this.waiting.delete(keys.channel);
            clearInterval(poll);
            clearTimeout(limit);
            resolve(g);
          };
          set.add(done as (g: GoSignal) => void);
          // The go key backs the message up: a message missed while Redis reconnected is still read.
          const poll = setInterval(() => {
            // Still here: say so again (a Redis that restarted empty lost the first SADD).
            void this.redis
              .multi()
              .sadd(keys.ready, device)
              .expire(keys.ready, BARRIER_TTL_S)
              .exec()
              .catch(() => undefined);
            void this.readGo(keys.go).then((g) => g && done(g));
          }, 250);
          // Nobody said go in twice the deadline (the stage's coordinator died): change nothing.
          const limit = setTimeout(() => done(undefined), 2 * BARRIER_DEADLINE_MS);
        });
        await this.redis.multi().sadd(keys.ready, device).expire(keys.ready, BARRIER_TTL_S).exec();
        const already = await this.readGo(keys.go);
        if (already) return answer(already);
        const g = await got;
        return g ? answer(g) : 'stop';
      },
    };
  }

  private async readGo(key: string): Promise<GoSignal | undefined> {
    const v = await this.redis.get(key).catch(() => null);
    return v ? (JSON.parse(v) as GoSignal) : undefined;
  }
}

/** The coordinator's side: wait until every device is ready or the deadline passes, then say go once. */
export async function coordinate(
  redis: Redis,
  prefix: string,
  job: Omit<DeviceJob, 'device'>,
  devices: string[],
  stop?: AbortSignal,
): Promise<{ ready: string[]; late: string[]; waitedMs: number; stopped: boolean }> {
  const keys = barrierKeys(prefix, job.runId, job.stage, job.op);
  const t0 = Date.now();
  const existing = await redis.get(keys.go);
  if (existing) {
    // Taken over from a coordinator that died after its go: the go stands.
    const g = JSON.parse(existing) as GoSignal;
    return { ready: g.ready, late: devices.filter((d) => !g.ready.includes(d)), waitedMs: 0, stopped: !!g.stop };
  }
  for (;;) {
    if (stop?.aborted) break;
    if ((await redis.scard(keys.ready)) >= devices.length) break;
    if (Date.now() - t0 >= BARRIER_DEADLINE_MS) break;
    await new Promise((r) => setTimeout(r, 3));
  }
  const ready = await redis.smembers(keys.ready);
  const g: GoSignal = { at: Date.now(), ready, ...(stop?.aborted ? { stop: true } : {}) };
  const text = JSON.stringify(g);
  // NX: if two coordinators race (a takeover), the first go is the only go.
  const set = await redis.set(keys.go, text, 'EX', BARRIER_TTL_S, 'NX');
  const final = set ? g : (JSON.parse((await redis.get(keys.go)) ?? text) as GoSignal);
  await redis.publish(keys.channel, JSON.stringify(final));
  return { ready: final.ready, late: devices.filter((d) => !final.ready.includes(d)), waitedMs: Date.now() - t0, stopped: !!final.stop };
}
