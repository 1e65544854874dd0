import { randomBytes } from 'node:crypto';
import type { Action } from '../actions.js';
import type { Driver } from '../drivers/driver.js';
import { FirebreakError } from '../errors.js';
import type { Device, Inventory } from '../inventory/types.js';
import { validateValue } from '../playbooks/params.js';
import { ACTION_FIELDS } from '../playbooks/schema.js';
import type { Playbook, Selector, Step } from '../playbooks/types.js';
import { findLockouts } from './lockout.js';
import type { Plan, PlanIssue, PlannedAction, PlanStage } from './types.js';

export interface PlanInput {
  playbook: Playbook;
  /** Already validated by validateParams. */
  params: Record<string, string>;
  inventory: Inventory;
  drivers: Record<string, Driver>;
  allowLockout?: boolean;
  id?: string;
  now?: Date;
}

/**
 * Playbook + parameters + inventory -> Plan. Pure: no I/O. Problems land in `plan.errors`
 * (a plan with errors must not be executed) rather than being thrown, so every caller can show them.
 */
export function makePlan(input: PlanInput): Plan {
  const { playbook, params, inventory, drivers } = input;
  const id = input.id ?? newPlanId();
  const errors: PlanIssue[] = [];
  const warnings: PlanIssue[] = [];
  const actions: PlannedAction[] = [];
  const stages: PlanStage[] = [];
  const seen = new Set<string>();

  playbook.stages.forEach((stage, si) => {
    if (stage.when && !params[stage.when]) {
      warnings.push({
        code: 'STAGE_SKIPPED',
        at: `stages[${si}]`,
        message: `stage "${stage.name}" skipped: parameter ${stage.when} is not set`,
      });
      return;
    }
    const planStage: PlanStage = { index: stages.length, name: stage.name, actionIds: [] };
    stage.steps.forEach((step, ti) => {
      const at = `stages[${si}].steps[${ti}]`;
      try {
        for (const target of expandStep(step, params, inventory, at, warnings)) {
          const { device } = target;
          let { action } = target;
          const driver = drivers[device.driver];
          if (!driver) {
            errors.push({
              code: 'UNKNOWN_DRIVER',
              at,
              message: `device ${device.id}: unknown driver "${device.driver}" (known: ${Object.keys(drivers).join(', ')})`,
            });
            continue;
          }
          if (
            !driver.supports.includes(action.kind) &&
            step.fallback &&
            action.kind === 'port.vlan' &&
            driver.supports.includes(step.fallback)
          ) {
            warnings.push({
              code: 'FALLBACK',
              at,
              message: `device ${device.id} (${driver.family}) cannot move ${action.interface} to VLAN ${action.vlan}: it is shut instead (fallback ${step.fallback})`,
            });
            action = { kind: step.fallback, interface: action.interface };
          }
          if (!driver.supports.includes(action.kind)) {
            errors.push({
              code: 'UNSUPPORTED_ACTION',
              at,
              message: `device ${device.id} (${driver.family}) does not support ${action.kind} (supports: ${driver.supports.join(', ')})`,
            });
            continue;
          }
          const key = `${device.id} ${JSON.stringify(action)}`;
          if (seen.has(key)) continue; // the same change selected twice is planned once
          seen.add(key);
          const actionId = `a${actions.length + 1}`;
          const tag = `fb:${id}:${actionId}`;
          const timeoutMs = step.timeoutMs ?? playbook.policy.timeoutMs;
          const autoRevert = autoRevertFor(step, playbook, device, driver, at, warnings);
          actions.push({
            id: actionId,
            stage: planStage.index,
            device: device.id,
            driver: driver.family,
            action,
            tag,
            commands: driver.render(action, { device, tag, timeoutMs }),
            timeoutMs,
            retries: step.retries ?? playbook.policy.retries,
            ...(autoRevert ? { autoRevert } : {}),
          });
          planStage.actionIds.push(actionId);
        }
      } catch (err) {
        if (!(err instanceof FirebreakError)) throw err;
        errors.push({ code: err.code, at, message: err.message });
      }
    });
    if (planStage.actionIds.length) stages.push(planStage);
  });

  const overrides = orderForLockout(actions, stages, inventory, input.allowLockout ?? false, errors, warnings);
  if (actions.length === 0 && errors.length === 0)
    errors.push({ code: 'NOTHING_TO_DO', message: 'the playbook selects no action with these parameters and this inventory' });

  const devices: Record<string, Device> = {};
  for (const a of actions) devices[a.device] ??= inventory.devices.get(a.device)!;
  return {
    formatVersion: 1,
    id,
    createdAt: (input.now ?? new Date()).toISOString(),
    playbook: { id: playbook.id, title: playbook.title, file: playbook.source.file, sha256: playbook.source.sha256 },
    params,
    policy: {
      onFailure: playbook.policy.onFailure,
      approval: playbook.policy.approval,
      rollbackApproval: playbook.policy.rollbackApproval,
    },
    stages,
    actions,
    devices,
    overrides,
    errors,
    warnings,
  };
}

/** The step's, else the playbook's, else the device's auto-revert; a warning when the platform has none. */
function autoRevertFor(step: Step, playbook: Playbook, device: Device, driver: Driver, at: string, warnings: PlanIssue[]) {
  const minutes = step.autoRevertMinutes ?? playbook.policy.autoRevertMinutes ?? device.autoRevert?.minutes;
  if (minutes === undefined) return undefined;
  if (!driver.confirm) {
    warnings.push({
      code: 'NO_AUTO_REVERT',
      at,
      message: `device ${device.id} (${driver.family}) has no device-side auto-revert: its changes are not armed`,
    });
    return undefined;
  }
  return { minutes };
}

export function newPlanId(): string {
  return `p${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
}

/** Resolves a step's selector and `with` into concrete (device, action) pairs. */
function expandStep(step: Step, params: Record<string, string>, inventory: Inventory, at: string, warnings: PlanIssue[]) {
  const out: { device: Device; action: Action }[] = [];
  const fields: Record<string, string> = {};
  // The playbook loader checked these fields; values are checked again here after substitution.
  for (const [name, { type }] of Object.entries(ACTION_FIELDS[step.action])) {
    const raw = step.with[name];
    const value = raw === undefined ? undefined : substitute(Array.isArray(raw) ? raw.join(',') : raw, params);
    if (value === undefined || value === '') continue;
    fields[name] = validateValue(type, value, `${at}.with.${name}`);
  }
  const targets = selectTargets(step.on, params, inventory, at);
  if (targets === null) {
    warnings.push({ code: 'STEP_SKIPPED', at, message: `step ${step.action} skipped: its target parameter is not set` });
    return out;
  }
  for (const { device, iface } of targets) {
    switch (step.action) {
      case 'interface.disable':
      case 'port.vlan':
      case 'power.off':
        if (!iface) throw new FirebreakError(`${at}: ${step.action} needs on.role or on.interface`);
        if (step.action === 'interface.disable') out.push({ device, action: { kind: 'interface.disable', interface: iface } });
        else if (step.action === 'power.off') out.push({ device, action: { kind: 'power.off', outlet: iface } });
        else {
          if (!fields.vlan) throw new FirebreakError(`${at}: port.vlan needs with.vlan`);
          out.push({ device, action: { kind: 'port.vlan', interface: iface, vlan: Number(fields.vlan) } });
        }
        break;
      case 'host.block':
        if (!fields.address) {
          warnings.push({ code: 'STEP_SKIPPED', at, message: 'host.block skipped: no address' });
          return out;
        }
        out.push({ device, action: { kind: 'host.block', address: fields.address } });
        break;
      case 'egress.block': {
        const segment = fields.segment;
        if (!segment) throw new FirebreakError(`${at}: egress.block needs with.segment`);
        const interfaces = interfacesWithRole(device, `segment:${segment}`);
        const uplinks = interfacesWithRole(device, 'uplink');
        if (!interfaces.length || !uplinks.length) continue; // this device does not route that segment out
        const allow = fields.allow ? fields.allow.split(',') : [];
        out.push({ device, action: { kind: 'egress.block', segment, interfaces, uplinks, allow } });
        break;
      }
    }
  }
  if (out.length === 0)
    throw new FirebreakError(`${at}: ${step.action} selects no device or interface in the inventory (selector ${JSON.stringify(step.on)})`);
  return out;
}

/** null when the selector's interface template names an unset parameter. */
function selectTargets(on: Selector, params: Record<string, string>, inventory: Inventory, at: string) {
  if (on.interface !== undefined) {
    const ref = substitute(on.interface, params);
    if (ref === undefined) return null;
    const checked = validateValue('device-interface', ref, `${at}.on.interface`);
    const sep = checked.indexOf(':');
    const deviceId = checked.slice(0, sep);
    const iface = checked.slice(sep + 1);
    const device = inventory.devices.get(deviceId);
    if (!device)
      throw new FirebreakError(`${at}.on.interface: unknown device "${deviceId}" (known: ${[...inventory.devices.keys()].join(', ')})`);
    if (!device.interfaces[iface])
      throw new FirebreakError(
        `${at}.on.interface: device ${deviceId} has no interface "${iface}" in the inventory (declared: ${Object.keys(device.interfaces).join(', ')})`,
      );
    if (!matchesDevice(on, device)) return [];
    return [{ device, iface }];
  }
  // Code-point order: the same plan on every machine whatever its locale, and no ICU collator to
  // start (~8 ms, the first localeCompare of a process, in the middle of an emergency run).
  const devices = [...inventory.devices.values()]
    .filter((d) => matchesDevice(on, d))
    .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  if (on.role !== undefined) return devices.flatMap((device) => interfacesWithRole(device, on.role!).map((iface) => ({ device, iface })));
  return devices.map((device) => ({ device, iface: undefined as string | undefined }));
}

function matchesDevice(on: Selector, d: Device): boolean {
  if (on.devices && !on.devices.includes(d.id)) return false;
  if (on.sites && !on.sites.includes(d.site)) return false;
  if (on.tags && !on.tags.some((t) => d.tags.includes(t))) return false;
  return true;
}

function interfacesWithRole(d: Device, role: string): string[] {
  return Object.entries(d.interfaces)
    .filter(([, spec]) => spec.roles.includes(role))
    .map(([name]) => name)
    .sort();
}

/** Whole-value `${name}` templates only; undefined when the parameter is unset. */
function substitute(value: string, params: Record<string, string>): string | undefined {
  const m = /^\$\{([A-Za-z][A-Za-z0-9_-]*)\}$/.exec(value);
  if (!m) return value;
  return params[m[1]!] || undefined;
}

/**
 * Applies the lockout guard: self-cuts are errors unless allowed (then they move to a final stage,
 * marked as overridden); upstream cuts move to a stage after the devices reached through them.
 */
function orderForLockout(
  actions: PlannedAction[],
  stages: PlanStage[],
  inventory: Inventory,
  allow: boolean,
  errors: PlanIssue[],
  warnings: PlanIssue[],
): PlanIssue[] {
  const findings = findLockouts(actions, inventory);
  const byId = new Map(actions.map((a) => [a.id, a]));
  const overrides: PlanIssue[] = [];
  const deferred: PlannedAction[] = [];
  const overridden: PlannedAction[] = [];
  for (const f of findings) {
    const pa = byId.get(f.actionId)!;
    if (f.kind === 'self') {
      if (!allow) {
        errors.push({
          code: 'LOCKOUT',
          at: pa.id,
          message: `refused: ${f.message}. Use --allow-lockout to run it anyway (it is then planned last).`,
        });
        continue;
      }
      pa.lockoutOverride = f.message;
      overrides.push({ code: 'LOCKOUT_OVERRIDDEN', at: pa.id, message: f.message });
      overridden.push(pa);
    } else {
      warnings.push({ code: 'UPSTREAM_LINK', at: pa.id, message: f.message });
      if (actions.some((a) => f.cuts.includes(a.device))) deferred.push(pa);
    }
  }
  const move = (list: PlannedAction[], name: string) => {
    if (!list.length) return;
    const moved = new Set(list.map((a) => a.id));
    for (const s of stages) s.actionIds = s.actionIds.filter((id) => !moved.has(id));
    const stage: PlanStage = { index: 0, name, actionIds: list.map((a) => a.id) };
    stages.push(stage);
  };
  move(deferred, 'links that other devices are reached through (after those devices)');
  move(overridden, 'overridden lockouts (last)');
  // Drop emptied stages and renumber, so stage indexes stay dense and in execution order.
  const kept = stages.filter((s) => s.actionIds.length);
  stages.length = 0;
  kept.forEach((s, i) => {
    s.index = i;
    for (const id of s.actionIds) byId.get(id)!.stage = i;
    stages.push(s);
  });
  return overrides;
}
