import type { Device } from '../inventory/types.js';
import type { SecretResolver, Session } from '../transports/types.js';
import { withTimeout } from '../timeout.js';

export type SessionOpener = (device: Device, transport: 'ssh' | 'snmp', resolveSecret: SecretResolver) => Promise<Session>;

/**
 * What a run's stages use to reach devices: SessionPool (opened for the run, closed at its end) or
 * a run's view of WarmSessions (kept open across runs by a long-running worker).
 */
export interface Sessions {
  /** The device's session, opened on first use; concurrent gets share one opening. */
  get(device: Device, transport: 'ssh' | 'snmp', timeoutMs: number): Promise<Session>;
  /** Closes a broken session for real so the next get() reconnects. */
  discard(deviceId: string): Promise<void>;
  /** The end of the run: what the run opened is closed (SessionPool) or handed back (warm). */
  closeAll(): Promise<void>;
  /** Clock time of the run's first get (the first contact towards any device), if any. */
  readonly firstOpenAt: number | undefined;
}

/** One change session per device (invariant 5), opened lazily and shared by the run's stages. */
export class SessionPool implements Sessions {
  private readonly open = new Map<string, Promise<Session>>();
  /** Clock time of the first connection attempt (the first byte towards any device). */
  firstOpenAt: number | undefined;

  constructor(
    private readonly opener: SessionOpener,
    private readonly resolveSecret: SecretResolver,
    private readonly clock: () => number,
  ) {}

  get(device: Device, transport: 'ssh' | 'snmp', timeoutMs: number): Promise<Session> {
    let s = this.open.get(device.id);
    if (!s) {
      this.firstOpenAt ??= this.clock();
      s = withTimeout(this.opener(device, transport, this.resolveSecret), timeoutMs, `connect to ${device.id}`);
      this.open.set(device.id, s);
      // A failed connection is forgotten so a retry opens a new one.
      s.catch(() => this.open.delete(device.id));
    }
    return s;
  }

  /** Drops a broken session so the next get() reconnects. */
  async discard(deviceId: string): Promise<void> {
    const s = this.open.get(deviceId);
    this.open.delete(deviceId);
    if (s) await s.then((x) => x.close()).catch(() => undefined);
  }

  async closeAll(): Promise<void> {
    const all = [...this.open.values()];
    this.open.clear();
    await Promise.all(all.map((s) => s.then((x) => x.close()).catch(() => undefined)));
  }
}
