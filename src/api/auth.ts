import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { hasScope } from '../identity/scopes.js';
import { addressAllowed, type Identity, type TokenStore, tokenId } from '../identity/tokens.js';
import { API_STREAM, type Journal } from '../journal/types.js';
import { sendError } from './respond.js';

/**
 * Bearer-token authentication for the REST API. `authenticate` finds who is asking (or refuses
 * with 401/403/429) and sets `res.locals.identity`; `requireScope` then checks what they may do.
 * Every refusal is journaled as `auth.failed` (never the token text) and counts against the
 * source address: after `max` refusals in a window the address gets 429 without its token even
 * being looked at, and only the first such 429 of the window is journaled.
 */

export interface AuthOptions {
  tokens: TokenStore;
  journal: Journal;
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
  refuse(req: Request, res: Response, status: number, code: string, message: string, reason: string, id?: string): Promise<void>;
}
const refusers = new WeakMap<Request, Refuser>();

function sourceOf(req: Request): string {
  return req.ip ?? req.socket.remoteAddress ?? 'unknown';
}

/** Method and path, never the query string (it may carry anything a client put there). */
function routeOf(req: Request): string {
  return `${req.method} ${req.baseUrl}${req.path}`.slice(0, 200);
}

export function authenticate(o: AuthOptions): RequestHandler {
  const failures = new FailureCounter(o.failures?.windowMs ?? 60_000, o.failures?.max ?? 10);

  async function journalFailure(req: Request, reason: string, id?: string): Promise<void> {
    // A journal that cannot take the entry must not turn a refusal into an acceptance or a 500.
    await o.journal
      .append(API_STREAM, 'auth.failed', { ip: sourceOf(req), reason, route: routeOf(req), ...(id ? { tokenId: id } : {}) })
      .catch(() => undefined);
  }

  const refuser: Refuser = {
    async refuse(req, res, status, code, message, reason, id) {
      failures.count(sourceOf(req));
      await journalFailure(req, reason, id);
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
    const m = header ? /^Bearer +(\S+) *$/i.exec(header) : null;
    if (!m) {
      const [message, reason] = header
        ? ['Authorization header is not "Bearer <token>"', 'malformed authorization header']
        : ['missing bearer token (Authorization: Bearer <token>)', 'no token'];
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
      `this needs scope "${scope}"; token "${identity.name}" has ${identity.scopes.join(', ')}`,
      `missing scope ${scope}`,
      identity.id,
    );
  };
}
