import type { RunState } from './lifecycle.js';

export type { RunState } from './lifecycle.js';

/** Progress events an executor emits while it works; the CLI prints them, the API will stream them. */
export type ActionState =
  | 'pending'
  | 'prepared'
  | 'applied'
  | 'already'
  | 'verified'
  | 'failed'
  | 'reverted'
  /** Rollback let go of the run's hold, and left the device as it is: another run still holds the change. */
  | 'released'
  | 'revert-failed'
  | 'skipped';

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
  /** What the run's rollback did with this action's hold (reverted the device, or kept it for another run). */
  rollback?: { state: 'reverted' | 'released' | 'revert-failed'; what: string; ms?: number; error?: string; code?: string };
}

export interface RunResult {
  runId: string;
  planId: string;
  playbook: string;
  state: RunState;
  /** Which executor ran it: in this process (`local`) or on queue workers (`queue`). */
  executor: 'local' | 'queue';
  /** Set when the queue was unreachable and the run went through the local executor instead. */
  breakGlass?: string;
  trigger?: { kind: string; by: string; reason?: string };
  actions: ActionResult[];
  /** Trigger received -> last action verified on its device; null when the run did not contain. */
  timeToContainMs: number | null;
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
