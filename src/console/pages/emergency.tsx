import { segmentsOf } from '../blast.js';
import { type Key, t } from '../i18n.js';
import { href } from '../router.js';
import type { Device, Playbook, User } from '../types.js';
import { ErrorBox, Loading, PageTitle } from '../ui.js';
import { allows, useApi } from '../use-api.js';

/**
 * The emergency page: one big button per playbook, grouped by what it cuts (internet, segments,
 * hosts), each saying in plain words what it will cut. A button opens the preview; nothing
 * changes on any device before the plan was shown and confirmed.
 */
const GROUPS = ['internet', 'segments', 'hosts', 'other'] as const;

export function Emergency({ user }: { user: User }) {
  const books = useApi<Playbook[]>('/playbooks');
  const devices = useApi<Device[]>('/devices?probe=0');
  const canRun = allows(user.scopes, 'plan');
  return (
    <section>
      <PageTitle>{t('emergency.title')}</PageTitle>
      <p class="lead">{t('emergency.lead')}</p>
      {!canRun ? (
        <p class="notice" role="note">
          {t('emergency.readOnly')}
        </p>
      ) : null}
      <Loading when={books.loading && !books.data} />
      <ErrorBox error={books.error} />
      {GROUPS.map((g) => {
        const list = (books.data ?? []).filter((p) => (p.group ?? 'other') === g);
        if (!list.length) return null;
        return (
          <section key={g} class="group" aria-labelledby={`group-${g}`}>
            <h2 id={`group-${g}`}>{t(`group.${g}` as Key)}</h2>
            <ul class="playbooks">
              {list.map((p) => (
                <li key={p.id}>
                  <a
                    class={`playbook-button group-${g}${canRun && allows(user.scopes, `run:${p.id}`) ? '' : ' disabled'}`}
                    href={canRun ? href('go', p.id) : undefined}
                    aria-disabled={canRun ? undefined : 'true'}
                    data-playbook={p.id}
                    aria-describedby={`cut-${p.id}`}
                  >
                    <span class="pb-title">{p.title}</span>
                    <span class="pb-cut" id={`cut-${p.id}`}>
                      {cutWords(p, devices.data ?? [])}
                    </span>
                    {p.policy.approval === 'required' ? <span class="badge busy">{t('emergency.needsApproval')}</span> : null}
                  </a>
                </li>
              ))}
            </ul>
          </section>
        );
      })}
    </section>
  );
}

/** What the playbook cuts, in plain words, with numbers from the inventory where it has them. */
export function cutWords(p: Playbook, devices: readonly Device[]): string {
  const uplinks = devices.flatMap((d) =>
    Object.entries(d.interfaces)
      .filter(([, i]) => i.roles.includes('uplink'))
      .map(([n]) => `${d.id}:${n}`),
  );
  const segments = segmentsOf(devices);
  switch (p.group) {
    case 'internet':
      return devices.length
        ? t('cut.internetN', { n: uplinks.length, uplinks: uplinks.join(', ') || '-', segments: segments.join(', ') || '-' })
        : t('cut.internet');
    case 'segments':
      return t('cut.segment', { segments: segments.join(', ') || '-' });
    case 'hosts':
      return t('cut.host');
    default:
      return p.description ?? p.title;
  }
}
