import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The installed package's folder (holds package.json, playbooks/, dist/), found by walking up from
 * this file. The same answer from src/ (vitest), from dist/src/ (tsc output) and from the CLI
 * bundle in dist/bundle/, so no path depends on how deep the file asking for it sits.
 */
export const packageRoot: string = findRoot(dirname(fileURLToPath(import.meta.url)));

function findRoot(from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'playbooks'))) return dir;
    if (dirname(dir) === dir) throw new Error(`firebreak: no package folder (package.json and playbooks/) above ${from}`);
  }
}
