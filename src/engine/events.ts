/** Progress events an executor emits while it works; the CLI prints them, the API will stream them. */
export type ActionState = 'pending' | 'prepared' | 'applied' | 'already' | 'verified' | 'failed' | 'reverted' | 'revert-failed' | 'skipped';

export type RunState = 'pending' | 'running' | 'contained' | 'partial' | 'failed' | 'rolling-back' | 'rolled-back' | 'rollback-failed';

export type RunEvent =
  | { type: 'run'; runId: string; state: RunState }
  | { type: 'stage'; runId: string; stage: number; name: string; phase: 'prepare' | 'strike' | 'verify' | 'done'; cutSkewMs?: number }
  | { type: 'action'; runId: string; actionId: string; device: string; what: string; state: ActionState; ms?: number; error?: string };

export type EventSink = (e: RunEvent) => void;

export interface ActionResult {
  actionId: string;
  device: string;
  what: string;
  state: ActionState;
  ms?: number;
  error?: string;
  code?: string;
}

export interface RunResult {
  runId: string;
  planId: string;
  playbook: string;
  state: RunState;
  actions: ActionResult[];
  /** Trigger received -> last action verified on its device. */
  timeToContainMs: number;
  /** Trigger received -> first connection attempt to a device. */
  firstContactMs: number | null;
  /** Per stage: first change applied -> last change applied. */
  cutSkewMs: number[];
  /** Actions that did not reach their wanted state, loudly. */
  notDone: ActionResult[];
}

export interface RollbackResult {
  runId: string;
  state: RunState;
  actions: ActionResult[];
  notReverted: ActionResult[];
}
