import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli, repo } from './helpers/lab.js';

/**
 * The `firebreak` command starts the CLI bundle with V8's code cache (src/cli/main.ts,
 * src/cli/compile-cache.ts): checked through the built files as an operator runs them.
 */

const run = promisify(execFile);
let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'fb-launch-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('the firebreak command', () => {
  it('runs the bundle, and plans exactly what the unbundled program plans', async () => {
    // A preload that tells, at exit, which of Firebreak's files the process really ran.
    const spy = join(dir, 'spy.cjs');
    writeFileSync(
      spy,
      `process.on('exit', () => process.stderr.write('LOADED ' + JSON.stringify(Object.keys(require.cache).filter((f) => f.includes('/dist/'))) + '\\n'));`,
    );
    const plan = async (noBundle: string) => {
      const r = await run(process.execPath, ['--require', spy, cli, 'plan', 'drop-internet-uplinks', '--json'], {
        env: { ...process.env, FIREBREAK_INVENTORY: join(repo, 'devices'), FIREBREAK_NO_BUNDLE: noBundle },
      });
      const loaded = JSON.parse(/LOADED (.*)/.exec(r.stderr)![1]!) as string[];
      const id = JSON.parse(r.stdout).id as string; // in the tags too: the plan's own name
      const { id: _id, createdAt: _at, ...rest } = JSON.parse(r.stdout.replaceAll(id, 'PLAN'));
      return { plan: rest, loaded };
    };
    const bundled = await plan('');
    const unbundled = await plan('1');
    expect(bundled.loaded).toContain(join(repo, 'dist', 'bundle', 'program.cjs'));
    expect(unbundled.loaded.some((f) => f.includes('/dist/bundle/'))).toBe(false);
    expect(bundled.plan.actions.length).toBeGreaterThan(0);
    expect(bundled.plan).toEqual(unbundled.plan);
  });
});

describe('V8 code cache for CommonJS (Node 20 has no module.enableCompileCache)', () => {
  const hasNative = 'enableCompileCache' in (process.getBuiltinModule?.('node:module') ?? {});
  it.skipIf(hasNative)('caches by path and text, never runs stale code, and leaves files outside the package alone', async () => {
    const root = join(dir, 'pkg');
    const cache = join(root, 'cache');
    mkdirSync(join(root, 'lib'), { recursive: true });
    const outside = join(dir, 'outside.cjs');
    writeFileSync(outside, "module.exports = 'outside';\n");
    const runner = join(dir, 'runner.mjs');
    writeFileSync(
      runner,
      [
        `import { installCompileCache } from ${JSON.stringify(pathToFileURL(join(repo, 'dist', 'src', 'cli', 'compile-cache.js')).href)};`,
        "import { createRequire } from 'node:module';",
        `installCompileCache(${JSON.stringify(cache)}, ${JSON.stringify(root)});`,
        `const require = createRequire(${JSON.stringify(join(root, 'x.cjs'))});`,
        "const a = require('./lib/a.cjs');",
        `console.log(JSON.stringify({ a, outside: require(${JSON.stringify(outside)}) }));`,
      ].join('\n'),
    );
    // b.cjs is required relatively from a.cjs and resolves through its own require.resolve.
    writeFileSync(join(root, 'lib', 'b.cjs'), "module.exports = 'b';\n");
    const write = (word: string) =>
      writeFileSync(
        join(root, 'lib', 'a.cjs'),
        `module.exports = { word: '${word}', b: require('./b.cjs'), resolved: require.resolve('./b.cjs'), dir: __dirname };\n`,
      );
    const once = async () => JSON.parse((await run(process.execPath, [runner])).stdout);
    const files = () => readdirSync(cache).sort();

    write('one');
    expect((await once()).a).toEqual({ word: 'one', b: 'b', resolved: join(root, 'lib', 'b.cjs'), dir: join(root, 'lib') });
    expect(files()).toHaveLength(2); // a.cjs and b.cjs; outside.cjs is not ours to cache
    const first = Object.fromEntries(files().map((f) => [f, statSync(join(cache, f)).mtimeMs]));

    // Read, not rewritten, by the next process.
    expect((await once()).a.word).toBe('one');
    expect(Object.fromEntries(files().map((f) => [f, statSync(join(cache, f)).mtimeMs]))).toEqual(first);

    // The same length of text with other words: V8 alone would accept the old cache for it.
    write('two');
    const after = await once();
    expect(after).toMatchObject({ a: { word: 'two', b: 'b' }, outside: 'outside' });
    expect(files()).toHaveLength(3);
  });
});
