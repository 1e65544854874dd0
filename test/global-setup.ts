import { labDown, labUp, labStatus } from '../src/lab/lab.js';

/**
 * Brings the namespace lab up once for the whole suite (lab tests share it and run one file at
 * a time), and takes it down afterwards if this run was the one that made it.
 * Not root: lab tests skip with a printed reason; under CI=true that is an error, not a skip.
 */
let madeHere = false;

export async function setup(): Promise<void> {
  const root = process.getuid?.() === 0;
  if (process.env.FIREBREAK_NO_LAB === '1') {
    if (process.env.CI === 'true') throw new Error('CI=true with FIREBREAK_NO_LAB=1: the lab tests must run in CI');
    console.warn('[firebreak tests] FIREBREAK_NO_LAB=1: lab tests are skipped (simulator tests still run)');
    return;
  }
  if (!root) {
    if (process.env.CI === 'true') throw new Error('CI=true but not running as root: the lab tests must run in CI');
    console.warn('[firebreak tests] not root: lab tests (real sshd, snmpd, nftables in namespaces) are skipped');
    return;
  }
  const before = await labStatus().catch(() => undefined);
  madeHere = !before?.up;
  const t0 = Date.now();
  await labUp();
  console.warn(`[firebreak tests] lab up in ${Date.now() - t0} ms`);
}

export async function teardown(): Promise<void> {
  if (madeHere && process.env.FIREBREAK_KEEP_LAB !== '1') await labDown();
}
