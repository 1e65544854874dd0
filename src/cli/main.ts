#!/usr/bin/env node
import { statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { packageRoot } from '../package-root.js';
import { installCompileCache } from './compile-cache.js';

/**
 * The `firebreak` command. It starts the bundle `npm run build` makes of program.ts (one CommonJS
 * file per lazily loaded command) with V8's code cache, because a cold `firebreak run` is what an
 * operator types mid-incident and its time to contain counts from here: loading ~170 ES modules
 * one by one and compiling them from scratch took about 250 ms of it. Without a bundle, or with one
 * older than tsc's output (a `tsc` alone after a change), it runs program.ts as compiled.
 */
const dir = join(packageRoot, 'dist', 'bundle');
const bundle = join(dir, 'program.cjs');

/** The bundle is there and not older than tsc's output; a stale one is said once, on stderr. */
function fresh(): boolean {
  let built: number;
  try {
    built = statSync(bundle).mtimeMs;
  } catch {
    return false; // tsc alone (a development checkout): nothing to say
  }
  if (built >= statSync(join(import.meta.dirname, 'program.js')).mtimeMs) return true;
  process.stderr.write(
    'firebreak: dist/bundle is older than dist/src (`npm run build` remakes it); running the slower unbundled modules\n',
  );
  return false;
}

if (process.env.FIREBREAK_NO_BUNDLE !== '1' && fresh()) {
  installCompileCache(join(dir, '.v8-cache'), packageRoot);
  await (createRequire(import.meta.url)(bundle) as typeof import('./program.js')).main();
} else {
  await (await import('./program.js')).main();
}
