import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import Module from 'node:module';
import { join, sep } from 'node:path';
import vm from 'node:vm';

/**
 * V8's code cache for the CommonJS files the CLI loads from `root` (its bundle and the packages it
 * requires), kept in `dir`. A cold `firebreak run` spent about a third of its time compiling the
 * same JavaScript it compiled last time; with the cache V8 skips the parse and the first compile.
 *
 * Node 22 and later do this themselves (module.enableCompileCache). Node 20 does not, so for
 * CommonJS it is done here as v8-compile-cache does it: each file is compiled with the cached data
 * stored under a hash of its path and its text (V8 itself checks only the text's length), and a
 * file that had none, or whose data V8 refused (another Node, other flags), gets it written when
 * the process exits, by rename so that concurrent processes never read half a file.
 *
 * The cache lives inside the package, beside the code it stands for and with the same owner: code
 * cache is code, and a copy anyone else could write would be a way to run theirs.
 */
export function installCompileCache(dir: string, root: string): void {
  const native = (Module as unknown as { enableCompileCache?: (d: string) => unknown }).enableCompileCache;
  if (native) {
    native(dir);
    return;
  }
  const within = root.endsWith(sep) ? root : root + sep;
  const proto = Module.prototype as unknown as { _compile(content: string, filename: string, ...rest: unknown[]): unknown };
  const compile = proto._compile;
  const pending: { file: string; script: vm.Script }[] = [];

  proto._compile = function (this: Module, content: string, filename: string, ...rest: unknown[]): unknown {
    // Node 20.19+ passes a format for files it loads as ES modules through require: not ours to touch.
    if (!filename.startsWith(within) || (rest[0] !== undefined && rest[0] !== 'commonjs'))
      return compile.call(this, content, filename, ...rest);
    const file = join(dir, `${createHash('sha256').update(filename).update('\0').update(content).digest('hex').slice(0, 40)}.v8`);
    let cachedData: Buffer | undefined;
    try {
      cachedData = readFileSync(file);
    } catch {
      /* not cached yet */
    }
    const script = new vm.Script(Module.wrap(content.startsWith('#!') ? `//${content.slice(2)}` : content), {
      filename,
      cachedData,
      importModuleDynamically: vm.constants.USE_MAIN_CONTEXT_DEFAULT_LOADER,
    });
    if (cachedData === undefined || script.cachedDataRejected) pending.push({ file, script });
    const fn = script.runInThisContext({ displayErrors: true }) as (...args: unknown[]) => unknown;
    return fn.call(this.exports, this.exports, requireFor(this), this, filename, join(filename, '..'));
  };

  process.once('exit', () => {
    if (!pending.length) return;
    try {
      mkdirSync(dir, { recursive: true });
      for (const { file, script } of pending) {
        const tmp = `${file}.${process.pid}.tmp`;
        writeFileSync(tmp, script.createCachedData());
        renameSync(tmp, file);
      }
    } catch {
      /* a read-only install runs without a cache; nothing to tell the operator mid-incident */
    }
  });
}

/** The `require` a CommonJS file gets, as Node makes it. */
function requireFor(mod: Module): NodeJS.Require {
  const M = Module as unknown as {
    _resolveFilename(request: string, parent: Module, isMain: boolean, options?: unknown): string;
    _extensions: NodeJS.RequireExtensions;
    _cache: NodeJS.Dict<NodeJS.Module>;
    _resolveLookupPaths(request: string, parent: Module): string[] | null;
  };
  const req = ((id: string) => mod.require(id)) as NodeJS.Require;
  const resolve = ((request: string, options?: { paths?: string[] }) =>
    M._resolveFilename(request, mod, false, options)) as NodeJS.RequireResolve;
  resolve.paths = (request: string) => M._resolveLookupPaths(request, mod);
  req.resolve = resolve;
  req.main = (process as { mainModule?: NodeJS.Module }).mainModule;
  req.extensions = M._extensions;
  req.cache = M._cache;
  return req;
}
