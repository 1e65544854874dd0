import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { FirebreakError } from '../errors.js';
import type { DrillReport } from './types.js';

/**
 * A drill report as one self-contained HTML file: uPlot's JS and CSS inlined, the report as a JSON
 * data block, and a small script that draws the trend chart and fills every value in as text. It
 * opens from disk with no network: no URL to any other place, and a CSP that would refuse one.
 */
export class ReportAssetInvalid extends FirebreakError {
  override readonly code = 'REPORT_ASSET_INVALID';
}

interface Bundle {
  js: string;
  css: string;
}

let bundle: Promise<Bundle> | undefined;

/** uPlot from node_modules (resolved from this file, so it works from src/ and from dist/), read once. */
function uplotBundle(): Promise<Bundle> {
  bundle ??= (async () => {
    const require = createRequire(import.meta.url);
    const dir = dirname(require.resolve('uplot/dist/uPlot.iife.min.js'));
    const [js, css, license, pkg] = await Promise.all([
      readFile(join(dir, 'uPlot.iife.min.js'), 'utf8'),
      readFile(join(dir, 'uPlot.min.css'), 'utf8'),
      readFile(join(dir, '..', 'LICENSE'), 'utf8').catch(() => 'MIT License, Copyright (c) Leon Sorokin'),
      readFile(join(dir, '..', 'package.json'), 'utf8'),
    ]);
    const version = (JSON.parse(pkg) as { version: string }).version;
    // The banner comment is the library's only URL: keep the attribution and the license, drop the scheme.
    const banner = `/*! uPlot v${version} (github.com/leeoniya/uPlot)\n${license.replaceAll('*/', '* /').trim()}\n*/\n`;
    const code = js.replace(/^\/\*![\s\S]*?\*\/\s*/, '');
    if (/<\/script/i.test(code) || /<\/style/i.test(css)) throw new ReportAssetInvalid('uPlot bundle would close its inline element');
    return { js: banner + code, css };
  })();
  return bundle;
}

/** JSON safe inside a script element: no `<` (so no `</script>`, no `<!--`) and no line separators. */
function dataBlock(report: DrillReport): string {
  return JSON.stringify(report)
    .replaceAll('<', '\\u003c')
    .replaceAll('>', '\\u003e')
    .replaceAll('&', '\\u0026')
    .replaceAll('\u2028', '\\u2028')
    .replaceAll('\u2029', '\\u2029');
}

const sha256 = (s: string) => `'sha256-${createHash('sha256').update(s, 'utf8').digest('base64')}'`;

export async function renderReportHtml(report: DrillReport): Promise<string> {
  const { js, css } = await uplotBundle();
  const csp = [
    "default-src 'none'",
    `script-src ${sha256(js)} ${sha256(CLIENT)}`,
    `style-src ${sha256(css)} ${sha256(STYLE)}`,
    'img-src data:',
    "base-uri 'none'",
    "form-action 'none'",
  ].join('; ');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="referrer" content="no-referrer">
<title>Firebreak drill report</title>
<style>${css}</style>
<style>${STYLE}</style>
</head>
<body>
<main>
<header id="head">
  <div><p class="kicker">Firebreak drill report</p><h1 id="title"></h1><p class="sub" id="subtitle"></p></div>
  <div id="verdict" class="verdict"></div>
</header>
<noscript><p>This page draws its charts with JavaScript; the data is in the JSON block of the page source.</p></noscript>
<section><h2>Summary</h2><dl id="summary" class="grid"></dl></section>
<section><h2>Trend against earlier drills</h2>
  <p id="regression" class="regression"></p><p id="baseline" class="note"></p>
  <figure><div id="trend-chart" class="chart"></div><figcaption class="note">Time to contain and time to restore per drill run, by date (UTC). The dashed line is the median time to contain of the earlier good runs; the dotted one is that median plus the regression margin.</figcaption></figure>
  <div class="scroll" tabindex="0" role="region" aria-label="Earlier runs"><table id="history"><thead><tr><th>Started (UTC)</th><th>Run</th><th>Result</th><th class="num">Contain</th><th class="num">Restore</th><th>Final state</th></tr></thead><tbody></tbody></table></div>
</section>
<section><h2>Per-device timings</h2>
  <div class="scroll" tabindex="0" role="region" aria-label="Devices"><table id="devices"><thead><tr><th>Device</th><th>Driver</th><th>Contain</th><th>Restore</th><th>Result</th><th>Error</th></tr></thead><tbody></tbody></table></div>
</section>
<section><h2>Failures</h2><div id="failures"></div></section>
<footer class="note" id="generated"></footer>
</main>
<script type="application/json" id="report">${dataBlock(report)}</script>
<script>${js}</script>
<script>${CLIENT}</script>
</body>
</html>
`;
}

const STYLE = `
:root{--ok:#17803d;--bad:#c5221f;--warn:#b45309;--ink:#1f2328;--mute:#59636e;--line:#d1d9e0;--bg:#f6f8fa}
*{box-sizing:border-box}
body{margin:0;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;color:var(--ink);background:#fff}
main{max-width:1100px;margin:0 auto;padding:16px}
header{display:flex;flex-wrap:wrap;gap:12px 24px;align-items:center;justify-content:space-between;border-bottom:3px solid var(--line);padding-bottom:12px}
.kicker{margin:0;color:var(--mute);font-size:13px;text-transform:uppercase;letter-spacing:.06em}
h1{margin:2px 0;font-size:26px;overflow-wrap:anywhere}
h2{font-size:18px;margin:28px 0 10px;border-bottom:1px solid var(--line);padding-bottom:4px}
.sub{margin:0;color:var(--mute);overflow-wrap:anywhere}
.verdict{font-size:52px;font-weight:800;letter-spacing:.04em;padding:4px 22px;border-radius:8px;border:4px solid currentColor;line-height:1.1}
.verdict.ok{color:var(--ok)}.verdict.failed{color:var(--bad)}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(230px,1fr));gap:10px;margin:0}
.grid div{background:var(--bg);border:1px solid var(--line);border-radius:6px;padding:8px 12px}
.grid dt{font-size:12px;color:var(--mute);text-transform:uppercase;letter-spacing:.04em}
.grid dd{margin:2px 0 0;font-weight:600;overflow-wrap:anywhere}
.grid dd.big{font-size:24px}
.grid dd small{display:block;font-size:13px;font-weight:400;color:var(--mute)}
.regression{font-size:18px;font-weight:600;margin:6px 0}
.regression.bad{color:var(--bad)}.regression.good{color:var(--ok)}
.note{color:var(--mute);font-size:13px;margin:4px 0}
figure{margin:8px 0 16px}
.chart{width:100%;min-height:240px}
.scroll{overflow-x:auto}
table{border-collapse:collapse;width:100%;font-size:14px}
th,td{text-align:left;padding:6px 8px;border-bottom:1px solid var(--line);vertical-align:top;white-space:nowrap}
td.wrap{white-space:normal;min-width:240px}
th{background:var(--bg);font-weight:600;white-space:nowrap}
td.num,th.num{text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums}
td.err{white-space:normal;overflow-wrap:anywhere;min-width:220px;font-family:ui-monospace,Menlo,Consolas,monospace;font-size:13px}
.bar{display:flex;align-items:center;gap:6px;min-width:150px;white-space:nowrap;font-variant-numeric:tabular-nums}
.bar i{display:inline-block;height:10px;border-radius:2px;background:#2f6fdb;min-width:2px}
.bar.restore i{background:#8250df}
.tag{display:inline-block;font-weight:700;padding:0 6px;border-radius:4px}
.tag.ok{color:var(--ok)}.tag.failed{color:#fff;background:var(--bad)}
tr.current td{background:#fff8c5}
ul.failures{padding-left:20px}ul.failures li{margin:0 0 10px}
.code{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:13px;background:var(--bg);padding:0 4px;border-radius:3px}
.cause{display:block;overflow-wrap:anywhere}
@media (max-width:600px){main{padding:10px}.grid{grid-template-columns:repeat(auto-fill,minmax(150px,1fr))}.grid dd.big{font-size:19px}.verdict{font-size:36px;padding:2px 14px}h1{font-size:21px}}
@media print{main{max-width:none;padding:0}.uplot,.uplot canvas{max-width:100%;height:auto}th,td{white-space:normal}td.wrap,td.err,.bar{min-width:0}.verdict{font-size:40px}section{break-inside:avoid-page}.scroll{overflow:visible}tr.current td{background:none;font-weight:700}.u-legend{font-size:11px}}
`;

/** Runs in the page: builds everything with textContent from the JSON block, then the chart. */
const CLIENT = `(function () {
'use strict';
var R = JSON.parse(document.getElementById('report').textContent);
var run = R.run, drill = R.drill, trend = R.trend;
function $(id) { return document.getElementById(id); }
function el(tag, cls, txt) { var e = document.createElement(tag); if (cls) e.className = cls; if (txt !== undefined && txt !== null) e.textContent = String(txt); return e; }
function ms(v) {
  if (v === null || v === undefined) return '\\u2013';
  if (v < 1000) return Math.round(v) + ' ms';
  if (v < 60000) return (v / 1000).toFixed(v < 10000 ? 2 : 1) + ' s';
  return Math.floor(v / 60000) + ' min ' + Math.round((v % 60000) / 1000) + ' s';
}
function exact(v) { return v === null || v === undefined ? 'not measured' : ms(v) + (v >= 1000 ? ' (' + Math.round(v) + ' ms)' : ''); }
function when(iso) { var d = new Date(iso); return isNaN(d.getTime()) ? String(iso) : d.toISOString().replace('T', ' ').replace(/\\.\\d+Z$/, ' UTC'); }
function pct(v) { return (Math.round(Math.abs(v) * 10) / 10) + ' %'; }
var STATES = {
  'rolled-back': 'contained, then restored (rolled back)', contained: 'contained, not restored yet',
  verified: 'preflight passed: every device would work (nothing changed)', failed: 'failed',
  partial: 'partly contained: some actions failed', 'rollback-failed': 'contained, but the restore failed',
  'rolling-back': 'restore still running', running: 'still running', interrupted: 'interrupted before it finished',
  rejected: 'rejected (not approved)', expired: 'expired before approval', queued: 'queued, not started',
  'awaiting-approval': 'waiting for approval', planned: 'planned, not started'
};
function stateWords(s) { return STATES[s] || String(s); }
var CAUSES = {
  DEVICE_UNREACHABLE: 'the device could not be reached', AUTH_FAILED: 'the login was refused',
  HOST_KEY_MISMATCH: 'the host key was not the pinned one', COMMAND_REJECTED: 'the device rejected a command',
  DEVICE_TIMEOUT: 'the device did not answer in time', SNMP_ERROR: 'an SNMP request failed',
  VERIFY_MISMATCH: 'reading the device back did not show the change', LEASE_LOST: 'another executor took the device',
  UNSUPPORTED_ACTION: 'the driver cannot do this action', SECRET_UNAVAILABLE: 'a credential could not be read'
};

document.title = (run.ok ? 'OK' : 'FAILED') + ' \\u2013 drill ' + drill.id + ' \\u2013 Firebreak';
$('title').textContent = drill.title || drill.id;
$('subtitle').textContent = 'drill ' + drill.id + ' \\u00b7 run ' + run.runId;
var v = $('verdict'); v.textContent = run.ok ? 'OK' : 'FAILED'; v.className = 'verdict ' + (run.ok ? 'ok' : 'failed');

var params = Object.keys(drill.params || {}).sort().map(function (k) { return k + '=' + drill.params[k]; }).join(', ');
var okDevices = run.devices.filter(function (d) { return d.ok; }).length;
var rows = [
  ['Drill', drill.id], ['Playbook', run.playbook || drill.playbook], ['Parameters', params || 'none'],
  ['Mode', run.mode === 'live' ? 'live: contain for real, hold ' + drill.holdSeconds + ' s, restore' : 'verify: preflight only, changes nothing'],
  ['Started at', when(run.startedAt)], ['Final state', stateWords(run.state)],
  ['Time to contain', run.timeToContainMs, true], ['Time to restore', run.timeToRestoreMs, true],
  ['Devices', okDevices + ' of ' + run.devices.length + ' ok'], ['Failures', String(run.failures.length)]
];
if (drill.schedule) rows.push(['Schedule', drill.schedule.cron + ' (' + drill.schedule.tz + ')']);
rows.forEach(function (r) {
  var d = el('div'); d.appendChild(el('dt', '', r[0]));
  var dd = el('dd', r[2] ? 'big' : '', r[2] ? (r[1] === null ? 'not measured' : ms(r[1])) : r[1]);
  if (r[2] && r[1] !== null && r[1] >= 1000) dd.appendChild(el('small', '', Math.round(r[1]) + ' ms'));
  d.appendChild(dd); $('summary').appendChild(d);
});

var reg = $('regression');
if (run.timeToContainMs === null) { reg.textContent = 'No time to contain: this run is not compared with earlier drills.'; }
else if (trend.baselineTtcMs === null || trend.changePct === null) { reg.textContent = 'No earlier good drill to compare with yet: this run starts the baseline.'; }
else {
  reg.textContent = pct(trend.changePct) + (trend.changePct > 0 ? ' slower' : ' faster') + ' than the median of earlier drills (margin ' + trend.marginPct + ' %)' + (trend.regressed ? ': REGRESSION' : ': within margin');
  reg.className = 'regression ' + (trend.regressed ? 'bad' : 'good');
}
var good = R.history.filter(function (h) { return h.ok && h.mode === run.mode && h.timeToContainMs !== null; }).length;
$('baseline').textContent = trend.baselineTtcMs === null ? 'Earlier runs: ' + R.history.length + ', none good.' : 'Median time to contain of ' + good + ' earlier good run(s): ' + exact(trend.baselineTtcMs) + '; earlier runs in all: ' + R.history.length + '.';

var all = R.history.concat([run]).map(function (r, i) { return { r: r, t: Date.parse(r.startedAt) / 1000, current: i === R.history.length }; })
  .filter(function (p) { return !isNaN(p.t); }).sort(function (a, b) { return a.t - b.t; });
all.slice().reverse().forEach(function (p) {
  var tr = el('tr', p.current ? 'current' : '');
  tr.appendChild(el('td', '', when(p.r.startedAt)));
  tr.appendChild(el('td', '', p.current ? p.r.runId + ' (this run)' : p.r.runId));
  var res = el('td'); res.appendChild(el('span', 'tag ' + (p.r.ok ? 'ok' : 'failed'), p.r.ok ? 'ok' : 'FAILED')); tr.appendChild(res);
  tr.appendChild(el('td', 'num', ms(p.r.timeToContainMs))); tr.appendChild(el('td', 'num', ms(p.r.timeToRestoreMs)));
  tr.appendChild(el('td', 'wrap', stateWords(p.r.state)));
  $('history').tBodies[0].appendChild(tr);
});

var maxC = 1, maxR = 1;
run.devices.forEach(function (d) { maxC = Math.max(maxC, d.containMs || 0); maxR = Math.max(maxR, d.restoreMs || 0); });
function bar(val, max, cls) {
  var td = el('td'); var b = el('div', 'bar ' + cls);
  if (typeof val === 'number') { var s = el('i'); s.style.width = Math.max(2, Math.round((val / max) * 110)) + 'px'; b.appendChild(s); }
  b.appendChild(el('span', '', ms(val)));
  td.appendChild(b); return td;
}
run.devices.forEach(function (d) {
  var tr = el('tr');
  tr.appendChild(el('td', '', d.device)); tr.appendChild(el('td', '', (d.driver || '\\u2013') + (d.deviceBacked ? ' \\u00b7 device auto-revert armed' : '')));
  tr.appendChild(bar(d.containMs, maxC, 'contain')); tr.appendChild(bar(d.restoreMs, maxR, 'restore'));
  var res = el('td'); res.appendChild(el('span', 'tag ' + (d.ok ? 'ok' : 'failed'), d.ok ? 'ok' : 'FAILED')); tr.appendChild(res);
  tr.appendChild(el('td', 'err', d.error || ''));
  $('devices').tBodies[0].appendChild(tr);
});

var fl = $('failures');
if (!run.failures.length) fl.appendChild(el('p', 'note', 'No failures.'));
else {
  var ul = el('ul', 'failures');
  run.failures.forEach(function (f) {
    var li = el('li'); li.appendChild(el('strong', '', f.device));
    if (f.actionId) li.appendChild(document.createTextNode(' \\u00b7 action ' + f.actionId));
    li.appendChild(document.createTextNode(' \\u00b7 ')); li.appendChild(el('span', 'code', f.code));
    if (CAUSES[f.code]) li.appendChild(document.createTextNode(' \\u2013 ' + CAUSES[f.code]));
    li.appendChild(el('span', 'cause', f.error));
    ul.appendChild(li);
  });
  fl.appendChild(ul);
}
$('generated').textContent = 'Generated ' + when(R.generatedAt) + ' by Firebreak. Charts by uPlot (MIT), bundled into this page.';

var xs = all.map(function (p) { return p.t; });
var base = trend.baselineTtcMs, limit = base === null ? null : base * (1 + trend.marginPct / 100);
var bad = !run.ok || trend.regressed;
var data = [xs,
  all.map(function (p) { return p.r.ok ? p.r.timeToContainMs : null; }),
  all.map(function (p) { return p.r.timeToRestoreMs; }),
  all.map(function (p) { return p.r.ok ? null : p.r.timeToContainMs; }),
  xs.map(function () { return base; }), xs.map(function () { return limit; }),
  all.map(function (p) { return p.current ? p.r.timeToContainMs : null; })];
var MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
var box = $('trend-chart');
function size() { var w = Math.max(280, box.clientWidth); return { width: w, height: w < 500 ? 220 : 300 }; }
var span = xs.length ? xs[xs.length - 1] - xs[0] : 0;
var opts = {
  width: size().width, height: size().height,
  tzDate: function (ts) { return uPlot.tzDate(new Date(ts * 1000), 'Etc/UTC'); },
  scales: { x: { time: true, range: function (u, lo, hi) { var pad = Math.max(span * 0.04, 43200); return [lo - pad, hi + pad]; } },
    y: { range: function (u, lo, hi) { return [0, Math.max(hi, limit || 0, 1) * 1.15]; } } },
  legend: { live: false },
  axes: [{ space: 56, values: function (u, splits) { return splits.map(function (t) { var d = new Date(t * 1000); return MONTHS[d.getUTCMonth()] + ' ' + d.getUTCDate(); }); } }, { size: 64, values: function (u, splits) { return splits.map(function (s) { return ms(s); }); } }],
  series: [{ label: 'Date', value: function (u, t) { return t === null ? '\\u2013' : when(new Date(t * 1000).toISOString()).slice(0, 16); } },
    { label: 'Time to contain', stroke: '#2f6fdb', width: 2, spanGaps: true, points: { size: 7 }, value: function (u, x) { return ms(x); } },
    { label: 'Time to restore', stroke: '#8250df', width: 2, dash: [6, 4], spanGaps: true, points: { size: 6 }, value: function (u, x) { return ms(x); } },
    { label: 'Failed run', stroke: '#c5221f', paths: function () { return null; }, points: { show: true, size: 10, fill: '#c5221f' }, value: function (u, x) { return ms(x); } },
    { label: 'Baseline (median)', stroke: '#59636e', width: 1.5, dash: [8, 5], points: { show: false }, value: function (u, x) { return ms(x); } },
    { label: 'Regression limit', stroke: '#b45309', width: 1.5, dash: [2, 4], points: { show: false }, value: function (u, x) { return ms(x); } },
    { label: 'This run', stroke: bad ? '#c5221f' : '#17803d', paths: function () { return null; }, points: { show: true, size: 14, width: 3, fill: '#fff' }, value: function (u, x) { return ms(x); } }]
};
if (base === null) { data.splice(4, 2); opts.series.splice(4, 2); }
var chart = new uPlot(opts, data, box);
window.addEventListener('resize', function () { chart.setSize(size()); });
window.addEventListener('beforeprint', function () { chart.setSize({ width: 680, height: 260 }); });
window.addEventListener('afterprint', function () { chart.setSize(size()); });
})();`;
