import { readFile } from 'node:fs/promises';
import { SecretUnavailable } from './errors.js';

/**
 * Secret references and redaction. Inventories hold `env:NAME` / `file:PATH`; the value is read
 * only when a transport connects, and every value read is remembered so that anything leaving
 * the process (journal, logs, plans, API, errors) can be scrubbed of it.
 */
export class Redactor {
  private readonly values = new Set<string>();

  /** Every known secret in one pattern, longest first (a network has hundreds of them). */
  private pattern: RegExp | undefined;

  /** Remember a secret value (and its trimmed form) so it is scrubbed from output. */
  add(value: string): void {
    for (const v of [value, value.trim()]) {
      if (v.length >= 4 && !this.values.has(v)) {
        this.values.add(v);
        this.pattern = undefined;
      }
    }
  }

  /** Replaces every known secret in a string with `[redacted]`. */
  text(s: string): string {
    if (this.values.size === 0) return s;
    this.pattern ??= new RegExp(
      [...this.values]
        .sort((a, b) => b.length - a.length)
        .map((v) => v.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
        .join('|'),
      'g',
    );
    return s.replace(this.pattern, '[redacted]');
  }

  /** Deep copy of a JSON value with secrets scrubbed and secret-named keys masked. */
  json<T>(value: T): T {
    return this.walk(value, '') as T;
  }

  private walk(v: unknown, key: string): unknown {
    if (typeof v === 'string') {
      if (SECRET_KEY.test(key) && !isReference(v)) return '[redacted]';
      return this.text(v);
    }
    if (Array.isArray(v)) return v.map((x) => this.walk(x, key));
    if (v && typeof v === 'object') {
      if (Buffer.isBuffer(v)) return '[binary]';
      const out: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v)) out[k] = this.walk(x, k);
      return out;
    }
    return v;
  }
}

const SECRET_KEY = /^(password|passphrase|community|secret|privateKey|authKey|privKey)$/i;

export function isReference(v: string): boolean {
  return /^(env|file):.+/.test(v);
}

/** The process-wide redactor: secrets resolved anywhere are scrubbed everywhere. */
export const redactor = new Redactor();

/** Reads `env:NAME` or `file:PATH`; the value is registered with the redactor before it is returned. */
export async function resolveSecret(ref: string): Promise<string> {
  let value: string | undefined;
  if (ref.startsWith('env:')) {
    const name = ref.slice(4);
    value = process.env[name];
    if (value === undefined || value === '') throw new SecretUnavailable(`secret ${ref}: environment variable ${name} is not set`);
  } else if (ref.startsWith('file:')) {
    const path = ref.slice(5);
    try {
      value = await readFile(path, 'utf8');
    } catch (err) {
      throw new SecretUnavailable(`secret ${ref}: cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
    }
  } else {
    throw new SecretUnavailable(`secret reference "${ref.slice(0, 8)}…" must start with env: or file:`);
  }
  redactor.add(value);
  return value;
}
