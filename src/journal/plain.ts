import { canonicalJson } from './chain.js';

/**
 * Entry data as a store keeps it: plain JSON, serialised canonically once. What is hashed and
 * stored is exactly what is read back.
 */

export interface EncodedData {
  /** Canonical JSON: what is hashed and stored. */
  json: string;
  /** The value read back from `json` (what append returns and what a later read gives). */
  value: Record<string, unknown>;
}

export function encodeData(data: Record<string, unknown>): EncodedData {
  const json = canonicalJson(toPlainJson(data));
  return { json, value: JSON.parse(json) as Record<string, unknown> };
}

/**
 * Plain JSON: an Error has no enumerable fields and a Date none either, so a walk over them (the
 * redactor's, or JSON) would turn them into {} and silently lose the message (and any secret check).
 * Buffers are left as they are for the redactor to mark `[binary]`.
 */
export function toPlainJson(v: unknown): unknown {
  if (v instanceof Error) {
    const code = (v as { code?: unknown }).code;
    return { name: v.name, message: v.message, ...(typeof code === 'string' ? { code } : {}) };
  }
  if (v && typeof v === 'object' && !Buffer.isBuffer(v) && typeof (v as { toJSON?: unknown }).toJSON === 'function') {
    return toPlainJson((v as { toJSON: () => unknown }).toJSON());
  }
  if (Array.isArray(v)) return v.map(toPlainJson);
  if (v && typeof v === 'object' && !Buffer.isBuffer(v)) {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[k] = toPlainJson(x);
    return out;
  }
  return v;
}
