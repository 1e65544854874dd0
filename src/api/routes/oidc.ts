import type { Request, Response } from 'express';
import * as client from 'openid-client';
import { z } from 'zod';
import { errorMessage } from '../../errors.js';
import { displayNameOf, groupsOf, hasMfa, OIDC_CALLBACK_PATH, type OidcConfig, roleOf, subjectOf } from '../../identity/oidc.js';
import { type OidcStore, TooManyLogins } from '../../identity/oidc-store.js';
import { API_STREAM, type Journal } from '../../journal/types.js';
import { sessionCookie, sessionIdOf } from '../auth.js';
import { route, type RouteSpec } from '../route.js';
import type { ApiDeps } from '../server.js';

/**
 * Sign-in through an OpenID Provider: /oidc/start sends the browser to the provider (code flow
 * with PKCE S256, state and nonce kept server-side under a random handle in a short-lived
 * SameSite=Lax cookie: the return is a cross-site top-level navigation), /oidc/callback checks
 * the answer with openid-client (issuer, audience, nonce, expiry, PKCE), maps the group claim to
 * a role and hands out the same session cookie as the password sign-in. Every outcome is
 * journaled (signin.ok / signin.failed, method oidc), never a code or a token.
 */

/** What serve() opens when OIDC is configured. */
export interface OidcSignIn {
  config: OidcConfig;
  clientSecret: string;
  store: OidcStore;
}

/** The handle of the sign-in in progress: only sent to /session/oidc/*. */
const LOGIN_COOKIE = 'fb_oidc';
const LOGIN_COOKIE_PATH = '/api/v1/session/oidc';
/** What the console is told after a refusal (`/?signin-error=<code>`): the page says it in words. */
type Refusal = 'OIDC_STATE' | 'OIDC_IDP' | 'OIDC_NO_ROLE' | 'OIDC_MFA_REQUIRED' | 'OIDC_UNAVAILABLE';

const providersView = z.object({ oidc: z.object({ label: z.string() }).nullable() });
const callbackQuery = z.looseObject({
  code: z.string().max(4096).optional(),
  state: z.string().max(1024).optional(),
  error: z.string().max(256).optional(),
});

const ipOf = (req: Request) => req.ip ?? req.socket.remoteAddress ?? 'unknown';

export function oidcRoutes(deps: Pick<ApiDeps, 'users' | 'log'> & { oidc?: OidcSignIn; app: { journal: Journal } }): RouteSpec[] {
  const providers = route({
    method: 'get',
    path: '/session/providers',
    tag: 'session',
    summary: 'How people may sign in besides name and password: the OpenID Provider, when one is configured',
    scope: null,
    responses: { 200: { description: 'the single sign-on button to show, or null', schema: providersView } },
    handler({ res }) {
      res.json({ oidc: deps.oidc ? { label: deps.oidc.config.label } : null });
    },
  });
  const oidc = deps.oidc;
  const users = deps.users;
  if (!oidc || !users) return [providers];
  const { config, store } = oidc;
  const journal = deps.app.journal;
  const consoleUrl = new URL(`${config.redirectUrl.pathname.slice(0, -OIDC_CALLBACK_PATH.length)}/`, config.redirectUrl);
  const secureCookie = config.redirectUrl.protocol === 'https:' || process.env.FIREBREAK_COOKIE_SECURE === '1';
  const loginCookie = (value: string, maxAge: number) =>
    `${LOGIN_COOKIE}=${value}; HttpOnly; SameSite=Lax; Path=${LOGIN_COOKIE_PATH}; Max-Age=${maxAge}${secureCookie ? '; Secure' : ''}`;

  // Discovered at the first sign-in (the server starts while the provider is down), again after a failure.
  let discovered: Promise<client.Configuration> | undefined;
  const provider = () =>
    (discovered ??= client
      .discovery(config.issuer, config.clientId, undefined, client.ClientSecretBasic(oidc.clientSecret), {
        execute: config.insecure ? [client.allowInsecureRequests] : [],
        timeout: 10,
      })
      .catch((err) => {
        discovered = undefined;
        throw err;
      }));

  async function refuse(req: Request, res: Response, refusal: Refusal, reason: string, name = '(unknown)'): Promise<void> {
    const ip = ipOf(req);
    deps.log.warn({ signin: 'oidc', refusal, reason, ip }, 'oidc sign-in refused');
    await journal
      .append(API_STREAM, 'signin.failed', { name, ip, reason, method: 'oidc' })
      .catch((err) => deps.log.warn({ err: String(err) }, 'sign-in could not be journaled'));
    res.set('Cache-Control', 'no-store');
    res.redirect(302, `${consoleUrl.href}?signin-error=${refusal}`);
  }

  return [
    providers,
    route({
      method: 'get',
      path: '/session/oidc/start',
      tag: 'session',
      summary: 'Single sign-on: sends the browser to the OpenID Provider (authorization code, PKCE S256, state, nonce)',
      scope: null,
      responses: {
        302: { description: "to the provider's authorization endpoint; sets the short-lived fb_oidc cookie (HttpOnly, SameSite=Lax)" },
      },
      async handler({ req, res }) {
        let cfg: client.Configuration;
        try {
          cfg = await provider();
        } catch (err) {
          return refuse(req, res, 'OIDC_UNAVAILABLE', `identity provider unreachable: ${clip(errorMessage(err))}`);
        }
        const verifier = client.randomPKCECodeVerifier();
        const state = client.randomState();
        const nonce = client.randomNonce();
        let handle: string;
        try {
          handle = await store.beginLogin({ state, nonce, verifier });
        } catch (err) {
          if (err instanceof TooManyLogins) return refuse(req, res, 'OIDC_UNAVAILABLE', err.message);
          throw err;
        }
        const url = client.buildAuthorizationUrl(cfg, {
          redirect_uri: config.redirectUrl.href,
          scope: 'openid profile email',
          code_challenge: await client.calculatePKCECodeChallenge(verifier),
          code_challenge_method: 'S256',
          state,
          nonce,
        });
        res.set('Cache-Control', 'no-store');
        res.append('Set-Cookie', loginCookie(handle, 600));
        res.redirect(302, url.href);
      },
    }),
    route({
      method: 'get',
      path: '/session/oidc/callback',
      tag: 'session',
      summary: "Single sign-on: the provider's answer; a session like the password sign-in's, then back to the console",
      scope: null,
      query: callbackQuery,
      responses: {
        302: {
          description:
            'to the console: signed in (fb_session set), or `/?signin-error=OIDC_STATE|OIDC_IDP|OIDC_NO_ROLE|OIDC_MFA_REQUIRED|OIDC_UNAVAILABLE`',
        },
      },
      async handler({ req, res, query }) {
        // The handle is spent whatever happens: a callback is answered once.
        res.append('Set-Cookie', loginCookie('', 0));
        const handle = cookieOf(req, LOGIN_COOKIE);
        const login = handle ? await store.takeLogin(handle) : undefined;
        if (!login)
          return refuse(
            req,
            res,
            'OIDC_STATE',
            'state mismatch: no sign-in in progress for this browser (expired, used already, or started elsewhere)',
          );
        if (query.state !== login.state) return refuse(req, res, 'OIDC_STATE', 'state mismatch: the answer is not for this sign-in');
        if (query.error)
          return refuse(req, res, 'OIDC_IDP', `identity provider error: ${clip(query.error.replace(/[^A-Za-z0-9_.-]/g, '?'))}`);
        const current = new URL(config.redirectUrl);
        current.search = new URL(req.originalUrl, 'http://callback.invalid').search;
        // Codes and tokens never reach the journal, not even inside an error message.
        const scrub = (s: string) =>
          [query.code, query.state].reduce<string>((t, v) => (v && v.length >= 4 ? t.split(v).join('[redacted]') : t), s);
        let claims: Record<string, unknown>;
        try {
          const tokens = await client.authorizationCodeGrant(await provider(), current, {
            pkceCodeVerifier: login.verifier,
            expectedState: login.state,
            expectedNonce: login.nonce,
            idTokenExpected: true,
          });
          claims = (tokens.claims() ?? {}) as Record<string, unknown>;
        } catch (err) {
          const e = err as { code?: unknown; error?: unknown };
          const what = typeof e.error === 'string' ? `${e.error}: ` : typeof e.code === 'string' ? `${e.code}: ` : '';
          return refuse(req, res, 'OIDC_IDP', `identity provider answer refused: ${clip(scrub(what + errorMessage(err)))}`);
        }
        const name = displayNameOf(claims);
        const sub = claims.sub;
        if (typeof sub !== 'string' || !sub) return refuse(req, res, 'OIDC_IDP', 'id_token has no subject', name);
        if (config.requireMfa && !hasMfa(claims)) {
          const amr = Array.isArray(claims.amr) ? claims.amr.filter((m) => typeof m === 'string').join(' ') : 'none';
          return refuse(req, res, 'OIDC_MFA_REQUIRED', `mfa missing: the provider says amr ${clip(amr || 'none')}`, name);
        }
        const groups = groupsOf(claims, config.rolesClaim);
        const role = roleOf(groups, config.roleMap);
        if (!role)
          return refuse(req, res, 'OIDC_NO_ROLE', `no mapped role: ${config.rolesClaim} ${clip(groups.join(', ') || 'empty')}`, name);
        const subject = subjectOf(String(claims.iss ?? config.issuer.href), sub);
        const ip = ipOf(req);
        // No entry, no session: a sign-in the journal does not know of must not happen.
        await journal.append(API_STREAM, 'signin.ok', { name, ip, method: 'oidc', subject, role });
        const previous = sessionIdOf(req);
        if (previous) await users.deleteSession(previous);
        const session = await store.createSession({ subject, name, role }, ip);
        res.set('Cache-Control', 'no-store');
        res.append('Set-Cookie', sessionCookie(req, session.id));
        res.redirect(302, consoleUrl.href);
      },
    }),
  ];
}

function cookieOf(req: Request, name: string): string | undefined {
  const parsed = (req as Request & { cookies?: Record<string, unknown> }).cookies?.[name];
  return typeof parsed === 'string' && parsed ? parsed : undefined;
}

const clip = (s: string) => (s.length > 200 ? `${s.slice(0, 200)}…` : s);
