import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import { errorMessage, RedisUnavailable } from '../errors.js';
import { acquireByPolling, checkTtl } from './acquire.js';
import { redisReady } from './redis.js';
import type { Attempt, LeaseHolder, Leases } from './types.js';

/**
 * Leases in Redis. `${prefix}:lease:<key>` holds "<token>:<owner>" with a PX expiry (Redis's own
 * clock decides expiry, so clock skew between hosts does not matter); `${prefix}:fence:<key>` is
 * the per-key fencing counter, never expiring. Every check-and-change is one Lua script.
 * expiresAt is this host's clock at the request plus the PTTL the server reported: never later
 * than the real expiry.
 *
 * The connection belongs to the caller: close() stops this object, it does not quit `redis`.
 * Both keys of a lease are named without a hash tag, so this is for a single Redis (or a
 * primary with replicas), not Redis Cluster.
 */

// Returns {1, token, pttl} when taken, {0, value, pttl} when held (value nil: it vanished).
const ACQUIRE = `
local v = redis.call('GET', KEYS[1])
if v then return {0, v, redis.call('PTTL', KEYS[1])} end
local token = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], string.format('%d', token) .. ':' .. ARGV[1], 'PX', ARGV[2])
return {1, token, redis.call('PTTL', KEYS[1])}`;

// ARGV: owner, token, ttl. Returns 1 when extended, 0 when lost.
const RENEW = `
if redis.call('GET', KEYS[1]) == ARGV[2] .. ':' .. ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
  return 1
end
return 0`;

const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[2] .. ':' .. ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

const HOLDER = `
local v = redis.call('GET', KEYS[1])
if not v then return {} end
return {v, redis.call('PTTL', KEYS[1])}`;

interface Script {
  lua: string;
  sha: string;
}

const script = (lua: string): Script => ({ lua, sha: createHash('sha1').update(lua).digest('hex') });
const S = { acquire: script(ACQUIRE), renew: script(RENEW), release: script(RELEASE), holder: script(HOLDER) };

export function redisLeases(redis: Redis, prefix: string): Leases {
  let closed = false;
  const leaseKey = (key: string) => `${prefix}:lease:${key}`;
  const fenceKey = (key: string) => `${prefix}:fence:${key}`;

  const run = async (what: string, s: Script, keys: string[], args: (string | number)[]): Promise<unknown> => {
    if (closed) throw new RedisUnavailable(`lease ${what}: leases closed`);
    try {
      await redisReady(redis);
      try {
        return await redis.evalsha(s.sha, keys.length, ...keys, ...args);
      } catch (err) {
        if (!errorMessage(err).startsWith('NOSCRIPT')) throw err;
        return await redis.eval(s.lua, keys.length, ...keys, ...args);
      }
    } catch (err) {
      if (err instanceof RedisUnavailable) throw err;
      throw new RedisUnavailable(`lease ${what}: redis: ${errorMessage(err)}`, { cause: err });
    }
  };

  const attempt = async (key: string, owner: string, ttlMs: number): Promise<Attempt> => {
    checkTtl(ttlMs);
    const t0 = Date.now();
    const r = (await run(`acquire ${key}`, S.acquire, [leaseKey(key), fenceKey(key)], [owner, ttlMs])) as [number, number | string, number];
    if (Number(r[0]) === 1) return { lease: { key, owner, token: Number(r[1]), expiresAt: t0 + Number(r[2]) } };
    return { lease: null, holder: parseHolder(r[1], r[2], t0) };
  };

  const holderOf = async (key: string): Promise<LeaseHolder | null> => {
    const t0 = Date.now();
    const r = (await run(`holder ${key}`, S.holder, [leaseKey(key)], [])) as [string, number] | [];
    return r.length ? parseHolder(r[0], r[1], t0) : null;
  };

  return {
    async tryAcquire(key, owner, ttlMs) {
      return (await attempt(key, owner, ttlMs)).lease;
    },
    acquire(key, owner, ttlMs, waitMs) {
      return acquireByPolling(() => attempt(key, owner, ttlMs), key, owner, waitMs);
    },
    async renew(lease, ttlMs) {
      checkTtl(ttlMs);
      const r = await run(`renew ${lease.key}`, S.renew, [leaseKey(lease.key)], [lease.owner, lease.token, ttlMs]);
      return Number(r) === 1;
    },
    async release(lease) {
      await run(`release ${lease.key}`, S.release, [leaseKey(lease.key)], [lease.owner, lease.token]);
    },
    holder: holderOf,
    async list(keyPrefix) {
      if (closed) throw new RedisUnavailable('lease list: leases closed');
      const base = `${prefix}:lease:`;
      const pattern = globEscape(base + keyPrefix) + '*';
      const names = new Set<string>();
      try {
        await redisReady(redis);
        let cursor = '0';
        do {
          const [next, batch] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 500);
          for (const k of batch) names.add(k);
          cursor = next;
        } while (cursor !== '0');
      } catch (err) {
        if (err instanceof RedisUnavailable) throw err;
        throw new RedisUnavailable(`lease list: redis: ${errorMessage(err)}`, { cause: err });
      }
      const out: (LeaseHolder & { key: string })[] = [];
      for (const name of [...names].sort()) {
        const key = name.slice(base.length);
        const h = await holderOf(key);
        if (h) out.push({ key, ...h });
      }
      return out;
    },
    async close() {
      closed = true;
    },
  };
}

/** "<token>:<owner>" and a PTTL as seen at local time t0; null when the key vanished meanwhile. */
function parseHolder(value: unknown, pttl: unknown, t0: number): LeaseHolder | null {
  if (typeof value !== 'string' && !Buffer.isBuffer(value)) return null;
  const v = String(value);
  const colon = v.indexOf(':');
  const ms = Number(pttl);
  if (colon < 0 || !(ms >= 0)) return null; // -2: expired between GET and PTTL; -1 never happens (always PX)
  return { owner: v.slice(colon + 1), token: Number(v.slice(0, colon)), expiresAt: t0 + ms };
}

function globEscape(s: string): string {
  return s.replace(/[*?[\]\\]/g, '\\$&');
}
