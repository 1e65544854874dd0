import { execFile } from 'node:child_process';
import { LabError } from '../errors.js';

/** Result of one command; `code` is the exit status (or -1 when it could not start / was killed). */
export interface ExecResult {
  stdout: string;
  stderr: string;
  code: number;
}

export interface RunOptions {
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
  input?: string;
}

/** Runs a program without a shell; never throws for a non-zero exit (callers decide). */
export function run(file: string, args: string[], opts: RunOptions = {}): Promise<ExecResult> {
  return new Promise((resolve) => {
    const child = execFile(
      file,
      args,
      { env: opts.env ?? process.env, timeout: opts.timeoutMs ?? 30_000, maxBuffer: 16 * 1024 * 1024, encoding: 'utf8' },
      (err, stdout, stderr) => {
        const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1) : 0;
        resolve({ stdout, stderr: err && code === -1 ? `${stderr}${err.message}` : stderr, code });
      },
    );
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

/** Runs a program and throws a LabError naming the command when it fails. */
export async function must(file: string, args: string[], opts: RunOptions = {}): Promise<string> {
  const r = await run(file, args, opts);
  if (r.code !== 0) {
    throw new LabError(`lab: \`${[file, ...args].join(' ')}\` failed (exit ${r.code}): ${r.stderr.trim().slice(0, 500)}`);
  }
  return r.stdout;
}

const NS_NAME = /^fb-[a-z0-9-]{1,20}$/;

/** Throws unless `ns` is a lab namespace name (only `fb-*` namespaces are ever touched). */
export function assertLabNamespace(ns: string): void {
  if (!NS_NAME.test(ns)) throw new LabError(`lab: "${ns}" is not a lab namespace (fb-*)`);
}

/** Runs argv inside a lab namespace (tests use this); no shell, exit code returned, not thrown. */
export async function nsExec(ns: string, argv: string[], opts: RunOptions = {}): Promise<ExecResult> {
  assertLabNamespace(ns);
  const [file, ...rest] = argv;
  if (!file) throw new LabError('lab: nsExec needs a command');
  return run('ip', ['netns', 'exec', ns, file, ...rest], opts);
}

export function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}
