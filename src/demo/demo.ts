#!/usr/bin/env node
/**
 * The demo: the main job on the embedded default, on the real namespace lab.
 * Lab up -> h1 reaches the internet -> drop-internet-uplinks live -> h1 cut off (by traffic)
 * -> rollback -> h1 back -> time to contain and the journal check.
 * Not root, not Linux, or `--sim`: the simulated municipal network instead (sim-demo.ts).
 */
import { join } from 'node:path';
import { resolvePaths } from '../cli/config.js';
import { openApp } from '../app/open.js';
import { formatEvent, formatPlan } from '../cli/print.js';
import { monotonicClock } from '../engine/clock.js';
import { canReach, labUp } from '../lab/lab.js';
import { redactor } from '../secrets.js';
import { runSimDemo } from './sim-demo.js';

const INTERNET = '198.51.100.200';
const say = (s: string) => process.stdout.write(`${redactor.text(s)}\n`);
const reach = async (ns: string) => ((await canReach(ns, INTERNET)) ? 'reaches' : 'CANNOT reach');

async function main(): Promise<number> {
  // Without root on Linux there is no namespace lab: the simulated network stands in for it.
  const noLab =
    process.platform !== 'linux'
      ? `not Linux (${process.platform})`
      : process.getuid?.() !== 0
        ? 'not root; `sudo npm run demo` builds it'
        : process.argv.includes('--sim')
          ? '--sim given'
          : undefined;
  if (noLab) return runSimDemo(say, noLab);
  say('== 1. lab: firewall fw (OpenSSH + nftables), switch sw (net-snmp), hosts h1 h2, "internet" server 198.51.100.200');
  const lab = await labUp({ log: (l) => say(`   ${l}`) });
  const paths = resolvePaths({ inventory: lab.inventoryDir, journal: join(lab.dir, 'demo-journal.db') });
  say(`   inventory: ${lab.inventoryDir}`);
  say(`== 2. before: h1 ${await reach('fb-h1')} the internet (ping ${INTERNET})`);

  say('== 3. plan drop-internet-uplinks');
  const triggerAt = monotonicClock(); // "contain!" said here: planning counts
  const app = await openApp({ paths, local: true });
  const journal = app.journal;
  try {
    const plan = await app.preview({ playbook: 'drop-internet-uplinks', params: {} });
    say(formatPlan(plan).replace(/^/gm, '   '));
    say('== 4. run it live');
    const result = await app.run(
      plan,
      { trigger: { kind: 'demo', by: 'demo', reason: 'demo' }, triggerAt },
      {
        onEvent: (e) => {
          const l = formatEvent(e);
          if (l) say(`   ${l}`);
        },
      },
    );
    const after = await reach('fb-h1');
    say(`   after containment: h1 ${after} the internet`);

    say('== 5. roll back from the journal');
    const rb = await app.rollback(result.runId, {
      by: 'demo',
      reason: 'demo over',
      onEvent: (e) => {
        const l = formatEvent(e);
        if (l) say(`   ${l}`);
      },
    });
    const back = await reach('fb-h1');
    say(`   after rollback: h1 ${back} the internet`);

    const check = await journal.verify();
    say('== 6. result');
    say(`   run ${result.runId}: ${result.state}; rollback: ${rb.state}`);
    say(
      `   time to contain: ${result.timeToContainMs} ms (plan + run, to the last change verified on its device); cut skew ${result.cutSkewMs.join('/')} ms`,
    );
    say(
      `   journal ${paths.journal}: ${check.entries} entries, hash chain ${check.ok ? 'verified' : `BROKEN: ${check.problems.join('; ')}`}`,
    );
    say('   the lab stays up: `node dist/src/cli/main.js lab status`, and `... lab down` removes it');
    const ok = result.state === 'contained' && after === 'CANNOT reach' && rb.state === 'rolled-back' && back === 'reaches' && check.ok;
    say(ok ? 'DEMO OK' : 'DEMO FAILED: see above');
    return ok ? 0 : 1;
  } finally {
    await app.close();
  }
}

process.exitCode = await main().catch((err) => {
  say(`demo failed: ${err instanceof Error ? err.message : String(err)}`);
  return 1;
});
