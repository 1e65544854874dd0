import { randomBytes } from 'node:crypto';
import type { Leases } from '../coord/types.js';
import type { RollbackResult, RunResult } from '../engine/events.js';
import type { ExecOptions, Executor } from '../engine/executor.js';
import { ACTIVE_STATES, currentState, type RunState, transition } from '../engine/lifecycle.js';
import { armedOpen } from '../engine/disarm.js';
import { runView } from '../engine/run-view.js';
import { errorMessage, IdempotencyTaken, PlanInvalid, QueueUnavailable, RunNotFound, RunStateConflict } from '../errors.js';
import type { JournalEntry, Journal } from '../journal/types.js';
import type { Plan } from '../plan/types.js';
import { APPROVAL_TTL_MS, ROLLBACK_FROM, decide, expireDue, type PendingApproval, pendingApprovals, pendingOf } from './approvals.js';
import { holdsInForce, type HoldRow } from './holds.js';
import { keyedSerial } from './serial.js';
import { detectInterrupted } from './interrupted.js';

/**
 * The application layer: the one surface every trigger uses (CLI, demo, API, console, scheduler).
 * It plans, records who asked and why, hands the run to an executor and reads every answer back
 * from the journal, so what it shows is the same whichever executor ran the run, and on any host.
 */

export interface PlanRequest {
  playbook: string;
  params: Record<string, string>;
  allowLockout?: boolean;
}

export interface Trigger {
  kind: 'cli' | 'api' | 'webhook' | 'schedule' | 'console' | 'demo' | 'test' | 'drill';
  /** The identity that asked, as people read it (user name, token name, detector). */
  by: string;
  /** The identity as approvals compare it (`token:<id>`, `cli:<user>`); default `by`. */
  identity?: string;
  reason?: string;
  /** The detector trigger (triggers.yaml name) and the target its event named, for cooldowns. */
  trigger?: string;
  target?: string;
  /** The detector event's de-duplication key (an Alertmanager group, a Wazuh alert id). */
  dedupKey?: string;
}

/** Who decides something (approves, rejects, rolls back): `by` for people, `identity` for comparisons. */
export interface Actor {
  by: string;
  identity: string;
}

export interface RunRequest {
  trigger: Trigger;
  /** When the trigger was received (epoch ms): time to contain counts from here. */
  triggerAt?: number;
  /** A repeated request with the same key gets the run the first one made, never a second run. */
  idempotencyKey?: string;
  runId?: string;
  /** Wait for a second person's approval even when the playbook does not ask for it. */
  approval?: boolean;
  /** When the queue refuses the run, run it in this process instead of failing (break-glass). */
  breakGlass?: boolean;
  /** Time to live: rolled back (through holds) this long after it was asked for, unless kept or extended. */
  ttlSeconds?: number;
}

/** A run handed to an executor: `state` as the journal shows it now, `done` when it comes to rest. */
export interface Started {
  runId: string;
  state: RunState;
  done: Promise<unknown>;
}

export interface RunListItem {
  runId: string;
  playbook: string;
  createdAt: string;
  state: RunState;
  trigger: string;
  executor: string;
  timeToContainMs: number | null;
}

export interface AppDeps {
  journal: Journal;
  leases: Leases;
  executor: Executor;
  /** Playbook + params + inventory -> Plan (reads files; the API and console use the same). */
  planner: (req: PlanRequest) => Promise<Plan>;
  clock: () => number;
  /** Why the queue was not used although it was configured (set: break-glass). */
  breakGlass?: string;
  /** How long an approval request stays open (default APPROVAL_TTL_MS). */
  approvalTtlMs?: number;
  /** The in-process executor a run may fall back to when the queue refuses it (break-glass). */
  fallback?: () => Promise<Executor>;
}

export interface App {
  readonly executor: Executor['kind'];
  readonly breakGlass: string | undefined;
  preview(req: PlanRequest): Promise<Plan>;
  createRun(plan: Plan, req: RunRequest): Promise<{ runId: string; created: boolean }>;
  execute(runId: string, opts?: ExecOptions): Promise<RunResult>;
  /** Plan, create and execute in one call (what `firebreak run` does). */
  run(plan: Plan, req: RunRequest, opts?: ExecOptions): Promise<RunResult>;
  rollback(runId: string, opts: ExecOptions & { by: string; reason?: string }): Promise<RollbackResult>;
  /** Finishes an interrupted run from the journal and a fresh read of each device. */
  resume(runId: string, opts?: ExecOptions): Promise<RunResult>;
  listRuns(): Promise<RunListItem[]>;
  showRun(runId: string): Promise<{ view: RunResult; entries: JournalEntry[] }>;
  /** The run's journal entries as they are written (a tail), until the run is at rest or `signal` fires. */
  follow(runId: string, opts?: { afterSeq?: number; signal?: AbortSignal; pollMs?: number }): AsyncGenerator<JournalEntry>;
  holds(): Promise<HoldRow[]>;
  /**
   * The API's way in: create the run (or give back the one its idempotency key made), then either
   * leave it waiting for approval or hand it to the executor, answering once it is accepted.
   */
  request(plan: Plan, req: RunRequest): Promise<{ runId: string; created: boolean; state: RunState }>;
  /** Hands the run to the executor; resolves once it is accepted (queued or running), not when done. */
  start(runId: string, opts?: ExecOptions): Promise<Started>;
  /** Rollback now, or (`approval`) a request that waits for a second person. */
  requestRollback(runId: string, who: Actor & { reason?: string; approval?: boolean }): Promise<{ state: RunState; pending: boolean }>;
  approve(runId: string, who: Actor): Promise<{ for: 'run' | 'rollback'; state: RunState }>;
  reject(runId: string, who: Actor & { reason?: string }): Promise<{ for: 'run' | 'rollback'; state: RunState }>;
  pendingApprovals(): Promise<PendingApproval[]>;
  /** Ends approval requests past their time; returns the run ids. */
  expireApprovals(): Promise<string[]>;
  state(runId: string): Promise<RunState>;
  /** A new time to live from now (extends or shortens the containment). */
  extend(runId: string, who: Actor & { ttlSeconds: number }): Promise<{ expiresAt: number }>;
  /** Lifts the time to live: the containment stays until someone rolls it back. */
  keep(runId: string, who: Actor & { reason?: string }): Promise<void>;
  /** Waits (at most `timeoutMs`) for runs this process executes itself; queued runs live in Redis. */
  drain(timeoutMs: number): Promise<number>;
  close(): Promise<void>;
}

export function createApp(deps: AppDeps): App {
  const { journal } = deps;
  const inflight = new Set<Promise<unknown>>();
  const serial = keyedSerial();
  const stateOf = async (runId: string): Promise<RunState> => {
    const s = currentState(await journal.find({ runId, types: ['run.created', 'run.state'] }));
    if (!s) throw new RunNotFound(`run ${runId} is not in the journal`);
    return s;
  };
  const refuseArmedOpen = async (runId: string, what: string) => {
    if (await armedOpen(journal, runId))
      throw new RunStateConflict(
        `run ${runId} has changes armed with the devices' own auto-revert that nothing confirmed (a live drill's, deviceRevertMinutes): its devices undo them by themselves when their timers end, so it cannot be ${what}; roll it back, or start a containment of its own`,
      );
  };
  // Resolves once the executor has the run; a failure before that (queue down) rejects.
  const handOff = (
    runId: string,
    go: (onAccepted: () => void) => Promise<unknown>,
    inProcess = deps.executor.kind === 'local',
  ): Promise<Started> =>
    new Promise<Started>((resolve, reject) => {
      let accepted = false;
      const done: Promise<unknown> = go(() => {
        accepted = true;
        void stateOf(runId).then((state) => resolve({ runId, state, done }), reject);
      });
      if (inProcess) {
        inflight.add(done);
        void done.then(
          () => inflight.delete(done),
          () => inflight.delete(done),
        );
      }
      done.then(
        () => (accepted ? undefined : void stateOf(runId).then((state) => resolve({ runId, state, done }), reject)),
        (err) => (accepted ? undefined : reject(err)),
      );
      // After acceptance, failures are the journal's to tell (the run's state); never unhandled.
      done.catch(() => undefined);
    });
  const app: App = {
    executor: deps.executor.kind,
    breakGlass: deps.breakGlass,
    preview: (req) => deps.planner(req),
    async createRun(plan, req) {
      if (plan.errors.length)
        throw new PlanInvalid(`plan ${plan.id} has errors and cannot run: ${plan.errors.map((e) => e.message).join('; ')}`);
      if (req.idempotencyKey) {
        const existing = (await journal.find({ types: ['run.created'] })).find((e) => e.data.idempotencyKey === req.idempotencyKey);
        if (existing) return { runId: existing.runId, created: false };
      }
      const runId = req.runId ?? newRunId();
      const created = journal.append(runId, 'run.created', {
        plan,
        trigger: { ...req.trigger },
        triggerAt: req.triggerAt ?? deps.clock(),
        executor: deps.executor.kind,
        ...(req.idempotencyKey ? { idempotencyKey: req.idempotencyKey } : {}),
        ...(deps.breakGlass ? { breakGlass: deps.breakGlass } : {}),
      });
      try {
        await created;
      } catch (err) {
        // Another process made the run for this key between our look and our write: theirs stands.
        if (!(err instanceof IdempotencyTaken)) throw err;
        const theirs = (await journal.find({ types: ['run.created'] })).find((e) => e.data.idempotencyKey === req.idempotencyKey);
        if (!theirs) throw err;
        return { runId: theirs.runId, created: false };
      }
      if (req.ttlSeconds)
        await journal.append(runId, 'run.expires', {
          at: Date.now() + req.ttlSeconds * 1000,
          ttlSeconds: req.ttlSeconds,
          by: req.trigger.by,
        });
      for (const o of plan.overrides)
        await journal.append(runId, 'lockout.overridden', { actionId: o.at ?? '?', message: o.message, by: req.trigger.by });
      return { runId, created: true };
    },
    execute: (runId, opts = {}) => deps.executor.execute(runId, opts),
    async run(plan, req, opts = {}) {
      const { runId, created } = await app.createRun(plan, req);
      if (!created) return runView(runId, await journal.entries(runId));
      return app.execute(runId, opts);
    },
    rollback: (runId, opts) => deps.executor.rollback(runId, opts),
    async resume(runId, opts = {}) {
      const entries = await journal.entries(runId);
      if (!entries.length) throw new RunNotFound(`run ${runId} is not in the journal`);
      await detectInterrupted(journal, deps.leases, runId);
      const state = currentState(await journal.entries(runId));
      if (state !== 'interrupted')
        throw new PlanInvalid(
          `run ${runId} is ${state}: only an interrupted run can be resumed${state === 'rolling-back' ? '' : ' (roll it back instead)'}`,
        );
      const last = (await journal.find({ runId, types: ['run.state'] })).at(-1);
      // An interrupted rollback is finished as a rollback, never turned back into a run.
      if (last?.data.from === 'rolling-back') {
        await app.rollback(runId, { ...opts, by: 'resume' });
        return runView(runId, await journal.entries(runId));
      }
      return deps.executor.execute(runId, opts);
    },
    async listRuns() {
      const created = await journal.find({ types: ['run.created', 'run.state'] });
      const byRun = new Map<string, JournalEntry[]>();
      for (const e of created) byRun.set(e.runId, [...(byRun.get(e.runId) ?? []), e]);
      const out: RunListItem[] = [];
      for (const [runId, list] of byRun) {
        let state = currentState(list) ?? 'planned';
        if (ACTIVE_STATES.includes(state)) state = (await detectInterrupted(journal, deps.leases, runId)) ?? state;
        const c = list.find((e) => e.type === 'run.created');
        const outcome = [...list].reverse().find((e) => e.data.state === 'contained');
        const trig = c?.data.trigger as Trigger | undefined;
        out.push({
          runId,
          playbook: (c?.data.plan as Plan | undefined)?.playbook.id ?? '?',
          createdAt: c?.ts ?? list[0]!.ts,
          state,
          trigger: trig ? `${trig.kind}:${trig.by}` : '?',
          executor: `${(c?.data.executor as string | undefined) ?? 'local'}${c?.data.breakGlass ? ' (break-glass)' : ''}`,
          timeToContainMs: (outcome?.data.timeToContainMs as number | null | undefined) ?? null,
        });
      }
      return out;
    },
    async showRun(runId) {
      await detectInterrupted(journal, deps.leases, runId);
      const entries = await journal.entries(runId);
      if (!entries.length) throw new RunNotFound(`run ${runId} is not in the journal`);
      return { view: runView(runId, entries), entries };
    },
    async *follow(runId, opts = {}) {
      let after = opts.afterSeq ?? 0;
      for (;;) {
        const batch = await journal.find({ runId, afterSeq: after });
        for (const e of batch) {
          after = e.seq;
          yield e;
        }
        const state = currentState(await journal.find({ runId, types: ['run.created', 'run.state'] }));
        const atRest = state !== undefined && !ACTIVE_STATES.includes(state) && state !== 'planned';
        if ((atRest && !batch.length) || opts.signal?.aborted) return;
        await new Promise((r) => setTimeout(r, opts.pollMs ?? 100));
      }
    },
    holds: () => holdsInForce(journal),
    request: (plan, req) =>
      serial(req.idempotencyKey ?? '', async () => {
        const { runId, created } = await app.createRun(plan, req);
        if (!created) return { runId, created, state: await stateOf(runId) };
        if (req.approval || plan.policy.approval === 'required') {
          await transition(journal, runId, 'awaiting-approval', {
            by: req.trigger.by,
            expiresAt: deps.clock() + (deps.approvalTtlMs ?? APPROVAL_TTL_MS),
            reason: req.approval ? 'the trigger asks for approval' : 'the playbook asks for approval',
          });
          return { runId, created, state: 'awaiting-approval' as const };
        }
        if (!req.breakGlass || !deps.fallback) return { runId, created, state: (await app.start(runId)).state };
        try {
          return { runId, created, state: (await app.start(runId, { keepQueuedOnFailure: true })).state };
        } catch (err) {
          if (!(err instanceof QueueUnavailable)) throw err;
          await journal.append(runId, 'run.break-glass', { reason: `${errorMessage(err)}: ran in-process (break-glass)` });
          const local = await deps.fallback();
          const s = await handOff(runId, (onAccepted) => local.execute(runId, { onAccepted }), true);
          return { runId, created, state: s.state };
        }
      }),
    start: (runId, opts = {}) => handOff(runId, (onAccepted) => deps.executor.execute(runId, { ...opts, onAccepted })),
    async requestRollback(runId, who) {
      const state = await stateOf(runId);
      if (!who.approval) {
        const s = await handOff(runId, (onAccepted) => deps.executor.rollback(runId, { by: who.by, reason: who.reason, onAccepted }));
        return { state: s.state, pending: false };
      }
      if (!ROLLBACK_FROM.includes(state)) throw new RunStateConflict(`run ${runId} is ${state}: it cannot be rolled back now`);
      // Asked again (a repeated resolved alert, a double click): the pending request stands as it is.
      if (pendingOf(await journal.entries(runId))?.for === 'rollback') return { state, pending: true };
      await journal.append(runId, 'rollback.requested', {
        by: who.by,
        identity: who.identity,
        reason: who.reason ?? '',
        expiresAt: deps.clock() + (deps.approvalTtlMs ?? APPROVAL_TTL_MS),
      });
      return { state, pending: true };
    },
    approve: (runId, who) =>
      serial(`approve:${runId}`, async () => {
        const p = await decide(journal, runId, { decision: 'approved', ...who, now: deps.clock() });
        if (p.for === 'run') return { for: p.for, state: (await app.start(runId)).state };
        const s = await handOff(runId, (onAccepted) =>
          deps.executor.rollback(runId, { by: `${p.requestedBy}, approved by ${who.by}`, reason: p.reason, onAccepted }),
        );
        return { for: p.for, state: s.state };
      }),
    reject: (runId, who) =>
      serial(`approve:${runId}`, async () => {
        const p = await decide(journal, runId, { decision: 'rejected', ...who, now: deps.clock() });
        return { for: p.for, state: await stateOf(runId) };
      }),
    pendingApprovals: () => pendingApprovals(journal),
    expireApprovals: () => expireDue(journal, deps.clock()),
    state: (runId) => stateOf(runId),
    async extend(runId, who) {
      const state = await stateOf(runId);
      if (!['queued', 'running', 'contained', 'partial', 'awaiting-approval', 'planned'].includes(state))
        throw new RunStateConflict(`run ${runId} is ${state}: there is no containment to extend`);
      await refuseArmedOpen(runId, 'extended');
      const at = Date.now() + who.ttlSeconds * 1000;
      await journal.append(runId, 'run.expires', { at, ttlSeconds: who.ttlSeconds, by: who.by });
      return { expiresAt: at };
    },
    async keep(runId, who) {
      await stateOf(runId);
      await refuseArmedOpen(runId, 'kept');
      await journal.append(runId, 'run.kept', { by: who.by, ...(who.reason ? { reason: who.reason } : {}) });
    },
    async drain(timeoutMs) {
      const left = inflight.size;
      if (!left) return 0;
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        Promise.allSettled([...inflight]),
        new Promise((r) => {
          timer = setTimeout(r, timeoutMs);
        }),
      ]);
      clearTimeout(timer);
      return inflight.size;
    },
    async close() {
      await deps.executor.close();
    },
  };
  return app;
}

/** Time-ordered and unique enough for a human to type: `r-20261130-141502-9f3a`. */
export function newRunId(): string {
  const t = new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  return `r-${t}-${randomBytes(2).toString('hex')}`;
}
