import type { RollbackResult, RunEvent, RunResult } from '../engine/events.js';
import type { Plan } from '../plan/types.js';

/** Human view of a plan; `--json` prints the Plan object itself. */
export function formatPlan(plan: Plan): string {
  const lines = [`plan ${plan.id}  playbook ${plan.playbook.id} (${plan.playbook.title})`];
  const params = Object.entries(plan.params)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
  if (params) lines.push(`params: ${params}`);
  for (const stage of plan.stages) {
    lines.push(`stage ${stage.index + 1}: ${stage.name}`);
    for (const id of stage.actionIds) {
      const a = plan.actions.find((x) => x.id === id)!;
      lines.push(
        `  ${a.id}  ${a.device.padEnd(10)} ${a.action.kind} ${'interface' in a.action ? a.action.interface : 'address' in a.action ? a.action.address : 'segment' in a.action ? a.action.segment : ''}${a.lockoutOverride ? '   [LOCKOUT OVERRIDDEN]' : ''}`,
      );
      for (const c of a.commands) lines.push(`        ${c}`);
    }
  }
  for (const w of plan.warnings) lines.push(`warning: ${w.at ? `${w.at}: ` : ''}${w.message}`);
  for (const o of plan.overrides) lines.push(`override: ${o.message}`);
  for (const e of plan.errors) lines.push(`error: ${e.at ? `${e.at}: ` : ''}${e.message}`);
  return lines.join('\n');
}

/** One progress line per action state change; stage lines for the coordinated cut phases. */
export function formatEvent(e: RunEvent): string | null {
  if (e.type === 'run') return `run ${e.runId}: ${e.state}`;
  if (e.type === 'stage') {
    if (e.phase === 'done') return `  stage ${e.stage + 1} done (cut skew ${e.cutSkewMs} ms)`;
    return e.phase === 'prepare' ? `stage ${e.stage + 1}: ${e.name}` : null;
  }
  if (e.state === 'prepared' || e.state === 'pending') return null;
  const ms = e.ms !== undefined ? ` (${e.ms} ms)` : '';
  return `  ${e.actionId.padEnd(4)} ${e.device.padEnd(10)} ${e.what.padEnd(34)} ${e.state}${ms}${e.error ? `: ${e.error}` : ''}`;
}

export function formatRunSummary(r: RunResult): string {
  const how = `${r.executor}${r.breakGlass ? ', BREAK-GLASS' : ''}`;
  const ttc =
    r.timeToContainMs !== null
      ? `time to contain ${r.timeToContainMs} ms, cut skew ${r.cutSkewMs.join('/')} ms`
      : r.state === 'partial'
        ? `only partly contained: ${r.notDone.length} of ${r.actions.length} action(s) not done`
        : r.state === 'failed'
          ? 'NOT contained: no action reached its wanted state'
          : 'not contained';
  const lines = [`run ${r.runId} ${r.state.toUpperCase()} (${how}): ${ttc}`];
  if (r.notDone.length) {
    lines.push(`NOT DONE (${r.notDone.length}):`);
    for (const a of r.notDone) lines.push(`  ${a.actionId} ${a.device} ${a.what}: ${a.error ?? a.state}`);
  }
  if (r.state === 'interrupted')
    lines.push(`finish it with: firebreak runs resume ${r.runId}`, `or undo it with: firebreak rollback ${r.runId}`);
  else lines.push(`roll back with: firebreak rollback ${r.runId}`);
  return lines.join('\n');
}

export function formatRollbackSummary(r: RollbackResult): string {
  const lines = [`run ${r.runId} ${r.state.toUpperCase()}: ${r.actions.length - r.notReverted.length} of ${r.actions.length} let go of`];
  for (const a of r.actions.filter((x) => x.state === 'released')) lines.push(`  kept ${a.actionId} ${a.device} ${a.what}: ${a.error}`);
  for (const a of r.notReverted) lines.push(`  NOT REVERTED ${a.actionId} ${a.device} ${a.what}: ${a.error}`);
  return lines.join('\n');
}
