import type { Action } from '../actions.js';
import type { Device } from '../inventory/types.js';
import type { FailurePolicy } from '../playbooks/types.js';

/**
 * A plan is plain, versioned JSON: printing it, sending it over the API, journaling it and
 * executing it all use this one object. Executing never re-reads the playbook or the inventory:
 * the devices it touches are copied in (they hold secret references only).
 */
export interface Plan {
  formatVersion: 1;
  id: string;
  createdAt: string;
  playbook: { id: string; title: string; file: string; sha256: string };
  params: Record<string, string>;
  /** `approval: required`: the run waits in awaiting-approval until a second person approves it. */
  policy: { onFailure: FailurePolicy; approval?: 'none' | 'required'; rollbackApproval?: 'none' | 'required' };
  stages: PlanStage[];
  actions: PlannedAction[];
  devices: Record<string, Device>;
  /** Lockout findings that --allow-lockout overrode (empty otherwise). */
  overrides: PlanIssue[];
  errors: PlanIssue[];
  warnings: PlanIssue[];
}

export interface PlanStage {
  index: number;
  name: string;
  /** Ids of the actions of this stage, in the order they were planned. */
  actionIds: string[];
}

export interface PlannedAction {
  /** `a1`, `a2`, ... unique in the plan. */
  id: string;
  stage: number;
  device: string;
  driver: string;
  action: Action;
  /** Marks what this action adds on the device (nft comments), so it can be found and removed exactly. */
  tag: string;
  /** What will be sent: CLI lines or SNMP varbinds (`SET 1.3.6...7.<ifIndex of swp1> = 2`). */
  commands: string[];
  timeoutMs: number;
  retries: number;
  /**
   * Device-side auto-revert armed with the change and confirmed after its read-back (Driver.confirm).
   * `keepArmed` (live drills): not confirmed, the device's timer stays the restore's backstop; any
   * other run disarms it before changing the device (src/engine/disarm.ts).
   */
  autoRevert?: { minutes: number; keepArmed?: true };
  /** Set when this action cuts a management path and --allow-lockout let it through. */
  lockoutOverride?: string;
}

export interface PlanIssue {
  code: string;
  message: string;
  /** Where it comes from: `stages[0].steps[1]`, an action id, a device. */
  at?: string;
}
