import { errorMessage, LeaseLost } from '../errors.js';
import type { Lease, Leases } from './types.js';

export interface KeptLease {
  /** Stops renewing (does not release and does not abort the signal). */
  stop(): void;
  /** Aborted (reason: LeaseLost) once the lease is lost: stop touching the device. */
  signal: AbortSignal;
  /** The lease with its latest known expiry. */
  current(): Lease;
}

/**
 * Renews `lease` every ttl/3. It is lost, once and for good (signal aborted, onLost called once),
 * when a renew answers false (expired, taken or released), or when no renew has succeeded by the
 * time the lease would expire: renew failing (Redis down, say) or hanging. Never renews after that.
 */
export function keepLease(leases: Leases, lease: Lease, ttlMs: number, onLost: (err: Error) => void): KeptLease {
  const ctl = new AbortController();
  const every = Math.max(1, Math.floor(ttlMs / 3));
  let cur: Lease = { ...lease };
  let stopped = false;
  let lastError: unknown;
  let tick: NodeJS.Timeout | undefined;
  let watchdog: NodeJS.Timeout | undefined;

  const clear = () => {
    clearTimeout(tick);
    clearTimeout(watchdog);
  };
  const lose = (why: string, cause?: unknown) => {
    if (stopped) return;
    stopped = true;
    clear();
    const err = new LeaseLost(`lease ${cur.key} (owner ${cur.owner}, token ${cur.token}) lost: ${why}`, cause ? { cause } : undefined);
    ctl.abort(err);
    try {
      onLost(err);
    } catch {
      // onLost's own failure must not break the timers' callbacks.
    }
  };
  // Fires at the expiry known so far; pushed back by every successful renew.
  const arm = () => {
    clearTimeout(watchdog);
    const left = Math.max(0, cur.expiresAt - Date.now());
    watchdog = setTimeout(() => {
      const why = lastError
        ? `no successful renew before it expired (last error: ${errorMessage(lastError)})`
        : 'not renewed before it expired';
      lose(why, lastError);
    }, left);
  };
  const renewOnce = async () => {
    if (stopped) return;
    const t0 = Date.now();
    try {
      const ok = await leases.renew(cur, ttlMs);
      if (stopped) return;
      if (!ok) return lose('renew refused: expired, taken by another owner, or released');
      lastError = undefined;
      cur = { ...cur, expiresAt: Math.max(cur.expiresAt, t0 + ttlMs) };
      arm();
    } catch (err) {
      if (stopped) return;
      lastError = err;
    }
    schedule(lastError ? Math.max(1, Math.floor(every / 2)) : every);
  };
  const schedule = (ms: number) => {
    if (!stopped) tick = setTimeout(() => void renewOnce(), ms);
  };

  arm();
  schedule(every);
  return {
    stop() {
      stopped = true;
      clear();
    },
    signal: ctl.signal,
    current: () => cur,
  };
}
