import type { ForwardActionKind } from '../actions.js';

/** Parameter types. Each has a strict validator in params.ts; there is deliberately no free-text type. */
export const PARAM_TYPES = [
  'ipv4',
  'ipv6',
  'ip',
  'ipv4-prefix',
  'ipv6-prefix',
  'prefix',
  'address',
  'prefix-list',
  'interface',
  'device-interface',
  'segment',
  'device',
  'vlan',
] as const;
export type ParamType = (typeof PARAM_TYPES)[number];

export interface ParamSpec {
  type: ParamType;
  required: boolean;
  default?: string;
  description?: string;
}

/** Which devices (and, for interface actions, which interfaces) a step acts on. */
export interface Selector {
  devices?: string[];
  tags?: string[];
  sites?: string[];
  /** Interfaces carrying this role on the selected devices (`uplink`, `segment:lan`, ...). */
  role?: string;
  /** One interface as `device:interface`; may be a `${param}` template. */
  interface?: string;
}

export interface Step {
  action: ForwardActionKind;
  on: Selector;
  /** Action fields; values may be `${param}` templates. */
  with: Record<string, string | string[]>;
  timeoutMs?: number;
  retries?: number;
  /** Arm the device's own auto-revert for this step's changes (minutes); see Driver.confirm. */
  autoRevertMinutes?: number;
  /** Used instead of `action` on a device whose driver does not support it (planned with a warning). */
  fallback?: 'interface.disable';
}

export interface Stage {
  name: string;
  /** Name of a parameter: the stage runs only when it is set. */
  when?: string;
  steps: Step[];
}

export type FailurePolicy = 'continue' | 'abort' | 'rollback';

export interface Playbook {
  id: string;
  title: string;
  group: 'internet' | 'segments' | 'hosts' | 'other';
  description?: string;
  params: Record<string, ParamSpec>;
  policy: {
    approval: 'none' | 'required';
    rollbackApproval: 'none' | 'required';
    onFailure: FailurePolicy;
    timeoutMs: number;
    retries: number;
    autoRevertMinutes?: number;
  };
  stages: Stage[];
  /** file path it was loaded from, and sha256 of its text (recorded in plans). */
  source: { file: string; sha256: string };
}
