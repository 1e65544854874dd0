import type { NextFunction, Request, Response } from 'express';
import type { z } from 'zod';
import { errorCode, errorMessage, FirebreakError } from '../errors.js';
import { redactor } from '../secrets.js';
import { sendError } from './respond.js';

/** The only place Firebreak's error codes become HTTP statuses. */
const STATUS: Record<string, number> = {
  REQUEST_INVALID: 400,
  PARAM_INVALID: 400,
  TRIGGER_INVALID: 400,
  PLAYBOOK_INVALID: 400,
  PLAN_INVALID: 422,
  LOCKOUT: 422,
  UNSUPPORTED_ACTION: 422,
  UNKNOWN_DRIVER: 422,
  RUN_NOT_FOUND: 404,
  NOT_FOUND: 404,
  RUN_STATE_CONFLICT: 409,
  APPROVAL_REFUSED: 403,
  QUEUE_UNAVAILABLE: 503,
  REDIS_UNAVAILABLE: 503,
  JOURNAL_UNAVAILABLE: 503,
  LEASE_BUSY: 409,
  TOKEN_INVALID: 400,
  SCOPE_INVALID: 400,
  TOKEN_NOT_FOUND: 404,
  TOKEN_STORE_UNAVAILABLE: 503,
  USER_INVALID: 400,
  ROLE_INVALID: 400,
  USER_NOT_FOUND: 404,
  USER_STORE_UNAVAILABLE: 503,
};

/** A request that does not validate; `field` is the JSON path of the offending field. */
export class RequestInvalid extends FirebreakError {
  override readonly code = 'REQUEST_INVALID';
  constructor(
    message: string,
    readonly field?: string,
  ) {
    super(message);
  }
}

export class NotFound extends FirebreakError {
  override readonly code = 'NOT_FOUND';
}

/** A zod failure as one request error naming its first field (`params.address`, `body`). */
export function fromZod(err: z.ZodError, where: 'body' | 'query'): RequestInvalid {
  // An unknown field first: it is most often the cause (a typo) of the rest.
  const first = err.issues.find((i) => i.code === 'unrecognized_keys') ?? err.issues[0]!;
  const path = first.path.filter((p) => typeof p !== 'symbol').join('.');
  const field = path ? (where === 'body' ? path : `${where}.${path}`) : where;
  const message =
    first.code === 'unrecognized_keys'
      ? `unknown field${first.keys.length > 1 ? 's' : ''} ${first.keys.map((k) => JSON.stringify(k)).join(', ')}`
      : first.message;
  return new RequestInvalid(
    `${field}: ${message}`,
    first.code === 'unrecognized_keys' ? [path, first.keys[0]].filter(Boolean).join('.') : field,
  );
}

/** The field a FirebreakError names, where it can be told (`param "address" ...` -> params.address). */
function fieldOf(err: unknown): string | undefined {
  if (err instanceof RequestInvalid) return err.field;
  const f = (err as { field?: unknown }).field;
  if (typeof f === 'string') return f;
  const m = /^param "([^"]+)"/.exec(errorMessage(err));
  return m ? `params.${m[1]}` : undefined;
}

/** body-parser's failures, by its error `type`. */
const BODY_ERRORS: Record<string, [number, string, string, string?]> = {
  'entity.too.large': [413, 'BODY_TOO_LARGE', 'the request body is larger than the limit', 'body'],
  'entity.parse.failed': [400, 'BODY_INVALID_JSON', 'the request body is not valid JSON', 'body'],
  'encoding.unsupported': [415, 'BODY_UNSUPPORTED', 'the request body must be JSON in UTF-8', 'body'],
  'charset.unsupported': [415, 'BODY_UNSUPPORTED', 'the request body must be JSON in UTF-8', 'body'],
};

export function errorHandler(log: { error(o: object, msg: string): void }) {
  return (err: unknown, req: Request, res: Response, _next: NextFunction): void => {
    if (res.headersSent) return;
    const e = err as { type?: string; status?: number };
    const body = BODY_ERRORS[e.type ?? ''];
    if (body) {
      sendError(res, ...body);
      return;
    }
    if (err instanceof FirebreakError) {
      const status = STATUS[err.code] ?? 500;
      if (status === 500) log.error({ code: err.code, err: redactor.text(errorMessage(err)), path: req.path }, 'request failed');
      sendError(res, status, errorCode(err), redactor.text(errorMessage(err)), fieldOf(err));
      return;
    }
    log.error({ err: redactor.text(String((err as Error)?.stack ?? err)), path: req.path }, 'internal error');
    sendError(res, 500, 'INTERNAL', 'internal error (logged)');
  };
}
