import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { serve, type Serving } from '../src/api/serve.js';
import { openJournal } from '../src/journal/open.js';
import { Redactor } from '../src/secrets.js';
import { dropPrefix, startWorkerProcess, stopProcess } from './helpers/backends.js';
import { describeLab, lab, reach, repo, resetLab } from './helpers/lab.js';
import { redisUrl, servicesReady, testPrefix } from './helpers/services.js';

/**
 * A scheduled live drill on the lab, in queue mode (BullMQ job scheduler, two workers): it runs at
 * its time, cuts h1 off (proven by traffic), and while it holds the worker that ran it is killed
 * with -9; the restore still comes at the end of the hold (proven by traffic), and the report has
 * both times.
 */
const HOLD_S = 6;
const DRILLS = `drills:
  - id: lab-uplinks
    playbook: drop-internet-uplinks
    mode: live
    probe: { from: fw, to: 198.51.100.200 }
    holdSeconds: ${HOLD_S}
    schedule: { cron: "*/20 * * * * *", tz: Europe/Stockholm }
`;

describeLab('a scheduled live drill on the lab survives its worker being killed during the hold', () => {
  let dir: string;
  let serving: Serving;
  const workers: ChildProcess[] = [];
  const prefix = testPrefix('drill-lab');

  beforeAll(async () => {
    if (!(await servicesReady({ redis: true }))) return;
    await resetLab();
    dir = await mkdtemp(join(tmpdir(), 'fb-drill-lab-'));
    await writeFile(join(dir, 'drills.yaml'), DRILLS);
    const journal = join(dir, 'journal.db');
    const env = {
      REDIS_URL: redisUrl(),
      FIREBREAK_REDIS_PREFIX: prefix,
      FIREBREAK_INVENTORY: lab.inventoryDir,
      FIREBREAK_JOURNAL: journal,
    };
    for (let i = 0; i < 2; i++) workers.push(await startWorkerProcess(env));
    serving = await serve({
      app: {
        paths: { inventory: lab.inventoryDir, playbooks: join(repo, 'playbooks'), journal },
        redisUrl: redisUrl(),
        redisPrefix: prefix,
      },
      host: '127.0.0.1',
      port: 0,
      drillsFile: join(dir, 'drills.yaml'),
      version: 'test',
      log: pino({ level: 'silent' }),
    });
  }, 60_000);
  afterAll(async () => {
    await serving?.stop();
    for (const w of workers) await stopProcess(w);
    await dropPrefix(prefix);
    await resetLab();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("runs at its time, cuts the uplinks (h1 cut off by traffic, and the drill's own probe from fw), restores after the hold although its worker was killed, and reports both times", async () => {
    expect(serving.executor).toBe('queue');
    expect(await reach('h1')).toBe(true);
    const journalFile = join(dir, 'journal.db');
    const j = await openJournal({ file: journalFile }, new Redactor());
    try {
      // Wait for the drill's run to be contained (it starts at the next 20 s boundary).
      let runId: string | undefined;
      const until = Date.now() + 45_000;
      while (Date.now() < until && !runId) {
        const created = (await j.find({ types: ['run.created'] })).find((e) => (e.data.trigger as { kind?: string }).kind === 'drill');
        if (created && (await j.find({ runId: created.runId, types: ['run.state'] })).some((e) => e.data.state === 'contained'))
          runId = created.runId;
        else await new Promise((r) => setTimeout(r, 100));
      }
      expect(runId, 'the scheduled drill did not contain within 45 s').toBeTruthy();
      const created = (await j.find({ runId, types: ['run.created'] }))[0]!;
      expect(Date.parse(created.ts) % 20_000, 'started at its time (within 2 s of a 20 s boundary)').toBeLessThan(2_000);
      expect(await reach('h1')).toBe(false);
      // Kill the worker that ran the stage, -9, during the hold.
      const ranBy = String((await j.find({ runId, types: ['run.state'] })).find((e) => e.data.state === 'running')!.data.by);
      const victim = workers.find((w) => ranBy.includes(String(w.pid))) ?? workers[0]!;
      victim.kill('SIGKILL');
      const due = Number((await j.find({ runId, types: ['run.expires'] }))[0]!.data.at);
      // The restore: after the hold, by the remaining worker.
      const restoredBy = due + 5_000;
      let report: Record<string, any> | undefined;
      while (Date.now() < restoredBy + 15_000 && !report) {
        report = (await j.find({ types: ['drill.report'] })).find((e) => e.runId === runId)?.data.summary as
          | Record<string, any>
          | undefined;
        if (!report) await new Promise((r) => setTimeout(r, 100));
      }
      expect(await reach('h1')).toBe(true);
      const rb = (await j.find({ runId, types: ['rollback.started', 'rollback.finished'] })).map(
        (e) => [e.type, Date.parse(e.ts)] as const,
      );
      expect(rb[0]![1] - due, 'restore started within 2 s of the end of the hold').toBeLessThan(2_000);
      expect(rb[1]![1]).toBeLessThan(restoredBy);
      expect(report).toMatchObject({ mode: 'live', state: 'rolled-back', ok: true });
      // The drill's own traffic proof, from the probe host: no answer while held, an answer after.
      expect(report!.probe).toMatchObject({ from: 'fw', to: '198.51.100.200', whileHeld: 'cut', afterRestore: 'reachable' });
      expect(report!.timeToContainMs).toBeGreaterThan(0);
      expect(report!.timeToRestoreMs).toBeGreaterThan(0);
    } finally {
      await j.close();
    }
  }, 90_000);
});
