import type { Request, Response } from 'express';
import { z } from 'zod';

/**
 * One route, declared once: the express router is built from it and the OpenAPI document is
 * generated from it, with the same zod schemas that validate the request, so the two cannot drift.
 */
export interface RouteSpec<B extends z.ZodType = z.ZodType, Q extends z.ZodType = z.ZodType> {
  method: 'get' | 'post' | 'delete';
  /** express path under the mount point, `/runs/:id` (OpenAPI shows `/runs/{id}`). */
  path: string;
  summary: string;
  tag: string;
  /** The scope a token needs (`null`: public, health only); a function for per-playbook scopes. */
  scope: string | null | ((req: Request, body: z.output<B>) => string);
  /** Where the scope check happens: before the body is parsed (default) or after (`run:<playbook>`). */
  body?: B;
  query?: Q;
  /** Extra request headers documented (Idempotency-Key, Last-Event-ID, signatures). */
  headers?: Record<string, string>;
  responses: Record<number, { description: string; schema?: z.ZodType; contentType?: string }>;
  handler(ctx: RouteContext<z.output<B>, z.output<Q>>): Promise<void> | void;
}

export interface RouteContext<B, Q> {
  req: Request;
  res: Response;
  body: B;
  query: Q;
}

/** `/runs/:id` -> `/runs/{id}` */
export function openApiPath(path: string): string {
  return path.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
}

export function pathParams(path: string): string[] {
  return [...path.matchAll(/:([A-Za-z0-9_]+)/g)].map((m) => m[1]!);
}

const ERROR = z.object({
  error: z.object({ code: z.string(), message: z.string(), field: z.string().optional() }),
});

/** The OpenAPI 3.1 document of the routes (JSON Schema 2020-12 from zod, as 3.1 takes it). */
export function openApiDocument(routes: readonly RouteSpec[], base: string, version: string): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  const schema = (s: z.ZodType, io: 'input' | 'output') => {
    const { $schema: _, ...rest } = z.toJSONSchema(s, { io, unrepresentable: 'any' }) as Record<string, unknown>;
    return rest;
  };
  for (const r of routes) {
    const full = r.tag === 'health' ? r.path : `${base}${r.path}`;
    const parameters = [
      ...pathParams(r.path).map((name) => ({ name, in: 'path', required: true, schema: { type: 'string' } })),
      ...Object.entries(r.headers ?? {}).map(([name, description]) => ({
        name,
        in: 'header',
        required: false,
        description,
        schema: { type: 'string' },
      })),
      ...(r.query
        ? Object.entries((schema(r.query, 'input').properties ?? {}) as Record<string, unknown>).map(([name, s]) => ({
            name,
            in: 'query',
            required: false,
            schema: s,
          }))
        : []),
    ];
    const responses: Record<string, unknown> = {};
    for (const [status, resp] of Object.entries(r.responses)) {
      responses[status] = {
        description: resp.description,
        ...(resp.schema || resp.contentType
          ? { content: { [resp.contentType ?? 'application/json']: resp.schema ? { schema: schema(resp.schema, 'output') } : {} } }
          : {}),
      };
    }
    if (r.scope !== null) {
      responses['401'] ??= { description: 'no valid token', content: { 'application/json': { schema: schema(ERROR, 'output') } } };
      responses['403'] ??= {
        description: 'the token lacks the scope',
        content: { 'application/json': { schema: schema(ERROR, 'output') } },
      };
    }
    if (r.body)
      responses['400'] ??= {
        description: 'the request does not validate',
        content: { 'application/json': { schema: schema(ERROR, 'output') } },
      };
    paths[openApiPath(full)] ??= {};
    paths[openApiPath(full)]![r.method] = {
      summary: r.summary,
      tags: [r.tag],
      operationId: `${r.method}${openApiPath(r.path).replace(/[^A-Za-z0-9]+(.)?/g, (_, c: string | undefined) => (c ? c.toUpperCase() : ''))}`,
      ...(typeof r.scope === 'string' ? { 'x-scope': r.scope } : r.scope ? { 'x-scope': 'run:<playbook>' } : {}),
      ...(r.scope === null ? { security: [] } : {}),
      ...(parameters.length ? { parameters } : {}),
      ...(r.body ? { requestBody: { required: true, content: { 'application/json': { schema: schema(r.body, 'input') } } } } : {}),
      responses,
    };
  }
  return {
    openapi: '3.1.0',
    info: { title: 'Firebreak API', version, description: 'Network containment: plan, contain, verify, journal, roll back.' },
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer' }, session: { type: 'apiKey', in: 'cookie', name: 'fb_session' } },
    },
    security: [{ bearer: [] }, { session: [] }],
    paths,
  };
}

/** Keeps each route's handler typed by its own schemas while the table holds them all. */
export function route<B extends z.ZodType = z.ZodNever, Q extends z.ZodType = z.ZodNever>(r: RouteSpec<B, Q>): RouteSpec {
  return r as unknown as RouteSpec;
}
