import { FirebreakError } from '../errors.js';

/**
 * What a console operator may do: each role is a fixed set of the API's scopes (scopes.ts), so a
 * person signed in to the console is checked by the same rules as a token.
 */

export const ROLES = {
  viewer: ['read'],
  operator: ['read', 'plan', 'run:*', 'rollback'],
  approver: ['read', 'approve'],
  admin: ['admin'],
} as const satisfies Record<string, readonly string[]>;

export type Role = keyof typeof ROLES;

export const ROLE_NAMES = Object.keys(ROLES) as Role[];

/** A role name that is not one of ROLES. */
export class RoleInvalid extends FirebreakError {
  override readonly code = 'ROLE_INVALID';
}

export function isRole(s: string): s is Role {
  return Object.hasOwn(ROLES, s);
}

/** The role, checked: returns it, or throws RoleInvalid listing the known ones. */
export function checkRole(s: string): Role {
  if (isRole(s)) return s;
  throw new RoleInvalid(`unknown role "${s}" (known roles: ${ROLE_NAMES.join(', ')})`);
}

/** The scopes a role grants (a fresh array: callers may keep it). */
export function scopesOf(role: Role): string[] {
  return [...ROLES[role]];
}
