import type { Leases } from '../../coord/types.js';
import type { Driver } from '../../drivers/driver.js';
import type { Journal } from '../../journal/types.js';
import type { PlannedAction } from '../../plan/types.js';
import type { SecretResolver } from '../../transports/types.js';
import { localBarrier } from '../barrier.js';
import type { Executor } from '../executor.js';
import { deviceLocker } from '../leases.js';
import { executeRollback, localRevertStage } from '../rollback.js';
import { executeRun, type StageRunner } from '../run.js';
import { type SessionOpener, SessionPool, type Sessions } from '../sessions.js';
import { type DeviceOutcome, runDevice } from '../stage.js';
import { StageLog } from '../stage-log.js';

export interface LocalDeps {
  journal: Journal;
  leases: Leases;
  drivers: Record<string, Driver>;
  openSession: SessionOpener;
  resolveSecret: SecretResolver;
  clock: () => number;
  owner: string;
  /** Warm sessions kept across runs (a long-running process); default: one pool per run. */
  sessions?: () => Sessions;
}

/** The local executor: the whole run in this process (embedded default, break-glass: invariant 10). */
export function localExecutor(deps: LocalDeps): Executor {
  const sessionsFor = deps.sessions ?? (() => new SessionPool(deps.openSession, deps.resolveSecret, deps.clock));
  const lockDevice = deviceLocker(deps.leases, deps.owner);
  const rollback: Executor['rollback'] = (runId, opts) =>
    executeRollback({ ...deps, lockDevice, sessions: sessionsFor, revertStage: localRevertStage({ ...deps, lockDevice }) }, runId, opts);
  return {
    kind: 'local',
    async execute(runId, opts) {
      const sessions = sessionsFor();
      try {
        const runStage = inProcessStage(deps, sessions, lockDevice);
        return await executeRun(
          { journal: deps.journal, leases: deps.leases, owner: deps.owner, runStage, rollback: (id, o) => rollback(id, o) },
          runId,
          opts,
        );
      } finally {
        await sessions.closeAll();
      }
    },
    rollback,
    async close() {},
  };
}

/** Every device of the stage in parallel in this process, one barrier, one group-committed log. */
export function inProcessStage(deps: LocalDeps, sessions: Sessions, lockDevice: ReturnType<typeof deviceLocker>): StageRunner {
  return async (ctx) => {
    const log = new StageLog(deps.journal, ctx.runId);
    const byDevice = new Map<string, PlannedAction[]>();
    for (const id of ctx.stage.actionIds) {
      const pa = ctx.plan.actions.find((a) => a.id === id)!;
      byDevice.set(pa.device, [...(byDevice.get(pa.device) ?? []), pa]);
    }
    const t0 = deps.clock();
    const barrier = localBarrier(
      byDevice.size,
      () => {
        log.add('stage.prepared', {
          stage: ctx.stage.index,
          ms: Math.round(deps.clock() - t0),
          at: deps.clock(),
          ready: [...byDevice.keys()],
          late: [],
        });
        ctx.emit({ type: 'stage', runId: ctx.runId, stage: ctx.stage.index, name: ctx.stage.name, phase: 'strike' });
      },
      ctx.stop,
    );
    const stepDeps = {
      runId: ctx.runId,
      plan: ctx.plan,
      log,
      drivers: deps.drivers,
      sessions,
      emit: ctx.emit,
      clock: deps.clock,
      lockDevice,
      stop: ctx.stop,
    };
    const outcomes: DeviceOutcome[] = await Promise.all(
      [...byDevice.entries()].map(([device, list]) =>
        runDevice(stepDeps, list, barrier, ctx.prior).catch((err) => {
          barrier.leave(device);
          throw err;
        }),
      ),
    );
    await log.flush();
    const contacts = outcomes.map((o) => o.contactAt).filter((t): t is number => t !== undefined);
    return {
      appliedAt: outcomes.flatMap((o) => o.appliedAt),
      verifiedAt: outcomes.flatMap((o) => o.verifiedAt),
      ...(contacts.length ? { contactAt: Math.min(...contacts) } : {}),
    };
  };
}
