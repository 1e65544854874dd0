import type { Response } from 'express';

/**
 * Every API error is JSON of one shape, with a stable code and, when a request field is at fault,
 * that field: `{ "error": { "code": "PARAM_INVALID", "message": "...", "field": "params.address" } }`.
 */
export interface ApiErrorBody {
  error: { code: string; message: string; field?: string };
}

export function sendError(res: Response, status: number, code: string, message: string, field?: string): void {
  const body: ApiErrorBody = { error: { code, message, ...(field ? { field } : {}) } };
  res.status(status).json(body);
}
