import type { z } from 'zod';
import { formatPath } from '../yaml-source.js';
import { type TriggerEvent, TriggerInvalid, type TriggerKind, type TriggerSpec } from './types.js';

/**
 * Parameter templates (`{{ dotted.path }}` in literal text) and the steps every receiver shares:
 * payload shape errors, match filters, rendering, the one-line summary. Rendering does not judge
 * characters: the caller validates the result against the playbook's parameter types.
 */

export const MAX_RENDERED = 256;
const MAX_TEMPLATE = 512;
const SUMMARY_MAX = 200;
/** Only this form: `{{ a.b.0.c }}`, spaces inside the braces optional. */
const PLACEHOLDER = /\{\{ *([A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*) *\}\}/y;

export type TemplatePart = string | { path: string[]; text: string };

/** Splits a template into literal text and placeholders, or says what is wrong and where (0-based index). */
export function parseTemplate(template: string): { ok: true; parts: TemplatePart[] } | { ok: false; index: number; message: string } {
  if (template.length > MAX_TEMPLATE)
    return { ok: false, index: MAX_TEMPLATE, message: `template is longer than ${MAX_TEMPLATE} characters` };
  const parts: TemplatePart[] = [];
  let literal = '';
  let i = 0;
  while (i < template.length) {
    const ch = template[i]!;
    if (ch !== '{' && ch !== '}') {
      literal += ch;
      i++;
      continue;
    }
    PLACEHOLDER.lastIndex = i;
    const m = ch === '{' ? PLACEHOLDER.exec(template) : null;
    if (!m) {
      const end = template.indexOf('}}', i);
      const shown = template.slice(i, end >= 0 ? Math.min(end + 2, i + 60) : i + 60);
      return {
        ok: false,
        index: i,
        message: `${JSON.stringify(shown)} at character ${i + 1} is not a placeholder: only {{ dotted.path }} (segments [A-Za-z0-9_-]+) may stand in braces`,
      };
    }
    if (literal) parts.push(literal);
    literal = '';
    parts.push({ path: m[1]!.split('.'), text: m[0] });
    i += m[0].length;
  }
  if (literal) parts.push(literal);
  return { ok: true, parts };
}

const MISSING = Symbol('missing');

/** The value at a dotted path: own keys of objects, numeric segments index arrays. */
export function fieldAt(fields: unknown, path: readonly string[]): unknown {
  let v: unknown = fields;
  for (const seg of path) {
    if (Array.isArray(v) && /^(0|[1-9][0-9]{0,8})$/.test(seg)) {
      const i = Number(seg);
      if (i >= v.length) return MISSING;
      v = v[i];
    } else if (v !== null && typeof v === 'object' && !Array.isArray(v) && Object.hasOwn(v, seg)) {
      v = (v as Record<string, unknown>)[seg];
    } else return MISSING;
  }
  return v === undefined ? MISSING : v;
}

/** A field's value as template text, or why it cannot be one. */
function scalarText(v: unknown): { text: string } | { problem: string } {
  if (v === MISSING) return { problem: 'is missing in the event' };
  if (v === null) return { problem: 'is null in the event' };
  if (typeof v === 'string') return { text: v };
  if (typeof v === 'number' || typeof v === 'boolean') return { text: String(v) };
  return { problem: `is ${Array.isArray(v) ? 'a list' : 'an object'} in the event, not a single value` };
}

/** Renders every param template of the trigger from the event's fields; TriggerInvalid names the param and the path. */
export function renderParams(spec: Pick<TriggerSpec, 'params'>, fields: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, template] of Object.entries(spec.params)) {
    const field = `params.${name}`;
    const parsed = parseTemplate(template);
    if (!parsed.ok) throw new TriggerInvalid(field, parsed.message);
    let text = '';
    for (const part of parsed.parts) {
      if (typeof part === 'string') {
        text += part;
        continue;
      }
      const v = scalarText(fieldAt(fields, part.path));
      if ('problem' in v) throw new TriggerInvalid(field, `{{ ${part.path.join('.')} }} ${v.problem}`);
      text += v.text;
      // Checked as we go: a huge field is never copied into a bigger string.
      if (text.length > MAX_RENDERED) break;
    }
    if (text.length > MAX_RENDERED) throw new TriggerInvalid(field, `rendered value is longer than ${MAX_RENDERED} characters`);
    out[name] = text;
  }
  return out;
}

/** Parses a detector payload with its schema; the first problem becomes TriggerInvalid at its path (values never echoed). */
export function parsePayload<S extends z.ZodType>(schema: S, payload: unknown, what: string): z.output<S> {
  const r = schema.safeParse(payload);
  if (r.success) return r.data;
  const issue = r.error.issues[0]!;
  const path = formatPath(issue.path.filter((p): p is string | number => typeof p !== 'symbol'));
  throw new TriggerInvalid(path || 'body', `${what}: ${issue.message}`);
}

/** Refuses a trigger of another kind (a Wazuh trigger named on the Alertmanager route, say). */
export function checkKind(spec: TriggerSpec, kind: TriggerKind): void {
  if (spec.kind !== kind) throw new TriggerInvalid('kind', `trigger "${spec.name}" is a ${spec.kind} trigger, not ${kind}`);
}

/** Why `fields` fail the trigger's equality filters, or undefined when they pass. */
export function matchProblem(match: Record<string, string>, fields: unknown, pathOf: (key: string) => string[]): string | undefined {
  for (const [key, want] of Object.entries(match)) {
    const path = pathOf(key);
    const v = scalarText(fieldAt(fields, path));
    const where = path.join('.');
    if ('problem' in v) return `${where} ${v.problem}; the trigger wants ${JSON.stringify(want)}`;
    if (v.text !== want) return `${where} is ${JSON.stringify(oneLine(v.text, 64))}, the trigger wants ${JSON.stringify(want)}`;
  }
  return undefined;
}

/** One line: control characters become spaces, invisible format characters go, at most `max` characters. */
export function oneLine(text: string, max = SUMMARY_MAX): string {
  const flat = text
    .replace(/\p{Cf}/gu, '')
    .replace(/[\p{Cc}\u2028\u2029]+/gu, ' ')
    .replace(/ {2,}/g, ' ')
    .trim();
  if (flat.length <= max) return flat;
  let out = '';
  for (const ch of flat) {
    if (out.length + ch.length > max - 1) break;
    out += ch;
  }
  return `${out}…`;
}

/** The rendered params as `name=value`, sorted: what cooldowns and self-caused checks compare. */
export function targetOf(params: Record<string, string>): string {
  return Object.keys(params)
    .sort()
    .map((k) => `${k}=${params[k]}`)
    .join(' ');
}

export interface EventParts {
  status: TriggerEvent['status'];
  dedupKey: string;
  summary: string;
  fields: unknown;
  /** A receiver's own reason not to match (Wazuh's minLevel), checked before the match filters. */
  notMatched?: string;
  /** Where a match key is looked up in `fields`. */
  matchPath: (key: string) => string[];
}

/** Match filters, then rendering (only for a matched event: an unmatched one may lack the fields). */
export function buildEvent(spec: TriggerSpec, parts: EventParts): TriggerEvent {
  const base = { trigger: spec.name, kind: spec.kind, status: parts.status, dedupKey: parts.dedupKey, summary: oneLine(parts.summary) };
  const why = parts.notMatched ?? matchProblem(spec.match, parts.fields, parts.matchPath);
  if (why !== undefined) return { ...base, params: {}, target: '', matched: false, why: oneLine(why) };
  const params = renderParams(spec, parts.fields);
  return { ...base, params, target: targetOf(params), matched: true };
}
