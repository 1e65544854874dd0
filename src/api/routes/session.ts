import type { Request, Response } from 'express';
import QRCode from 'qrcode';
import { z } from 'zod';
import type { UserRecord } from '../../identity/users.js';
import { API_STREAM, type Journal } from '../../journal/types.js';
import { clearedSessionCookie, csrfOk, sessionCookie, sessionIdOf } from '../auth.js';
import { sendError } from '../respond.js';
import { route, type RouteSpec } from '../route.js';
import type { ApiDeps } from '../server.js';

/**
 * The console's sign-in: name and password, then a TOTP code (enrolled with a QR code at the first
 * sign-in), then a server-side session in an HttpOnly SameSite=Strict cookie and the session's CSRF
 * token. Failures count towards the name's lockout; every outcome is journaled without the password
 * or the code.
 */

const signinSchema = z.strictObject({
  name: z.string().min(1).max(128),
  password: z.string().min(1).max(1024),
  code: z
    .string()
    .regex(/^\d{6}$/, 'the 6-digit code of the authenticator app')
    .optional(),
});

const userView = z.object({ name: z.string(), role: z.string(), scopes: z.array(z.string()) });
const sessionView = z.object({ user: userView, csrfToken: z.string() });
const errorBody = z.object({ error: z.object({ code: z.string(), message: z.string(), field: z.string().optional() }) });
const enrollBody = errorBody.extend({ enroll: z.object({ otpauthUrl: z.string(), qrDataUrl: z.string() }) });

/** A locked name's refusals are journaled at most this often per name and address (an attacker's loop is one line a minute). */
const LOCKED_JOURNAL_EVERY_MS = 60_000;

const viewOf = (u: UserRecord) => ({ name: u.name, role: u.role, scopes: u.scopes });
const ipOf = (req: Request) => req.ip ?? req.socket.remoteAddress ?? 'unknown';
const seconds = (ms: number) => Math.max(1, Math.ceil(ms / 1000));

export function sessionRoutes(deps: Pick<ApiDeps, 'users' | 'log'> & { app: { journal: Journal } }): RouteSpec[] {
  const users = deps.users;
  if (!users) return [];
  const journal = deps.app.journal;
  const lockedJournaled = new Map<string, number>();
  // A refusal stands even when the journal cannot take its entry.
  const note = (p: Promise<unknown>) => p.catch((err) => deps.log.warn({ err: String(err) }, 'sign-in could not be journaled'));

  async function refuse(req: Request, res: Response, name: string, code: string, message: string, reason: string): Promise<void> {
    const ip = ipOf(req);
    const { failures, lockedUntil } = await users!.recordFailure(name);
    await note(journal.append(API_STREAM, 'signin.failed', { name, ip, reason }));
    if (lockedUntil !== undefined) {
      const reasonLocked = `locked for ${seconds(users!.lockout.lockMs)} s after ${failures} failed sign-ins`;
      await note(
        journal.append(API_STREAM, 'signin.locked', { name, ip, reason: reasonLocked, until: new Date(lockedUntil).toISOString() }),
      );
    }
    sendError(res, 401, code, message);
  }

  async function locked(req: Request, res: Response, name: string, until: number): Promise<void> {
    const ip = ipOf(req);
    const key = `${name}\n${ip}`;
    const now = Date.now();
    if ((lockedJournaled.get(key) ?? 0) <= now - LOCKED_JOURNAL_EVERY_MS) {
      if (lockedJournaled.size >= 10_000) lockedJournaled.clear();
      lockedJournaled.set(key, now);
      await note(
        journal.append(API_STREAM, 'signin.locked', {
          name,
          ip,
          reason: 'refused: the account is locked',
          until: new Date(until).toISOString(),
        }),
      );
    }
    const wait = seconds(until - Date.now());
    res.set('Retry-After', String(wait));
    sendError(res, 423, 'ACCOUNT_LOCKED', `too many failed sign-ins: this account is locked; try again in ${wait} s`);
  }

  async function signedIn(req: Request, res: Response, user: UserRecord, enrolledNow: boolean): Promise<void> {
    const ip = ipOf(req);
    // No entry, no session: a sign-in the journal does not know of must not happen.
    await journal.append(API_STREAM, 'signin.ok', { name: user.name, ip, ...(enrolledNow ? { reason: 'totp enrolled' } : {}) });
    await users!.signedIn(user.name, ip);
    const previous = sessionIdOf(req);
    if (previous) await users!.deleteSession(previous);
    const session = await users!.createSession(user.name, ip);
    res.set('Cache-Control', 'no-store');
    res.append('Set-Cookie', sessionCookie(req, session.id));
    res.json({ user: viewOf(user), csrfToken: await users!.csrfToken(session.id) });
  }

  return [
    route({
      method: 'post',
      path: '/session',
      tag: 'session',
      summary: 'Sign in to the console: name and password, then the TOTP code (enrolled with a QR code at the first sign-in)',
      scope: null,
      body: signinSchema,
      responses: {
        200: { description: 'signed in: the fb_session cookie is set; send csrfToken as X-CSRF-Token on changes', schema: sessionView },
        401: {
          description:
            'SIGNIN_FAILED (name or password), TOTP_REQUIRED (send code), TOTP_INVALID (wrong or used code), TOTP_ENROLL (scan enroll.qrDataUrl, send the same request with code)',
          schema: enrollBody,
        },
        423: { description: 'ACCOUNT_LOCKED after repeated failures; Retry-After says when to try again', schema: errorBody },
      },
      async handler({ req, res, body }) {
        const { name, password, code } = body;
        const until = await users.lockedUntil(name);
        if (until !== undefined) return locked(req, res, name, until);
        const check = await users.verifyPassword(name, password);
        if (!check.ok) return refuse(req, res, name, 'SIGNIN_FAILED', 'name or password is wrong', check.reason);
        const { user } = check;
        if (code === undefined) {
          const ip = ipOf(req);
          if (user.enrolled) {
            await note(journal.append(API_STREAM, 'signin.failed', { name, ip, reason: 'totp code required (password right)' }));
            return sendError(res, 401, 'TOTP_REQUIRED', 'enter the 6-digit code of your authenticator app');
          }
          await note(journal.append(API_STREAM, 'signin.failed', { name, ip, reason: 'totp enrollment offered (password right)' }));
          const otpauthUrl = await users.totpUrl(name);
          res.set('Cache-Control', 'no-store');
          res.status(401).json({
            error: {
              code: 'TOTP_ENROLL',
              message: 'a second factor is required: scan the QR code with an authenticator app, then send its 6-digit code',
            },
            enroll: { otpauthUrl, qrDataUrl: await QRCode.toDataURL(otpauthUrl) },
          });
          return;
        }
        const totp = await users.verifyTotp(name, code);
        if (totp === 'replayed')
          return refuse(req, res, name, 'TOTP_INVALID', 'this code was used already; wait for the next one', 'totp code replayed');
        if (totp === 'invalid') return refuse(req, res, name, 'TOTP_INVALID', 'the code is wrong', 'wrong totp code');
        return signedIn(req, res, user, !user.enrolled);
      },
    }),
    route({
      method: 'get',
      path: '/session',
      tag: 'session',
      summary: 'Who is signed in (from the session cookie), and the CSRF token to send as X-CSRF-Token',
      scope: null,
      responses: { 200: { description: 'signed in', schema: sessionView }, 401: { description: 'UNAUTHENTICATED: no live session' } },
      async handler({ req, res }) {
        const id = sessionIdOf(req);
        const found = id ? await users.lookupSession(id) : undefined;
        if (!id || !found) {
          if (id) res.append('Set-Cookie', clearedSessionCookie(req));
          return sendError(res, 401, 'UNAUTHENTICATED', 'not signed in');
        }
        res.set('Cache-Control', 'no-store');
        res.json({ user: viewOf(found.user), csrfToken: await users.csrfToken(id) });
      },
    }),
    route({
      method: 'delete',
      path: '/session',
      tag: 'session',
      summary: 'Sign out: the session ends on the server (needs X-CSRF-Token)',
      scope: null,
      headers: { 'X-CSRF-Token': "the session's csrfToken" },
      responses: {
        204: { description: 'signed out' },
        401: { description: 'UNAUTHENTICATED: no live session' },
        403: { description: 'CSRF_INVALID' },
      },
      async handler({ req, res }) {
        const id = sessionIdOf(req);
        const found = id ? await users.lookupSession(id) : undefined;
        if (!id || !found) return sendError(res, 401, 'UNAUTHENTICATED', 'not signed in');
        if (!(await csrfOk(users, id, req))) return sendError(res, 403, 'CSRF_INVALID', 'missing or wrong X-CSRF-Token header');
        await users.deleteSession(id);
        await note(journal.append(API_STREAM, 'session.ended', { name: found.user.name, reason: 'signed out', ip: ipOf(req) }));
        res.append('Set-Cookie', clearedSessionCookie(req));
        res.status(204).end();
      },
    }),
  ];
}
