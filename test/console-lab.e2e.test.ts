import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { serve, type Serving } from '../src/api/serve.js';
import { openUserStore, type UserStore } from '../src/identity/users.js';
import { openJournal } from '../src/journal/open.js';
import { Redactor } from '../src/secrets.js';
import { launchChromium, signInFirstTime } from './helpers/browser.js';
import { describeLab, lab, reach, reachWithin, repo, resetLab } from './helpers/lab.js';

/**
 * One click at 21:58, on the real lab, in a real browser: an operator signs in (password + TOTP),
 * clicks "Cut every internet uplink", confirms, watches each action turn verified; h1 cannot
 * reach the internet (checked by traffic); the operator clicks rollback; h1 can again. Each step
 * is a screenshot under test-results/console-lab/, checked for its key texts. Prints the time
 * from the confirm click to the first device contact and to contained.
 */
const CONSOLE = join(repo, 'dist', 'console', 'index.html');
const SHOTS = join(repo, 'test-results', 'console-lab');
const PASSWORD = 'correct horse battery staple';

describeLab('the console on the lab: cut the internet uplinks with one click, proven by traffic', () => {
  let dir: string;
  let serving: Serving;
  let users: UserStore;
  let browser: Browser;
  let page: Page;

  const shot = async (name: string, mustShow: string[]) => {
    await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
    const text = (await page.locator('body').textContent()) ?? '';
    for (const t of mustShow) expect(text, `${name} shows "${t}"`).toContain(t);
  };

  beforeAll(async () => {
    if (!existsSync(CONSOLE)) throw new Error(`${CONSOLE} is missing: run \`npm run build\` first`);
    await mkdir(SHOTS, { recursive: true });
    await resetLab();
    dir = await mkdtemp(join(tmpdir(), 'fb-console-lab-'));
    users = await openUserStore({ file: join(dir, 'tokens.db') });
    await users.add({ name: 'night-operator', role: 'operator', password: PASSWORD, by: 'vitest' });
    serving = await serve({
      app: { paths: { inventory: lab.inventoryDir, playbooks: join(repo, 'playbooks'), journal: join(dir, 'journal.db') }, local: true },
      host: '127.0.0.1',
      port: 0,
      version: 'test',
      log: pino({ level: 'silent' }),
    });
    browser = await launchChromium();
    page = await (await browser.newContext({ viewport: { width: 1280, height: 900 }, locale: 'en-GB' })).newPage();
  });
  afterAll(async () => {
    await browser?.close();
    await serving?.stop();
    await users?.close();
    await resetLab();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('sign in, cut the uplinks, h1 is cut off; roll back, h1 is back', async () => {
    expect(await reach('h1')).toBe(true);
    await signInFirstTime(page, serving.url, 'night-operator', PASSWORD);
    await shot('01-emergency', ['Cut every internet uplink', 'night-operator']);

    await page.locator('[data-playbook="drop-internet-uplinks"]').click();
    await page.getByTestId('preview').click();
    await page.getByTestId('plan-preview').waitFor();
    await shot('02-plan-preview', ['fw', 'Type the site name to confirm: lab']);
    await page.getByLabel(/Type the site name/).fill('lab');
    const clickedAt = Date.now();
    await page.getByTestId('confirm-typed').click();
    await page.waitForURL(/#\/run\/r-/);
    const runId = page.url().split('/run/')[1]!;
    await expect.poll(() => page.getByTestId('outcome').getAttribute('data-state'), { timeout: 20_000 }).toBe('contained');
    await expect
      .poll(() => page.locator('[data-action]').evaluateAll((els) => els.map((e) => e.getAttribute('data-state'))))
      .toEqual(expect.arrayContaining(['verified']));
    const states = await page.locator('[data-action]').evaluateAll((els) => els.map((e) => e.getAttribute('data-state')));
    expect(states.every((s) => s === 'verified')).toBe(true);
    await shot('03-contained', ['contained', 'verified']);
    // The network, not the page: h1 cannot reach the internet.
    expect(await reach('h1')).toBe(false);

    const j = await openJournal({ file: join(dir, 'journal.db') }, new Redactor());
    const entries = await j.entries(runId);
    await j.close();
    const created = entries.find((e) => e.type === 'run.created')!;
    const contained = entries.find((e) => e.type === 'run.state' && e.data.state === 'contained')!;
    const firstContactMs = entries.find((e) => e.type === 'run.state' && e.data.state === 'contained')!.data.firstContactMs as number;
    console.log(
      `[console-lab] confirm click -> run created ${Date.parse(created.ts) - clickedAt} ms; -> first device contact ${Date.parse(created.ts) - clickedAt + firstContactMs} ms; -> contained (journal) ${Date.parse(contained.ts) - clickedAt} ms`,
    );

    await page.getByTestId('rollback').click();
    await page.getByTestId('rollback-yes').click();
    await expect.poll(() => page.getByTestId('outcome').getAttribute('data-state'), { timeout: 20_000 }).toBe('rolled-back');
    await shot('04-rolled-back', ['rolled-back']);
    expect(await reachWithin('h1')).toBe(true);
  }, 90_000);
});
