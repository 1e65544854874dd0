/**
 * What a device's login shell start-up costs a containment. The lab firewall's root .bashrc is
 * normally empty; here it is made to sleep 100 ms (as an ordinary .bashrc with pyenv or a
 * company banner costs), and drop-internet-uplinks is timed through the CLI both ways. Also the
 * per-command price: `exec` on the session's persistent shell against one SSH exec channel per
 * command (which starts the login shell every time). Prints a table; asserts nothing.
 *   sudo node dist/bench/shell-cost.js [runs=10]
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadInventory } from '../src/inventory/load.js';
import { labUp } from '../src/lab/lab.js';
import { labPaths } from '../src/lab/paths.js';
import { resolveSecret } from '../src/secrets.js';
import { openSsh } from '../src/transports/ssh.js';
import { runAndRollBack } from './lib/cli-run.js';
import { median, printTable, stats, timed } from './lib/table.js';

const runs = Number(process.argv[2] ?? 10);
const EMPTY_RC = '# the lab device root shell rc: empty on purpose\n';
const SLOW_RC = '# an ordinary login shell: 100 ms of start-up\nsleep 0.1\n';

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('needs root (the lab)');
  const lab = await labUp();
  // The fw's sshd sees this file as /root/.bashrc (a bind mount in its own mount namespace).
  const rc = join(labPaths().dir, 'fw', 'bashrc');
  const dir = mkdtempSync(join(tmpdir(), 'fb-bench-'));
  const env = { FIREBREAK_INVENTORY: lab.inventoryDir, FIREBREAK_JOURNAL: join(dir, 'journal.db') };
  const fw = (await loadInventory(lab.inventoryDir)).devices.get('fw')!;
  const rows: string[][] = [];
  const ttc: Record<string, number> = {};
  const variants = [
    ['empty .bashrc', EMPTY_RC],
    ['.bashrc sleeping 100 ms', SLOW_RC],
  ] as const;
  try {
    // Interleaved, one run of each in turn, so drift in the machine's speed hits both alike.
    const samples: Record<string, number[]> = {};
    await runAndRollBack('drop-internet-uplinks', env);
    for (let i = 0; i < runs; i++) {
      for (const [label, text] of variants) {
        writeFileSync(rc, text);
        const ttcs = samples[label] ?? [];
        samples[label] = ttcs;
        ttcs.push((await runAndRollBack('drop-internet-uplinks', env)).ttc);
      }
    }
    for (const [label, text] of variants) {
      writeFileSync(rc, text);
      ttc[label] = median(samples[label]!);
      rows.push([label, 'drop-internet-uplinks time to contain (ms)', ...stats(samples[label]!)]);
      const ssh = await openSsh(fw, resolveSecret);
      try {
        await ssh.exec('true');
        rows.push([label, 'exec `true`, persistent shell (ms)', ...stats(await timed(runs * 2, () => ssh.exec('true')))]);
        rows.push([label, 'exec `true`, one exec channel each (ms)', ...stats(await timed(runs * 2, () => ssh.execChannel('true')))]);
      } finally {
        await ssh.close();
      }
    }
  } finally {
    writeFileSync(rc, EMPTY_RC);
    rmSync(dir, { recursive: true, force: true });
  }
  printTable(
    `login shell start-up cost on the lab fw, ${runs} runs (node ${process.version})`,
    ['shell', 'figure', 'p50', 'p90', 'max'],
    rows,
  );
  const delta = ttc['.bashrc sleeping 100 ms']! - ttc['empty .bashrc']!;
  console.log(`time to contain p50 with the slow .bashrc minus without: ${delta.toFixed(1)} ms (target: within 100 ms)`);
}

await main();
