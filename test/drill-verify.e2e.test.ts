import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SimNetwork, startNetwork } from '../src/sim/network.js';
import { simulators } from '../src/sim/registry.js';
import { parseTopology } from '../src/sim/topology.js';
import { firebreak, repo } from './helpers/lab.js';

/**
 * `firebreak drill verify` over the simulated municipal network: a clean preflight says every
 * device would work; then a device whose password was changed, one whose host key changed and
 * one whose port was renamed are each found and named with why, and no device's configuration
 * changes (compared before and after).
 */
let dir: string;
let net: SimNetwork;
let env: Record<string, string>;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fb-drill-'));
  const text = `${await readFile(join(repo, 'topologies', 'municipal.yaml'), 'utf8')}\naddressBlock: 127.56.0.0/16\n`;
  net = await startNetwork(parseTopology('municipal.yaml', text, { simulators }), {
    dir: join(dir, 'sim'),
    ports: { ssh: 11922, snmp: 11961 },
  });
  env = { FIREBREAK_INVENTORY: net.inventoryDir, FIREBREAK_JOURNAL: join(dir, 'journal.db') };
}, 120_000);
afterAll(async () => {
  await net?.stop();
  await rm(dir, { recursive: true, force: true });
});

const configs = () => Object.fromEntries(net.devices.map((d) => [d.spec.id, d.control.snapshot().config]));
const sim = (id: string) => net.devices.find((d) => d.spec.id === id)!;

async function verify(): Promise<{ code: number; report: any; stdout: string }> {
  const r = await firebreak(['drill', 'verify', 'drop-internet-uplinks', '--json'], env);
  if (!r.stdout.trim()) throw new Error(`drill verify printed nothing (exit ${r.code}): ${r.stderr}`);
  return { code: r.code, report: JSON.parse(r.stdout), stdout: r.stdout };
}

describe('firebreak drill verify (preflight)', () => {
  it('a healthy network: every device would work, exit 0, nothing changed', async () => {
    const before = configs();
    const { code, report } = await verify();
    expect(code).toBe(0);
    expect(report.ok).toBe(true);
    expect(report.devices.map((d: any) => d.device).sort()).toEqual(['ch-edge', 'core-fw', 'lib-edge']);
    const outcomes = report.devices.flatMap((d: any) => d.actions.map((a: any) => a.outcome));
    // The backup DSL line is shut already; the rest would change.
    expect(outcomes.filter((o: string) => o === 'already')).toHaveLength(1);
    expect(outcomes.every((o: string) => o !== 'error')).toBe(true);
    expect(configs()).toEqual(before);
    const human = await firebreak(['drill', 'verify', 'drop-internet-uplinks'], env);
    expect(human.stdout).toContain('every device would work');
  });

  it('a changed password, a changed host key and a renamed port: each device named with why; exit non-zero; nothing changed', async () => {
    const before = configs();
    sim('ch-edge').control.inject({ kind: 'refuse-auth' });
    const libFile = join(net.inventoryDir, 'lib-edge.yaml');
    const fwFile = join(net.inventoryDir, 'core-fw.yaml');
    const [lib, fw] = [await readFile(libFile, 'utf8'), await readFile(fwFile, 'utf8')];
    try {
      await writeFile(fwFile, fw.replace(/hostKey: .*/, `hostKey: SHA256:${Buffer.alloc(32, 9).toString('base64').replace(/=+$/, '')}`));
      // The firmware renamed the port: the inventory's ether1 is not on the device any more.
      await writeFile(libFile, lib.replace(/^(\s+)ether1:/m, '$1ether9:'));
      const { code, report, stdout } = await verify();
      expect(code, stdout).not.toBe(0);
      expect(report.ok).toBe(false);
      const by = Object.fromEntries(report.devices.map((d: any) => [d.device, d]));
      expect([by['ch-edge'].ok, by['ch-edge'].health.code]).toEqual([false, 'AUTH_FAILED']);
      expect([by['core-fw'].ok, by['core-fw'].health.code, by['core-fw'].health.hostKeyOk]).toEqual([false, 'HOST_KEY_MISMATCH', false]);
      expect(by['lib-edge'].health.authenticated).toBe(true);
      expect(by['lib-edge'].ok).toBe(false);
      const renamed = by['lib-edge'].actions.find((a: any) => a.what.includes('ether9'));
      expect(renamed.outcome, JSON.stringify(by['lib-edge'].actions)).toBe('error');
      const human = await firebreak(['drill', 'verify', 'drop-internet-uplinks'], env);
      expect(human.stdout).toMatch(/FAIL\s+ch-edge.*login refused/);
      expect(human.stdout).toMatch(/FAIL\s+core-fw.*host key is not the pinned one/);
      expect(human.stdout).toMatch(/ether9.*ERROR/);
      expect(human.stdout).toContain('NOT READY: ');
      expect(configs()).toEqual(before);
    } finally {
      sim('ch-edge').control.clearFaults();
      await writeFile(libFile, lib);
      await writeFile(fwFile, fw);
    }
  });
});
