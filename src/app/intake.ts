import { targetOf as holdTarget } from '../engine/holds.js';
import type { RunState } from '../engine/lifecycle.js';
import { errorCode, errorMessage, ParamInvalid, PlanInvalid } from '../errors.js';
import { API_STREAM } from '../journal/types.js';
import { type TriggerEvent, TriggerInvalid, type TriggerSpec } from '../triggers/types.js';
import type { Actor, App } from './app.js';
import { keyedSerial } from './serial.js';

/**
 * What a detector's event becomes. In order: not matched -> ignored; resolved -> recorded on its
 * run (and, if the trigger says so, a rollback request that needs approval); a live run for the
 * same alert -> that run (duplicate); a run for the same target within the cooldown -> that run;
 * every target already held by a run of ours -> matched to that run (never a run on what Firebreak
 * itself caused); over the playbook's rate -> 429; else a new run. Every decision is journaled
 * (repeats of one decision at most once per JOURNAL_REPEAT_MS, with their count).
 */
export type Decision =
  | 'created'
  | 'duplicate'
  | 'cooldown'
  | 'already-contained'
  | 'ignored'
  | 'refused'
  | 'rate-limited'
  | 'resolved-recorded'
  | 'resolved-unknown'
  | 'rollback-requested';

export interface IntakeResult {
  status: 200 | 201 | 202 | 429;
  decision: Decision;
  runId?: string;
  state?: RunState;
  why?: string;
}

/** States after which a new firing of the same alert is a new incident, not a duplicate. */
const OVER: readonly RunState[] = ['rolled-back', 'rejected', 'expired', 'failed'];
const JOURNAL_REPEAT_MS = 10_000;
/** How stale a run's state may be when answering a duplicate (it only decides "still live?"). */
const STATE_TTL_MS = 500;

interface Known {
  runId: string;
  at: number;
}

export function createIntake(deps: { app: App; now?: () => number; onDecision?: (trigger: string, decision: Decision) => void }) {
  const { app } = deps;
  const journal = (app as unknown as { journal: import('../journal/types.js').Journal }).journal;
  const now = deps.now ?? Date.now;
  const byDedup = new Map<string, Known>();
  const byTarget = new Map<string, Known>();
  const started = new Map<string, number[]>();
  /** Targets of runs this intake created, by hold target (dropped once their runs are over). */
  const claimed = new Map<string, string>();
  const states = new Map<string, { state: RunState; at: number }>();
  const repeats = new Map<string, { at: number; count: number }>();
  let loaded: Promise<void> | undefined;

  // What earlier processes decided: the journal's runs made by triggers.
  const load = () =>
    (loaded ??= (async () => {
      for (const e of await journal.find({ types: ['run.created'] })) {
        const t = e.data.trigger as { trigger?: string; target?: string; dedupKey?: string };
        const known = { runId: e.runId, at: Date.parse(e.ts) };
        if (t.dedupKey) byDedup.set(t.dedupKey, known);
        if (t.trigger) byTarget.set(`${t.trigger}|${t.target ?? ''}`, known);
        const pb = (e.data.plan as { playbook?: { id?: string } }).playbook?.id;
        if (pb) started.set(pb, [...(started.get(pb) ?? []), known.at]);
      }
    })());

  const record = async (runId: string, spec: TriggerSpec, ev: TriggerEvent, decision: Decision, detail?: string) => {
    const key = `${runId}|${spec.name}|${decision}|${ev.dedupKey}`;
    const r = repeats.get(key);
    const t = now();
    if (r && t - r.at < JOURNAL_REPEAT_MS) {
      r.count++;
      return;
    }
    repeats.set(key, { at: t, count: 0 });
    await journal.append(runId, 'trigger.event', {
      trigger: spec.name,
      kind: spec.kind,
      status: ev.status,
      decision,
      dedupKey: ev.dedupKey,
      // Targets are journaled only once the playbook's types accepted them (never a refused value).
      targets: decision === 'refused' || decision === 'ignored' ? [] : [ev.target],
      summary: ev.summary,
      ...(detail ? { detail } : {}),
      ...(r?.count ? { repeatsSinceLast: r.count } : {}),
    });
  };

  const serial = keyedSerial();

  const decide = (result: IntakeResult, spec: TriggerSpec): IntakeResult => {
    deps.onDecision?.(spec.name, result.decision);
    return result;
  };

  async function handle(spec: TriggerSpec, ev: TriggerEvent, caller: Actor, receivedAt: number): Promise<IntakeResult> {
    await load();
    if (!ev.matched) {
      await record(API_STREAM, spec, ev, 'ignored', ev.why);
      return decide({ status: 200, decision: 'ignored', why: ev.why }, spec);
    }
    if (ev.status === 'resolved') return decide(await resolved(spec, ev), spec);
    // A flapping alert's repeats are the common case: answered from memory, without waiting in line.
    const fast = await liveDuplicate(ev.dedupKey);
    if (fast) {
      await record(fast.runId, spec, ev, 'duplicate');
      return decide({ status: 200, decision: 'duplicate', runId: fast.runId, state: fast.state }, spec);
    }
    try {
      // One at a time per alert and per target, across triggers: two detectors naming one host at once make one run.
      return decide(
        await serial(`${spec.name}|${ev.dedupKey}`, () => serial(`target|${ev.target}`, () => firing(spec, ev, caller, receivedAt))),
        spec,
      );
    } catch (err) {
      deps.onDecision?.(spec.name, 'refused');
      throw err;
    }
  }

  /** A live run for this alert, its state at most STATE_TTL_MS old (a run only moves forward). */
  async function liveDuplicate(dedupKey: string): Promise<{ runId: string; state: RunState } | undefined> {
    const dup = byDedup.get(dedupKey);
    if (!dup) return undefined;
    const t = now();
    let s = states.get(dup.runId);
    if (!s || t - s.at > STATE_TTL_MS) {
      s = { state: await app.state(dup.runId), at: t };
      states.set(dup.runId, s);
    }
    return OVER.includes(s.state) ? undefined : { runId: dup.runId, state: s.state };
  }

  async function resolved(spec: TriggerSpec, ev: TriggerEvent): Promise<IntakeResult> {
    const known = byDedup.get(ev.dedupKey);
    if (!known) {
      await record(API_STREAM, spec, ev, 'resolved-unknown');
      return { status: 200, decision: 'resolved-unknown', why: 'no run of ours for this alert' };
    }
    await record(known.runId, spec, ev, 'resolved-recorded');
    if (spec.onResolved !== 'rollback')
      return { status: 200, decision: 'resolved-recorded', runId: known.runId, state: await app.state(known.runId) };
    try {
      const r = await app.requestRollback(known.runId, {
        by: `trigger ${spec.name}`,
        identity: `trigger:${spec.name}`,
        reason: 'the alert resolved',
        approval: true,
      });
      return { status: 202, decision: 'rollback-requested', runId: known.runId, state: r.state };
    } catch (err) {
      return { status: 200, decision: 'resolved-recorded', runId: known.runId, why: errorMessage(err) };
    }
  }

  async function firing(spec: TriggerSpec, ev: TriggerEvent, caller: Actor, receivedAt: number): Promise<IntakeResult> {
    const dup = byDedup.get(ev.dedupKey);
    if (dup) {
      const state = await app.state(dup.runId);
      if (!OVER.includes(state)) {
        await record(dup.runId, spec, ev, 'duplicate');
        return { status: 200, decision: 'duplicate', runId: dup.runId, state };
      }
    }
    const recent = byTarget.get(`${spec.name}|${ev.target}`);
    if (recent && now() - recent.at < spec.cooldownSeconds * 1000) {
      await record(recent.runId, spec, ev, 'cooldown');
      return {
        status: 200,
        decision: 'cooldown',
        runId: recent.runId,
        state: await app.state(recent.runId),
        why: `a run for ${ev.target} started less than ${spec.cooldownSeconds} s ago`,
      };
    }
    let plan: Awaited<ReturnType<App['preview']>>;
    try {
      plan = await app.preview({ playbook: spec.playbook, params: ev.params });
      if (plan.errors.length) throw new PlanInvalid(plan.errors.map((e) => e.message).join('; '));
    } catch (err) {
      if (!(err instanceof ParamInvalid || err instanceof PlanInvalid || err instanceof TriggerInvalid)) throw err;
      // The refused value is not journaled: only which parameter and why, in the error's code.
      await record(
        API_STREAM,
        spec,
        ev,
        'refused',
        `${errorCode(err)}${err instanceof ParamInvalid ? ` params.${/^param "([^"]+)"/.exec(err.message)?.[1] ?? '?'}` : ''}`,
      );
      throw err;
    }
    const held = await app.holds();
    const holders = new Map(held.map((h) => [h.target, h.holders.at(-1)!.runId]));
    // Runs of ours accepted but not yet at their devices hold nothing in the journal yet: count them too.
    for (const [t, runId] of claimed) {
      if (holders.has(t)) continue;
      if (OVER.includes(await app.state(runId))) claimed.delete(t);
      else holders.set(t, runId);
    }
    const targets = plan.actions.map((a) => holdTarget(a.device, a.action));
    if (targets.length && targets.every((t) => holders.has(t))) {
      const runId = holders.get(targets[0]!)!;
      await record(runId, spec, ev, 'already-contained');
      return {
        status: 200,
        decision: 'already-contained',
        runId,
        state: await app.state(runId),
        why: 'every target is held by a run of ours already',
      };
    }
    const t = now();
    const window = spec.rateLimit.perSeconds * 1000;
    const times = (started.get(spec.playbook) ?? []).filter((x) => t - x < window);
    started.set(spec.playbook, times);
    if (times.length >= spec.rateLimit.runs) {
      await record(API_STREAM, spec, ev, 'rate-limited');
      return {
        status: 429,
        decision: 'rate-limited',
        why: `${spec.playbook} started ${times.length} runs in the last ${spec.rateLimit.perSeconds} s (limit ${spec.rateLimit.runs})`,
      };
    }
    const generation = dup ? `#${t}` : '';
    const r = await app.request(plan, {
      trigger: {
        kind: 'webhook',
        by: `${spec.name} (${caller.by})`,
        identity: caller.identity,
        reason: ev.summary,
        trigger: spec.name,
        target: ev.target,
        dedupKey: ev.dedupKey,
      },
      triggerAt: receivedAt,
      idempotencyKey: `${ev.dedupKey}${generation}`,
      approval: spec.approval === 'required',
      breakGlass: spec.breakGlass,
      ttlSeconds: spec.ttlSeconds,
    });
    const known = { runId: r.runId, at: t };
    byTarget.set(`${spec.name}|${ev.target}`, known);
    times.push(t);
    for (const target of targets) claimed.set(target, r.runId);
    // Journaled before repeats can be answered from memory, so the run's story starts with `created`.
    await record(r.runId, spec, ev, 'created').finally(() => byDedup.set(ev.dedupKey, known));
    return { status: r.created ? 201 : 200, decision: r.created ? 'created' : 'duplicate', runId: r.runId, state: r.state };
  }

  /** An event that could not even be read (bad payload, a field the templates need missing): journaled and counted. */
  async function refused(spec: TriggerSpec, err: unknown): Promise<void> {
    deps.onDecision?.(spec.name, 'refused');
    const field = (err as { field?: string }).field;
    await journal
      .append(API_STREAM, 'trigger.event', {
        trigger: spec.name,
        kind: spec.kind,
        status: 'unknown',
        decision: 'refused',
        dedupKey: '',
        targets: [],
        detail: `${errorCode(err)}${field ? ` ${field}` : ''}`,
      })
      .catch(() => undefined);
  }

  return { handle, refused };
}

export type Intake = ReturnType<typeof createIntake>;
