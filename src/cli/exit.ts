import { errorCode, errorMessage, FirebreakError } from '../errors.js';
import { redactor } from '../secrets.js';

/** Exit codes: the only place run states and errors become numbers. */
export const EXIT = { ok: 0, error: 1, partial: 2, failed: 3, refused: 4 } as const;

export function exitCodeForState(state: string): number {
  if (state === 'contained' || state === 'rolled-back') return EXIT.ok;
  if (state === 'partial' || state === 'rollback-failed') return EXIT.partial;
  return EXIT.failed;
}

/** Prints an error (redacted) and exits; FirebreakErrors are expected and get no stack trace. */
export function die(err: unknown): never {
  const msg = redactor.text(errorMessage(err));
  process.stderr.write(
    err instanceof FirebreakError
      ? `error [${errorCode(err)}]: ${msg}\n`
      : `internal error: ${redactor.text(String((err as Error)?.stack ?? err))}\n`,
  );
  process.exit(EXIT.error);
}

export function collectParam(value: string, previous: Record<string, string>): Record<string, string> {
  const eq = value.indexOf('=');
  if (eq <= 0) throw new FirebreakError(`--param expects name=value, got ${JSON.stringify(value)}`);
  return { ...previous, [value.slice(0, eq)]: value.slice(eq + 1) };
}
