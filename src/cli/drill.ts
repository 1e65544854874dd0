import { Command } from 'commander';
import type { PreflightReport } from '../drills/preflight.js';
import { ConfigInvalid } from '../errors.js';
import { redactor } from '../secrets.js';
import { collectParam, die, EXIT } from './exit.js';
import { out } from './run.js';

/**
 * `firebreak drill ...`: rehearse before it is needed. `verify` is the preflight: every device the
 * plan touches is connected to, its host key checked, logged in to, and the state each action
 * needs read, changing nothing; exit 0 only when every device would work.
 */
export function drillCommand(): Command {
  const drill = new Command('drill').description(
    'rehearse containment: preflight (verify), drills.yaml drills run now or on schedule, their history',
  );
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
  drillSubcommands(drill);
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

/** drills.yaml: --drills, FIREBREAK_DRILLS, or ./drills.yaml. */
export function drillsFile(flag?: string): string {
  return flag ?? process.env.FIREBREAK_DRILLS ?? 'drills.yaml';
}

async function loadDrillSpecs(file: string, playbooksDir: string) {
  const [{ loadDrills }, { listPlaybooks }] = await Promise.all([import('../drills/config.js'), import('../playbooks/load.js')]);
  return loadDrills(file, await listPlaybooks(playbooksDir));
}

export function drillSubcommands(drill: Command): void {
  drill
    .command('list')
    .description('the drills of drills.yaml, their schedule, next times, last run and any missed time')
    .option('--drills <file>', 'drills file (env FIREBREAK_DRILLS, default ./drills.yaml)')
    .option('--json', 'machine-readable')
    .action(async (opts: { drills?: string; json?: boolean }, cmd: Command) => {
      const { withCliApp } = await import('./app.js');
      await withCliApp(cmd.optsWithGlobals(), { local: true }, async (app) => {
        const { resolvePaths } = await import('./config.js');
        const [{ nextRuns }, { drillHistory }, { missed }] = await Promise.all([
          import('../drills/config.js'),
          import('../drills/run.js'),
          import('../drills/scheduler.js'),
        ]);
        const specs = await loadDrillSpecs(drillsFile(opts.drills), resolvePaths(cmd.optsWithGlobals()).playbooks);
        const history = await drillHistory(app.journal);
        const late = await missed(app.journal, specs, new Date());
        const rows = specs.map((d) => {
          const last = history.filter((h) => h.drillId === d.id).at(-1);
          return {
            id: d.id,
            mode: d.mode,
            playbook: d.playbook,
            schedule: d.schedule ? `${d.schedule.cron} (${d.schedule.tz})` : null,
            next: nextRuns(d, new Date(), 3).map((t) => t.toISOString()),
            last: last ? { at: last.startedAt, ok: last.ok, state: last.state, timeToContainMs: last.timeToContainMs } : null,
            missed: late.find((m) => m.drillId === d.id)?.dueAt ?? null,
          };
        });
        if (opts.json) return out(JSON.stringify(rows, null, 2));
        for (const r of rows) {
          out(`${r.id.padEnd(20)} ${r.mode.padEnd(6)} ${r.playbook.padEnd(24)} ${r.schedule ?? 'not scheduled'}`);
          if (r.next.length) out(`    next: ${r.next.join(', ')}`);
          out(
            `    last: ${r.last ? `${r.last.at} ${r.last.ok ? 'OK' : 'FAILED'} (${r.last.state}${r.last.timeToContainMs !== null ? `, contained in ${r.last.timeToContainMs} ms` : ''})` : 'never run'}`,
          );
          if (r.missed) out(`    MISSED: due ${r.missed}, did not run`);
        }
      });
    });
  drill
    .command('run')
    .description('run one drill now (live: contain, hold, restore by itself; verify: preflight) and write its report')
    .argument('<id>', 'drill id in drills.yaml')
    .option('--drills <file>', 'drills file (env FIREBREAK_DRILLS, default ./drills.yaml)')
    .option('--report-dir <dir>', 'write <id>-<run>.json and .html here', '.')
    .option('--json', 'print the report as JSON')
    .action(async (id: string, opts: { drills?: string; reportDir: string; json?: boolean }, cmd: Command) => {
      const [{ withCliApp, whoAmI }, { resolvePaths }] = await Promise.all([import('./app.js'), import('./config.js')]);
      await withCliApp(cmd.optsWithGlobals(), { local: true }, async (app) => {
        const specs = await loadDrillSpecs(drillsFile(opts.drills), resolvePaths(cmd.optsWithGlobals()).playbooks);
        const spec = specs.find((d) => d.id === id);
        if (!spec)
          throw new ConfigInvalid(`no drill "${id}" in ${drillsFile(opts.drills)} (known: ${specs.map((d) => d.id).join(', ') || 'none'})`);
        const [{ runDrill }, { drivers }, { openSession }, { resolveSecret }, { startExpirySweeper, EXPIRY_BY }, { writeReports }] =
          await Promise.all([
            import('../drills/run.js'),
            import('../drivers/registry.js'),
            import('../transports/connect.js'),
            import('../secrets.js'),
            import('../app/expiry.js'),
            import('../drills/report-files.js'),
          ]);
        // This process restores the drill at its time too; if it dies, the deadline in the journal is fired by `firebreak serve`.
        const sweeper = startExpirySweeper({
          journal: app.journal,
          rollback: (runId) => app.requestRollback(runId, { by: EXPIRY_BY, identity: EXPIRY_BY, reason: 'the drill hold ended' }),
        });
        try {
          if (spec.mode === 'live')
            process.stderr.write(`drill ${spec.id}: live on ${spec.playbook}; restores itself after ${spec.holdSeconds} s\n`);
          const { loadInventory } = await import('../inventory/load.js');
          const inventory = async (d: string) => (await loadInventory(resolvePaths(cmd.optsWithGlobals()).inventory)).devices.get(d);
          const report = await runDrill({ app, preflight: { drivers, openSession, resolveSecret }, inventory }, spec, { by: whoAmI() });
          const files = await writeReports(report, opts.reportDir);
          out(opts.json ? JSON.stringify(report, null, 2) : formatDrillReport(report, files));
          process.exitCode = report.run.ok ? EXIT.ok : EXIT.failed;
        } finally {
          sweeper.stop();
        }
      });
    });
  drill
    .command('history')
    .description('earlier drills from the journal: when, OK or not, times to contain and restore')
    .argument('[id]', 'only this drill')
    .option('--json', 'machine-readable')
    .action(async (id: string | undefined, opts: { json?: boolean }, cmd: Command) => {
      const { withCliApp } = await import('./app.js');
      await withCliApp(cmd.optsWithGlobals(), { local: true }, async (app) => {
        const { drillHistory } = await import('../drills/run.js');
        const list = await drillHistory(app.journal, id);
        if (opts.json) return out(JSON.stringify(list, null, 2));
        if (!list.length) return out('no drills in the journal');
        for (const h of list)
          out(
            `${h.startedAt}  ${h.drillId.padEnd(20)} ${h.mode.padEnd(6)} ${(h.ok ? 'OK' : 'FAILED').padEnd(6)} ${h.state.padEnd(12)} contain ${h.timeToContainMs ?? '-'} ms, restore ${h.timeToRestoreMs ?? '-'} ms  ${h.runId}`,
          );
      });
    });
}

function formatDrillReport(r: import('../drills/types.js').DrillReport, files: string[]): string {
  const lines = [
    `drill ${r.drill.id} (${r.drill.mode}, ${r.drill.playbook}): ${r.run.ok ? 'OK' : 'FAILED'}, ${r.run.state}`,
    `  time to contain: ${r.run.timeToContainMs ?? '-'} ms; time to restore: ${r.run.timeToRestoreMs ?? '-'} ms`,
  ];
  if (r.trend.baselineTtcMs !== null)
    lines.push(
      `  trend: ${r.trend.changePct?.toFixed(0)} % against the median of earlier drills (${r.trend.baselineTtcMs} ms)${r.trend.regressed ? ' REGRESSED' : ''}`,
    );
  for (const d of r.run.devices)
    lines.push(
      `  ${d.ok ? 'ok  ' : 'FAIL'}  ${d.device.padEnd(14)} contain ${d.containMs ?? '-'} ms, restore ${d.restoreMs ?? '-'} ms${d.error ? `: ${d.error}` : ''}`,
    );
  for (const f of r.run.failures) lines.push(`  failure: ${f.device} ${f.actionId ?? ''} ${f.code}: ${f.error}`);
  if (r.run.probe)
    lines.push(
      `  probe ${r.run.probe.from} -> ${r.run.probe.to}: while held ${r.run.probe.whileHeld}, after restore ${r.run.probe.afterRestore}`,
    );
  lines.push(...files.map((f) => `  report: ${f}`));
  return lines.join('\n');
}
