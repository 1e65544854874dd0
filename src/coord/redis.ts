import { Redis, type RedisOptions } from 'ioredis';
import { errorMessage, RedisUnavailable } from '../errors.js';
import { urlPassword } from '../secrets.js';

/**
 * Redis connections for coordination (leases) and BullMQ.
 * - `worker`: what BullMQ workers need: commands wait for a reconnect (`maxRetriesPerRequest: null`).
 * - `client`: CLI/API side: fail fast when Redis is down (no offline queue, short connect timeout,
 *   one retry per command) so callers can fall back to the local executor (invariant 10).
 * Both always carry an 'error' listener, so a Redis outage is never printed as an unhandled event.
 */

export interface ConnectRedisOptions {
  role: 'client' | 'worker';
  /** Connect timeout, ms (default 2000 for clients, 10000 for workers). */
  connectTimeoutMs?: number;
  /** Sees connection errors (already stripped of the URL's password); default: ignored. */
  onError?: (err: Error) => void;
}

export function connectRedis(url: string, opts: ConnectRedisOptions): Redis {
  const client = opts.role === 'client';
  const options: RedisOptions = client
    ? {
        enableOfflineQueue: false,
        connectTimeout: opts.connectTimeoutMs ?? 2000,
        maxRetriesPerRequest: 1,
        retryStrategy: (times) => Math.min(times * 200, 2000),
      }
    : { connectTimeout: opts.connectTimeoutMs ?? 10_000, maxRetriesPerRequest: null };
  const redis = new Redis(url, options);
  const secret = urlPassword(url);
  redis.on('error', (err: Error) => opts.onError?.(scrubError(err, secret)));
  return redis;
}

/**
 * Whether a Redis answers PING at `url` within `timeoutMs`, whatever the network does (refused,
 * blackholed, a server that accepts and never answers). Never throws; always disconnects.
 */
export async function redisReachable(url: string, timeoutMs = 1500): Promise<{ ok: true } | { ok: false; error: string }> {
  const safe = redactRedisUrl(url);
  const secret = urlPassword(url);
  let redis: Redis | undefined;
  let timer: NodeJS.Timeout | undefined;
  let lastError: Error | undefined; // the cause; the rejection itself often only says "Connection is closed."
  try {
    redis = new Redis(url, {
      lazyConnect: true,
      connectTimeout: timeoutMs,
      commandTimeout: timeoutMs,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
      enableOfflineQueue: true,
    });
    redis.on('error', (err: Error) => (lastError = err));
    const conn = redis;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    });
    const ping = (async () => {
      await conn.connect();
      return conn.ping();
    })();
    ping.catch(() => undefined); // the loser of the race must not become an unhandled rejection
    const pong = await Promise.race([ping, timeout]);
    if (pong !== 'PONG') return { ok: false, error: `redis ${safe}: unexpected PING reply ${String(pong)}` };
    return { ok: true };
  } catch (err) {
    const why = lastError && /connection is closed/i.test(errorMessage(err)) ? errorMessage(lastError) : errorMessage(err);
    return { ok: false, error: `redis ${safe}: ${scrub(why, secret)}` };
  } finally {
    if (timer) clearTimeout(timer);
    redis?.disconnect();
  }
}

/**
 * Resolves when `redis` can take commands now. Only waits for connections without an offline
 * queue (client role), where a command sent before 'ready' fails at once; throws
 * RedisUnavailable when not ready within the connection's connect timeout.
 */
export async function redisReady(redis: Redis): Promise<void> {
  if (redis.status === 'ready' || redis.options.enableOfflineQueue !== false) return;
  if (redis.status === 'wait') {
    await redis.connect().catch((err: unknown) => {
      throw new RedisUnavailable(`redis: ${errorMessage(err)}`, { cause: err });
    });
    return;
  }
  if (redis.status === 'end' || redis.status === 'close') throw new RedisUnavailable(`redis: connection is ${redis.status}`);
  const waitMs = redis.options.connectTimeout ?? 10_000;
  await new Promise<void>((resolve, reject) => {
    const done = (err?: Error) => {
      clearTimeout(timer);
      redis.off('ready', onReady);
      redis.off('end', onEnd);
      if (err) reject(err);
      else resolve();
    };
    const onReady = () => done();
    const onEnd = () => done(new RedisUnavailable('redis: connection ended'));
    const timer = setTimeout(() => done(new RedisUnavailable(`redis: not ready within ${waitMs} ms (${redis.status})`)), waitMs);
    redis.once('ready', onReady);
    redis.once('end', onEnd);
  });
}

/** `redis://user:pass@host:6379/0?password=x` -> `redis://host:6379/0?password=[redacted]`. */
export function redactRedisUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:)?\/\/[^@/?#]*@/i, '$1//').replace(/([?&]password=)[^&#]*/gi, '$1[redacted]');
}

function scrub(text: string, secret: string | undefined): string {
  if (!secret) return text;
  let out = text;
  for (const s of new Set([secret, encodeURIComponent(secret)])) out = out.split(s).join('[redacted]');
  return out;
}

function scrubError(err: Error, secret: string | undefined): Error {
  if (!secret || (!err.message.includes(secret) && !err.message.includes(encodeURIComponent(secret)))) return err;
  const clean = new Error(scrub(err.message, secret));
  clean.name = err.name;
  return clean;
}
