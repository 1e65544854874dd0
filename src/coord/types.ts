/**
 * Device exclusion leases (invariant 5: one change session per device at a time).
 *
 * A lease is a time-limited claim on a key (a device id) with a fencing token: a number that
 * strictly increases every time the key is taken, across expiries, releases and processes. A
 * holder that stalls past its ttl may still believe it holds the lease; whoever it talks to can
 * reject it by comparing tokens, and `renew`/`release` never touch a newer holder's lease.
 *
 * Expired means lost in every implementation: once `expiresAt` has passed, `renew` returns false
 * even when nobody else has taken the key yet.
 */

export interface Lease {
  key: string;
  owner: string;
  token: number;
  /** Epoch ms (this host's clock); a conservative estimate: the real expiry is never earlier. */
  expiresAt: number;
}

export interface LeaseHolder {
  owner: string;
  token: number;
  expiresAt: number;
}

export interface Leases {
  /** Takes `key` when free or expired; otherwise null. The fencing token strictly increases per key, across expiries and processes. */
  tryAcquire(key: string, owner: string, ttlMs: number): Promise<Lease | null>;
  /** Waits (polling with a small jittered backoff) up to waitMs; throws LeaseBusy when still taken. */
  acquire(key: string, owner: string, ttlMs: number, waitMs: number): Promise<Lease>;
  /** Extends the lease only if still held with this token; false when it was lost (expired, taken, or released). */
  renew(lease: Lease, ttlMs: number): Promise<boolean>;
  /** Releases only if still held with this token (never frees someone else's lease). */
  release(lease: Lease): Promise<void>;
  holder(key: string): Promise<LeaseHolder | null>;
  /** Every live lease whose key starts with prefix (for `firebreak holds`/status displays), sorted by key. */
  list(prefix: string): Promise<(LeaseHolder & { key: string })[]>;
  close(): Promise<void>;
}

/** One attempt: the lease, or who holds the key now (null holder: it changed hands in between). */
export type Attempt = { lease: Lease } | { lease: null; holder: LeaseHolder | null };
