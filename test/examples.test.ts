import { spawnSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { loadNotifyConfig } from '../src/notify/config.js';
import { listPlaybooks } from '../src/playbooks/load.js';
import { loadTriggers } from '../src/triggers/config.js';
import { repo } from './helpers/lab.js';

/** The copy-paste configuration the README points at must load as it is. */
describe('examples/', () => {
  it('triggers.yaml loads against the shipped playbooks', async () => {
    const triggers = await loadTriggers(join(repo, 'examples', 'triggers.yaml'), await listPlaybooks(join(repo, 'playbooks')));
    expect(triggers.map((t) => `${t.kind}:${t.name}`)).toEqual(['alertmanager:exfil', 'wazuh:wazuh-ransomware', 'webhook:edr']);
  });

  it('notify.yaml loads', async () => {
    const cfg = await loadNotifyConfig(join(repo, 'examples', 'notify.yaml'));
    expect(cfg.channels.map((c) => c.kind)).toEqual(['webhook', 'slack', 'teams', 'smtp']);
  });

  it('the Alertmanager snippet is YAML whose receiver points at the exfil trigger', async () => {
    const am = parse(await readFile(join(repo, 'examples', 'alertmanager', 'alertmanager.yml'), 'utf8'));
    expect(am.receivers[1].webhook_configs[0].url).toMatch(/\/api\/v1\/alertmanager\/exfil$/);
  });

  it.skipIf(spawnSync('python3', ['--version']).error)('the Wazuh integration script compiles', () => {
    const r = spawnSync('python3', [
      '-c',
      `import ast,sys; ast.parse(open(sys.argv[1]).read())`,
      join(repo, 'examples', 'wazuh', 'custom-firebreak'),
    ]);
    expect(r.status, String(r.stderr)).toBe(0);
  });
});
