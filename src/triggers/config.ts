import { readFile } from 'node:fs/promises';
import * as z from 'zod';
import { ConfigInvalid } from '../errors.js';
import { PLAYBOOK_ID } from '../playbooks/schema.js';
import { issuesMessage, type SourceIssue, validateYaml } from '../yaml-source.js';
import { parseTemplate } from './template.js';
import { TRIGGER_KINDS, type TriggerSpec } from './types.js';

/**
 * triggers.yaml: which detector events start which playbook, with which parameters. Every
 * problem is reported at once, one `file:line:col path: message` per line, in one ConfigInvalid.
 */

export const TRIGGER_NAME = /^[a-z][a-z0-9-]{0,31}$/;
const PARAM_NAME = /^[a-z][A-Za-z0-9_]{0,31}$/;
/** Prometheus label names (Alertmanager match keys). */
const LABEL_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const DOTTED_PATH = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/;
const SECRET_REF = /^(env:[A-Za-z_][A-Za-z0-9_]*|file:\/.+)$/;

const kind = z.enum(TRIGGER_KINDS, {
  error: (iss) =>
    iss.input === undefined ? 'is required' : `unknown kind ${JSON.stringify(iss.input)} (known: ${TRIGGER_KINDS.join(', ')})`,
});
const stringMap = z.record(z.string(), z.string({ error: 'must be a string (quote numbers)' }));

const triggerSchema = z.strictObject({
  name: z.string().regex(TRIGGER_NAME, `must match ${TRIGGER_NAME.source}`),
  kind,
  playbook: z.string().regex(PLAYBOOK_ID, `must match ${PLAYBOOK_ID.source}`),
  params: stringMap.default({}),
  match: stringMap.default({}),
  minLevel: z.number().int().min(0).max(16).optional(),
  // The message never repeats the value: a literal secret pasted here must not reach a log.
  secret: z
    .string({ error: 'must be a secret reference' })
    .regex(SECRET_REF, 'must be a reference (env:NAME or file:/path), not the secret itself')
    .optional(),
  cooldownSeconds: z.number().int().min(0).max(604_800).default(600),
  approval: z.enum(['required', 'playbook']).default('playbook'),
  onResolved: z.enum(['record', 'rollback']).default('record'),
  breakGlass: z.boolean().default(false),
  ttlSeconds: z
    .number()
    .int()
    .min(1)
    .max(30 * 86_400)
    .optional(),
  rateLimit: z
    .strictObject({ runs: z.number().int().min(1).max(10_000), perSeconds: z.number().int().min(1).max(86_400) })
    .default({ runs: 10, perSeconds: 60 }),
});

export const triggersFileSchema = z.strictObject({ triggers: z.array(triggerSchema) });

/** Checks that need the whole file or the playbook list: unique names, playbooks, templates, kind rules. */
function checkTriggers(specs: TriggerSpec[], knownPlaybooks?: readonly string[]): SourceIssue[] {
  const issues: SourceIssue[] = [];
  const firstAt = new Map<string, number>();
  specs.forEach((t, i) => {
    const at = ['triggers', i];
    const first = firstAt.get(t.name);
    if (first !== undefined) issues.push({ path: [...at, 'name'], message: `trigger "${t.name}" is already defined (triggers[${first}])` });
    else firstAt.set(t.name, i);
    if (knownPlaybooks && !knownPlaybooks.includes(t.playbook)) {
      issues.push({
        path: [...at, 'playbook'],
        message: `unknown playbook "${t.playbook}" (known: ${knownPlaybooks.join(', ') || 'none'})`,
      });
    }
    for (const [name, template] of Object.entries(t.params)) {
      if (!PARAM_NAME.test(name))
        issues.push({ path: [...at, 'params', name], message: `parameter name must match ${PARAM_NAME.source}`, atKey: true });
      const parsed = parseTemplate(template);
      if (!parsed.ok) issues.push({ path: [...at, 'params', name], message: parsed.message });
    }
    const keyRule = t.kind === 'alertmanager' ? LABEL_NAME : DOTTED_PATH;
    const keyWhat = t.kind === 'alertmanager' ? 'a label name' : 'a dotted field path';
    for (const key of Object.keys(t.match)) {
      if (!keyRule.test(key))
        issues.push({ path: [...at, 'match', key], message: `match key must be ${keyWhat} (${keyRule.source})`, atKey: true });
    }
    if (t.kind === 'webhook' && t.secret === undefined) {
      issues.push({ path: at, message: 'a webhook trigger needs secret: the HMAC key as env:NAME or file:/path' });
    }
    if (t.kind !== 'wazuh' && t.minLevel !== undefined) {
      issues.push({ path: [...at, 'minLevel'], message: 'minLevel is only for wazuh triggers', atKey: true });
    }
    if (t.kind === 'wazuh' && t.onResolved === 'rollback') {
      issues.push({ path: [...at, 'onResolved'], message: 'a Wazuh alert is never resolved: onResolved rollback does not apply' });
    }
  });
  return issues;
}

/** Pure: one triggers.yaml text -> its triggers, with defaults applied. */
export function parseTriggers(file: string, text: string, knownPlaybooks?: readonly string[]): TriggerSpec[] {
  const r = validateYaml(file, text, triggersFileSchema, (v) => checkTriggers(v.triggers, knownPlaybooks));
  if (!r.ok) throw new ConfigInvalid(issuesMessage(r.issues));
  return r.value.triggers;
}

/** Reads and validates triggers.yaml; `knownPlaybooks`, when given, are the playbook ids a trigger may name. */
export async function loadTriggers(file: string, knownPlaybooks?: readonly string[]): Promise<TriggerSpec[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new ConfigInvalid(`${file}: cannot read (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  return parseTriggers(file, text, knownPlaybooks);
}
