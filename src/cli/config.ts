import { join, resolve } from 'node:path';
import { InventoryInvalid } from '../errors.js';
import { packageRoot } from '../package-root.js';

export interface Paths {
  inventory: string;
  playbooks: string;
  journal: string;
}

/**
 * Flag, else environment, else default: the same rule for every path. The inventory has no
 * default on purpose: the shipped devices/ are examples, and a command must never reach for
 * example addresses by accident.
 */
export function resolvePaths(opts: { inventory?: string; playbooks?: string; journal?: string }): Paths {
  const inventory = opts.inventory ?? process.env.FIREBREAK_INVENTORY;
  return {
    get inventory(): string {
      if (!inventory)
        throw new InventoryInvalid(
          'no inventory given: pass --inventory <dir> or set FIREBREAK_INVENTORY (examples in devices/, the lab writes .lab/devices)',
        );
      return resolve(inventory);
    },
    playbooks: resolve(opts.playbooks ?? process.env.FIREBREAK_PLAYBOOKS ?? join(packageRoot, 'playbooks')),
    journal: resolve(opts.journal ?? process.env.FIREBREAK_JOURNAL ?? join('var', 'journal.db')),
  };
}
