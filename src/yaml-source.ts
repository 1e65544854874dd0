import { isAlias, isMap, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node } from 'yaml';
import type { z } from 'zod';

/**
 * YAML with positions kept: parse, validate with a zod schema, and turn every problem into
 * `file:line:col path: message` pointing at the offending node (or, for unknown keys, the key).
 */

export type IssuePath = (string | number)[];

/** One problem in a YAML file, before it is placed. `atKey`: point at the map key, not its value. */
export interface SourceIssue {
  path: IssuePath;
  message: string;
  atKey?: boolean;
}

export interface YamlSource {
  file: string;
  text: string;
  doc: Document.Parsed;
  lineCounter: LineCounter;
}

/** A placed problem; `text` is the one-line form used in error messages. */
export interface PlacedIssue {
  file: string;
  line: number;
  col: number;
  path: string;
  message: string;
  text: string;
}

/** `stages[0].steps[1].action`; keys that are not plain names are quoted: `interfaces["a b"]`. */
export function formatPath(path: IssuePath): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else if (/^[A-Za-z_][A-Za-z0-9_-]*$/.test(seg)) out += out ? `.${seg}` : seg;
    else out += `[${JSON.stringify(seg.length > 64 ? `${seg.slice(0, 64)}…` : seg)}]`;
  }
  return out;
}

/** Parses YAML; syntax errors come back placed (the library's message without its source excerpt). */
export function parseYamlSource(file: string, text: string): { source: YamlSource; value: unknown; issues: PlacedIssue[] } {
  const lineCounter = new LineCounter();
  // uniqueKeys (default) makes duplicate keys an error; a low alias budget refuses alias bombs.
  const doc = parseDocument(text, { lineCounter, prettyErrors: true, uniqueKeys: true });
  const source: YamlSource = { file, text, doc, lineCounter };
  const issues: PlacedIssue[] = doc.errors.map((e) => {
    const pos = e.linePos?.[0] ?? { line: 1, col: 1 };
    // The excerpt after ":\n" may hold a secret from the file: keep only the first clause.
    const message = `YAML syntax: ${(e.message.split('\n')[0] ?? '').replace(/ at line \d+, column \d+:?$/, '')}`;
    return place(file, pos.line, pos.col, '', message);
  });
  if (issues.length > 0) return { source, value: undefined, issues };
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    const message = err instanceof Error ? (err.message.split('\n')[0] ?? 'invalid') : 'invalid';
    issues.push(place(file, 1, 1, '', `YAML: ${message}`));
  }
  return { source, value, issues };
}

function place(file: string, line: number, col: number, path: string, message: string): PlacedIssue {
  return { file, line, col, path, message, text: `${file}:${line}:${col}${path ? ` ${path}` : ''}: ${message}` };
}

/**
 * Finds the node at `path`, or the nearest existing parent; `atKey` gives the map key's node.
 * A block collection starts on the line after its key, so for those the key is the better place.
 */
function nodeAt(source: YamlSource, path: IssuePath, atKey: boolean): Node | null {
  let node: unknown = source.doc.contents;
  let found: Node | null = (node as Node | null) ?? null;
  let foundKey: Node | null = null;
  for (let i = 0; i < path.length; i++) {
    const seg = path[i]!;
    if (isAlias(node)) node = node.resolve(source.doc);
    let key: Node | null = null;
    if (isMap(node)) {
      const pair = node.items.find((p) => (isScalar(p.key) ? String(p.key.value) : String(p.key)) === String(seg));
      if (!pair) break;
      key = (pair.key as Node | null) ?? null;
      if (i === path.length - 1 && atKey && key) return key;
      // A key with an empty value (`port:`) has no value node: point at the key.
      node = pair.value ?? pair.key;
    } else if (isSeq(node) && typeof seg === 'number') {
      const item = node.items[seg];
      if (item === undefined) break;
      node = item;
    } else {
      break;
    }
    if (node && typeof node === 'object' && 'range' in node) {
      found = node as Node;
      foundKey = key;
    }
  }
  if (found && (isMap(found) || isSeq(found)) && !found.flow && foundKey) return foundKey;
  return found;
}

/** Places an issue in the file: `file:line:col path: message`. */
export function placeIssue(source: YamlSource, issue: SourceIssue): PlacedIssue {
  const node = nodeAt(source, issue.path, issue.atKey ?? false);
  const offset = node?.range?.[0] ?? 0;
  const { line, col } = source.lineCounter.linePos(offset);
  return place(source.file, line, col, formatPath(issue.path), issue.message);
}

/** Turns zod issues into source issues: one per unknown key (at the key), "is required" for missing ones. */
export function fromZodIssues(issues: readonly z.core.$ZodIssue[], value: unknown): SourceIssue[] {
  const out: SourceIssue[] = [];
  for (const iss of issues) {
    const path = iss.path.filter((p): p is string | number => typeof p !== 'symbol');
    if (iss.code === 'unrecognized_keys') {
      for (const key of iss.keys) out.push({ path: [...path, key], message: `unknown key "${key}"`, atKey: true });
      continue;
    }
    const presence = path.length > 0 ? presenceAt(value, path) : 'present';
    if (iss.code === 'invalid_type' && presence !== 'present') {
      out.push({ path, message: presence === 'missing' ? 'is required' : 'has no value', atKey: presence === 'empty' });
      continue;
    }
    // Custom issues may ask to point at the key (e.g. a bad interface name).
    const atKey = iss.code === 'custom' && (iss.params as { atKey?: boolean } | undefined)?.atKey === true;
    out.push({ path, message: iss.message, atKey });
  }
  return out;
}

function presenceAt(value: unknown, path: IssuePath): 'missing' | 'empty' | 'present' {
  let v: unknown = value;
  for (const seg of path) {
    if (v === null || typeof v !== 'object' || !Object.hasOwn(v, seg)) return 'missing';
    v = (v as Record<string | number, unknown>)[seg];
  }
  return v === undefined || v === null ? 'empty' : 'present';
}

/** Sorts placed issues by position and drops exact repeats. */
export function sortIssues(issues: PlacedIssue[]): PlacedIssue[] {
  const seen = new Set<string>();
  return [...issues]
    .sort((a, b) => a.file.localeCompare(b.file) || a.line - b.line || a.col - b.col)
    .filter((i) => {
      if (seen.has(i.text)) return false;
      seen.add(i.text);
      return true;
    });
}

/**
 * Parse + shape-validate one YAML file. Returns the typed value, or the placed issues. Semantic
 * checks that need the whole (valid) value are run by the caller through `check`.
 */
export function validateYaml<S extends z.ZodType>(
  file: string,
  text: string,
  schema: S,
  check?: (value: z.output<S>, source: YamlSource) => SourceIssue[],
): { ok: true; value: z.output<S>; source: YamlSource } | { ok: false; issues: PlacedIssue[] } {
  const parsed = parseYamlSource(file, text);
  if (parsed.issues.length > 0) return { ok: false, issues: sortIssues(parsed.issues) };
  if (parsed.value === null || typeof parsed.value !== 'object' || Array.isArray(parsed.value)) {
    const what =
      parsed.value === null || parsed.value === undefined
        ? 'the file is empty'
        : Array.isArray(parsed.value)
          ? 'the file is a list'
          : 'the file is a single value';
    return { ok: false, issues: [placeIssue(parsed.source, { path: [], message: `${what}; expected a mapping (key: value, ...)` })] };
  }
  const result = schema.safeParse(parsed.value);
  if (!result.success) {
    const issues = fromZodIssues(result.error.issues, parsed.value).map((i) => placeIssue(parsed.source, i));
    return { ok: false, issues: sortIssues(issues) };
  }
  const extra = check ? check(result.data, parsed.source) : [];
  if (extra.length > 0) return { ok: false, issues: sortIssues(extra.map((i) => placeIssue(parsed.source, i))) };
  return { ok: true, value: result.data, source: parsed.source };
}

/** One error message for many issues: one placed issue per line. */
export function issuesMessage(issues: PlacedIssue[]): string {
  return issues.map((i) => i.text).join('\n');
}
