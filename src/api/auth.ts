import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { hasScope } from '../identity/scopes.js';
import { addressAllowed, type Identity, type TokenStore, tokenId } from '../identity/tokens.js';
import { sameToken, type UserRecord, type UserStore } from '../identity/users.js';
import { API_STREAM, type Journal } from '../journal/types.js';
import { sendError } from './respond.js';

/**
 * Authentication for the REST API: a bearer token, or (when a user store is given) the console's
 * session cookie, whose requests that change anything must carry the session's CSRF token in
 * `X-CSRF-Token`. `authenticate` finds who is asking (or refuses with 401/403/429) and sets
 * `res.locals.identity`; `requireScope` then checks what they may do.
 * Every refusal is journaled as `auth.failed` (never the token text) and counts against the
 * source address: after `max` refusals in a window the address gets 429 without its token even
 * being looked at, and only the first such 429 of the window is journaled.
 */

export interface AuthOptions {
  tokens: TokenStore;
  journal: Journal;
  /** Console users: their session cookie is accepted too. */
  users?: UserStore;
  /** Refusals allowed per source address per window (default 10 per 60 s). */
  failures?: { windowMs: number; max: number };
}

/** Refusals per source address, in fixed windows that start at the first refusal. */
class FailureCounter {
  private readonly byIp = new Map<string, { start: number; count: number; refusalJournaled: boolean }>();
  /** Enough for a scan from many addresses; beyond it the oldest windows are dropped first. */
  private static readonly MAX_ADDRESSES = 10_000;

  constructor(
    readonly windowMs: number,
    readonly max: number,
  ) {}

  private current(ip: string, now: number) {
    const w = this.byIp.get(ip);
    if (w && now - w.start < this.windowMs) return w;
    if (w) this.byIp.delete(ip);
    return undefined;
  }

  /** Milliseconds until the address may try again, when it is over the limit now. */
  blockedFor(ip: string, now = Date.now()): number | undefined {
    const w = this.current(ip, now);
    return w && w.count >= this.max ? w.start + this.windowMs - now : undefined;
  }

  /** True once per window: whether this 429 is the one to journal. */
  firstRefusal(ip: string, now = Date.now()): boolean {
    const w = this.current(ip, now);
    if (!w || w.refusalJournaled) return false;
    w.refusalJournaled = true;
    return true;
  }

  count(ip: string, now = Date.now()): void {
    const w = this.current(ip, now);
    if (w) {
      w.count += 1;
      return;
    }
    if (this.byIp.size >= FailureCounter.MAX_ADDRESSES) {
      for (const [k, v] of this.byIp) if (now - v.start >= this.windowMs) this.byIp.delete(k);
      for (const k of this.byIp.keys()) {
        if (this.byIp.size < FailureCounter.MAX_ADDRESSES) break;
        this.byIp.delete(k);
      }
    }
    this.byIp.set(ip, { start: now, count: 1, refusalJournaled: false });
  }
}

/** What requireScope needs from the authenticate that ran before it on the same request. */
interface Refuser {
  /** `who`: a token id, or the console user refused. */
  refuse(
    req: Request,
    res: Response,
    status: number,
    code: string,
    message: string,
    reason: string,
    who?: string | { user: string },
  ): Promise<void>;
}
const refusers = new WeakMap<Request, Refuser>();

/** The console's session cookie (HttpOnly, SameSite=Strict; Secure over https or FIREBREAK_COOKIE_SECURE=1). */
export const SESSION_COOKIE = 'fb_session';
export const CSRF_HEADER = 'X-CSRF-Token';
/** Methods that change nothing: no CSRF token needed. */
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

function cookieAttributes(req: Request): string {
  const secure = req.secure || process.env.FIREBREAK_COOKIE_SECURE === '1';
  return `HttpOnly; SameSite=Strict; Path=/${secure ? '; Secure' : ''}`;
}

/** The Set-Cookie value that hands a browser its session. */
export function sessionCookie(req: Request, sessionId: string): string {
  return `${SESSION_COOKIE}=${sessionId}; ${cookieAttributes(req)}`;
}

/** The Set-Cookie value that makes a browser forget its session. */
export function clearedSessionCookie(req: Request): string {
  return `${SESSION_COOKIE}=; ${cookieAttributes(req)}; Max-Age=0`;
}

/** The session id the request carries (cookie-parser's req.cookies, else the Cookie header itself). */
export function sessionIdOf(req: Request): string | undefined {
  const parsed = (req as Request & { cookies?: Record<string, unknown> }).cookies?.[SESSION_COOKIE];
  if (typeof parsed === 'string') return parsed || undefined;
  for (const part of (req.get('cookie') ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === SESSION_COOKIE) return part.slice(eq + 1).trim() || undefined;
  }
  return undefined;
}

/** Does the request carry the session's CSRF token (or need none: GET, HEAD, OPTIONS)? */
export async function csrfOk(users: UserStore, sessionId: string, req: Request): Promise<boolean> {
  if (SAFE_METHODS.has(req.method)) return true;
  const given = req.get(CSRF_HEADER);
  return given !== undefined && sameToken(given, await users.csrfToken(sessionId));
}

/** `subject`: an OIDC user's `<issuer>#<sub>` (they have no row in the user table; the name is only what people read). */
export function userIdentity(user: UserRecord & { subject?: string }): Identity {
  return { kind: 'user', id: user.subject ?? user.name, name: user.name, scopes: user.scopes };
}

function sourceOf(req: Request): string {
  return req.ip ?? req.socket.remoteAddress ?? 'unknown';
}

/** Method and path, never the query string (it may carry anything a client put there). */
function routeOf(req: Request): string {
  return `${req.method} ${req.baseUrl}${req.path}`.slice(0, 200);
}

export function authenticate(o: AuthOptions): RequestHandler {
  const failures = new FailureCounter(o.failures?.windowMs ?? 60_000, o.failures?.max ?? 10);

  async function journalFailure(req: Request, reason: string, who?: string | { user: string }): Promise<void> {
    const whom = typeof who === 'string' ? { tokenId: who } : who ? { user: who.user } : {};
    // A journal that cannot take the entry must not turn a refusal into an acceptance or a 500.
    await o.journal.append(API_STREAM, 'auth.failed', { ip: sourceOf(req), reason, route: routeOf(req), ...whom }).catch(() => undefined);
  }

  const refuser: Refuser = {
    async refuse(req, res, status, code, message, reason, who) {
      failures.count(sourceOf(req));
      await journalFailure(req, reason, who);
      if (status === 401) res.set('WWW-Authenticate', 'Bearer');
      sendError(res, status, code, message);
    },
  };

  return async (req: Request, res: Response, next: NextFunction) => {
    const ip = sourceOf(req);
    const waitMs = failures.blockedFor(ip);
    if (waitMs !== undefined) {
      if (failures.firstRefusal(ip)) await journalFailure(req, 'rate-limited');
      res.set('Retry-After', String(Math.max(1, Math.ceil(waitMs / 1000))));
      sendError(res, 429, 'TOO_MANY_FAILED_AUTH', `too many failed sign-ins from ${ip}; try again in ${Math.ceil(waitMs / 1000)} s`);
      return;
    }
    const header = req.get('authorization');
    const sessionId = o.users && !header ? sessionIdOf(req) : undefined;
    if (o.users && sessionId !== undefined) {
      await sessionAuth(o.users, sessionId, req, res, next);
      return;
    }
    const m = header ? /^Bearer +(\S+) *$/i.exec(header) : null;
    if (!m) {
      const [message, reason] = header
        ? ['Authorization header is not "Bearer <token>"', 'malformed authorization header']
        : [`missing bearer token (Authorization: Bearer <token>)${o.users ? ' or console session (sign in)' : ''}`, 'no token'];
      await refuser.refuse(req, res, 401, 'UNAUTHENTICATED', message, reason);
      return;
    }
    const token = m[1]!;
    const id = tokenId(token);
    if (!id) {
      await refuser.refuse(req, res, 401, 'UNAUTHENTICATED', 'malformed token (expected fbk_<id>_<secret>)', 'malformed token');
      return;
    }
    let record: Awaited<ReturnType<TokenStore['authenticate']>>;
    try {
      record = await o.tokens.authenticate(token);
    } catch (err) {
      // The store is down: the server's error handler answers (503-ish), not a 401 the client would believe.
      next(err);
      return;
    }
    if (!record) {
      await refuser.refuse(req, res, 401, 'UNAUTHENTICATED', 'invalid or revoked token', 'unknown or revoked token', id);
      return;
    }
    if (!addressAllowed(record, ip)) {
      await refuser.refuse(
        req,
        res,
        403,
        'ADDRESS_NOT_ALLOWED',
        `token "${record.name}" may not be used from ${ip}`,
        'address not allowed',
        record.id,
      );
      return;
    }
    const identity: Identity = { kind: 'token', id: record.id, name: record.name, scopes: record.scopes };
    res.locals.identity = identity;
    refusers.set(req, refuser);
    next();
  };

  /** The console's cookie: a live session of an enabled user, and for a change its CSRF token. */
  async function sessionAuth(users: UserStore, sessionId: string, req: Request, res: Response, next: NextFunction): Promise<void> {
    let found: Awaited<ReturnType<UserStore['lookupSession']>>;
    let csrf: boolean;
    try {
      found = await users.lookupSession(sessionId);
      csrf = found ? await csrfOk(users, sessionId, req) : false;
    } catch (err) {
      next(err);
      return;
    }
    if (!found) {
      res.append('Set-Cookie', clearedSessionCookie(req));
      await refuser.refuse(req, res, 401, 'UNAUTHENTICATED', 'the session ended or expired; sign in again', 'unknown or expired session');
      return;
    }
    if (!csrf) {
      await refuser.refuse(
        req,
        res,
        403,
        'CSRF_INVALID',
        `missing or wrong ${CSRF_HEADER} header (the csrfToken of GET /api/v1/session)`,
        'csrf token missing or wrong',
        { user: found.user.name },
      );
      return;
    }
    res.locals.identity = userIdentity(found.user);
    refusers.set(req, refuser);
    next();
  }
}

/** 403 FORBIDDEN unless the identity authenticate set has `needed` (or a function of the request giving it). */
export function requireScope(needed: string | ((req: Request) => string)): RequestHandler {
  return async (req: Request, res: Response, next: NextFunction) => {
    const identity = res.locals.identity as Identity | undefined;
    const refuser = refusers.get(req);
    if (!identity || !refuser) {
      sendError(res, 500, 'INTERNAL', 'requireScope used on a route without authenticate before it');
      return;
    }
    const scope = typeof needed === 'function' ? needed(req) : needed;
    if (hasScope(identity.scopes, scope)) {
      next();
      return;
    }
    await refuser.refuse(
      req,
      res,
      403,
      'FORBIDDEN',
      `this needs scope "${scope}"; ${identity.kind} "${identity.name}" has ${identity.scopes.join(', ')}`,
      `missing scope ${scope}`,
      identity.kind === 'user' ? { user: identity.name } : identity.id,
    );
  };
}
