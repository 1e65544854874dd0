/**
 * The shapes the console reads from the API (a mirror of the server's JSON, kept to what the
 * pages use: the console is built separately and imports nothing from the server).
 */
export interface User {
  name: string;
  role: string;
  scopes: string[];
}

export interface Session {
  user: User;
  csrfToken: string;
}

export interface ParamSpec {
  type: string;
  required: boolean;
  default?: string;
  description?: string;
}

export interface Playbook {
  id: string;
  title: string;
  group?: 'internet' | 'segments' | 'hosts' | 'other';
  description?: string;
  params: Record<string, ParamSpec>;
  policy: { approval?: string; rollbackApproval?: string };
}

export interface Device {
  id: string;
  site: string;
  driver: string;
  address: string;
  tags: string[];
  transport: 'ssh' | 'snmp' | 'none';
  hostKey?: string;
  interfaces: Record<string, { roles: string[]; description?: string }>;
  reachable: boolean | null;
}

/** GET /devices/health: a login to each device (host key checked), changing nothing. */
export interface DeviceHealth {
  device: string;
  transport: 'ssh' | 'snmp' | 'none';
  reachable: boolean;
  authenticated: boolean;
  hostKeyOk: boolean | null;
  code?: string;
  error?: string;
  ms: number;
  checkedAt: string;
}

export type Action =
  | { kind: 'interface.disable' | 'interface.enable'; interface: string }
  | { kind: 'host.block' | 'host.unblock'; address: string }
  | { kind: 'egress.block'; segment: string; interfaces: string[]; uplinks: string[]; allow: string[] }
  | { kind: 'egress.unblock'; segment: string }
  | { kind: 'port.vlan'; interface: string; vlan: number }
  | { kind: 'port.restore'; interface: string; mode: string; vlan: number | null; voiceVlan: number | null }
  | { kind: 'power.off' | 'power.on'; outlet: string };

export interface PlanIssue {
  code: string;
  message: string;
  at?: string;
}

export interface PlannedAction {
  id: string;
  stage: number;
  device: string;
  driver: string;
  action: Action;
  commands: string[];
  lockoutOverride?: string;
}

export interface Plan {
  id: string;
  playbook: { id: string; title: string };
  params: Record<string, string>;
  policy: { approval?: string; rollbackApproval?: string };
  stages: { index: number; name: string; actionIds: string[] }[];
  actions: PlannedAction[];
  devices: Record<string, { id: string; site: string; interfaces: Record<string, { roles: string[] }> }>;
  errors: PlanIssue[];
  warnings: PlanIssue[];
  overrides: PlanIssue[];
}

export type ActionState =
  | 'pending'
  | 'prepared'
  | 'applied'
  | 'already'
  | 'verified'
  | 'failed'
  | 'reverted'
  | 'released'
  | 'revert-failed'
  | 'skipped';

export interface ActionResult {
  actionId: string;
  device: string;
  what: string;
  state: ActionState;
  ms?: number;
  error?: string;
  rollback?: { state: string; what: string; error?: string };
}

export interface RunView {
  runId: string;
  state: string;
  playbook: string;
  trigger?: { kind: string; by: string; reason?: string };
  actions: ActionResult[];
  timeToContainMs: number | null;
  notDone: ActionResult[];
  params?: Record<string, string>;
  pendingApproval?: { for: string; expiresAt: number; requestedBy?: string };
}

export interface RunSummary {
  runId: string;
  playbook: string;
  createdAt: string;
  state: string;
  trigger: string;
  executor: string;
  timeToContainMs: number | null;
}

export interface JournalEntry {
  seq: number;
  runId: string;
  ts: string;
  type: string;
  data: Record<string, unknown>;
  hash: string;
}

export interface Hold {
  target: string;
  device: string;
  holders: { runId: string; actionId: string; how: string; since: string }[];
  changedByUs: boolean;
}

export interface Approval {
  runId: string;
  for: 'run' | 'rollback';
  requestedBy: string;
  expiresAt: number;
  reason?: string;
}

/** Run states after which nothing more happens by itself. */
export const AT_REST = ['contained', 'partial', 'failed', 'rolled-back', 'rollback-failed', 'interrupted', 'rejected', 'expired'];
export const ROLLBACK_FROM = ['contained', 'partial', 'failed', 'rollback-failed'];

/** GET /hosts: the hosts of the inventory's _hosts.yaml. */
export interface HostEntry {
  name: string;
  address: string;
  port?: string;
  segment?: string;
}
