import { FirebreakError } from '../errors.js';

/**
 * What an API token may do. `read` sees runs and the journal, `plan` plans, `run:<playbook>` runs
 * that one playbook (`run:*` any), `approve` decides approvals, `rollback` rolls runs back, and
 * `admin` may do everything.
 */

/** A scope list that does not parse (message names the scope at fault and lists the known ones). */
export class ScopeInvalid extends FirebreakError {
  override readonly code = 'SCOPE_INVALID';
}

const FIXED = ['read', 'plan', 'approve', 'rollback', 'admin'] as const;

/** The scopes as an operator reads them in a message. */
export const KNOWN_SCOPES = 'read, plan, run:<playbook-id>, run:*, approve, rollback, admin';

/** A playbook id as the run scope names it (the same shape playbook ids have). */
const PLAYBOOK_ID = /^[a-z][a-z0-9-]{0,63}$/;

/** One scope, checked: returns it, or throws ScopeInvalid naming it. */
export function checkScope(scope: string): string {
  if ((FIXED as readonly string[]).includes(scope) || scope === 'run:*') return scope;
  if (scope.startsWith('run:')) {
    const id = scope.slice(4);
    if (PLAYBOOK_ID.test(id)) return scope;
    throw new ScopeInvalid(
      `scope "${scope}": "${id}" is not a playbook id (lower case letter, then letters, digits, '-'; at most 64) or * (known scopes: ${KNOWN_SCOPES})`,
    );
  }
  throw new ScopeInvalid(`unknown scope "${scope}" (known scopes: ${KNOWN_SCOPES})`);
}

/** `read,run:isolate-host` -> ['read', 'run:isolate-host']; blanks around commas are ignored, duplicates dropped. */
export function parseScopes(text: string): string[] {
  const scopes = text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  if (!scopes.length) throw new ScopeInvalid(`no scopes given (known scopes: ${KNOWN_SCOPES})`);
  return [...new Set(scopes.map(checkScope))];
}

/** Does a token with `granted` scopes have `needed`? `admin` implies every scope, `run:*` every `run:X`. */
export function hasScope(granted: readonly string[], needed: string): boolean {
  if (granted.includes('admin') || granted.includes(needed)) return true;
  return needed.startsWith('run:') && granted.includes('run:*');
}
