import { createHash } from 'node:crypto';
import type { Device } from '../inventory/types.js';
import type { SecretResolver, Session } from '../transports/types.js';
import { withTimeout } from '../timeout.js';
import type { SessionOpener, Sessions } from './sessions.js';

/**
 * Sessions kept open across runs by a long-running worker, so a queued run starts on a session
 * that is already connected, authenticated and (for CLI devices) sitting at its prompt.
 *
 * - A session is reused only while it is alive and was opened with the device's current settings
 *   (address, transport settings, pinned host key, credential references): a changed inventory
 *   entry closes it and opens a new one. Every (re)connect goes through the opener, so the host
 *   key is checked again each time.
 * - A connection that goes away (the device closed it, keepalive failed) is forgotten as soon as
 *   the transport says so; the next get reconnects.
 * - Bounded: at most `maxSessions` (the least recently used idle one is closed to make room; held
 *   ones are never closed, so the bound is exceeded while more devices than that are in use), and
 *   a session idle for `idleMs` is closed.
 *
 * A run uses `forRun()`: its closeAll hands the sessions back (kept warm), its discard really
 * closes. Two runs changing one device at once share its session: keeping them apart is the
 * executor's device lease (invariant 5), not this cache's.
 */

export interface WarmOptions {
  clock?: () => number;
  /** Open sessions kept (default 64). */
  maxSessions?: number;
  /** An idle session is closed after this long (default 10 minutes). */
  idleMs?: number;
}

export interface WarmStats {
  /** Connected sessions (held by a run or idle). */
  open: number;
  /** Connections being made. */
  opening: number;
  /** Idle sessions closed to stay within maxSessions. */
  evicted: number;
  /** Idle sessions closed after idleMs. */
  expired: number;
  /** Sessions found gone (closed by the device, keepalive failed) and forgotten. */
  dropped: number;
  /** Openings for a device that had a session before (after a drop, discard, eviction, expiry or inventory change). */
  reconnects: number;
}

interface Entry {
  deviceId: string;
  fingerprint: string;
  opening: Promise<Session>;
  session?: Session;
  /** Set once the entry is no longer the device's: a session that opens late is closed at once. */
  gone: boolean;
  idleTimer?: NodeJS.Timeout;
}

const DEFAULT_MAX_SESSIONS = 64;
const DEFAULT_IDLE_MS = 10 * 60_000;

export class WarmSessions implements Sessions {
  private readonly entries = new Map<string, Entry>(); // insertion order = least recently used first
  private readonly holders = new Map<string, number>(); // device id -> run views holding it
  private readonly everOpened = new Set<string>();
  private readonly counts = { evicted: 0, expired: 0, dropped: 0, reconnects: 0 };
  private readonly clock: () => number;
  private readonly maxSessions: number;
  private readonly idleMs: number;
  /** Clock time of the first connection attempt this cache made. */
  firstOpenAt: number | undefined;

  constructor(
    private readonly opener: SessionOpener,
    private readonly resolveSecret: SecretResolver,
    opts: WarmOptions = {},
  ) {
    this.clock = opts.clock ?? Date.now;
    this.maxSessions = Math.max(1, opts.maxSessions ?? DEFAULT_MAX_SESSIONS);
    this.idleMs = opts.idleMs ?? DEFAULT_IDLE_MS;
  }

  /** A view for one run: closeAll keeps its sessions warm, firstOpenAt is its own first get. */
  forRun(): Sessions {
    return new WarmRun(this, {
      hold: (id) => this.hold(id),
      release: (id) => this.release(id),
      clock: this.clock,
    });
  }

  /**
   * The device's warm session, or a new one. Unheld: an idle session may be closed (idleMs after
   * this get, or to make room); a run uses forRun(), whose sessions stay open while it holds them.
   */
  get(device: Device, transport: 'ssh' | 'snmp', timeoutMs: number): Promise<Session> {
    const fingerprint = fingerprintOf(device, transport);
    let entry = this.entries.get(device.id);
    if (entry && (entry.fingerprint !== fingerprint || entry.session?.alive?.() === false)) {
      if (entry.fingerprint === fingerprint) this.counts.dropped++;
      void this.forget(entry);
      entry = undefined;
    }
    if (entry) {
      this.touch(entry);
      // The warm path: no timer, no extra turn of the event loop beyond the promise itself.
      if (entry.session) return Promise.resolve(entry.session);
    } else entry = this.open(device, transport, fingerprint);
    return withTimeout(entry.opening, timeoutMs, `connect to ${device.id}`);
  }

  /** Closes the device's session for real and forgets it (after DeviceTimeout/DeviceUnreachable). */
  async discard(deviceId: string): Promise<void> {
    const entry = this.entries.get(deviceId);
    if (entry) await this.forget(entry);
  }

  /** Closes every session (worker shutdown); one still connecting is closed as it connects. */
  async closeAll(): Promise<void> {
    const all = [...this.entries.values()];
    await Promise.all(all.map((e) => this.forget(e).then(() => e.opening.then(noop, noop))));
  }

  stats(): WarmStats {
    let open = 0;
    for (const e of this.entries.values()) if (e.session) open++;
    return { open, opening: this.entries.size - open, ...this.counts };
  }

  /** A run view starts holding a device: its session is neither evicted nor expired meanwhile. */
  private hold(deviceId: string): void {
    this.holders.set(deviceId, (this.holders.get(deviceId) ?? 0) + 1);
    const entry = this.entries.get(deviceId);
    if (entry) clearTimeout(entry.idleTimer);
  }

  /** A run view hands a device back: idle from now. */
  private release(deviceId: string): void {
    const n = (this.holders.get(deviceId) ?? 1) - 1;
    if (n > 0) this.holders.set(deviceId, n);
    else this.holders.delete(deviceId);
    const entry = this.entries.get(deviceId);
    if (entry) this.touch(entry);
    this.trim();
  }

  private open(device: Device, transport: 'ssh' | 'snmp', fingerprint: string): Entry {
    this.firstOpenAt ??= this.clock();
    if (this.everOpened.has(device.id)) this.counts.reconnects++;
    const opening = this.opener(device, transport, this.resolveSecret);
    const entry: Entry = { deviceId: device.id, fingerprint, opening, gone: false };
    this.entries.set(device.id, entry);
    opening.then(
      (session) => this.opened(entry, session),
      () => {
        // A failed connection is forgotten so a retry opens a new one.
        if (this.entries.get(entry.deviceId) === entry) this.entries.delete(entry.deviceId);
      },
    );
    this.trim();
    return entry;
  }

  private opened(entry: Entry, session: Session): void {
    entry.session = session;
    if (entry.gone) {
      session.close().catch(noop);
      return;
    }
    this.everOpened.add(entry.deviceId);
    session.onClose?.(() => {
      if (this.entries.get(entry.deviceId) !== entry) return;
      this.counts.dropped++;
      void this.forget(entry);
    });
    this.touch(entry);
  }

  /** Most recently used now; an unheld open session gets a fresh idle timer. */
  private touch(entry: Entry): void {
    this.entries.delete(entry.deviceId);
    this.entries.set(entry.deviceId, entry);
    clearTimeout(entry.idleTimer);
    entry.idleTimer = undefined;
    if (!entry.session || this.holders.has(entry.deviceId)) return;
    entry.idleTimer = setTimeout(() => {
      if (this.entries.get(entry.deviceId) !== entry || this.holders.has(entry.deviceId)) return;
      this.counts.expired++;
      void this.forget(entry);
    }, this.idleMs);
    // An idle session never keeps the process alive on its own.
    entry.idleTimer.unref();
  }

  /** Closes idle sessions, least recently used first, while there are more than maxSessions. */
  private trim(): void {
    if (this.entries.size <= this.maxSessions) return;
    for (const entry of [...this.entries.values()]) {
      if (this.entries.size <= this.maxSessions) return;
      if (!entry.session || this.holders.has(entry.deviceId)) continue;
      this.counts.evicted++;
      void this.forget(entry);
    }
  }

  /** Removes the entry and closes its session (now, or when it finishes opening). */
  private async forget(entry: Entry): Promise<void> {
    entry.gone = true;
    clearTimeout(entry.idleTimer);
    if (this.entries.get(entry.deviceId) === entry) this.entries.delete(entry.deviceId);
    if (entry.session) await entry.session.close().catch(noop);
  }
}

const noop = (): void => undefined;

/** One run's view: gets hold the device's warm session until the run's closeAll hands it back. */
class WarmRun implements Sessions {
  private readonly held = new Set<string>();
  firstOpenAt: number | undefined;

  constructor(
    private readonly warm: WarmSessions,
    private readonly lease: { hold(id: string): void; release(id: string): void; clock: () => number },
  ) {}

  get(device: Device, transport: 'ssh' | 'snmp', timeoutMs: number): Promise<Session> {
    this.firstOpenAt ??= this.lease.clock();
    if (!this.held.has(device.id)) {
      this.held.add(device.id);
      this.lease.hold(device.id);
    }
    return this.warm.get(device, transport, timeoutMs);
  }

  async discard(deviceId: string): Promise<void> {
    await this.warm.discard(deviceId);
  }

  async closeAll(): Promise<void> {
    const held = [...this.held];
    this.held.clear();
    for (const id of held) this.lease.release(id);
  }
}

/**
 * What a session was opened with: address, transport and its settings (port, user, pinned host
 * key, credential *references*, timeouts, algorithms). References only, so no secret is hashed.
 */
export function fingerprintOf(device: Device, transport: 'ssh' | 'snmp'): string {
  // Once per device object: a run asks for each device's session once per action.
  const known = fingerprints.get(device);
  const hit = known?.[transport];
  if (hit) return hit;
  const settings = transport === 'ssh' ? device.ssh : device.snmp;
  const fp = createHash('sha256')
    .update(stable({ address: device.address, transport, settings: settings ?? null }))
    .digest('base64');
  fingerprints.set(device, { ...known, [transport]: fp });
  return fp;
}

/** Device entries are never changed in place (an inventory edit loads new ones), so this cannot go stale. */
const fingerprints = new WeakMap<Device, { ssh?: string; snmp?: string }>();

/** JSON with object keys sorted, so two copies of one inventory entry give one string. */
function stable(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stable).join(',')}]`;
  if (value && typeof value === 'object') {
    const o = value as Record<string, unknown>;
    const keys = Object.keys(o)
      .filter((k) => o[k] !== undefined)
      .sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${stable(o[k])}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}
