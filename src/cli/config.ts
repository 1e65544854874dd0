import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The installed package's root (holds the shipped playbooks/). */
export const packageRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

export interface Paths {
  inventory: string;
  playbooks: string;
  journal: string;
}

/** Flag, else environment, else default: the same rule for every path. */
export function resolvePaths(opts: { inventory?: string; playbooks?: string; journal?: string }): Paths {
  return {
    inventory: resolve(opts.inventory ?? process.env.FIREBREAK_INVENTORY ?? 'devices'),
    playbooks: resolve(opts.playbooks ?? process.env.FIREBREAK_PLAYBOOKS ?? join(packageRoot, 'playbooks')),
    journal: resolve(opts.journal ?? process.env.FIREBREAK_JOURNAL ?? join('var', 'journal.db')),
  };
}
