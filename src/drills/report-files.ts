import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { renderReportHtml } from './report-html.js';
import { reportJson } from './report-trend.js';
import type { DrillReport } from './types.js';

/** Writes a drill's report as `<drill>-<run>.json` and `.html` into `dir`; returns the paths. */
export async function writeReports(report: DrillReport, dir: string): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const base = join(dir, `${report.drill.id}-${report.run.runId}`);
  await writeFile(`${base}.json`, reportJson(report));
  await writeFile(`${base}.html`, await renderReportHtml(report));
  return [`${base}.json`, `${base}.html`];
}
