import type { App } from '../app/app.js';
import { newRunId } from '../app/app.js';
import { API_STREAM, type Journal, type JournalEntry } from '../journal/types.js';
import type { Plan } from '../plan/types.js';
import { deviceBacked, isDeviceBacked } from './device-backed.js';
import { type PreflightDeps, preflight } from './preflight.js';
import { trendOf } from './report-trend.js';
import type { DrillDevice, DrillReport, DrillRunSummary, DrillSpec, ProbeResult } from './types.js';
import type { Device } from '../inventory/types.js';
import type { Session } from '../transports/types.js';
import { errorMessage } from '../errors.js';

/**
 * One drill, start to report. `verify`: the preflight, changing nothing. `live`: a real run on the
 * drill's designated targets carrying a time to live of `holdSeconds`, so its restore is a journaled
 * deadline that any sweeping server fires (it survives this process dying); then the run is
 * followed to rolled-back and the report built from the journal: times to contain and to restore,
 * per device, failures, the trend against earlier drills. The report is journaled (`drill.report`).
 * Where the driver has a device-side auto-revert, the live drill's changes are armed with it and
 * kept armed (`deviceRevertMinutes`): the backstop if every Firebreak process is dead.
 */
export interface DrillDeps {
  app: App & { journal: Journal };
  preflight: PreflightDeps;
  /** A device of the inventory by id (the probe host, when the plan does not touch it). */
  inventory?: (id: string) => Promise<Device | undefined>;
  /** Extra time, beyond the hold, to wait for the restore before giving up (the run keeps its deadline). */
  graceMs?: number;
}

const AT_REST = ['contained', 'partial', 'failed', 'rolled-back', 'rollback-failed', 'interrupted', 'rejected', 'expired'];

export async function runDrill(
  deps: DrillDeps,
  spec: DrillSpec,
  o: { by: string; occurrence?: string; signal?: AbortSignal },
): Promise<DrillReport> {
  const { app } = deps;
  const previewed = await app.preview({ playbook: spec.playbook, params: spec.params });
  const plan = spec.mode === 'live' ? deviceBacked(previewed, deps.preflight.drivers, spec.deviceRevertMinutes ?? 0) : previewed;
  const startedAt = new Date().toISOString();
  let summary: DrillRunSummary;
  if (spec.mode === 'verify' || plan.errors.length) summary = await verifySummary(deps, spec, plan, startedAt);
  else {
    const r = await app.request(plan, {
      trigger: { kind: 'drill', by: `drill ${spec.id} (${o.by})`, trigger: `drill:${spec.id}` },
      ttlSeconds: spec.holdSeconds,
      // One run per scheduled occurrence, whichever server's scheduler fires it.
      ...(o.occurrence ? { idempotencyKey: `drill:${spec.id}:${o.occurrence}` } : {}),
    });
    await until(app, r.runId, AT_REST, 5 * 60_000, o.signal);
    const contained = await app.state(r.runId);
    const held = contained === 'contained' || contained === 'partial';
    const whileHeld = spec.probe && held ? await probe(deps, plan, spec.probe) : undefined;
    if (held)
      await until(
        app,
        r.runId,
        ['rolled-back', 'rollback-failed', 'interrupted'],
        spec.holdSeconds * 1000 + (deps.graceMs ?? 120_000),
        o.signal,
      );
    summary = liveSummary(spec, r.runId, await app.journal.entries(r.runId));
    if (spec.probe) {
      const afterRestore = summary.state === 'rolled-back' ? await probeSoon(deps, plan, spec.probe) : 'error: not restored';
      summary.probe = { ...spec.probe, whileHeld: whileHeld ?? 'error: never contained', afterRestore };
      if (summary.probe.whileHeld !== 'cut' || afterRestore !== 'reachable') summary.ok = false;
    }
  }
  const history = await drillHistory(app.journal, spec.id);
  const report: DrillReport = {
    drill: spec,
    run: summary,
    history,
    trend: trendOf(summary, history, spec.regressionMarginPct),
    generatedAt: new Date().toISOString(),
  };
  await app.journal.append(summary.runId, 'drill.report', {
    drillId: spec.id,
    mode: spec.mode,
    summary: summary as unknown as Record<string, unknown>,
    trend: report.trend as unknown as Record<string, unknown>,
  });
  return report;
}

/**
 * One ping from the probe host (an SSH device of the inventory) to the probe's address, as the
 * host sees the network: `cut` (no answer within a second), `reachable`, or why it could not run.
 */
async function probe(deps: DrillDeps, plan: Plan, p: { from: string; to: string }): Promise<ProbeResult> {
  const device = plan.devices[p.from] ?? (await deps.inventory?.(p.from));
  if (!device?.ssh) return `error: probe host ${p.from} is not an SSH device of the inventory`;
  let session: Session | undefined;
  try {
    session = await deps.preflight.openSession(device, 'ssh', deps.preflight.resolveSecret);
    if (session.kind !== 'ssh') return 'error: not an SSH session';
    // `to` is an address literal (drills.yaml refuses anything else).
    const r = await session.exec(`ping -n -q -c1 -W1 ${p.to}`, { timeoutMs: 5_000 });
    return r.code === 0 ? 'reachable' : 'cut';
  } catch (err) {
    return `error: ${errorMessage(err)}`;
  } finally {
    await session?.close().catch(() => undefined);
  }
}

/** After a restore: the address answers again within a few seconds (routes and neighbours settle). */
async function probeSoon(deps: DrillDeps, plan: Plan, p: { from: string; to: string }): Promise<ProbeResult> {
  let last: ProbeResult = 'cut';
  for (let i = 0; i < 3; i++) {
    last = await probe(deps, plan, p);
    if (last === 'reachable') return last;
  }
  return last;
}

/** Earlier reports of a drill, oldest first. */
export async function drillHistory(journal: Journal, drillId?: string): Promise<DrillRunSummary[]> {
  return (await journal.find({ types: ['drill.report'] }))
    .filter((e) => !drillId || e.data.drillId === drillId)
    .map((e) => e.data.summary as unknown as DrillRunSummary);
}

async function until(app: App, runId: string, states: string[], timeoutMs: number, signal?: AbortSignal): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline && !signal?.aborted) {
    if (states.includes(await app.state(runId))) return;
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function verifySummary(deps: DrillDeps, spec: DrillSpec, plan: Plan, startedAt: string): Promise<DrillRunSummary> {
  const report = await preflight(plan, deps.preflight);
  return {
    drillId: spec.id,
    runId: newRunId(),
    playbook: spec.playbook,
    mode: 'verify',
    startedAt,
    state: report.ok ? 'verified' : 'failed',
    ok: report.ok,
    timeToContainMs: null,
    timeToRestoreMs: null,
    devices: report.devices.map((d) => ({
      device: d.device,
      driver: d.driver,
      ok: d.ok,
      ...(d.ok ? {} : { error: d.health.error ?? d.actions.find((a) => a.error)?.error }),
    })),
    failures: [
      ...report.planErrors.map((e) => ({ device: '-', code: 'PLAN_INVALID', error: e })),
      ...report.devices.flatMap((d) =>
        !d.health.authenticated
          ? [{ device: d.device, code: d.health.code ?? 'DEVICE_UNREACHABLE', error: d.health.error ?? 'not reachable' }]
          : d.actions
              .filter((a) => a.outcome === 'error')
              .map((a) => ({ device: d.device, actionId: a.actionId, code: a.code ?? 'ERROR', error: a.error ?? '' })),
      ),
    ],
  };
}

/** The live drill's story, from its journal entries alone. */
export function liveSummary(spec: DrillSpec, runId: string, entries: readonly JournalEntry[]): DrillRunSummary {
  const created = entries.find((e) => e.type === 'run.created')!;
  const t0 = Date.parse(created.ts);
  const states = entries.filter((e) => e.type === 'run.state');
  const final = String(states.at(-1)?.data.state ?? 'planned');
  const containedAt = states.find((e) => e.data.state === 'contained' || e.data.state === 'partial');
  const rbStart = entries.find((e) => e.type === 'rollback.started');
  const rbEnd = entries.find((e) => e.type === 'rollback.finished');
  const plan = created.data.plan as Plan;
  const devices = new Map<string, DrillDevice>();
  for (const id of Object.keys(plan.devices))
    devices.set(id, { device: id, driver: plan.devices[id]!.driver, deviceBacked: isDeviceBacked(plan, id), ok: true });
  for (const e of entries) {
    const d = devices.get(String(e.data.device));
    if (!d) continue;
    if (e.type === 'action.verified' || e.type === 'action.already') d.containMs = Date.parse(e.ts) - t0;
    if ((e.type === 'action.reverted' || e.type === 'hold.released') && rbStart) d.restoreMs = Date.parse(e.ts) - Date.parse(rbStart.ts);
    if (e.type === 'action.failed' || e.type === 'action.revert-failed') {
      d.ok = false;
      d.error = String(e.data.error);
    }
  }
  const failures = entries
    .filter((e) => e.type === 'action.failed' || e.type === 'action.revert-failed')
    .map((e) => ({
      device: String(e.data.device),
      actionId: String(e.data.actionId),
      code: String(e.data.code),
      error: String(e.data.error),
    }));
  return {
    drillId: spec.id,
    runId,
    playbook: spec.playbook,
    mode: 'live',
    startedAt: created.ts,
    state: final,
    ok: final === 'rolled-back' && containedAt?.data.state === 'contained' && failures.length === 0,
    timeToContainMs: typeof containedAt?.data.timeToContainMs === 'number' ? containedAt.data.timeToContainMs : null,
    timeToRestoreMs: rbStart && rbEnd ? Date.parse(rbEnd.ts) - Date.parse(rbStart.ts) : null,
    devices: [...devices.values()],
    failures,
  };
}

/** Occurrences of scheduled drills that passed without a run (after the schedule was first registered). */
export async function journalMissed(journal: Journal, missed: { drillId: string; dueAt: string }[]): Promise<void> {
  const known = new Set((await journal.find({ types: ['drill.missed'] })).map((e) => `${e.data.drillId}@${e.data.dueAt}`));
  for (const m of missed) if (!known.has(`${m.drillId}@${m.dueAt}`)) await journal.append(API_STREAM, 'drill.missed', m);
}
