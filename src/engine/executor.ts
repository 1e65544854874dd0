import type { EventSink, RollbackResult, RunResult } from './events.js';

/**
 * The executor seam: one interface, two executors (`local`: in this process, the embedded
 * default and break-glass; `queue`: BullMQ workers near the devices), the same stage code and
 * the same journal. Both work from the journal: the run must have been created there first.
 */
export interface Executor {
  readonly kind: 'local' | 'queue';
  /** Runs the run's plan, or finishes an interrupted run; resolves when the run has an outcome. */
  execute(runId: string, opts: ExecOptions): Promise<RunResult>;
  rollback(runId: string, opts: ExecOptions & { by: string; reason?: string }): Promise<RollbackResult>;
  close(): Promise<void>;
}

export interface ExecOptions {
  onEvent?: EventSink;
  /** SIGINT/SIGTERM: stop at a safe point and journal `interrupted`. */
  stop?: AbortSignal;
  /**
   * Called once the run is in an executor's hands (queued in Redis, or running in this process):
   * from then on it is not lost if the caller goes away. The API answers its request here.
   */
  onAccepted?: () => void;
  /**
   * Queue executor: when Redis does not take the run, leave it `queued` (not `failed`) so the
   * caller can run it in-process instead (break-glass).
   */
  keepQueuedOnFailure?: boolean;
}
