import type { Action } from '../../src/actions.js';
import type { ActionContext, Driver } from '../../src/drivers/driver.js';
import type { Device } from '../../src/inventory/types.js';
import type { Plan } from '../../src/plan/types.js';
import { resolveSecret } from '../../src/secrets.js';
import type { RunningSim, SimControl } from '../../src/sim/types.js';
import { openSession } from '../../src/transports/connect.js';
import type { Session, SshSession } from '../../src/transports/types.js';

/** What the CLI simulator tests share: the inventory record of a sim, its session, its control, a plan for it. */

export const ctxOf = (device: Device, tag = 'fb:p1a2b:a3', timeoutMs = 5000): ActionContext => ({ device, tag, timeoutMs });

/** Actions as applyAll items, each with its own tag (`fb:pb:a1`, `fb:pb:a2`, ...) as the planner gives them. */
export function tagged(device: Device, actions: Action[], extra: Partial<ActionContext> = {}): { action: Action; ctx: ActionContext }[] {
  return actions.map((action, i) => ({ action, ctx: { ...ctxOf(device, `fb:pb:a${i + 1}`), ...extra } }));
}

export interface SimDeviceOptions {
  driver: string;
  user: string;
  /** The environment variable that holds the password: the record carries `env:NAME`, never the secret. */
  passwordEnv: string;
  /** A secret reference (`env:NAME`) for the enable secret, when the platform asks for one. */
  enableSecret?: string;
  /** The pinned host key; by default the one the sim serves. */
  hostKey?: string;
  managementInterfaces?: string[];
  interfaces: Device['interfaces'];
}

/** The inventory Device for a simulated device, as `devices/*.yaml` would give it (site `lab`, SSH on the sim's port). */
export function simDevice(sim: RunningSim, o: SimDeviceOptions): Device {
  return {
    id: sim.spec.id,
    site: 'lab',
    driver: o.driver,
    address: sim.spec.address,
    tags: [],
    ssh: {
      port: sim.spec.sshPort!,
      user: o.user,
      password: `env:${o.passwordEnv}`,
      ...(o.enableSecret !== undefined ? { enableSecret: o.enableSecret } : {}),
      hostKey: o.hostKey ?? sim.hostKey!,
      readyTimeoutMs: 5000,
    },
    managementPath: { interfaces: o.managementInterfaces ?? [], via: [] },
    interfaces: o.interfaces,
  };
}

/** An SSH session to the device, through the real transport and secret resolution. */
export const openSsh = async (device: Device) => (await openSession(device, 'ssh', resolveSecret)) as SshSession;

/** The conformance options are built before the simulator starts: hand the suite a control that looks it up late. */
export function lazyControl(get: () => RunningSim): SimControl {
  return {
    snapshot: () => get().control.snapshot(),
    inject: (f) => get().control.inject(f),
    clearFaults: () => get().control.clearFaults(),
    reset: () => get().control.reset(),
    setLatency: (ms) => get().control.setLatency(ms),
  };
}

/** Reads each item back and asks the driver whether it holds: one read after the other (a session has one shell). */
export async function holdsAfterRead(
  driver: Driver,
  session: Session,
  items: { action: Action; ctx: ActionContext }[],
): Promise<boolean[]> {
  const out: boolean[] = [];
  for (const i of items) out.push(driver.holds(i.action, await driver.read(session, i.action, i.ctx), i.ctx));
  return out;
}

/** Every line the device received since the last reset, and how often `line` is among them. */
export const received = (sim: RunningSim) => sim.control.received!();
export const count = (sim: RunningSim, line: string) => received(sim).filter((l) => l === line).length;

/**
 * Waits until a CLI simulator has received nothing new for `quietMs` (at most `maxMs`). After a
 * client is killed, a command it sent just before may still sit in the device's latency wait:
 * clearing a fault then lets that command run unfaulted (a `hang` on the confirm became a confirm,
 * and the test's device never reverted). Wait for this before clearing faults.
 */
export async function settled(control: SimControl, quietMs = 200, maxMs = 3000): Promise<void> {
  const end = Date.now() + maxMs;
  let seen = control.received!().length;
  let since = Date.now();
  while (Date.now() < end && Date.now() - since < quietMs) {
    await new Promise((r) => setTimeout(r, 20));
    const now = control.received!().length;
    if (now !== seen) [seen, since] = [now, Date.now()];
  }
}

export interface OneStagePlanOptions {
  /** The plan id; action N is tagged `fb:<id>:aN`. */
  id: string;
  retries: number;
  playbook: { id: string; title: string; file: string };
  stage: string;
}

/** Plans of the applyAll tests (no retries: a refused batch must show). */
export const APPLYALL_PLAN: OneStagePlanOptions = {
  id: 'p-applyall',
  retries: 0,
  playbook: { id: 'applyall', title: 'applyAll test', file: 'test' },
  stage: 'cut',
};
/** Plans of the batch-through-the-engine tests, under plan id `id`. */
export const batchPlan = (id: string): OneStagePlanOptions => ({
  id,
  retries: 1,
  playbook: { id: 'batch', title: 'one stage, one device', file: 'inline' },
  stage: 'strike',
});

/** A one-stage plan of `actions` on one device, as the planner would write it. */
export function oneStagePlan(driver: Driver, device: Device, actions: Action[], o: OneStagePlanOptions): Plan {
  const planned = actions.map((action, i) => {
    const tag = `fb:${o.id}:a${i + 1}`;
    return {
      id: `a${i + 1}`,
      stage: 0,
      device: device.id,
      driver: driver.family,
      action,
      tag,
      commands: driver.render(action, ctxOf(device, tag)),
      timeoutMs: 5000,
      retries: o.retries,
    };
  });
  return {
    formatVersion: 1,
    id: o.id,
    createdAt: new Date().toISOString(),
    playbook: { ...o.playbook, sha256: '0'.repeat(64) },
    params: {},
    policy: { onFailure: 'continue' },
    stages: [{ index: 0, name: o.stage, actionIds: planned.map((a) => a.id) }],
    actions: planned,
    devices: { [device.id]: device },
    overrides: [],
    errors: [],
    warnings: [],
  };
}
