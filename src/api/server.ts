import type { Server } from 'node:http';
import cookieParser from 'cookie-parser';
import express, { type Express, type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import type { Logger } from 'pino';
import type { App } from '../app/app.js';
import type { DrillSpec } from '../drills/types.js';
import type { Intake } from '../app/intake.js';
import type { Journal } from '../journal/types.js';
import type { TokenStore } from '../identity/tokens.js';
import type { UserStore } from '../identity/users.js';
import type { ReplayCache } from '../triggers/hmac.js';
import type { TriggerSpec } from '../triggers/types.js';
import { authenticate, requireScope } from './auth.js';
import { mountConsole } from './console.js';
import { errorHandler, fromZod, NotFound } from './errors.js';
import type { ApiMetrics } from './metrics.js';
import { openApiDocument, type RouteSpec } from './route.js';
import { catalogRoutes } from './routes/catalog.js';
import { drillRoutes } from './routes/drills.js';
import { eventRoutes } from './routes/events.js';
import { healthRoutes, type ReadyReport } from './routes/health.js';
import { type OidcSignIn, oidcRoutes } from './routes/oidc.js';
import { recordRoutes } from './routes/records.js';
import { runRoutes } from './routes/runs.js';
import { sessionRoutes } from './routes/session.js';
import { triggerRoutes } from './routes/triggers.js';

/**
 * The REST API as an express 5 application: every route from one table (routes/*.ts), each
 * request validated by its zod schema, every route but health behind a scoped token, one error
 * shape, one log line per request with the run id.
 */
export const API_BASE = '/api/v1';
/** Bodies are small: a run request, an alert group. Alertmanager groups can be large, hence not 16 kB. */
export const BODY_LIMIT = '256kb';

export interface ApiDeps {
  app: App & { journal: Journal };
  tokens: TokenStore;
  /** Console users: sign-in at /session, and their session cookie accepted beside bearer tokens. */
  users?: UserStore;
  paths: { inventory: string; playbooks: string };
  triggers: readonly TriggerSpec[];
  replays: ReplayCache;
  metrics: ApiMetrics;
  log: Logger;
  ready(): Promise<ReadyReport>;
  clock: () => number;
  version: string;
  intake: Intake;
  /** drills.yaml, and how a drill is run (in the background) by this server. */
  drills?: readonly DrillSpec[];
  runDrill?: (spec: DrillSpec, occurrence: string | undefined) => Promise<unknown>;
  /** The built console (dist/console); served at `/` when it is there. */
  consoleDir?: string;
  /** Failed sign-ins per source address before 429 (tests lower it). */
  failures?: { windowMs: number; max: number };
  /** Single sign-on through an OpenID Provider (its sessions are in `users` too: withOidcSessions). */
  oidc?: OidcSignIn;
}

export interface Api {
  express: Express;
  routes: RouteSpec[];
  /** Open event streams: ended on shutdown so the server can close. */
  streams: Set<Response>;
}

export function createApi(deps: ApiDeps): Api {
  const streams = new Set<Response>();
  const routes: RouteSpec[] = [
    ...healthRoutes(deps),
    ...catalogRoutes(deps),
    ...runRoutes(deps),
    ...eventRoutes(deps, streams),
    ...recordRoutes(deps),
    ...triggerRoutes(deps),
    ...drillRoutes(deps),
    ...sessionRoutes(deps),
    ...oidcRoutes(deps),
  ];
  const doc = openApiDocument(routes, API_BASE, deps.version);
  const x = express();
  x.disable('x-powered-by');
  x.set('trust proxy', false);
  x.use((_req, res, next) => {
    // Time to contain counts from here, on the application's clock.
    res.locals.receivedAt = deps.clock();
    next();
  });
  x.use(requestLog(deps.log));
  x.use(
    express.json({
      limit: BODY_LIMIT,
      strict: true,
      // Signed webhooks are verified over the exact bytes received.
      verify: (req, _res, buf) => {
        (req as Request & { rawBody?: Buffer }).rawBody = buf;
      },
    }),
  );
  x.use(cookieParser());
  const auth = authenticate({ tokens: deps.tokens, users: deps.users, journal: deps.app.journal, failures: deps.failures });
  const api = express.Router();
  const top = express.Router();
  for (const r of routes) (r.tag === 'health' ? top : api)[r.method](r.path, ...handlers(r, auth));
  api.get('/openapi.json', auth, requireScope('read'), (_req, res) => {
    res.json(doc);
  });
  x.use(top);
  x.use(API_BASE, api);
  if (deps.consoleDir) mountConsole(x, deps.consoleDir);
  x.use((req, _res, next) => next(new NotFound(`no route ${req.method} ${req.path}`)));
  x.use(errorHandler(deps.log));
  return { express: x, routes, streams };
}

function handlers(r: RouteSpec, auth: RequestHandler): RequestHandler[] {
  const out: RequestHandler[] = [];
  if (r.scope !== null) out.push(auth);
  if (typeof r.scope === 'string') out.push(requireScope(r.scope));
  out.push(async (req: Request, res: Response, next: NextFunction) => {
    try {
      let body: unknown;
      if (r.body) {
        if (req.body === undefined) throw fromZod(r.body.safeParse(undefined).error!, 'body');
        const parsed = r.body.safeParse(req.body);
        if (!parsed.success) throw fromZod(parsed.error, 'body');
        body = parsed.data;
      }
      let query: unknown;
      if (r.query) {
        const parsed = r.query.safeParse({ ...(req.query as object) });
        if (!parsed.success) throw fromZod(parsed.error, 'query');
        query = parsed.data;
      }
      if (typeof r.scope === 'function') {
        const needed = r.scope(req, body);
        const ok = await new Promise<boolean>((resolve) => {
          requireScope(needed)(req, res, () => resolve(true));
          if (res.headersSent) resolve(false);
        });
        if (!ok) return;
      }
      await r.handler({ req, res, body, query });
    } catch (err) {
      next(err);
    }
  });
  return out;
}

/** One structured line per request: method, path, status, time, who, and the run it concerns. */
function requestLog(log: Logger): RequestHandler {
  return (req, res, next) => {
    const t0 = performance.now();
    res.on('close', () => {
      const identity = res.locals.identity as { name?: string } | undefined;
      log.info(
        {
          method: req.method,
          path: req.originalUrl.split('?')[0],
          status: res.statusCode,
          ms: Math.round((performance.now() - t0) * 10) / 10,
          ...(identity?.name ? { identity: identity.name } : {}),
          ...(res.locals.runId ? { runId: res.locals.runId } : {}),
          ...(res.locals.decision ? { decision: res.locals.decision } : {}),
        },
        'request',
      );
    });
    next();
  };
}

/** Listens, and on stop: refuses new connections, ends event streams, waits for requests in flight. */
export async function listen(api: Api, host: string, port: number): Promise<{ server: Server; address: string; stop(): Promise<void> }> {
  const server = api.express.listen(port, host);
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  server.keepAliveTimeout = 5_000;
  const a = server.address();
  const address = typeof a === 'object' && a ? `${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}` : String(a);
  return {
    server,
    address,
    async stop() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const s of api.streams) s.end();
      server.closeIdleConnections();
      await closed;
    },
  };
}
