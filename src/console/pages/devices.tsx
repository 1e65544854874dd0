import { useState } from 'preact/hooks';
import { formatTime, t } from '../i18n.js';
import type { Device, DeviceHealth } from '../types.js';
import { ErrorBox, Loading, PageTitle } from '../ui.js';
import { useApi } from '../use-api.js';

/**
 * Device health: reachable, logged in, host key as pinned, and when the server last checked
 * (GET /devices/health: a login to each device, kept a minute; "check again" forces a new one).
 */
export function Devices() {
  const devices = useApi<Device[]>('/devices?probe=0');
  const [force, setForce] = useState(false);
  const health = useApi<DeviceHealth[]>(`/devices/health?refresh=${force ? 1 : 0}`);
  const byId = new Map((health.data ?? []).map((h) => [h.device, h]));
  return (
    <section>
      <PageTitle>{t('devices.title')}</PageTitle>
      <p>
        <button type="button" class="small" onClick={() => (force ? health.reload() : setForce(true))} disabled={health.loading}>
          {health.loading ? t('common.wait') : t('devices.check')}
        </button>
      </p>
      <Loading when={devices.loading && !devices.data} />
      <ErrorBox error={devices.error ?? health.error} />
      <ul class="cards" data-testid="devices">
        {(devices.data ?? []).map((d) => {
          const h = byId.get(d.id);
          return (
            <li key={d.id} class="card" data-device={d.id}>
              <h2>
                {d.id} <span class="muted">({d.site})</span>
              </h2>
              <dl>
                <dt>{t('devices.address')}</dt>
                <dd>
                  {d.address} · {d.driver} · {d.transport}
                </dd>
                <dt>{t('devices.reachable')}</dt>
                <dd>
                  <Health value={h ? h.reachable : null} unknown={t('common.wait')} />
                </dd>
                <dt>{t('devices.authenticated')}</dt>
                <dd>
                  <Health value={h ? h.authenticated : null} unknown={t('common.wait')} />
                  {h?.error ? (
                    <span class="muted">
                      {' '}
                      {h.code}: {h.error}
                    </span>
                  ) : null}
                </dd>
                <dt>{t('devices.hostKey')}</dt>
                <dd>
                  {d.transport === 'ssh' ? (
                    <Health value={h ? h.hostKeyOk : null} unknown={t('common.wait')} />
                  ) : (
                    <span class="muted">{t('devices.notProbed')}</span>
                  )}
                  {d.hostKey ? <code class="secret"> {d.hostKey}</code> : null}
                </dd>
                <dt>{t('devices.lastChecked')}</dt>
                <dd>{h ? formatTime(h.checkedAt) : '-'}</dd>
                <dt>{t('devices.interfaces')}</dt>
                <dd>
                  {Object.entries(d.interfaces)
                    .map(([n, i]) => (i.roles.length ? `${n} (${i.roles.join(', ')})` : n))
                    .join(', ')}
                </dd>
              </dl>
            </li>
          );
        })}
      </ul>
    </section>
  );
}

function Health({ value, unknown }: { value: boolean | null; unknown: string }) {
  if (value === null) return <span class="badge busy">{unknown}</span>;
  return <span class={`badge ${value ? 'ok' : 'bad'}`}>{value ? t('devices.yes') : t('devices.no')}</span>;
}
