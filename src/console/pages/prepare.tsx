import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { type ApiError, api } from '../api.js';
import { blastRadius } from '../blast.js';
import { Confirm } from '../confirm.js';
import { t } from '../i18n.js';
import { ParamField } from '../params.js';
import { PlanPreview } from '../plan-preview.js';
import { href, navigate } from '../router.js';
import type { Device, Hold, HostEntry, Plan, Playbook, User } from '../types.js';
import { ErrorBox, Loading, PageTitle } from '../ui.js';
import { allows, useApi } from '../use-api.js';
import { cutWords } from './emergency.js';

/**
 * One playbook, made ready: parameters picked, the plan previewed (devices, ports, rules, blast
 * radius, lockout findings), then the deliberate confirm that starts the run.
 */
export function Prepare({ id, user }: { id: string; user: User }) {
  const book = useApi<Playbook>(`/playbooks/${encodeURIComponent(id)}`);
  const devices = useApi<Device[]>('/devices?probe=0');
  const holds = useApi<Hold[]>('/holds');
  const hosts = useApi<HostEntry[]>('/hosts');
  const [params, setParams] = useState<Record<string, string>>({});
  const [plan, setPlan] = useState<Plan>();
  const [reason, setReason] = useState('');
  const [error, setError] = useState<ApiError>();
  const [busy, setBusy] = useState(false);
  // One key per confirmed plan: a double tap or a retry after a lost answer gives the same run back.
  const idemKey = useRef(newKey());
  const previewRef = useRef<HTMLHeadingElement>(null);

  useEffect(() => {
    const p = book.data;
    if (!p) return;
    const init: Record<string, string> = {};
    for (const [n, s] of Object.entries(p.params ?? {})) if (s.default !== undefined) init[n] = s.default;
    setParams(init);
  }, [book.data]);

  const knownHosts = useMemo(
    () => [...new Set([...(hosts.data ?? []).map((h) => h.address), ...hostsFromHolds(holds.data ?? [])])],
    [holds.data, hosts.data],
  );
  const blast = useMemo(() => (plan && devices.data ? blastRadius(plan, devices.data) : undefined), [plan, devices.data]);

  if (book.error) return <ErrorBox error={book.error} />;
  if (!book.data) return <Loading when />;
  const p = book.data;
  const needsApproval = p.policy.approval === 'required';

  const set = (n: string, v: string) => {
    setParams((old) => ({ ...old, [n]: v }));
    setPlan(undefined);
  };

  async function preview(e: Event) {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      const body = { playbook: p.id, params: Object.fromEntries(Object.entries(params).filter(([, v]) => v !== '')) };
      setPlan(await api<Plan>('POST', '/plans', body));
      idemKey.current = newKey();
      setTimeout(() => previewRef.current?.focus(), 0);
    } catch (err) {
      setPlan(undefined);
      setError(err as ApiError);
    } finally {
      setBusy(false);
    }
  }

  async function run() {
    if (!plan) return;
    setBusy(true);
    setError(undefined);
    performance.mark('fb:confirm');
    try {
      const body = { playbook: p.id, params: plan.params, ...(reason.trim() ? { reason: reason.trim() } : {}) };
      const r = await api<{ runId: string }>('POST', '/runs', body, { 'idempotency-key': idemKey.current });
      navigate('run', r.runId);
    } catch (err) {
      setError(err as ApiError);
      setBusy(false);
    }
  }

  const canRun = allows(user.scopes, `run:${p.id}`);
  return (
    <section>
      <p>
        <a href={href('emergency')}>← {t('prepare.back')}</a>
      </p>
      <PageTitle>{p.title}</PageTitle>
      <p class="lead">{cutWords(p, devices.data ?? [])}</p>
      {p.description ? <p class="muted">{p.description}</p> : null}
      <form onSubmit={preview} class="params">
        {hosts.data?.length && (p.params?.address || p.params?.port) ? (
          <HostPicker
            hosts={hosts.data}
            onPick={(h) => {
              if (p.params?.address) set('address', h.address);
              if (p.params?.port) set('port', h.port ?? '');
            }}
          />
        ) : null}
        {Object.entries(p.params ?? {}).map(([n, spec]) => (
          <ParamField
            key={n}
            name={n}
            spec={spec}
            value={params[n] ?? ''}
            devices={devices.data ?? []}
            knownHosts={n === 'address' ? knownHosts : []}
            onChange={(v) => set(n, v)}
          />
        ))}
        <button type="submit" class="primary big" disabled={busy || !allows(user.scopes, 'plan')} data-testid="preview">
          {t('prepare.preview')}
        </button>
      </form>
      <ErrorBox error={error} />
      {plan && blast ? (
        <>
          <PlanPreview plan={plan} blast={blast} hosts={hosts.data ?? []} headingRef={previewRef} />
          {canRun ? (
            <>
              <div class="field">
                <label for="run-reason">{t('prepare.reason')}</label>
                <input id="run-reason" maxLength={500} value={reason} onInput={(e) => setReason(e.currentTarget.value)} />
              </div>
              {needsApproval ? (
                <p class="notice" role="note">
                  {t('prepare.approvalNote')}
                </p>
              ) : null}
              <Confirm
                sites={blast.sites}
                disabled={busy || plan.errors.length > 0 || plan.actions.length === 0}
                label={needsApproval ? t('prepare.askApproval') : t('prepare.contain')}
                onConfirm={run}
              />
            </>
          ) : (
            <p class="notice">{t('prepare.cannotRun')}</p>
          )}
        </>
      ) : null}
    </section>
  );
}

function newKey(): string {
  return `console-${crypto.randomUUID()}`;
}

/** Host addresses the holds know (blocked before): offered as suggestions, never required. */
/** A host of the inventory by name: fills its address and its switch port, nothing typed. */
function HostPicker({ hosts, onPick }: { hosts: readonly HostEntry[]; onPick: (h: HostEntry) => void }) {
  return (
    <div class="field">
      <label for="pick-host">{t('prepare.pickHost')}</label>
      <select
        id="pick-host"
        data-testid="pick-host"
        onChange={(e) => {
          const h = hosts.find((x) => x.name === e.currentTarget.value);
          if (h) onPick(h);
        }}
      >
        <option value="">{t('param.choose')}</option>
        {hosts.map((h) => (
          <option key={h.name} value={h.name}>
            {`${h.name} - ${h.address}${h.port ? ` - ${h.port}` : ''}${h.segment ? ` (${h.segment})` : ''}`}
          </option>
        ))}
      </select>
    </div>
  );
}

function hostsFromHolds(holds: readonly Hold[]): string[] {
  const out = new Set<string>();
  for (const h of holds) {
    const m = /host\.(?:un)?block (\S+)/.exec(h.target);
    if (m?.[1]) out.add(m[1]);
  }
  return [...out];
}
