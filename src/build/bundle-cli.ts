import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join } from 'node:path';
import { build } from 'rolldown';
import { packageRoot } from '../package-root.js';

/**
 * `npm run build`, after tsc: bundles the CLI (dist/src/cli/program.js) into dist/bundle/, one
 * CommonJS file per lazily loaded command, then runs `firebreak --help` once so that V8's code cache
 * for every command's modules is written before the first real run needs it (see cli/main.ts).
 *
 * Bundled: our code and the pure-JavaScript packages on the path of every command (argument
 * parsing, YAML, validation), plus openid-client, which is ES-module only and so cannot be
 * required. Every other package stays a package, required from node_modules as usual: native
 * add-ons (better-sqlite3, ssh2's crypto, argon2) find their binaries relative to themselves, and
 * pino starts its worker from its own files.
 */
const BUNDLED = new Set(['commander', 'yaml', 'zod', 'openid-client']);

const pkg = JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
const external = new Set(Object.keys(pkg.dependencies).filter((name) => !BUNDLED.has(name)));
const builtins = new Set(builtinModules);

function isExternal(id: string): boolean {
  if (id.startsWith('node:') || builtins.has(id)) return true;
  if (id.startsWith('.') || id.startsWith('/')) return false;
  const parts = id.split('/');
  return external.has(id.startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]!);
}

const out = join(packageRoot, 'dist', 'bundle');
rmSync(out, { recursive: true, force: true }); // stale chunks and their code cache with them
await build({
  input: join(packageRoot, 'dist', 'src', 'cli', 'program.js'),
  platform: 'node',
  external: isExternal,
  logLevel: 'warn',
  onLog(level, log, handler) {
    // A module loaded on demand by one command and statically by another stays where it is: expected.
    if (log.code === 'INEFFECTIVE_DYNAMIC_IMPORT') return;
    handler(level, log);
  },
  output: {
    dir: out,
    format: 'cjs',
    entryFileNames: 'program.cjs',
    chunkFileNames: '[name]-[hash].cjs',
    sourcemap: true,
  },
});
execFileSync(process.execPath, [join(packageRoot, 'dist', 'src', 'cli', 'main.js'), '--help'], { stdio: 'ignore' });
