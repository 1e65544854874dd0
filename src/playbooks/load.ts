import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { PlaybookInvalid } from '../errors.js';
import { issuesMessage, validateYaml } from '../yaml-source.js';
import { checkPlaybook, PLAYBOOK_ID, playbookSchema } from './schema.js';
import type { Playbook } from './types.js';

/**
 * playbooks/*.yaml -> Playbook. A playbook's id is its file stem; every problem in the file is
 * reported at once (one `file:line:col path: message` per line) in one PlaybookInvalid.
 */

const YAML_FILE = /\.ya?ml$/;

/** Pure: one playbook text -> Playbook (source.sha256 is of this text). */
export function parsePlaybook(file: string, text: string): Playbook {
  const stem = basename(file).replace(YAML_FILE, '');
  const r = validateYaml(file, text, playbookSchema, (p) => checkPlaybook(p, stem));
  if (!r.ok) throw new PlaybookInvalid(issuesMessage(r.issues));
  return { ...r.value, source: { file, sha256: createHash('sha256').update(text).digest('hex') } };
}

export async function loadPlaybook(file: string): Promise<Playbook> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new PlaybookInvalid(`${file}: cannot read (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  return parsePlaybook(file, text);
}

/** Ids of the playbooks in `dir` (file stems of *.yaml / *.yml), sorted. */
export async function listPlaybooks(dir: string): Promise<string[]> {
  let names: string[];
  try {
    names = (await readdir(dir, { withFileTypes: true })).filter((e) => e.isFile()).map((e) => e.name);
  } catch (err) {
    throw new PlaybookInvalid(`${dir}: cannot read playbook directory (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  const ids = names.filter((n) => YAML_FILE.test(n) && !n.startsWith('.') && !n.startsWith('_')).map((n) => n.replace(YAML_FILE, ''));
  return [...new Set(ids)].sort();
}

/** Loads `<dir>/<id>.yaml` (or .yml). The id is checked before it touches the file system. */
export async function loadPlaybookById(dir: string, id: string): Promise<Playbook> {
  const ids = await listPlaybooks(dir);
  if (!PLAYBOOK_ID.test(id) || !ids.includes(id)) {
    const shown = JSON.stringify(id.length > 64 ? `${id.slice(0, 64)}…` : id);
    throw new PlaybookInvalid(`unknown playbook ${shown} in ${dir} (known: ${ids.join(', ') || 'none'})`);
  }
  const names = await readdir(dir);
  const name = names.includes(`${id}.yaml`) ? `${id}.yaml` : `${id}.yml`;
  return loadPlaybook(join(dir, name));
}

/** Loads every playbook in `dir`; problems in all files are reported together. */
export async function loadPlaybooks(dir: string): Promise<Playbook[]> {
  const ids = await listPlaybooks(dir);
  const results = await Promise.allSettled(ids.map((id) => loadPlaybookById(dir, id)));
  const failed = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
  if (failed.length > 0) throw new PlaybookInvalid(failed.map((e) => (e instanceof Error ? e.message : String(e))).join('\n'));
  return results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
}
