import { cpSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { nsExec } from '../src/lab/lab.js';
import {
  describeLab,
  firebreak,
  inventoryWithGhost,
  json,
  labSecrets,
  linkUp,
  reach,
  resetLab,
  scratch,
  setLink,
  type CliResult,
} from './helpers/lab.js';

describeLab('failures, guards and secrets on the lab', () => {
  const s = scratch(true);
  const fixtures = join(import.meta.dirname, 'fixtures', 'playbooks');
  const env = { FIREBREAK_INVENTORY: s.inventory, FIREBREAK_JOURNAL: s.journal };
  const outputs: CliResult[] = [];
  const fb = async (args: string[], e: Record<string, string> = env) => {
    const r = await firebreak(args, e);
    outputs.push(r);
    return r;
  };
  beforeAll(resetLab);
  afterEach(resetLab);
  afterAll(() => s.done());

  it('an unreachable device fails clearly, the run is partial, and the other devices are still contained', async () => {
    const inv = inventoryWithGhost(s.dir);
    const e = { ...env, FIREBREAK_INVENTORY: inv };
    const r = await fb(['run', 'isolate-host', '--param', 'address=10.20.0.11', '--yes', '--json'], e);
    expect(r.code).toBe(2);
    const result = json(r);
    expect(result.state).toBe('partial');
    const byDevice = Object.fromEntries(result.actions.map((a: any) => [a.device, a]));
    expect(byDevice.fw.state).toBe('verified');
    expect(byDevice.ghost).toMatchObject({ state: 'failed', code: 'DEVICE_UNREACHABLE' });
    expect(byDevice.ghost.error).toMatch(/ghost.*10\.250\.9\.2/);
    expect(result.notDone.map((a: any) => a.device)).toEqual(['ghost']);
    expect(await reach('h1')).toBe(false);
    const rb = json(await fb(['rollback', result.runId, '--json'], e));
    expect(rb.state).toBe('rolled-back');
    expect(await reach('h1')).toBe(true);
  });

  it('a host key that does not match the pin is refused: failed action, partial run, other device contained', async () => {
    const inv = join(s.dir, 'bad-pin');
    cpSync(s.inventory, inv, { recursive: true });
    const fwFile = join(inv, 'fw.yaml');
    writeFileSync(fwFile, readFileSync(fwFile, 'utf8').replace(/SHA256:[A-Za-z0-9+/]{43}/, `SHA256:${'A'.repeat(43)}`));
    const e = { ...env, FIREBREAK_INVENTORY: inv };
    const r = await fb(['run', 'isolate-host', '--param', 'address=10.20.0.11', '--param', 'port=sw:swp1', '--yes', '--json'], e);
    const result = json(r);
    expect(result.state).toBe('partial');
    const fw = result.actions.find((a: any) => a.device === 'fw');
    expect(fw).toMatchObject({ state: 'failed', code: 'HOST_KEY_MISMATCH' });
    expect(result.actions.find((a: any) => a.device === 'sw').state).toBe('verified');
    // Nothing reached the firewall: no firebreak table was made there.
    expect((await nsExec('fb-fw', ['nft', 'list', 'table', 'inet', 'firebreak'])).code).not.toBe(0);
    expect(await linkUp('fb-sw', 'swp1')).toBe(false);
    expect(json(await fb(['rollback', result.runId, '--json'], e)).state).toBe('rolled-back');
    expect(await linkUp('fb-sw', 'swp1')).toBe(true);
  });

  it('onFailure: rollback undoes what was done when an action fails, and the run says so', async () => {
    const e = { ...env, FIREBREAK_INVENTORY: inventoryWithGhost(s.dir), FIREBREAK_PLAYBOOKS: fixtures };
    const r = await fb(['run', 'block-then-shut-rollback', '--param', 'address=10.20.0.11', '--yes', '--json'], e);
    expect(r.code).toBe(3);
    const result = json(r);
    expect(result.state).toBe('rolled-back');
    const states = Object.fromEntries(result.actions.map((a: any) => [`${a.device} ${a.what}`, a.state]));
    expect(states).toEqual({
      'fw host.block 10.20.0.11': 'verified',
      'ghost host.block 10.20.0.11': 'failed',
      'sw interface.disable swp1': 'skipped',
    });
    expect(await reach('h1')).toBe(true); // the firewall block was undone
    expect(await linkUp('fb-sw', 'swp1')).toBe(true); // stage 2 never ran
    const show = (await fb(['journal', 'show', result.runId], e)).stdout;
    expect(show).toMatch(/action\.reverted\s+a1\s+fw/);
    expect(show).toMatch(/rollback\.started.*policy:onFailure=rollback/);
  });

  it('onFailure: abort keeps what was cut, runs no later stage, and records the actions it did not run', async () => {
    const e = { ...env, FIREBREAK_INVENTORY: inventoryWithGhost(s.dir), FIREBREAK_PLAYBOOKS: fixtures };
    const r = await fb(['run', 'block-then-shut-abort', '--param', 'address=10.20.0.11', '--yes', '--json'], e);
    expect(r.code).toBe(2);
    const result = json(r);
    expect(result.state).toBe('partial');
    expect(result.notDone.map((a: any) => [a.device, a.error.slice(0, 12)])).toEqual([
      ['ghost', 'connect: gho'],
      ['sw', 'not run: the'],
    ]);
    expect(await reach('h1')).toBe(false);
    expect(await linkUp('fb-sw', 'swp1')).toBe(true);
    expect(json(await fb(['rollback', result.runId, '--json'], e)).state).toBe('rolled-back');
    expect(await reach('h1')).toBe(true);
  });

  it('lockout: disabling the management interface is refused at planning, with an explanation', async () => {
    const r = await fb(['plan', 'isolate-host', '--param', 'port=fw:mgmt0']);
    expect(r.code).toBe(4);
    expect(r.stdout).toMatch(/refused: .*mgmt0 cuts the orchestrator's management connection to fw/);
    const run = await fb(['run', 'isolate-host', '--param', 'port=fw:mgmt0', '--yes', '--json']);
    expect(run.code).toBe(4);
    expect(run.stderr).toMatch(/nothing was sent/);
    expect(await linkUp('fb-fw', 'mgmt0')).toBe(true);
  });

  it('lockout: --allow-lockout plans the cut last and journals the override', async () => {
    const plan = json(
      await fb(['plan', 'isolate-host', '--param', 'port=sw:mgmt0', '--param', 'address=10.20.0.11', '--allow-lockout', '--json']),
    );
    expect(plan.errors).toEqual([]);
    const cut = plan.actions.find((a: any) => a.action.interface === 'mgmt0');
    expect(cut.lockoutOverride).toMatch(/management connection to sw/);
    expect(cut.stage).toBe(plan.stages.length - 1);
    expect(plan.stages.at(-1).actionIds).toEqual([cut.id]);

    const r = await fb([
      'run',
      'isolate-host',
      '--param',
      'port=sw:mgmt0',
      '--param',
      'address=10.20.0.11',
      '--allow-lockout',
      '--yes',
      '--json',
    ]);
    const result = json(r);
    await setLink('fb-sw', 'mgmt0', 'up'); // the lab operator walks to the switch
    const show = await fb(['journal', 'show', result.runId]);
    expect(show.stdout).toMatch(/lockout\.overridden/);
    expect(json(await fb(['rollback', result.runId, '--json'])).state).toBe('rolled-back');
  });

  it('injection attempts are refused at planning and nothing reaches a device or the journal', async () => {
    const before = existsSync(s.journal) ? (await fb(['journal', 'export', '--format', 'jsonl'])).stdout : '';
    for (const bad of [
      'address=10.20.0.11; reboot',
      'port=sw:swp1\nshutdown',
      'address=$(id)',
      'port=sw:`id`',
      "address=10.20.0.11' or '1",
    ]) {
      const r = await fb(['run', 'isolate-host', '--param', bad, '--yes', '--json']);
      expect(r.code, bad).toBe(1);
      expect(r.stderr, bad).toMatch(/PARAM_INVALID.*param "(address|port)"/);
    }
    const after = existsSync(s.journal) ? (await fb(['journal', 'export', '--format', 'jsonl'])).stdout : '';
    expect(after).toBe(before);
    expect(await linkUp('fb-sw', 'swp1')).toBe(true);
  });

  it('journal verify passes, then fails after an entry is edited or deleted in the database file', async () => {
    expect((await fb(['journal', 'verify'])).code).toBe(0);
    const db = new Database(s.journal);
    const triggers = db.prepare("select name from sqlite_master where type = 'trigger'").all() as { name: string }[];
    for (const t of triggers) db.exec(`drop trigger ${t.name}`);
    const victim = db.prepare("select seq, data from entries where type = 'action.verified' limit 1").get() as {
      seq: number;
      data: string;
    };
    db.prepare('update entries set data = ? where seq = ?').run(
      victim.data.replace('"verified"', '"x"').replace('}', ',"x":1}'),
      victim.seq,
    );
    db.close();
    const edited = await fb(['journal', 'verify']);
    expect(edited.code).toBe(3);
    expect(edited.stdout + edited.stderr).toMatch(new RegExp(`\\b${victim.seq}\\b`));
  });

  it('secrets appear in no journal entry, plan, output or error message', async () => {
    outputs.push(await fb(['plan', 'isolate-host', '--param', 'port=sw:swp1', '--json']));
    const secrets = labSecrets();
    expect(secrets.every((x) => x.length >= 8)).toBe(true);
    const files = [s.journal, `${s.journal}-wal`].filter(existsSync).map((f) => readFileSync(f));
    for (const secret of secrets) {
      for (const bytes of files) expect(bytes.includes(Buffer.from(secret)), 'journal file').toBe(false);
      for (const o of outputs) expect(o.stdout + o.stderr).not.toContain(secret);
    }
    expect(outputs.length).toBeGreaterThan(10);
  });
});
