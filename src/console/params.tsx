import { segmentsOf } from './blast.js';
import { t } from './i18n.js';
import type { Device, ParamSpec } from './types.js';

/**
 * A playbook parameter as a picker from the inventory where the inventory knows the answer
 * (segment, device, device:port), a checked text field where it cannot (a host's address).
 */
export function ParamField({
  name,
  spec,
  value,
  devices,
  knownHosts,
  onChange,
}: {
  name: string;
  spec: ParamSpec;
  value: string;
  devices: readonly Device[];
  knownHosts: readonly string[];
  onChange: (v: string) => void;
}) {
  const id = `param-${name}`;
  const help = `${id}-help`;
  const label = (
    <label for={id}>
      {paramLabel(name)}
      {spec.required ? <span class="req"> ({t('param.required')})</span> : <span class="muted"> ({t('param.optional')})</span>}
    </label>
  );
  const describe = (
    <p id={help} class="muted">
      {spec.description ?? ''}
    </p>
  );
  const select = (options: { value: string; label: string; group?: string }[]) => {
    const groups = [...new Set(options.map((o) => o.group ?? ''))];
    return (
      <select id={id} value={value} onChange={(e) => onChange(e.currentTarget.value)} aria-describedby={help} required={spec.required}>
        <option value="">{spec.required ? t('param.choose') : t('param.none')}</option>
        {groups.map((g) =>
          g ? (
            <optgroup key={g} label={g}>
              {options
                .filter((o) => o.group === g)
                .map((o) => (
                  <option key={o.value} value={o.value}>
                    {o.label}
                  </option>
                ))}
            </optgroup>
          ) : (
            options
              .filter((o) => !o.group)
              .map((o) => (
                <option key={o.value} value={o.value}>
                  {o.label}
                </option>
              ))
          ),
        )}
      </select>
    );
  };
  let field: preact.JSX.Element;
  if (spec.type === 'segment') field = select(segmentsOf(devices).map((s) => ({ value: s, label: s })));
  else if (spec.type === 'device') field = select(devices.map((d) => ({ value: d.id, label: `${d.id} (${d.site})` })));
  else if (spec.type === 'device-interface') field = select(portOptions(devices));
  else if (spec.type === 'vlan')
    field = (
      <input
        id={id}
        type="number"
        min={1}
        max={4094}
        inputMode="numeric"
        value={value}
        aria-describedby={help}
        onInput={(e) => onChange(e.currentTarget.value)}
      />
    );
  else
    field = (
      <>
        <input
          id={id}
          value={value}
          list={knownHosts.length ? `${id}-known` : undefined}
          inputMode={spec.type.startsWith('ipv4') ? 'decimal' : undefined}
          autocomplete="off"
          spellcheck={false}
          aria-describedby={help}
          required={spec.required}
          onInput={(e) => onChange(e.currentTarget.value.trim())}
        />
        {knownHosts.length ? (
          <datalist id={`${id}-known`}>
            {knownHosts.map((h) => (
              <option key={h} value={h} />
            ))}
          </datalist>
        ) : null}
      </>
    );
  return (
    <div class="field">
      {label}
      {field}
      {describe}
    </div>
  );
}

/** Access ports (where hosts are) as `device:port`, grouped by device; without access roles, every plain port. */
function portOptions(devices: readonly Device[]) {
  const access = devices.some((d) => Object.values(d.interfaces).some((i) => i.roles.includes('access')));
  const out: { value: string; label: string; group: string }[] = [];
  for (const d of devices) {
    for (const [name, i] of Object.entries(d.interfaces)) {
      const plain = !i.roles.some((r) => r === 'uplink' || r === 'mgmt' || r === 'trunk' || r === 'outlet' || r.startsWith('segment:'));
      if (access ? !i.roles.includes('access') : !plain) continue;
      out.push({
        value: `${d.id}:${name}`,
        label: `${d.id}:${name}${i.description ? ` - ${i.description}` : ''}`,
        group: `${d.id} (${d.site})`,
      });
    }
  }
  return out;
}

export function paramLabel(name: string): string {
  const k = `param.${name}` as 'param.address';
  const s = t(k);
  return s === k ? name : s;
}
