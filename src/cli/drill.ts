import { Command } from 'commander';
import type { PreflightReport } from '../drills/preflight.js';
import { redactor } from '../secrets.js';
import { collectParam, die, EXIT } from './exit.js';
import { out } from './run.js';

/**
 * `firebreak drill ...`: rehearse before it is needed. `verify` is the preflight: every device the
 * plan touches is connected to, its host key checked, logged in to, and the state each action
 * needs read, changing nothing; exit 0 only when every device would work.
 */
export function drillCommand(): Command {
  const drill = new Command('drill').description('rehearse containment: preflight checks (verify) that change nothing');
  drill
    .command('verify')
    .description(
      'connect, authenticate, check host keys and read the state each action needs, for every device a playbook touches; changes nothing',
    )
    .argument('<playbook>', 'playbook id')
    .option('-p, --param <name=value>', 'playbook parameter (repeatable)', collectParam, {})
    .option('--json', 'machine-readable report')
    .action(async (playbook: string, opts: { param: Record<string, string>; json?: boolean }, cmd: Command) => {
      try {
        const [{ planFromFiles }, { resolvePaths }, { preflight }, { drivers }, { openSession }, { resolveSecret }] = await Promise.all([
          import('../app/open.js'),
          import('./config.js'),
          import('../drills/preflight.js'),
          import('../drivers/registry.js'),
          import('../transports/connect.js'),
          import('../secrets.js'),
        ]);
        const plan = await planFromFiles(resolvePaths(cmd.optsWithGlobals()), { playbook, params: opts.param });
        const report = await preflight(plan, { drivers, openSession, resolveSecret });
        out(redactor.text(opts.json ? JSON.stringify(report, null, 2) : formatPreflight(report)));
        process.exitCode = report.ok ? EXIT.ok : EXIT.failed;
      } catch (err) {
        die(err);
      }
    });
  return drill;
}

export function formatPreflight(r: PreflightReport): string {
  const lines = [
    `preflight of ${r.playbook}${
      Object.keys(r.params).length
        ? ` (${Object.entries(r.params)
            .map(([k, v]) => `${k}=${v}`)
            .join(', ')})`
        : ''
    }: ${r.devices.length} device(s), ${r.ms} ms, nothing changed`,
  ];
  for (const e of r.planErrors) lines.push(`  PLAN  ${e}`);
  for (const w of r.planWarnings) lines.push(`  warn  ${w}`);
  for (const d of r.devices) {
    const h = d.health;
    const why = !h.authenticated
      ? h.code === 'HOST_KEY_MISMATCH'
        ? `host key is not the pinned one (${h.error})`
        : h.code === 'AUTH_FAILED'
          ? `login refused (${h.error})`
          : `not reachable (${h.code}: ${h.error})`
      : '';
    lines.push(`  ${d.ok ? 'ok  ' : 'FAIL'}  ${d.device.padEnd(14)} ${d.driver.padEnd(12)} ${why || `${h.transport} ok in ${h.ms} ms`}`);
    if (!h.authenticated) continue;
    for (const a of d.actions)
      lines.push(
        `          ${a.actionId.padEnd(4)} ${a.what.padEnd(40)} ${a.outcome === 'error' ? `ERROR ${a.code}: ${a.error}` : a.outcome}`,
      );
  }
  lines.push(
    r.ok
      ? 'every device would work'
      : `NOT READY: ${
          r.devices
            .filter((d) => !d.ok)
            .map((d) => d.device)
            .join(', ') || 'the plan has errors'
        }`,
  );
  return lines.join('\n');
}
