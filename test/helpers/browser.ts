import { existsSync } from 'node:fs';
import { URI } from 'otpauth';
import { type Browser, chromium, type Page } from 'playwright-core';

const CHROMIUM = '/usr/bin/chromium';

/**
 * Why browser tests cannot run here (Debian's chromium missing), or undefined. They are skipped
 * with this printed; under CI=true it is an error: CI never passes without them.
 */
export const noBrowser: string | undefined = existsSync(CHROMIUM)
  ? undefined
  : `${CHROMIUM} is missing (apt-get install chromium; .ci/run installs it)`;
if (noBrowser) {
  if (process.env.CI === 'true') throw new Error(`CI=true: ${noBrowser}`);
  console.warn(`[skip] browser tests: ${noBrowser}`);
}

/** Debian's chromium, driven by playwright-core (browser downloads do not work here); root needs --no-sandbox. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
}

/**
 * Signs a new console user in as a person would: name and password, then the code from the TOTP
 * enrolment the first sign-in shows (computed from its otpauth URL), until the emergency page.
 */
export async function signInFirstTime(page: Page, baseUrl: string, name: string, password: string): Promise<void> {
  await page.goto(`${baseUrl}/`);
  await page.getByLabel('Name').fill(name);
  await page.getByLabel('Password').fill(password);
  const answered = page.waitForResponse((r) => r.url().endsWith('/api/v1/session') && r.request().method() === 'POST');
  await page.getByRole('button', { name: 'Sign in' }).click();
  const url = ((await (await answered).json()) as { enroll: { otpauthUrl: string } }).enroll.otpauthUrl;
  // The next step's code: valid within the ±1 step window, never one already used.
  await page.getByLabel('Code from your authenticator app').fill(URI.parse(url).generate({ timestamp: Date.now() + 30_000 }));
  await page.getByRole('button', { name: 'Check the code and sign in' }).click();
  await page.getByRole('heading', { level: 1, name: 'Contain' }).waitFor();
}
