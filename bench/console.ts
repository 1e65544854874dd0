/**
 * The console's figures on the lab, in Debian's chromium (playwright-core): the emergency page's
 * load with an empty cache; and, for `runs` rounds of "Cut every internet uplink" confirmed in the
 * page and rolled back, the time from the confirm click to the first device contact (the run's
 * own firstContactMs after its creation) and how long after its journal entry each verified
 * action showed as verified in the page. Targets: load < 1 s; click -> first device command
 * < 300 ms; verified shown within 200 ms of its journal entry. Root (the lab); brings the lab up
 * if it was down (and down again at the end). Prints a table; asserts nothing.
 *   node dist/bench/console.js [runs=10]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { URI } from 'otpauth';
import pino from 'pino';
import { chromium } from 'playwright-core';
import { serve } from '../src/api/serve.js';
import { openUserStore } from '../src/identity/users.js';
import { openJournal } from '../src/journal/open.js';
import { labDown, labStatus, labUp } from '../src/lab/lab.js';
import { Redactor } from '../src/secrets.js';
import { root } from './lib/cli-run.js';
import { printTable, stats } from './lib/table.js';

const runs = Number(process.argv[2] ?? 10);
const PASSWORD = 'correct horse battery staple';

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('bench/console needs root (the namespace lab)');
  const wasUp = (await labStatus()).up;
  const lab = await labUp();
  const dir = mkdtempSync(join(tmpdir(), 'fb-console-bench-'));
  const users = await openUserStore({ file: join(dir, 'tokens.db') });
  await users.add({ name: 'bench', role: 'operator', password: PASSWORD, by: 'bench' });
  const journalFile = join(dir, 'journal.db');
  const s = await serve({
    app: { paths: { inventory: lab.inventoryDir, playbooks: join(root, 'playbooks'), journal: journalFile }, local: true },
    host: '127.0.0.1',
    port: 0,
    version: 'bench',
    log: pino({ level: 'silent' }),
  });
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] });
  try {
    // Empty cache, every time: a fresh context per load.
    const loads: number[] = [];
    for (let i = 0; i < 5; i++) {
      const ctx = await browser.newContext();
      const p = await ctx.newPage();
      const t0 = Date.now();
      await p.goto(`${s.url}/`);
      await p.getByLabel('Name').waitFor();
      loads.push(Date.now() - t0);
      await ctx.close();
    }
    const page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
    await page.goto(`${s.url}/`);
    await page.getByLabel('Name').fill('bench');
    await page.getByLabel('Password').fill(PASSWORD);
    const answered = page.waitForResponse((r) => r.url().endsWith('/api/v1/session') && r.request().method() === 'POST');
    await page.getByRole('button', { name: 'Sign in' }).click();
    const url = ((await (await answered).json()) as { enroll: { otpauthUrl: string } }).enroll.otpauthUrl;
    await page.getByLabel('Code from your authenticator app').fill(URI.parse(url).generate({ timestamp: Date.now() + 30_000 }));
    await page.getByRole('button', { name: 'Check the code and sign in' }).click();
    await page.getByRole('heading', { level: 1, name: 'Contain' }).waitFor();

    const toContact: number[] = [];
    const toContained: number[] = [];
    const shownAfter: number[] = [];
    for (let i = 0; i <= runs; i++) {
      await page.goto(`${s.url}/#/go/drop-internet-uplinks`);
      await page.getByTestId('preview').click();
      await page.getByTestId('plan-preview').waitFor();
      await page.getByLabel(/Type the site name/).fill('lab');
      const clicked = Date.now();
      await page.getByTestId('confirm-typed').click();
      await page.waitForURL(/#\/run\/r-/);
      const runId = page.url().split('/run/')[1]!;
      // When each row turned verified, by the page's clock (the same machine's clock as the journal's).
      await page.evaluate(() => {
        const seen: Record<string, number> = {};
        (window as unknown as { __verified: Record<string, number> }).__verified = seen;
        const mark = () => {
          for (const el of document.querySelectorAll<HTMLElement>('[data-action][data-state="verified"]'))
            seen[el.dataset.action!] ??= Date.now();
        };
        mark();
        new MutationObserver(mark).observe(document.body, { subtree: true, attributes: true, childList: true });
      });
      await page.getByTestId('outcome').and(page.locator('[data-state="contained"]')).waitFor({ timeout: 20_000 });
      const seen = await page.evaluate(() => (window as unknown as { __verified: Record<string, number> }).__verified);
      const j = await openJournal({ file: journalFile }, new Redactor());
      const entries = await j.entries(runId);
      await j.close();
      const created = entries.find((e) => e.type === 'run.created')!;
      const contained = entries.find((e) => e.type === 'run.state' && e.data.state === 'contained')!;
      if (i > 0) {
        // The first round warms the sessions as a long-running server keeps them.
        toContact.push(Date.parse(created.ts) - clicked + Number(contained.data.firstContactMs));
        toContained.push(Date.parse(contained.ts) - clicked);
        for (const v of entries.filter((e) => e.type === 'action.verified')) {
          const at = seen[String(v.data.actionId)];
          if (at) shownAfter.push(at - Date.parse(v.ts));
        }
      }
      await page.getByTestId('rollback').click();
      await page.getByTestId('rollback-yes').click();
      await page.getByTestId('outcome').and(page.locator('[data-state="rolled-back"]')).waitFor({ timeout: 20_000 });
    }
    printTable(
      `console on the lab: drop-internet-uplinks confirmed in chromium, ${runs} rounds (ms)`,
      ['figure', 'p50', 'p90', 'max', 'target'],
      [
        ['emergency page load, empty cache (5 loads)', ...stats(loads), '< 1000'],
        ['confirm click -> first device contact', ...stats(toContact), '< 300'],
        ['confirm click -> contained (journal)', ...stats(toContained), ''],
        ['verified in the journal -> verified in the page', ...stats(shownAfter), '< 200'],
      ],
    );
  } finally {
    await browser.close();
    await s.stop();
    await users.close();
    rmSync(dir, { recursive: true, force: true });
    if (!wasUp) await labDown();
  }
}

await main();
