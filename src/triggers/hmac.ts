import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Redis } from 'ioredis';
import { ConfigInvalid, errorMessage, RedisUnavailable } from '../errors.js';

/**
 * Signed generic webhooks. The sender puts `X-Firebreak-Timestamp: <unix seconds>` and
 * `X-Firebreak-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<raw body>">` on the request.
 * A signature is good once: within the tolerance window a second request carrying it is a replay.
 */

export const TIMESTAMP_HEADER = 'X-Firebreak-Timestamp';
export const SIGNATURE_HEADER = 'X-Firebreak-Signature';

/** Hex HMAC-SHA256 over `${timestamp}.${rawBody}` (the raw bytes as received, not re-serialized JSON). */
export function signWebhook(secret: string, timestampS: number | string, rawBody: Buffer | string): string {
  return createHmac('sha256', secret).update(`${timestampS}.`).update(rawBody).digest('hex');
}

/** Remembers keys for a while. `seen` records the key and says whether it was already there (and unexpired). */
export interface ReplayCache {
  seen(key: string, ttlMs: number): Promise<boolean>;
}

export type VerifyFailure = 'SIGNATURE_MISSING' | 'SIGNATURE_INVALID' | 'TIMESTAMP_STALE' | 'REPLAY';
export type VerifyResult = { ok: true } | { ok: false; code: VerifyFailure; message: string };

export interface VerifyInput {
  secret: string;
  timestamp?: string;
  signature?: string;
  rawBody: Buffer | string;
  nowMs: number;
  toleranceS?: number;
  replays: ReplayCache;
}

const fail = (code: VerifyFailure, message: string): VerifyResult => ({ ok: false, code, message });

/**
 * Checks, in this order: both headers there, the signature (constant time), the timestamp within
 * ±tolerance of now, and only then the replay cache, so that forged requests never fill it.
 * Messages never carry the secret or the expected signature.
 */
export async function verifyWebhook(input: VerifyInput): Promise<VerifyResult> {
  const { secret, timestamp, signature, rawBody, nowMs, toleranceS = 300, replays } = input;
  if (!secret) throw new ConfigInvalid('webhook secret is empty');
  if (!timestamp || !signature) {
    const missing = [!timestamp && TIMESTAMP_HEADER, !signature && SIGNATURE_HEADER].filter(Boolean).join(' and ');
    return fail('SIGNATURE_MISSING', `${missing} missing`);
  }
  if (!/^[0-9]{1,12}$/.test(timestamp)) return fail('SIGNATURE_INVALID', `${TIMESTAMP_HEADER} must be unix seconds`);
  const m = /^sha256=([0-9a-fA-F]{64})$/.exec(signature.trim());
  if (!m) return fail('SIGNATURE_INVALID', `${SIGNATURE_HEADER} must be sha256=<64 hex digits>`);
  const given = Buffer.from(m[1]!.toLowerCase(), 'hex');
  const wanted = Buffer.from(signWebhook(secret, timestamp, rawBody), 'hex');
  if (!timingSafeEqual(given, wanted)) return fail('SIGNATURE_INVALID', 'signature does not match the body and timestamp');
  const tsMs = Number(timestamp) * 1000;
  const skewS = Math.round((nowMs - tsMs) / 1000);
  if (Math.abs(nowMs - tsMs) > toleranceS * 1000) {
    const how = skewS > 0 ? `${skewS} s old` : `${-skewS} s in the future`;
    return fail('TIMESTAMP_STALE', `timestamp is ${how} (tolerance ${toleranceS} s)`);
  }
  // Kept until the timestamp leaves the window: after that the stale check refuses it anyway.
  const ttlMs = Math.max(1000, Math.ceil(tsMs + toleranceS * 1000 - nowMs) + 1000);
  if (await replays.seen(`sig:${given.toString('hex')}`, ttlMs)) {
    return fail('REPLAY', 'this signed request was already received');
  }
  return { ok: true };
}

/**
 * An in-process replay cache for one server: entries expire after their ttl; past `maxEntries`
 * the oldest go first (a flood of validly signed requests needs the secret).
 */
export function memoryReplayCache(maxEntries = 100_000, now: () => number = Date.now): ReplayCache {
  const expiries = new Map<string, number>();
  return {
    async seen(key, ttlMs) {
      const t = now();
      const until = expiries.get(key);
      if (until !== undefined && until > t) return true;
      expiries.delete(key);
      // Insertion order ~ age: drop expired and, when full, the oldest from the front.
      for (const [k, exp] of expiries) {
        if (exp > t && expiries.size < maxEntries) break;
        expiries.delete(k);
      }
      expiries.set(key, t + ttlMs);
      return false;
    },
  };
}

/** A replay cache shared by every server on one Redis: `SET <prefix>:<key> 1 PX <ttl> NX`. */
export function redisReplayCache(redis: Redis, prefix: string): ReplayCache {
  return {
    async seen(key, ttlMs) {
      let r: string | null;
      try {
        r = await redis.set(`${prefix}:${key}`, '1', 'PX', Math.max(1, Math.ceil(ttlMs)), 'NX');
      } catch (err) {
        throw new RedisUnavailable(`replay cache: ${errorMessage(err)}`, { cause: err });
      }
      return r === null;
    },
  };
}
