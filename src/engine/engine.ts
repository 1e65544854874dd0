import type { Driver } from '../drivers/driver.js';
import type { JournalStore } from '../journal/types.js';
import type { Plan } from '../plan/types.js';
import type { SecretResolver } from '../transports/types.js';
import type { EventSink, RollbackResult, RunResult } from './events.js';
import { runPlanLocally } from './local-executor.js';
import { rollbackRun } from './rollback.js';
import type { SessionOpener } from './sessions.js';

export interface EngineDeps {
  journal: JournalStore;
  drivers: Record<string, Driver>;
  openSession: SessionOpener;
  resolveSecret: SecretResolver;
  /** Milliseconds, monotonic enough for timing (performance.timeOrigin + performance.now()). */
  clock: () => number;
}

export interface Trigger {
  kind: 'cli' | 'api' | 'webhook' | 'schedule' | 'console' | 'demo' | 'test';
  by: string;
  reason?: string;
}

export interface RunOptions {
  trigger: Trigger;
  /** When the trigger was received (clock ms); time to contain counts from here. */
  triggerAt?: number;
  runId?: string;
  onEvent?: EventSink;
}

export interface RollbackOptions {
  by: string;
  reason?: string;
  onEvent?: EventSink;
}

export interface Engine {
  run(plan: Plan, opts: RunOptions): Promise<RunResult>;
  rollback(runId: string, opts: RollbackOptions): Promise<RollbackResult>;
}

/** Dependencies come in through this factory, so tests swap parts without mocking modules. */
export function createEngine(deps: EngineDeps): Engine {
  return {
    run: (plan, opts) => runPlanLocally(deps, plan, opts),
    rollback: (runId, opts) => rollbackRun(deps, runId, opts),
  };
}

export const monotonicClock = (): number => performance.timeOrigin + performance.now();
