import { hostname } from 'node:os';
import { keepLease } from '../coord/keepalive.js';
import type { Lease, Leases } from '../coord/types.js';
import { LeaseBusy, RunStateConflict } from '../errors.js';
import type { DeviceLock } from './stage.js';

/**
 * The run lease: whoever executes a run (or its rollback) holds `run:<id>` and renews it while it
 * works. A run that says `running` while nobody holds its lease has lost its executor: it is
 * `interrupted`, and anyone may resume it or roll it back.
 */
export const RUN_LEASE_TTL_MS = 5_000;

export type HeldRunLease = DeviceLock;

export function runLeaseKey(runId: string): string {
  return `run:${runId}`;
}

export function defaultOwner(role = 'local'): string {
  return `${role}@${hostname()}:${process.pid}`;
}

export async function holdRunLease(leases: Leases, runId: string, owner: string): Promise<HeldRunLease> {
  // Waits out the lease of an executor that just died (a killed CLI, a worker taken over).
  let lease: Lease;
  try {
    lease = await leases.acquire(runLeaseKey(runId), owner, RUN_LEASE_TTL_MS, RUN_LEASE_TTL_MS + 500);
  } catch (err) {
    if (!(err instanceof LeaseBusy)) throw err;
    const h = await leases.holder(runLeaseKey(runId));
    throw new RunStateConflict(
      `run ${runId} is being executed by ${h?.owner ?? 'another executor'} (its lease runs to ${h ? new Date(h.expiresAt).toISOString() : '?'})`,
    );
  }
  return held(leases, lease, RUN_LEASE_TTL_MS);
}

/**
 * A lease kept alive until released once; its signal aborts if it is lost meanwhile (a Redis
 * outage longer than the ttl, a stalled process). `reacquire` takes it again when nobody else has
 * in between, with a new fencing token: the holder may go on, and only then.
 */
function held(leases: Leases, first: Lease, ttlMs: number): DeviceLock {
  let lease = first;
  let keep = keepLease(leases, lease, ttlMs, () => undefined);
  let released = false;
  return {
    get token() {
      return lease.token;
    },
    get signal() {
      return keep.signal;
    },
    async reacquire() {
      if (released) return false;
      if (!keep.signal.aborted) return true;
      const again = await leases.tryAcquire(lease.key, lease.owner, ttlMs).catch(() => null);
      if (!again) return false;
      keep.stop();
      lease = again;
      keep = keepLease(leases, lease, ttlMs, () => undefined);
      return true;
    },
    async release() {
      if (released) return;
      released = true;
      keep.stop();
      await leases.release(keep.current()).catch(() => undefined);
    },
  };
}

/** Device exclusion (invariant 5): one change session per device across runs, processes and hosts. */
export const DEVICE_LEASE_TTL_MS = 6_000;

/** How long a run waits for another run to finish with a device before that device fails. */
export const DEVICE_LEASE_WAIT_MS = 60_000;

export function deviceLeaseKey(device: string): string {
  return `device:${device}`;
}

/** Takes a device's lease for one device step (waiting while another run has it), kept alive while held. */
export function deviceLocker(leases: Leases, owner: string, waitMs = DEVICE_LEASE_WAIT_MS): (device: string) => Promise<DeviceLock> {
  return async (device) => {
    const lease = await leases.acquire(deviceLeaseKey(device), owner, DEVICE_LEASE_TTL_MS, waitMs);
    return held(leases, lease, DEVICE_LEASE_TTL_MS);
  };
}
