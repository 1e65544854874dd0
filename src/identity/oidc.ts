import { ConfigInvalid, errorMessage } from '../errors.js';
import { resolveSecret } from '../secrets.js';
import { checkRole, isRole, ROLE_NAMES, type Role } from './roles.js';

/**
 * Optional sign-in through an OpenID Provider (Entra ID, Keycloak): what the server is told
 * (FIREBREAK_OIDC_* or ServeOptions.oidc), checked once at start with errors that name the
 * variable, and what an id_token's claims become: a role from the group claim, or a refusal.
 */

/** As given: environment values, or ServeOptions.oidc in tests and embedders. */
export interface OidcOptions {
  issuer: string;
  clientId: string;
  /** A secret reference: `env:NAME` or `file:/path` (never the secret itself). */
  clientSecret: string;
  /** Where the provider sends the browser back: `<public origin>/api/v1/session/oidc/callback`. */
  redirectUrl: string;
  /** Claim holding the groups (or app roles); a dotted path reaches into objects (`realm_access.roles`). Default `groups`. */
  rolesClaim?: string;
  /** `fb-operators=operator,fb-admins=admin`, or the same as an object. */
  roleMap: string | Record<string, string>;
  /** Button text: "Sign in with <label>". */
  label?: string;
  /** Refuse an id_token whose `amr` shows no second factor. */
  requireMfa?: boolean;
}

export interface OidcConfig {
  issuer: URL;
  clientId: string;
  clientSecretRef: string;
  redirectUrl: URL;
  rolesClaim: string;
  /** Group -> role, as listed. */
  roleMap: ReadonlyMap<string, Role>;
  label: string;
  requireMfa: boolean;
  /** Plain http to a loopback issuer (tests, a local Keycloak): allowed, anything else needs https. */
  insecure: boolean;
}

/** The route the provider returns to; the redirect URL must end with it. */
export const OIDC_CALLBACK_PATH = '/api/v1/session/oidc/callback';
/** `amr` values that mean a second factor (RFC 8176). */
const MFA_AMR = new Set(['mfa', 'otp', 'hwk', 'swk']);
/** A person in groups of several roles gets the first of these. */
const ROLE_PRECEDENCE: readonly Role[] = ['admin', 'operator', 'approver', 'viewer'];

const ENV = {
  issuer: 'FIREBREAK_OIDC_ISSUER',
  clientId: 'FIREBREAK_OIDC_CLIENT_ID',
  clientSecret: 'FIREBREAK_OIDC_CLIENT_SECRET',
  redirectUrl: 'FIREBREAK_OIDC_REDIRECT_URL',
  rolesClaim: 'FIREBREAK_OIDC_ROLES_CLAIM',
  roleMap: 'FIREBREAK_OIDC_ROLE_MAP',
  label: 'FIREBREAK_OIDC_LABEL',
  requireMfa: 'FIREBREAK_OIDC_REQUIRE_MFA',
} as const satisfies Record<keyof OidcOptions, string>;
type Names = Record<keyof OidcOptions, string>;
const OPTION_NAMES = Object.fromEntries(Object.keys(ENV).map((k) => [k, `oidc.${k}`])) as Names;

/** The options from FIREBREAK_OIDC_*; undefined when none is set (OIDC off). */
export function oidcFromEnv(env: NodeJS.ProcessEnv = process.env): OidcOptions | undefined {
  const get = (k: keyof OidcOptions) => env[ENV[k]]?.trim() || undefined;
  if (!Object.keys(ENV).some((k) => get(k as keyof OidcOptions) !== undefined)) return undefined;
  const required = (k: 'issuer' | 'clientId' | 'clientSecret' | 'redirectUrl' | 'roleMap') => {
    const v = get(k);
    if (v === undefined) throw new ConfigInvalid(`${ENV[k]} is not set (OIDC sign-in needs it, because another FIREBREAK_OIDC_* is set)`);
    return v;
  };
  const mfa = get('requireMfa');
  if (mfa !== undefined && mfa !== '0' && mfa !== '1') throw new ConfigInvalid(`${ENV.requireMfa} must be 1 or 0, not "${mfa}"`);
  return {
    issuer: required('issuer'),
    clientId: required('clientId'),
    clientSecret: required('clientSecret'),
    redirectUrl: required('redirectUrl'),
    roleMap: required('roleMap'),
    rolesClaim: get('rolesClaim'),
    label: get('label'),
    requireMfa: mfa === '1',
  };
}

/** Checks the options; `from` says how errors name a field (the environment variable, or `oidc.<field>`). */
export function checkOidc(o: OidcOptions, from: 'env' | 'options' = 'options'): OidcConfig {
  const names: Names = from === 'env' ? ENV : OPTION_NAMES;
  const issuer = urlOf(o.issuer, names.issuer);
  const redirectUrl = urlOf(o.redirectUrl, names.redirectUrl);
  if (!redirectUrl.pathname.endsWith(OIDC_CALLBACK_PATH))
    throw new ConfigInvalid(
      `${names.redirectUrl} "${o.redirectUrl}" must end with ${OIDC_CALLBACK_PATH} (the route the provider returns to)`,
    );
  if (redirectUrl.search || redirectUrl.hash) throw new ConfigInvalid(`${names.redirectUrl} must have no query or fragment`);
  const clientId = o.clientId?.trim();
  if (!clientId) throw new ConfigInvalid(`${names.clientId} is empty`);
  if (!/^(env|file):.+/.test(o.clientSecret ?? ''))
    throw new ConfigInvalid(`${names.clientSecret} must be a secret reference, env:NAME or file:/path (never the secret itself)`);
  const rolesClaim = o.rolesClaim?.trim() || 'groups';
  if (!/^[A-Za-z0-9_:/.-]{1,128}$/.test(rolesClaim)) throw new ConfigInvalid(`${names.rolesClaim} "${rolesClaim}" is not a claim name`);
  const label = (o.label ?? '').trim() || 'single sign-on';
  if (label.length > 64) throw new ConfigInvalid(`${names.label} must have at most 64 characters`);
  return {
    issuer,
    clientId,
    clientSecretRef: o.clientSecret,
    redirectUrl,
    rolesClaim,
    roleMap: parseRoleMap(o.roleMap, names.roleMap),
    label,
    requireMfa: o.requireMfa === true,
    insecure: issuer.protocol === 'http:',
  };
}

function urlOf(text: string, name: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new ConfigInvalid(`${name} "${text ?? ''}" is not a URL`);
  }
  if (url.username || url.password) throw new ConfigInvalid(`${name} must not carry credentials`);
  if (url.protocol === 'https:') return url;
  if (url.protocol === 'http:' && isLoopback(url.hostname)) return url;
  throw new ConfigInvalid(`${name} "${url.origin}" must be https (plain http only to a loopback address)`);
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/** `fb-operators=operator, fb-admins=admin` (or an object) -> group -> role; every role checked. */
export function parseRoleMap(map: string | Record<string, string>, name: string = ENV.roleMap): Map<string, Role> {
  const pairs =
    typeof map === 'string'
      ? map
          .split(',')
          .map((p) => p.trim())
          .filter(Boolean)
          .map((p) => {
            const eq = p.lastIndexOf('=');
            if (eq <= 0) throw new ConfigInvalid(`${name}: "${p}" is not group=role`);
            return [p.slice(0, eq).trim(), p.slice(eq + 1).trim()] as const;
          })
      : Object.entries(map ?? {});
  const out = new Map<string, Role>();
  for (const [group, role] of pairs) {
    if (!group) throw new ConfigInvalid(`${name}: a group name is empty`);
    if (!isRole(role))
      throw new ConfigInvalid(`${name}: group "${group}" maps to unknown role "${role}" (known roles: ${ROLE_NAMES.join(', ')})`);
    if (out.has(group)) throw new ConfigInvalid(`${name}: group "${group}" is mapped twice`);
    out.set(group, checkRole(role));
  }
  if (!out.size) throw new ConfigInvalid(`${name} maps no group to a role (e.g. fb-operators=operator,fb-viewers=viewer)`);
  return out;
}

/** The claim's values: a list of strings, or one string (space separated, as some providers send roles). */
export function groupsOf(claims: Record<string, unknown>, claim: string): string[] {
  let v: unknown = claims[claim];
  if (v === undefined && claim.includes('.')) {
    v = claims;
    for (const part of claim.split('.')) v = v && typeof v === 'object' ? (v as Record<string, unknown>)[part] : undefined;
  }
  if (typeof v === 'string') return v.split(/\s+/).filter(Boolean);
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
}

/** The role the groups map to (the strongest of several), or undefined: that person is refused. */
export function roleOf(groups: readonly string[], map: ReadonlyMap<string, Role>): Role | undefined {
  const roles = new Set(groups.map((g) => map.get(g)).filter((r): r is Role => r !== undefined));
  return ROLE_PRECEDENCE.find((r) => roles.has(r));
}

/** Whether the id_token's `amr` names a second factor. */
export function hasMfa(claims: Record<string, unknown>): boolean {
  const amr = claims.amr;
  return Array.isArray(amr) && amr.some((m) => typeof m === 'string' && MFA_AMR.has(m));
}

/** The identity id of an OIDC user: `<issuer>#<sub>`, never equal to a local user's name (those have no ':'). */
export function subjectOf(issuer: string, sub: string): string {
  return `${issuer}#${sub}`;
}

/** The name people read (journal `by`, the console's header): preferred_username, else email, else sub. */
export function displayNameOf(claims: Record<string, unknown>): string {
  for (const k of ['preferred_username', 'email', 'sub']) {
    const v = claims[k];
    if (typeof v === 'string' && v.trim()) return v.trim().slice(0, 128);
  }
  return 'unknown';
}

/** The checked configuration with its client secret read (file content trimmed). */
export async function loadOidc(o: OidcOptions, from: 'env' | 'options'): Promise<{ config: OidcConfig; clientSecret: string }> {
  const config = checkOidc(o, from);
  try {
    const clientSecret = (await resolveSecret(config.clientSecretRef)).trim();
    if (!clientSecret) throw new Error('it is empty');
    return { config, clientSecret };
  } catch (err) {
    const name = from === 'env' ? ENV.clientSecret : OPTION_NAMES.clientSecret;
    throw new ConfigInvalid(`${name}: ${errorMessage(err)}`, { cause: err });
  }
}
