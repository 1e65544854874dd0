import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { type Browser, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderReportHtml } from '../src/drills/report-html.js';
import { reportJson, trendOf } from '../src/drills/report-trend.js';
import type { DrillDevice, DrillReport, DrillRunSummary, DrillSpec } from '../src/drills/types.js';
import { repo } from './helpers/lab.js';
import { noBrowser } from './helpers/browser.js';

/**
 * Drill reports: the regression verdict (median of the earlier good runs), the JSON, and the HTML
 * page opened from disk in Debian's chromium with every network request refused.
 */
const SHOTS = join(repo, 'test-results', 'drills');
const AXE = createRequire(import.meta.url).resolve('axe-core/axe.min.js');
const HOSTILE = `<script>alert(1)</script> "quoted" 'single' </script><img src=x onerror=alert(2)>`;

function summary(at: string, ttc: number | null, over: Partial<DrillRunSummary> = {}): DrillRunSummary {
  return {
    drillId: 'uplinks-weekly',
    runId: `run-${at.slice(0, 10)}`,
    playbook: 'drop-internet-uplinks',
    mode: 'live',
    startedAt: at,
    state: 'rolled-back',
    ok: true,
    timeToContainMs: ttc,
    timeToRestoreMs: ttc === null ? null : Math.round(ttc * 1.6),
    devices: [],
    failures: [],
    ...over,
  };
}

describe('trendOf', () => {
  const week = (n: number, ttc: number | null, over: Partial<DrillRunSummary> = {}) =>
    summary(new Date(Date.UTC(2025, 0, 6 + 7 * n, 9)).toISOString(), ttc, over);
  const earlier = [week(0, 1000), week(1, 900), week(2, 1100)];

  it('has no baseline and no verdict without earlier runs', () => {
    expect(trendOf(week(3, 1500), [], 20)).toEqual({ baselineTtcMs: null, changePct: null, regressed: false, marginPct: 20 });
  });

  it('reports a faster run as a negative change, not a regression', () => {
    expect(trendOf(week(3, 800), earlier, 20)).toEqual({ baselineTtcMs: 1000, changePct: -20, regressed: false, marginPct: 20 });
  });

  it('is no regression while the slowdown stays within the margin (the margin itself included)', () => {
    expect(trendOf(week(3, 1150), earlier, 20)).toMatchObject({ changePct: 15, regressed: false });
    expect(trendOf(week(3, 1200), earlier, 20)).toMatchObject({ changePct: 20, regressed: false });
  });

  it('is a regression beyond the margin', () => {
    expect(trendOf(week(3, 1201), earlier, 20)).toMatchObject({ baselineTtcMs: 1000, changePct: 20.1, regressed: true });
    expect(trendOf(week(3, 1300), earlier, 5)).toMatchObject({ changePct: 30, regressed: true, marginPct: 5 });
  });

  it('leaves failed runs, runs of the other mode and the run itself out of the baseline', () => {
    const noisy = [
      ...earlier,
      week(3, 9000, { ok: false, state: 'partial' }),
      week(4, 50, { ok: false, state: 'failed' }),
      week(5, null, { ok: false, state: 'failed' }),
      week(6, 10, { mode: 'verify', state: 'verified', timeToRestoreMs: null }),
    ];
    const run = week(7, 1500);
    expect(trendOf(run, [...noisy, run], 20)).toEqual({ baselineTtcMs: 1000, changePct: 50, regressed: true, marginPct: 20 });
    // Only failed runs before: still no baseline.
    expect(trendOf(run, noisy.slice(3, 6), 20).baselineTtcMs).toBeNull();
  });

  it('takes the mean of the middle two for an even count, and gives no change for a run with no time to contain', () => {
    const four = [...earlier, week(3, 1300)];
    expect(trendOf(week(4, 1050), four, 20)).toMatchObject({ baselineTtcMs: 1050, changePct: 0 });
    expect(trendOf(week(4, null, { ok: false, state: 'failed' }), four, 20)).toEqual({
      baselineTtcMs: 1050,
      changePct: null,
      regressed: false,
      marginPct: 20,
    });
  });
});

/** Ten weekly good-ish drills (one failed), then this week's: slower, with one device failing. */
function realisticReport(): DrillReport {
  const drill: DrillSpec = {
    id: 'uplinks-weekly',
    title: 'Weekly: drop the internet uplinks',
    playbook: 'drop-internet-uplinks',
    params: { site: 'city-hall', reason: 'drill' },
    mode: 'live',
    holdSeconds: 30,
    schedule: { cron: '0 9 * * 1', tz: 'Europe/Stockholm' },
    regressionMarginPct: 20,
  };
  const ttcs = [1180, 1240, 1210, 4200, 1300, 1150, 1260, 1190, 1230, 1220];
  const history = ttcs.map((ttc, i) =>
    summary(new Date(Date.UTC(2025, 2, 3 + 7 * i, 8, 0, 4)).toISOString(), ttc, i === 3 ? { ok: false, state: 'rollback-failed' } : {}),
  );
  const dev = (device: string, driver: string, containMs: number, restoreMs: number): DrillDevice => ({
    device,
    driver,
    containMs,
    restoreMs,
    ok: true,
  });
  const devices: DrillDevice[] = [
    dev('fw-core', 'fortios', 1843, 2410),
    dev('edge-cisco', 'cisco-ios', 1320, 1980),
    dev('edge-mikrotik', 'routeros', 910, 1400),
    dev('dist-arista', 'arista-eos', 760, 1120),
    dev('dist-aruba', 'aruba-aoscx', 1110, 1610),
    { device: 'acc-junos-3', driver: 'junos', ok: false, error: `commit failed: ${HOSTILE}` },
    dev('pdu-1', 'snmp', 240, 300),
  ];
  const run: DrillRunSummary = {
    ...summary('2025-05-12T08:00:03.512Z', 1843),
    runId: 'r-7f3a9c',
    state: 'rolled-back',
    ok: false,
    timeToRestoreMs: 2410,
    devices,
    failures: [{ device: 'acc-junos-3', actionId: 'a6', code: 'COMMAND_REJECTED', error: `commit failed: ${HOSTILE}` }],
  };
  return {
    drill,
    run,
    history,
    trend: trendOf(run, history, drill.regressionMarginPct),
    generatedAt: '2025-05-12T08:01:10.000Z',
  };
}

describe('reportJson', () => {
  it('is pretty, keys sorted at every level, and the same for the same report built in another key order', () => {
    const r = realisticReport();
    const json = reportJson(r);
    expect(JSON.parse(json)).toEqual(r);
    expect(json.endsWith('}\n')).toBe(true);
    expect(json).toContain('\n  "drill": {\n    "holdSeconds": 30,');
    const { regressionMarginPct, holdSeconds, ...restOfDrill } = r.drill;
    const shuffled = {
      generatedAt: r.generatedAt,
      trend: r.trend,
      history: r.history,
      run: r.run,
      drill: { regressionMarginPct, ...restOfDrill, holdSeconds },
    };
    expect(Object.keys(shuffled.drill)[0]).toBe('regressionMarginPct');
    expect(reportJson(shuffled)).toBe(json);
  });
});

describe.skipIf(!!noBrowser)('HTML report', () => {
  const report = realisticReport();
  let html: string;
  let dir: string;
  let browser: Browser;

  beforeAll(async () => {
    html = await renderReportHtml(report);
    dir = await mkdtemp(join(tmpdir(), 'fb-drill-report-'));
    await mkdir(SHOTS, { recursive: true });
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] });
  });

  afterAll(async () => {
    await browser?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('is one file with no URL in it, the data as an escaped JSON block that parses back to the report', () => {
    expect(html).not.toMatch(/https?:\/\//i);
    // Nothing to load: no element that fetches (the hostile `<img src=x>` lives on only as escaped data).
    expect(html).not.toMatch(/<(img|link|iframe|object|embed|base)[\s>]/i);
    expect(html).not.toContain(HOSTILE);
    expect(html).not.toContain('<script>alert(1)');
    // The data block, uPlot, the page's own script: three scripts, closed three times.
    expect(html.match(/<script[\s>]/g)?.length).toBe(3);
    expect(html.match(/<\/script>/g)?.length).toBe(3);
    const block = /<script type="application\/json" id="report">([^<]*)<\/script>/.exec(html)?.[1];
    expect(block).toBeDefined();
    expect(JSON.parse(block as string)).toEqual(report);
    expect(html).toContain('uPlot v1.6.32');
    expect(html).toContain('Permission is hereby granted');
    expect(html).toMatch(/Content-Security-Policy" content="default-src 'none'; script-src 'sha256-/);
  });

  it('opens from disk with the network refused, draws the trend chart, shows the verdict and the hostile error as text', async () => {
    const file = join(dir, 'report.html');
    await writeFile(file, html);
    const context = await browser.newContext({ viewport: { width: 1200, height: 900 } });
    const requests: string[] = [];
    const aborted: string[] = [];
    await context.route('**/*', (r) => {
      const url = r.request().url();
      requests.push(url);
      if (url.startsWith('file:')) return r.continue();
      aborted.push(url);
      return r.abort();
    });
    const page = await context.newPage();
    const dialogs: string[] = [];
    const problems: string[] = [];
    page.on('dialog', (d) => {
      dialogs.push(d.message());
      void d.dismiss();
    });
    page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') problems.push(`console ${m.type()}: ${m.text()}`);
    });

    await page.goto(pathToFileURL(file).href);
    await page.locator('#trend-chart canvas').waitFor();
    const canvas = await page.evaluate(() => {
      const c = document.querySelector('#trend-chart canvas') as HTMLCanvasElement;
      const px = (c.getContext('2d') as CanvasRenderingContext2D).getImageData(0, 0, c.width, c.height).data;
      let painted = 0;
      let contain = 0;
      for (let i = 0; i < px.length; i += 4) {
        if ((px[i + 3] as number) > 0) painted++;
        // The time-to-contain series' blue (#2f6fdb), so the data was drawn, not only the axes.
        if (
          Math.abs((px[i] as number) - 0x2f) < 24 &&
          Math.abs((px[i + 1] as number) - 0x6f) < 24 &&
          Math.abs((px[i + 2] as number) - 0xdb) < 24
        )
          contain++;
      }
      return { width: c.width, height: c.height, painted, contain };
    });
    expect(canvas.width).toBeGreaterThan(300);
    expect(canvas.height).toBeGreaterThan(150);
    expect(canvas.painted).toBeGreaterThan(1000);
    expect(canvas.contain).toBeGreaterThan(100);

    const body = await page.locator('main').textContent();
    expect(body).toContain('uplinks-weekly');
    expect(body).toContain('Weekly: drop the internet uplinks');
    expect(await page.locator('#verdict').textContent()).toBe('FAILED');
    expect(await page.locator('#verdict').evaluate((e) => getComputedStyle(e).color)).toBe('rgb(197, 34, 31)');
    expect(await page.locator('#summary').textContent()).toMatch(/Time to contain\s*1\.84 s\s*1843 ms/);
    expect(await page.locator('#summary').textContent()).toMatch(/Time to restore\s*2\.41 s\s*2410 ms/);
    expect(body).toContain('contained, then restored (rolled back)');
    expect(body).toContain('reason=drill, site=city-hall');
    // Baseline: median of the nine good earlier runs (1220 ms); the failed 4200 ms one is left out.
    expect(report.trend).toEqual({ baselineTtcMs: 1220, changePct: 51.1, regressed: true, marginPct: 20 });
    expect(await page.locator('#regression').textContent()).toBe(
      '51.1 % slower than the median of earlier drills (margin 20 %): REGRESSION',
    );
    expect(body).toContain('1.22 s (1220 ms)');
    expect(await page.locator('#history tbody tr').count()).toBe(11);

    const rows = page.locator('#devices tbody tr');
    expect(await rows.count()).toBe(7);
    const junos = rows.filter({ hasText: 'acc-junos-3' });
    expect(await junos.locator('td.err').textContent()).toBe(`commit failed: ${HOSTILE}`);
    expect(await junos.textContent()).toContain('FAILED');
    expect(await page.locator('#failures').textContent()).toContain('COMMAND_REJECTED');
    expect(await page.locator('#failures').textContent()).toContain('the device rejected a command');
    expect(await page.locator('#failures .cause').textContent()).toBe(`commit failed: ${HOSTILE}`);
    // The hostile markup stayed text: no element came of it.
    expect(await page.locator('img').count()).toBe(0);
    expect(await page.locator('script').count()).toBe(3);

    await page.screenshot({ path: join(SHOTS, 'report.png'), fullPage: true });
    expect((await stat(join(SHOTS, 'report.png'))).size).toBeGreaterThan(30_000);

    // Readable on a phone: nothing wider than the screen except inside the scrolling tables.
    await page.setViewportSize({ width: 390, height: 844 });
    await page.waitForFunction(() => (document.querySelector('#trend-chart canvas') as HTMLCanvasElement).clientWidth <= 390);
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    await page.screenshot({ path: join(SHOTS, 'report-phone.png'), fullPage: true });

    // Printable: the PDF renders (chromium headless prints).
    await page.setViewportSize({ width: 800, height: 1100 });
    await page.emulateMedia({ media: 'print' });
    await page.screenshot({ path: join(SHOTS, 'report-print.png'), fullPage: true });
    const pdf = await page.pdf({ format: 'A4', printBackground: true });
    await writeFile(join(SHOTS, 'report.pdf'), pdf);
    expect(pdf.subarray(0, 5).toString()).toBe('%PDF-');

    // Accessibility: axe finds no serious violation (run through the devtools protocol, past the CSP).
    await page.emulateMedia({ media: 'screen' });
    await page.evaluate(await readFile(AXE, 'utf8'));
    const violations = await page.evaluate(async () => {
      const axe = (window as unknown as { axe: { run: () => Promise<{ violations: { id: string; impact: string }[] }> } }).axe;
      return (await axe.run()).violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => v.id);
    });
    expect(violations).toEqual([]);

    expect(dialogs).toEqual([]);
    expect(aborted).toEqual([]);
    expect(requests).toEqual([pathToFileURL(file).href]);
    expect(problems).toEqual([]);
    await context.close();
  });

  it('works for a first drill (no history) and a preflight without times', async () => {
    const first = realisticReport();
    first.history = [];
    first.run = { ...first.run, mode: 'verify', state: 'verified', ok: true, timeToContainMs: null, timeToRestoreMs: null, failures: [] };
    first.trend = trendOf(first.run, [], 20);
    const file = join(dir, 'first.html');
    await writeFile(file, await renderReportHtml(first));
    const page = await browser.newPage();
    const problems: string[] = [];
    page.on('pageerror', (e) => problems.push(e.message));
    await page.goto(pathToFileURL(file).href);
    await page.locator('#trend-chart canvas').waitFor();
    expect(await page.locator('#verdict').textContent()).toBe('OK');
    expect(await page.locator('#regression').textContent()).toContain('No time to contain');
    expect(await page.locator('main').textContent()).toContain('preflight passed');
    expect(problems).toEqual([]);
    await page.close();
  });
});
