import { LeaseBusy } from '../errors.js';
import type { Attempt, Lease, LeaseHolder } from './types.js';

const FIRST_PAUSE_MS = 5;
const MAX_PAUSE_MS = 100;

/**
 * Polls `attempt` until it yields the lease or `waitMs` has passed, with a jittered backoff that
 * never sleeps past the current holder's expiry (so an expired lease is picked up promptly).
 * The last attempt happens at the deadline.
 */
export async function acquireByPolling(attempt: () => Promise<Attempt>, key: string, owner: string, waitMs: number): Promise<Lease> {
  const deadline = Date.now() + Math.max(0, waitMs);
  let pause = FIRST_PAUSE_MS;
  for (;;) {
    const r = await attempt();
    if (r.lease) return r.lease;
    const now = Date.now();
    if (now >= deadline) throw busy(key, owner, waitMs, r.holder);
    const untilExpiry = r.holder ? Math.max(1, r.holder.expiresAt - now + 1) : pause;
    const sleep = Math.min(pause * (0.5 + Math.random()), untilExpiry, deadline - now);
    await new Promise((resolve) => setTimeout(resolve, Math.max(1, Math.round(sleep))));
    pause = Math.min(pause * 2, MAX_PAUSE_MS);
  }
}

function busy(key: string, owner: string, waitMs: number, h: LeaseHolder | null): LeaseBusy {
  const who = h
    ? `held by ${h.owner} (token ${h.token}) until ${new Date(h.expiresAt).toISOString()} (in ${Math.max(0, h.expiresAt - Date.now())} ms)`
    : 'taken by another owner';
  return new LeaseBusy(`lease ${key} is ${who}; ${owner} waited ${waitMs} ms`);
}

export function checkTtl(ttlMs: number): void {
  if (!Number.isInteger(ttlMs) || ttlMs < 1) throw new RangeError(`lease ttl must be a positive integer of ms, got ${ttlMs}`);
}
