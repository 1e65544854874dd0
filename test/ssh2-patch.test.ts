import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { Client, type ConnectConfig, Server, utils } from 'ssh2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../src/package-root.js';

/**
 * patches/ssh2+1.17.0.patch (applied by `npm ci` through patch-package): ssh2 signs and verifies
 * with KeyObjects instead of handing OpenSSL 3 a PEM to decode every time, moves X25519 keys as
 * JWK instead of DER, and takes packet padding from a pool of random bytes. These tests check the
 * installed ssh2 carries the patch, and that what it changed still signs, verifies, refuses a bad
 * signature and completes real handshakes for each host key type and key exchange we meet.
 */

const require = createRequire(import.meta.url);
const ssh2Dir = dirname(require.resolve('ssh2/package.json'));

describe('the ssh2 patch', () => {
  it('is applied to the installed ssh2 (every line it adds is in the file)', () => {
    const patch = readFileSync(join(packageRoot, 'patches', 'ssh2+1.17.0.patch'), 'utf8');
    const files = patch.split(/^diff --git /m).slice(1);
    expect(files.length).toBeGreaterThan(0);
    for (const f of files) {
      const path = /^a\/node_modules\/ssh2\/(\S+)/.exec(f)![1]!;
      const installed = readFileSync(join(ssh2Dir, path), 'utf8');
      const added = f.split('\n').filter((l) => l.startsWith('+') && !l.startsWith('+++') && l.trim().length > 1);
      for (const line of added) expect(installed, `${path} lacks: ${line}`).toContain(line.slice(1));
    }
  });

  it.each([
    ['ed25519', {}],
    ['rsa', { bits: 2048 }],
    ['ecdsa', { bits: 256 }],
  ] as const)('signs and verifies with %s keys, and refuses a signature over other data', (type, opts) => {
    const pair = utils.generateKeyPairSync(type as 'ed25519', opts as never);
    const priv = utils.parseKey(pair.private);
    const pub = utils.parseKey(pair.public);
    if (priv instanceof Error || pub instanceof Error) throw priv instanceof Error ? priv : pub;
    const data = Buffer.from('exchange hash 0123456789abcdef');
    for (let i = 0; i < 2; i++) {
      // Twice: the second sign uses the cached KeyObject.
      const sig = priv.sign(data);
      if (sig instanceof Error) throw sig;
      expect(pub.verify(data, sig)).toBe(true);
      expect(pub.verify(Buffer.from('exchange hash 0123456789abcdeF'), sig)).toBe(false);
    }
  });
});

describe('handshakes through the patched ssh2', () => {
  const servers: Server[] = [];
  afterAll(() => {
    for (const s of servers) s.close();
  });

  /** A server with a host key of `type` that answers `exec` with the command and the kex it used. */
  async function serve(hostKey: string): Promise<number> {
    const server = new Server({ hostKeys: [hostKey] }, (client) => {
      client.on('authentication', (ctx) => (ctx.method === 'password' && ctx.password === 'pw' ? ctx.accept() : ctx.reject(['password'])));
      client.on('session', (accept) =>
        accept().on('exec', (acceptExec, _reject, info) => {
          const stream = acceptExec();
          stream.write(`ran ${info.command}`);
          stream.exit(0);
          stream.end();
        }),
      );
      client.on('error', () => undefined);
    });
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return (server.address() as AddressInfo).port;
  }

  function exec(port: number, algorithms: ConnectConfig['algorithms']): Promise<{ out: string; hostKey: string }> {
    return new Promise((resolve, reject) => {
      const c = new Client();
      let hostKey = '';
      c.on('ready', () =>
        c.exec('show version', (err, stream) => {
          if (err) return reject(err);
          let out = '';
          stream.on('data', (d: Buffer) => (out += d.toString()));
          stream.on('close', () => {
            c.end();
            resolve({ out, hostKey });
          });
        }),
      );
      c.on('error', reject);
      c.connect({
        host: '127.0.0.1',
        port,
        username: 'op',
        password: 'pw',
        algorithms,
        hostVerifier: (key: Buffer) => {
          hostKey = key.toString('base64');
          return true;
        },
      });
    });
  }

  const keys: Record<string, string> = {};
  beforeAll(() => {
    keys.ed25519 = utils.generateKeyPairSync('ed25519').private;
    keys.rsa = utils.generateKeyPairSync('rsa', { bits: 2048 }).private;
    keys.ecdsa = utils.generateKeyPairSync('ecdsa', { bits: 256 }).private;
  });

  it.each([
    ['ed25519', 'ssh-ed25519', 'curve25519-sha256'],
    ['ed25519', 'ssh-ed25519', 'curve25519-sha256@libssh.org'],
    ['rsa', 'rsa-sha2-256', 'curve25519-sha256'],
    ['ecdsa', 'ecdsa-sha2-nistp256', 'ecdh-sha2-nistp256'],
    ['ed25519', 'ssh-ed25519', 'diffie-hellman-group14-sha256'],
  ])('%s host key as %s, key exchange %s', async (type, serverHostKey, kex) => {
    const port = await serve(keys[type]!);
    const parsed = utils.parseKey(keys[type]!);
    if (parsed instanceof Error) throw parsed;
    const r = await exec(port, { kex: [kex as never], serverHostKey: [serverHostKey as never] });
    expect(r.out).toBe('ran show version');
    expect(r.hostKey).toBe(parsed.getPublicSSH().toString('base64'));
  });
});
