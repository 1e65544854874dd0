import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { InventoryInvalid } from '../errors.js';
import { issuesMessage, placeIssue, sortIssues, validateYaml, type PlacedIssue, type YamlSource } from '../yaml-source.js';
import { checkDevice, deviceSchema, orchestratorSchema, parseVia, toDevice } from './schema.js';
import type { Device, Inventory } from './types.js';

/**
 * devices/*.yaml -> Inventory. Each file is one device; files starting with `_` are not devices
 * (`_orchestrator.yaml` lists the orchestrator's own addresses). Every problem in every file is
 * reported at once, one `file:line:col path: message` per line, in one InventoryInvalid.
 */

export interface SourceText {
  file: string;
  text: string;
}

const YAML_FILE = /\.ya?ml$/;
const ORCHESTRATOR_FILE = /^_orchestrator\.ya?ml$/;

/** Loads every device file in `dir` (not recursive) plus the optional `_orchestrator.yaml`. */
export async function loadInventory(dir: string): Promise<Inventory> {
  let names: string[];
  try {
    names = (await readdir(dir, { withFileTypes: true }))
      .filter((e) => e.isFile())
      .map((e) => e.name)
      .sort();
  } catch (err) {
    throw new InventoryInvalid(`${dir}: cannot read inventory directory (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  const deviceFiles = names.filter((n) => YAML_FILE.test(n) && !n.startsWith('_') && !n.startsWith('.')).map((n) => join(dir, n));
  const orchestratorName = names.find((n) => ORCHESTRATOR_FILE.test(n));
  if (deviceFiles.length === 0) throw new InventoryInvalid(`${dir}: no device files (*.yaml) in the inventory directory`);
  return loadInventoryFiles(deviceFiles, orchestratorName ? join(dir, orchestratorName) : undefined);
}

/** Loads the given device files (and an orchestrator file) as one inventory. */
export async function loadInventoryFiles(files: string[], orchestratorFile?: string): Promise<Inventory> {
  const read = async (file: string): Promise<SourceText> => {
    try {
      return { file, text: await readFile(file, 'utf8') };
    } catch (err) {
      throw new InventoryInvalid(`${file}: cannot read (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
    }
  };
  const sources = await Promise.all(files.map(read));
  return parseInventory(sources, orchestratorFile ? await read(orchestratorFile) : undefined);
}

/** Pure: texts -> Inventory, or InventoryInvalid carrying every problem. */
export function parseInventory(sources: SourceText[], orchestrator?: SourceText): Inventory {
  const issues: PlacedIssue[] = [];
  const loaded: { device: Device; source: YamlSource }[] = [];
  for (const { file, text } of sources) {
    const r = validateYaml(file, text, deviceSchema, (d) => checkDevice(d));
    if (!r.ok) issues.push(...r.issues);
    else loaded.push({ device: toDevice(r.value, file), source: r.source });
  }

  // Ids are unique across files: report each occurrence, naming the other files.
  const byId = new Map<string, { device: Device; source: YamlSource }[]>();
  for (const entry of loaded) byId.set(entry.device.id, [...(byId.get(entry.device.id) ?? []), entry]);
  for (const [id, entries] of byId) {
    if (entries.length < 2) continue;
    for (const e of entries) {
      const others = entries
        .filter((o) => o !== e)
        .map((o) => o.source.file)
        .join(', ');
      issues.push(placeIssue(e.source, { path: ['id'], message: `duplicate device id "${id}" (also in ${others})` }));
    }
  }

  // Management paths cross upstream links that must exist in this inventory.
  for (const { device, source } of loaded) {
    device.managementPath.via.forEach((link, i) => {
      const via = parseVia(link);
      if (!via) return; // already reported by checkDevice
      const up = byId.get(via.device)?.[0]?.device;
      const path = ['managementPath', 'via', i];
      if (!up)
        issues.push(placeIssue(source, { path, message: `unknown device "${via.device}" (known: ${[...byId.keys()].sort().join(', ')})` }));
      else if (!Object.hasOwn(up.interfaces, via.interface)) {
        issues.push(
          placeIssue(source, {
            path,
            message: `device "${via.device}" has no interface "${via.interface}" (it has: ${Object.keys(up.interfaces).join(', ')})`,
          }),
        );
      }
    });
  }

  // An outlet feeds a device of this inventory.
  for (const { device, source } of loaded) {
    for (const [name, spec] of Object.entries(device.interfaces)) {
      if (spec.feeds !== undefined && !byId.has(spec.feeds)) {
        const known = [...byId.keys()].sort().join(', ');
        issues.push(
          placeIssue(source, { path: ['interfaces', name, 'feeds'], message: `unknown device "${spec.feeds}" (known: ${known})` }),
        );
      }
    }
  }

  let orchestratorAddresses: string[] = [];
  if (orchestrator) {
    const r = validateYaml(orchestrator.file, orchestrator.text, orchestratorSchema);
    if (!r.ok) issues.push(...r.issues);
    else orchestratorAddresses = r.value.addresses;
  }

  if (issues.length > 0) throw new InventoryInvalid(issuesMessage(sortIssues(issues)));
  const devices = new Map<string, Device>();
  for (const { device } of loaded) devices.set(device.id, device);
  return { devices, orchestratorAddresses };
}
