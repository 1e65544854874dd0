import type { DrillReport, DrillRunSummary } from './types.js';

/**
 * The regression verdict of a drill run: its time to contain against the median of the earlier
 * good runs of the same drill. Failed runs are left out of the baseline (their time says nothing
 * about how fast containment works), and so are runs of the other mode (a preflight's time is not
 * a containment's).
 */
export function trendOf(run: DrillRunSummary, history: DrillRunSummary[], marginPct: number): DrillReport['trend'] {
  const earlier = history
    .filter((h) => h.runId !== run.runId && h.ok && h.mode === run.mode)
    .map((h) => h.timeToContainMs)
    .filter((ms): ms is number => typeof ms === 'number' && Number.isFinite(ms));
  const baselineTtcMs = median(earlier);
  const ttc = run.timeToContainMs;
  // A zero baseline has no meaningful percentage; treat it like "no baseline".
  const changePct =
    baselineTtcMs !== null && baselineTtcMs > 0 && ttc !== null ? round1(((ttc - baselineTtcMs) / baselineTtcMs) * 100) : null;
  return { baselineTtcMs, changePct, regressed: changePct !== null && changePct > marginPct, marginPct };
}

/** The report as JSON: keys sorted at every level so two reports of the same run diff cleanly. */
export function reportJson(report: DrillReport): string {
  return `${JSON.stringify(sortKeys(report), null, 2)}\n`;
}

function median(values: number[]): number | null {
  if (values.length === 0) return null;
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  const hi = s[mid] as number;
  return s.length % 2 === 1 ? hi : ((s[mid - 1] as number) + hi) / 2;
}

function round1(n: number): number {
  return Math.round(n * 10) / 10;
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(value).sort()) out[k] = sortKeys((value as Record<string, unknown>)[k]);
  return out;
}
