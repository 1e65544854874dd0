import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../src/app/app.js';
import { openApp, planFromFiles } from '../src/app/open.js';
import type { Journal } from '../src/journal/types.js';
import { repo } from './helpers/lab.js';
import { freshSchema, pgUrl, servicesReady } from './helpers/services.js';

/**
 * One run per idempotency key across processes: two applications (as two API servers, or a
 * server and the CLI, would open them) on one journal, asked at the same moment with the same key,
 * make one run; the journal's unique index decides, not a lock in one process.
 */
let dir: string;
const pg = await servicesReady({ postgres: true });
const schema = freshSchema('fbtest_idem');

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fb-idem-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
  if (pg) await schema.drop();
});

const paths = () => ({ inventory: join(repo, 'devices'), playbooks: join(repo, 'playbooks'), journal: join(dir, 'journal.db') });

async function twoApps(databaseUrl?: string): Promise<(App & { journal: Journal })[]> {
  const cfg = { paths: paths(), local: true, databaseUrl, databaseSchema: databaseUrl ? schema.schema : undefined };
  return [await openApp(cfg), await openApp(cfg)];
}

for (const store of ['sqlite', 'postgres'] as const) {
  describe.skipIf(store === 'postgres' && !pg)(`idempotency keys across processes (${store})`, () => {
    it('20 rounds of two applications creating with one key at once: one run each round', async () => {
      const apps = await twoApps(store === 'postgres' ? pgUrl() : undefined);
      try {
        const plan = await planFromFiles(paths(), { playbook: 'drop-internet-uplinks', params: {} });
        for (let i = 0; i < 20; i++) {
          const key = `${store}-key-${i}`;
          const [a, b] = await Promise.all(
            apps.map((app) => app.createRun(plan, { trigger: { kind: 'test', by: 'vitest' }, idempotencyKey: key })),
          );
          expect(a!.runId).toBe(b!.runId);
          expect([a!.created, b!.created].sort()).toEqual([false, true]);
        }
        const created = await apps[0]!.journal.find({ types: ['run.created'] });
        expect(created.filter((e) => String(e.data.idempotencyKey).startsWith(`${store}-key-`))).toHaveLength(20);
        expect((await apps[0]!.journal.verify()).ok).toBe(true);
      } finally {
        for (const app of apps) await app.close();
      }
    });
  });
}
