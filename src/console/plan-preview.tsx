import type { Ref } from 'preact';
import type { Blast } from './blast.js';
import { t } from './i18n.js';
import type { HostEntry, Plan } from './types.js';

/**
 * The plan before anything happens: the blast radius in words first (what people lose), then
 * each device with its actions and the exact commands, and every lockout finding.
 */
export function PlanPreview({
  plan,
  blast,
  hosts = [],
  headingRef,
}: {
  plan: Plan;
  blast: Blast;
  /** The inventory's hosts: how many are in the segments that lose the internet. */
  hosts?: readonly HostEntry[];
  headingRef?: Ref<HTMLHeadingElement>;
}) {
  const inSegments = hosts.filter((h) => h.segment && blast.segmentsOffline.includes(h.segment)).length;
  // An address and a port given together are one host (isolate-host), not two.
  const hostCount = plan.params.address && plan.params.port ? 1 : blast.hosts.length;
  return (
    <section class="preview" aria-labelledby="preview-title" data-testid="plan-preview">
      <h2 id="preview-title" ref={headingRef} tabIndex={-1}>
        {t('preview.title')}
      </h2>
      <Findings kind="bad" title={t('preview.errors')} issues={plan.errors} />
      <Findings kind="warn" title={t('preview.warnings')} issues={plan.warnings} />
      {plan.actions.length === 0 ? <p class="error">{t('preview.nothing')}</p> : null}
      <h3>{t('preview.blast')}</h3>
      <dl class="blast">
        <dt>{t('preview.segments')}</dt>
        <dd data-testid="blast-segments">
          {blast.allSegments
            ? t('preview.allSegments', { segments: blast.segmentsOffline.join(', ') || '-' })
            : blast.segmentsOffline.length
              ? blast.segmentsOffline.join(', ')
              : t('preview.noSegment')}
          {blast.segmentsOffline.length && hosts.length ? (
            <span data-testid="blast-segment-hosts"> {t('preview.segmentHosts', { n: inSegments })}</span>
          ) : null}
        </dd>
        <dt>{t('preview.hosts')}</dt>
        <dd data-testid="blast-hosts">{hostCount ? `${hostCount}: ${blast.hosts.join(', ')}` : t('preview.noHost')}</dd>
        <dt>{t('preview.devices')}</dt>
        <dd>
          {blast.devices.length} ({blast.devices.join(', ')}) {t('preview.atSites', { sites: blast.sites.join(', ') })}
        </dd>
        <dt>{t('preview.ports')}</dt>
        <dd>{blast.ports.join(', ') || '-'}</dd>
        <dt>{t('preview.rules')}</dt>
        <dd>{blast.rules}</dd>
      </dl>
      <ul class="blast-lines" data-testid="blast-lines">
        {blast.lines.map((l) => (
          <li key={l.actionId} class={l.severe ? 'severe' : ''}>
            {l.text}
          </li>
        ))}
      </ul>
      <h3>{t('preview.actions')}</h3>
      {plan.stages.map((s) => (
        <div key={s.index} class="stage">
          <h4>{t('preview.stage', { n: s.index + 1, name: s.name })}</h4>
          <ol>
            {s.actionIds.map((id) => {
              const a = plan.actions.find((x) => x.id === id);
              if (!a) return null;
              return (
                <li key={id}>
                  <span class="device">{a.device}</span> {a.action.kind} <code>{actionTarget(a.action)}</code>
                  {a.lockoutOverride ? <span class="badge bad">{t('preview.override')}</span> : null}
                  <details>
                    <summary>{t('preview.commands', { n: a.commands.length })}</summary>
                    <pre>{a.commands.join('\n')}</pre>
                  </details>
                </li>
              );
            })}
          </ol>
        </div>
      ))}
    </section>
  );
}

function actionTarget(a: Plan['actions'][number]['action']): string {
  if ('interface' in a) return 'vlan' in a && a.kind === 'port.vlan' ? `${a.interface} -> VLAN ${a.vlan}` : a.interface;
  if ('address' in a) return a.address;
  if ('segment' in a) return a.segment;
  if ('outlet' in a) return a.outlet;
  return '';
}

/** The plan's errors or warnings (lockout findings, unknown targets), when it has any. */
function Findings({ kind, title, issues }: { kind: 'bad' | 'warn'; title: string; issues: Plan['errors'] }) {
  if (!issues.length) return null;
  return (
    <div class={`findings ${kind}`} role={kind === 'bad' ? 'alert' : undefined}>
      <h3>{title}</h3>
      <ul>
        {issues.map((e) => (
          <li key={`${e.code}-${e.at}-${e.message}`}>
            <strong>{e.code}</strong>: {e.message}
          </li>
        ))}
      </ul>
    </div>
  );
}
