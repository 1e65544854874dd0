import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseDrills } from '../src/drills/config.js';
import { missed } from '../src/drills/scheduler.js';
import { openJournal } from '../src/journal/open.js';
import { Redactor } from '../src/secrets.js';
import { type ApiHarness, startApiHarness } from './helpers/api.js';
import { launchChromium, noBrowser, signInFirstTime } from './helpers/browser.js';
import { firebreak } from './helpers/lab.js';

/**
 * Drills on the simulated firewall: a scheduled live drill runs at its time, contains (the block
 * is on the device while held), restores itself after its hold, and its report (journal, JSON,
 * HTML) has both times; a verify drill run on request changes nothing; a missed time is named.
 */
const DRILLS = `drills:
  - id: fw-block
    title: Block a test host at the firewall
    playbook: isolate-host
    params: { address: "10.20.0.201" }
    mode: live
    holdSeconds: 2
    schedule: { cron: "*/10 * * * * *", tz: Europe/Stockholm }
  - id: uplinks-preflight
    playbook: drop-internet-uplinks
    mode: verify
`;

let h: ApiHarness;
beforeAll(async () => {
  h = await startApiHarness({ name: 'drills', addressBlock: '127.60.0.0/16', ports: { ssh: 12322, snmp: 12361 }, drills: DRILLS });
}, 60_000);
afterAll(async () => {
  await h?.close();
});

const fwRules = () => h.fwRules();

async function reports(drillId: string) {
  return (await h.call('GET', `/api/v1/drills/${drillId}/reports`, { token: h.tokens.reader })).json as any[];
}

describe('drills', () => {
  it('a scheduled live drill runs at its time, holds the block on the device, restores itself, and reports both times', async () => {
    const listed = (await h.call('GET', '/api/v1/drills', { token: h.tokens.reader })).json;
    const fw = listed.find((d: any) => d.id === 'fw-block');
    expect(fw.next).toHaveLength(3);
    expect(Date.parse(fw.next[0]) - Date.now()).toBeLessThanOrEqual(10_000);
    expect(Date.parse(fw.next[1]) - Date.parse(fw.next[0])).toBe(10_000);
    // While held, the device shows the block.
    let seenHeld = false;
    const until = Date.now() + 30_000;
    while (Date.now() < until && (await reports('fw-block')).length === 0) {
      if (fwRules().includes('10.20.0.201')) seenHeld = true;
      await new Promise((r) => setTimeout(r, 100));
    }
    const [report] = await reports('fw-block');
    expect(report, 'no drill report within 30 s').toBeTruthy();
    expect(seenHeld).toBe(true);
    expect(report).toMatchObject({ drillId: 'fw-block', mode: 'live', state: 'rolled-back', ok: true });
    expect(report.timeToContainMs).toBeGreaterThan(0);
    expect(report.timeToRestoreMs).toBeGreaterThan(0);
    // Started at its time: within 2 s after a 10 s boundary (*/10 seconds).
    expect(Date.parse(report.startedAt) % 10_000).toBeLessThan(2_000);
    expect(fwRules()).not.toContain('10.20.0.201');
    // Restored by the time to live, `by: expiry`, after the hold.
    const journal = (await h.call('GET', `/api/v1/runs/${report.runId}/journal`, { token: h.tokens.reader })).json as any[];
    const contained = journal.find((e) => e.type === 'run.state' && e.data.state === 'contained');
    const rb = journal.find((e) => e.type === 'rollback.started');
    expect(rb.data.by).toBe('expiry');
    expect(Date.parse(rb.ts) - Date.parse(contained.ts)).toBeGreaterThanOrEqual(1_500);
    const html = await h.call('GET', '/api/v1/drills/fw-block/report.html', { token: h.tokens.reader });
    expect(html.status).toBe(200);
    expect(html.headers.get('content-security-policy')).toContain('sandbox');
    expect(String(html.json)).toContain('fw-block');
  }, 60_000);

  it.skipIf(!!noBrowser)(
    'the console shows the drills, the last result and opens the report with its trend chart',
    async () => {
      await h.users.add({ name: 'carol', role: 'operator', password: 'correct horse battery staple', by: 'vitest' });
      const browser = await launchChromium();
      try {
        const page = await (await browser.newContext({ locale: 'en-GB' })).newPage();
        await signInFirstTime(page, h.url, 'carol', 'correct horse battery staple');
        await page.goto(`${h.url}/#/drills`);
        const card = page.locator('[data-drill="fw-block"]');
        await expect.poll(() => card.textContent()).toMatch(/OK.*contained in .* restored in/);
        const [report] = await Promise.all([page.context().waitForEvent('page'), card.getByRole('link', { name: /report/ }).click()]);
        await report.waitForLoadState();
        await expect.poll(() => report.locator('canvas').count()).toBeGreaterThan(0);
        expect(await report.locator('body').textContent()).toContain('fw-block');
      } finally {
        await browser.close();
      }
    },
    60_000,
  );

  it('a verify drill run on request changes nothing and reports every device', async () => {
    const before = h.net.devices.map((d) => d.control.snapshot().config);
    const r = await h.call('POST', '/api/v1/drills/uplinks-preflight/run', { token: h.tokens.runner, body: {} });
    expect(r.status).toBe(202);
    let list: any[] = [];
    for (let i = 0; i < 100 && !list.length; i++) {
      list = await reports('uplinks-preflight');
      await new Promise((res) => setTimeout(res, 100));
    }
    expect(list[0]).toMatchObject({ mode: 'verify', state: 'verified', ok: true });
    expect(list[0].devices.map((d: any) => d.device).sort()).toEqual(['edge', 'fw']);
    expect(h.net.devices.map((d) => d.control.snapshot().config)).toEqual(before);
    expect((await h.call('POST', '/api/v1/drills/uplinks-preflight/run', { token: h.tokens.reader, body: {} })).status).toBe(403);
  });

  it('an occurrence that passed without a run is named as missed; the CLI lists drills with their next times and history', async () => {
    const spec = parseDrills('drills.yaml', DRILLS).find((d) => d.id === 'fw-block')!;
    const journal = await openJournal({ file: h.journalFile }, new Redactor());
    try {
      // Ten minutes from now, with no run in between, the schedule's last occurrence was missed.
      const late = await missed(journal, [spec], new Date(Date.now() + 10 * 60_000));
      expect(late).toHaveLength(1);
      expect(Date.parse(late[0]!.dueAt)).toBeGreaterThan(Date.now());
    } finally {
      await journal.close();
    }
    const env = { FIREBREAK_INVENTORY: h.net.inventoryDir, FIREBREAK_JOURNAL: h.journalFile, FIREBREAK_DRILLS: join(h.dir, 'drills.yaml') };
    const list = await firebreak(['drill', 'list', '--json'], env);
    const rows = JSON.parse(list.stdout);
    expect(rows.find((r: any) => r.id === 'fw-block').next).toHaveLength(3);
    expect(rows.find((r: any) => r.id === 'uplinks-preflight').schedule).toBeNull();
    const history = await firebreak(['drill', 'history'], env);
    expect(history.stdout).toMatch(/fw-block\s+live\s+OK/);
    const dir = join(h.dir, 'reports');
    const run = await firebreak(['drill', 'run', 'uplinks-preflight', '--report-dir', dir], env);
    expect(run.code, run.stderr).toBe(0);
    const html = run.stdout.match(/report: (.*\.html)/)![1]!;
    expect(await readFile(html, 'utf8')).toContain('uplinks-preflight');
  }, 60_000);
});
