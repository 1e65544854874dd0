import * as z from 'zod';
import { FORWARD_ACTIONS, type ForwardActionKind } from '../actions.js';
import { roleProblem } from '../inventory/schema.js';
import type { SourceIssue } from '../yaml-source.js';
import { checkValue } from './params.js';
import { PARAM_TYPES, type ParamType } from './types.js';

/** Shape of one playbooks/*.yaml file, and the checks that need the whole playbook. */

export const PLAYBOOK_ID = /^[a-z][a-z0-9-]{0,63}$/;
const PARAM_NAME = /^[a-z][A-Za-z0-9_]{0,31}$/;
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
/** The only template form: a whole value `${name}`. */
export const TEMPLATE = /^\$\{([a-z][A-Za-z0-9_]{0,31})\}$/;

/** The `with` fields each action takes, and the parameter type their values must have. */
export interface ActionField {
  type: ParamType;
  required: boolean;
  /** May be written as a YAML list (each item one address or prefix). */
  list: boolean;
}
export const ACTION_FIELDS: Record<ForwardActionKind, Record<string, ActionField>> = {
  'interface.disable': {},
  'port.vlan': { vlan: { type: 'vlan', required: true, list: false } },
  'power.off': {},
  'host.block': { address: { type: 'address', required: true, list: false } },
  'egress.block': {
    segment: { type: 'segment', required: true, list: false },
    allow: { type: 'prefix-list', required: false, list: true },
  },
};

/** Actions that target one interface (or a PDU outlet) of a device, chosen by role or by device:interface. */
export const INTERFACE_ACTIONS: readonly ForwardActionKind[] = ['interface.disable', 'port.vlan', 'power.off'];

/** Which parameter types a template may use where a value of a type is wanted. */
const ADDRESS_LIKE: ParamType[] = ['ipv4', 'ipv6', 'ip', 'ipv4-prefix', 'ipv6-prefix', 'prefix', 'address'];
export const ACCEPTS: Record<ParamType, ParamType[]> = {
  ipv4: ['ipv4'],
  ipv6: ['ipv6'],
  ip: ['ipv4', 'ipv6', 'ip'],
  'ipv4-prefix': ['ipv4-prefix'],
  'ipv6-prefix': ['ipv6-prefix'],
  prefix: ['ipv4-prefix', 'ipv6-prefix', 'prefix'],
  address: ADDRESS_LIKE,
  'prefix-list': [...ADDRESS_LIKE, 'prefix-list'],
  interface: ['interface'],
  'device-interface': ['device-interface'],
  segment: ['segment'],
  device: ['device'],
  vlan: ['vlan'],
};

const known = FORWARD_ACTIONS.join(', ');
const action = z.enum(FORWARD_ACTIONS, {
  error: (iss) => (iss.input === undefined ? 'is required' : `unknown action ${JSON.stringify(iss.input)} (known: ${known})`),
});
const paramType = z.enum(PARAM_TYPES, {
  error: (iss) =>
    iss.input === undefined ? 'is required' : `unknown parameter type ${JSON.stringify(iss.input)} (known: ${PARAM_TYPES.join(', ')})`,
});
const timeoutMs = z.number().int().min(100).max(3_600_000);
const retries = z.number().int().min(0).max(10);
const autoRevertMinutes = z.number().int().min(1).max(60);
const nonEmpty = (what: string) => z.array(z.string()).min(1, `must list at least one ${what}`);

const selector = z.strictObject({
  devices: nonEmpty('device').optional(),
  tags: z
    .array(z.string().regex(NAME, `must match ${NAME.source}`))
    .min(1, 'must list at least one tag')
    .optional(),
  sites: z
    .array(z.string().regex(NAME, `must match ${NAME.source}`))
    .min(1, 'must list at least one site')
    .optional(),
  role: z.string().optional(),
  interface: z.string().optional(),
});

const step = z.strictObject({
  action,
  on: selector,
  with: z
    .record(z.string(), z.union([z.string(), z.array(z.string())], { error: 'must be a string or a list of strings (quote numbers)' }))
    .default({}),
  timeoutMs: timeoutMs.optional(),
  retries: retries.optional(),
  autoRevertMinutes: autoRevertMinutes.optional(),
  /** What to do instead on a device whose driver can't (a switch without VLAN control shuts the port). */
  fallback: z.literal('interface.disable', { error: 'the only fallback is interface.disable' }).optional(),
});

export const playbookSchema = z.strictObject({
  id: z.string().regex(PLAYBOOK_ID, `must match ${PLAYBOOK_ID.source}`),
  title: z.string().min(1).max(200),
  description: z.string().max(4000).optional(),
  /** Where the console shows it: cutting the internet, segments, single hosts. */
  group: z.enum(['internet', 'segments', 'hosts', 'other']).default('other'),
  params: z
    .record(
      z.string(),
      z.strictObject({
        type: paramType,
        required: z.boolean().default(false),
        default: z.string().optional(),
        description: z.string().max(500).optional(),
      }),
    )
    .default({}),
  policy: z
    .strictObject({
      approval: z.enum(['none', 'required']).default('none'),
      rollbackApproval: z.enum(['none', 'required']).default('none'),
      onFailure: z.enum(['continue', 'abort', 'rollback']).default('continue'),
      timeoutMs: timeoutMs.default(10_000),
      retries: retries.default(1),
      autoRevertMinutes: autoRevertMinutes.optional(),
    })
    .default({ approval: 'none', rollbackApproval: 'none', onFailure: 'continue', timeoutMs: 10_000, retries: 1 }),
  stages: z
    .array(
      z.strictObject({
        name: z.string().min(1).max(200),
        when: z.string().optional(),
        steps: z.array(step).min(1, 'a stage needs at least one step'),
      }),
    )
    .min(1, 'a playbook needs at least one stage'),
});

export type PlaybookInput = z.output<typeof playbookSchema>;

/** Checks that need the whole playbook: names, templates, action fields, selectors. */
export function checkPlaybook(p: PlaybookInput, fileStem: string): SourceIssue[] {
  const issues: SourceIssue[] = [];
  if (p.id !== fileStem) issues.push({ path: ['id'], message: `id "${p.id}" must equal the file name "${fileStem}"` });
  const declared = Object.keys(p.params).join(', ') || 'none';

  for (const [name, spec] of Object.entries(p.params)) {
    if (!PARAM_NAME.test(name))
      issues.push({ path: ['params', name], message: `parameter name must match ${PARAM_NAME.source}`, atKey: true });
    if (spec.default !== undefined) {
      if (spec.required) issues.push({ path: ['params', name, 'required'], message: 'a required parameter cannot have a default' });
      const problem = checkValue(spec.type, spec.default);
      if (problem) issues.push({ path: ['params', name, 'default'], message: `default ${problem}` });
    }
  }

  /** A whole template naming a declared param of a type `type` accepts, or a literal of `literal` (default `type`). */
  const value = (v: string, type: ParamType, path: (string | number)[], literal: ParamType = type): void => {
    const m = TEMPLATE.exec(v);
    if (m) {
      const spec = p.params[m[1]!];
      if (!spec) issues.push({ path, message: `template ${v} names no declared parameter (declared: ${declared})` });
      else if (!ACCEPTS[type].includes(spec.type)) {
        issues.push({
          path,
          message: `parameter "${m[1]}" is ${spec.type}, but ${type} is wanted here (accepts: ${ACCEPTS[type].join(', ')})`,
        });
      }
      return;
    }
    if (v.includes('${')) {
      issues.push({ path, message: 'only whole-value templates are allowed ("${name}"), not text around one' });
      return;
    }
    const problem = checkValue(literal, v);
    if (problem) issues.push({ path, message: problem });
  };

  p.stages.forEach((stage, si) => {
    if (stage.when !== undefined && !Object.hasOwn(p.params, stage.when)) {
      issues.push({ path: ['stages', si, 'when'], message: `"${stage.when}" is not a declared parameter (declared: ${declared})` });
    }
    stage.steps.forEach((s, ti) => {
      const at = ['stages', si, 'steps', ti];
      const on = s.on;
      if (!on.devices && !on.tags && !on.sites && on.role === undefined && on.interface === undefined) {
        issues.push({ path: [...at, 'on'], message: 'selects nothing: give devices, tags, sites, role or interface' });
      }
      on.devices?.forEach((d, i) => {
        value(d, 'device', [...at, 'on', 'devices', i]);
      });
      if (on.role !== undefined) {
        const problem = on.role.includes('$') ? 'templates are not allowed in role' : roleProblem(on.role);
        if (problem) issues.push({ path: [...at, 'on', 'role'], message: problem });
      }
      if (on.interface !== undefined) value(on.interface, 'device-interface', [...at, 'on', 'interface']);
      if (INTERFACE_ACTIONS.includes(s.action)) {
        if ((on.role === undefined) === (on.interface === undefined)) {
          issues.push({ path: [...at, 'on'], message: `${s.action} needs exactly one of on.role or on.interface` });
        }
      } else {
        for (const k of ['role', 'interface'] as const) {
          if (on[k] !== undefined)
            issues.push({ path: [...at, 'on', k], message: `on.${k} is only for ${INTERFACE_ACTIONS.join(', ')}`, atKey: true });
        }
      }
      if (s.fallback !== undefined && s.action !== 'port.vlan') {
        issues.push({
          path: [...at, 'fallback'],
          message: 'fallback is only for port.vlan (shut the port where the VLAN cannot be moved)',
          atKey: true,
        });
      }
      const fields = ACTION_FIELDS[s.action];
      for (const [key, v] of Object.entries(s.with)) {
        const field = fields[key];
        if (!field) {
          const takes = Object.keys(fields).join(', ') || 'none';
          issues.push({ path: [...at, 'with', key], message: `${s.action} takes no field "${key}" (takes: ${takes})`, atKey: true });
          continue;
        }
        if (Array.isArray(v)) {
          if (!field.list) issues.push({ path: [...at, 'with', key], message: 'must be a single value, not a list' });
          // one address or prefix per item
          else
            v.forEach((item, i) => {
              value(item, field.type, [...at, 'with', key, i], 'address');
            });
        } else value(v, field.type, [...at, 'with', key]);
      }
      for (const [key, field] of Object.entries(fields)) {
        if (field.required && !Object.hasOwn(s.with, key)) issues.push({ path: [...at, 'with'], message: `${s.action} needs with.${key}` });
      }
    });
  });
  return issues;
}
