import { Command } from 'commander';
import { die, EXIT } from './exit.js';

/** `lab status`: 1 stays "could not tell" (not root, bad --dir), as die() exits. */
const LAB_STATE_EXIT = { up: EXIT.ok, partial: EXIT.partial, down: EXIT.failed } as const;

/** `firebreak lab up | down | status`: the namespace lab on real sshd, nftables and snmpd (root). */
export function labCommand(): Command {
  const lab = new Command('lab').description('build, remove or inspect the network-namespace lab (needs root)');
  const err = (line: string) => process.stderr.write(`${line}\n`);

  lab
    .command('up')
    .description('build the lab, or check it and return at once when it is already up')
    .option('--dir <dir>', 'lab state folder (env FIREBREAK_LAB_DIR, default <repo>/.lab)')
    .option('--reset', 'also undo drift: links down, blocked bridge ports, foreign nft tables')
    .option('--json', 'print the lab description as JSON')
    .action(async (o: { dir?: string; reset?: boolean; json?: boolean }) => {
      try {
        const { labUp } = await import('../lab/lab.js'); // the lab's modules load only for lab commands
        const info = await labUp({ dir: o.dir, reset: o.reset, log: err });
        if (o.json) process.stdout.write(`${JSON.stringify(info, null, 2)}\n`);
        else {
          process.stdout.write(`lab ${info.reused ? 'already up' : 'up'} in ${info.elapsedMs} ms\n`);
          process.stdout.write(
            `management: fw ${info.management.fw} (ssh), sw ${info.management.sw} (ssh, snmp v3 user ${info.snmpUser})\n`,
          );
          process.stdout.write(`inventory: ${info.inventoryDir}\n`);
        }
      } catch (e) {
        die(e);
      }
    });

  lab
    .command('down')
    .description('remove the lab namespaces, their processes, the root veths and safety routes (keeps keys)')
    .option('--dir <dir>', 'lab state folder')
    .option('--keep-safety-routes', 'leave the root "unreachable" routes for the lab prefixes in place')
    .action(async (o: { dir?: string; keepSafetyRoutes?: boolean }) => {
      try {
        const t0 = Date.now();
        const { labDown } = await import('../lab/lab.js');
        await labDown({ dir: o.dir, keepSafetyRoutes: o.keepSafetyRoutes, log: err });
        process.stdout.write(`lab down in ${Date.now() - t0} ms\n`);
      } catch (e) {
        die(e);
      }
    });

  lab
    .command('status')
    .description(
      `namespaces, daemons, reachability and the inventory folder (exit ${EXIT.ok} up, ${EXIT.partial} partly up, ${EXIT.failed} down)`,
    )
    .option('--dir <dir>', 'lab state folder')
    .option('--json', 'print the status as JSON')
    .action(async (o: { dir?: string; json?: boolean }) => {
      try {
        const { formatLabStatus, labStatus } = await import('../lab/lab.js');
        const s = await labStatus({ dir: o.dir });
        process.stdout.write(o.json ? `${JSON.stringify(s, null, 2)}\n` : `${formatLabStatus(s)}\n`);
        // Scripts ask `lab status || lab up`: only a lab that is all up is a success.
        process.exitCode = LAB_STATE_EXIT[s.state];
      } catch (e) {
        die(e);
      }
    });
  return lab;
}
