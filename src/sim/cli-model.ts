import type { CliServer } from './cli-server.js';
import type { SimControl, SimDeviceSpec, SimPort, SimSnapshot } from './types.js';

/**
 * Device state pieces every CLI simulator needs: switch ports, a device-side revert timer, and the
 * SimControl built from them. Each vendor keeps its own filters/ACLs beside these.
 */

export interface PortState extends SimPort {
  name: string;
  mode: string;
  vlan: number | null;
  voiceVlan: number | null;
  description?: string;
}

/** The ports a topology declares, with platform defaults for what it leaves out. */
export function portsFrom(spec: SimDeviceSpec, defaults: { mode: string; vlan: number | null }): Map<string, PortState> {
  const m = new Map<string, PortState>();
  for (const p of spec.ports) {
    m.set(p.name, {
      name: p.name,
      adminUp: p.adminUp ?? true,
      mode: p.mode ?? defaults.mode,
      vlan: p.vlan === undefined ? defaults.vlan : p.vlan,
      voiceVlan: p.voiceVlan ?? null,
    });
  }
  return m;
}

/** Ports as SimSnapshot wants them. */
export function portView(ports: Map<string, PortState>): Record<string, SimPort> {
  const out: Record<string, SimPort> = {};
  for (const p of ports.values()) out[p.name] = { adminUp: p.adminUp, mode: p.mode, vlan: p.vlan, voiceVlan: p.voiceVlan };
  return out;
}

/**
 * A device-side auto-revert (IOS revert timer, Junos commit confirmed, EOS commit timer,
 * AOS-CX checkpoint auto): `arm` remembers how to put the config back; unless `confirm` comes
 * before the timer ends, the device restores it by itself.
 */
export class RevertTimer {
  private timer: NodeJS.Timeout | undefined;
  private restore: (() => void) | undefined;
  /** When the armed timer fires (epoch ms), for `show` commands. */
  firesAt = 0;
  /** How many times the device reverted by itself (tests read it). */
  reverted = 0;

  get armed(): boolean {
    return this.timer !== undefined;
  }

  /** Arms (or re-arms, keeping the first restore point, as the platforms do) the timer. */
  arm(ms: number, restore: () => void): void {
    if (this.timer) clearTimeout(this.timer);
    this.restore ??= restore;
    this.firesAt = Date.now() + ms;
    this.timer = setTimeout(() => this.fire(), ms);
    this.timer.unref?.();
  }

  /** Confirms the pending change; false when nothing was pending. */
  confirm(): boolean {
    if (!this.timer) return false;
    this.cancel();
    return true;
  }

  /** Rolls back now (the platform's "revert now" / "rollback"). */
  fire(): void {
    const restore = this.restore;
    this.cancel();
    if (restore) {
      restore();
      this.reverted++;
    }
  }

  cancel(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.restore = undefined;
  }
}

/** The SimControl of a CLI simulator: faults and latency live in the server, state in the vendor. */
export function cliControl(server: CliServer, state: { snapshot(): SimSnapshot; reset(): void; timer?: RevertTimer }): SimControl {
  return {
    snapshot: () => state.snapshot(),
    inject: (f) => server.faults.add(f),
    clearFaults: () => server.faults.clear(),
    received: () => [...server.received],
    reset: () => {
      server.received.length = 0;
      server.faults.clear();
      state.timer?.cancel();
      state.reset();
    },
    setLatency: (ms) => server.setLatency(ms),
  };
}

/** Deep copy for restore points and resets (state is plain data). */
export function clone<T>(v: T): T {
  return structuredClone(v);
}
