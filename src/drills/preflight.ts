import { describeAction } from '../actions.js';
import { type DeviceHealth, failure, SYS_UPTIME } from '../app/device-health.js';
import type { Driver, State } from '../drivers/driver.js';
import { errorCode, errorMessage } from '../errors.js';
import type { Plan, PlannedAction } from '../plan/types.js';
import type { SecretResolver, Session } from '../transports/types.js';
import type { Opener } from '../app/device-health.js';

/**
 * Preflight (a `verify` drill): everything a run of the plan would do up to the change, and
 * nothing after it. Per device of the plan: connect, check the host key, log in, read the state
 * each action needs, decide whether it would change or is already so, and whether the inverse
 * could be computed; plus the plan's own findings (lockout guard, unknown targets). No device is
 * changed and nothing is journaled: a kill switch is tried without pulling it.
 */
export interface PreflightAction {
  actionId: string;
  what: string;
  /** `would-change`: the device is not so yet; `already`: it is; `error`: the read failed. */
  outcome: 'would-change' | 'already' | 'error';
  commands: string[];
  code?: string;
  error?: string;
}

export interface PreflightDevice {
  device: string;
  driver: string;
  ok: boolean;
  health: DeviceHealth;
  actions: PreflightAction[];
  ms: number;
}

export interface PreflightReport {
  playbook: string;
  params: Record<string, string>;
  ok: boolean;
  /** Plan findings that would stop the run (lockout, unknown target), by message. */
  planErrors: string[];
  planWarnings: string[];
  devices: PreflightDevice[];
  ms: number;
}

export interface PreflightDeps {
  drivers: Record<string, Driver>;
  openSession: Opener;
  resolveSecret: SecretResolver;
  /** Devices checked at once (default 64). */
  concurrency?: number;
}

export async function preflight(plan: Plan, deps: PreflightDeps): Promise<PreflightReport> {
  const t0 = performance.now();
  const byDevice = new Map<string, PlannedAction[]>();
  for (const a of plan.actions) byDevice.set(a.device, [...(byDevice.get(a.device) ?? []), a]);
  const ids = [...byDevice.keys()];
  const devices: PreflightDevice[] = new Array(ids.length);
  let next = 0;
  const lane = async () => {
    for (let i = next++; i < ids.length; i = next++) devices[i] = await checkOne(plan, ids[i]!, byDevice.get(ids[i]!)!, deps);
  };
  await Promise.all(Array.from({ length: Math.min(deps.concurrency ?? 64, ids.length) }, lane));
  return {
    playbook: plan.playbook.id,
    params: plan.params,
    ok: plan.errors.length === 0 && devices.every((d) => d.ok),
    planErrors: plan.errors.map((e) => e.message),
    planWarnings: plan.warnings.map((w) => w.message),
    devices,
    ms: Math.round(performance.now() - t0),
  };
}

async function checkOne(plan: Plan, id: string, actions: PlannedAction[], deps: PreflightDeps): Promise<PreflightDevice> {
  const t0 = performance.now();
  const device = plan.devices[id]!;
  const driver = deps.drivers[device.driver]!;
  const transport = driver.transport;
  const checkedAt = new Date().toISOString();
  let session: Session | undefined;
  let health: DeviceHealth;
  try {
    session = await deps.openSession(device, transport, deps.resolveSecret);
    if (session.kind === 'snmp') await session.get([SYS_UPTIME]);
    health = {
      device: id,
      transport,
      reachable: true,
      authenticated: true,
      hostKeyOk: transport === 'ssh' ? true : null,
      ms: 0,
      checkedAt,
    };
  } catch (err) {
    await session?.close().catch(() => undefined);
    session = undefined;
    health = { device: id, transport, ...failure(err, transport), ms: 0, checkedAt };
  }
  health.ms = Math.round(performance.now() - t0);
  const results: PreflightAction[] = [];
  try {
    for (const pa of actions) {
      const base = { actionId: pa.id, what: describeAction(pa.action), commands: pa.commands };
      if (!session) {
        results.push({ ...base, outcome: 'error', code: health.code, error: `not checked: ${health.error ?? 'no session'}` });
        continue;
      }
      const ctx = { device, tag: pa.tag, timeoutMs: pa.timeoutMs };
      try {
        const state: State = await driver.read(session, pa.action, ctx);
        const already = driver.holds(pa.action, state, ctx);
        // The inverse must be computable from what was read, or rollback could not be exact.
        driver.invert(pa.action, state, ctx);
        results.push({ ...base, outcome: already ? 'already' : 'would-change' });
      } catch (err) {
        results.push({ ...base, outcome: 'error', code: errorCode(err), error: errorMessage(err) });
      }
    }
  } finally {
    await session?.close().catch(() => undefined);
  }
  return {
    device: id,
    driver: device.driver,
    ok: health.authenticated && results.every((r) => r.outcome !== 'error'),
    health,
    actions: results,
    ms: Math.round(performance.now() - t0),
  };
}
