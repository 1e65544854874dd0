import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ssh2 from 'ssh2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LabError } from '../src/errors.js';
import { loadInventory } from '../src/inventory/load.js';
import { canReach, labDown, labStatus, labUp, nsExec, type LabInfo } from '../src/lab/lab.js';

/**
 * The namespace lab itself, checked by traffic and by the real daemons: hosts reach the
 * "internet", not the management network; sshd answers with the pinned host key; snmpd answers
 * SNMPv3 with the generated secrets; labUp on a running lab changes nothing.
 */

const root = process.getuid?.() === 0;
const ci = process.env.CI === 'true';
if (!root && !ci) console.warn('[skip] lab.test.ts: needs root to build network namespaces (set CI=true to force)');

const IF_ADMIN_STATUS = '1.3.6.1.2.1.2.2.1.7';
const IF_DESCR = '1.3.6.1.2.1.2.2.1.2';

interface Out {
  code: number;
  stdout: string;
  stderr: string;
}
function exec(file: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<Out> {
  return new Promise((resolve) => {
    execFile(file, args, { env, timeout: 20_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

const sha256 = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

describe.skipIf(!root && !ci)('lab (real sshd, nftables, snmpd in fb-* namespaces)', () => {
  let info: LabInfo;
  let scratch: string;

  beforeAll(async () => {
    info = await labUp();
    scratch = mkdtempSync(join(tmpdir(), 'fb-labtest-'));
  });
  afterAll(() => {
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  it('h1 and h2 reach the internet server 198.51.100.200 through fw', async () => {
    expect(await canReach('fb-h1', '198.51.100.200')).toBe(true);
    expect(await canReach('fb-h2', '198.51.100.200')).toBe(true);
    // Routed by fw: one hop, so the reply comes back with ttl 63.
    const r = await nsExec('fb-h1', ['ping', '-n', '-c1', '-W1', '198.51.100.200']);
    expect(r.stdout).toMatch(/ttl=63/);
  });

  it('hosts cannot reach the management network (fw mgmt0, the orchestrator side, sw)', async () => {
    const probes = await Promise.all([
      canReach('fb-h1', '10.250.1.2'),
      canReach('fb-h1', '10.250.1.1'),
      canReach('fb-h2', '10.250.2.2'),
      canReach('fb-h2', '10.250.2.1'),
    ]);
    expect(probes).toEqual([false, false, false, false]);
    // The same probe from the root namespace does answer: the isolation is the lab's, not a broken link.
    expect((await exec('ping', ['-n', '-c1', '-W1', '10.250.1.2'])).code).toBe(0);
  });

  it('canReach refuses addresses outside the lab prefixes without sending anything', async () => {
    await expect(canReach('fb-h1', '127.0.0.2')).rejects.toBeInstanceOf(LabError);
    await expect(canReach('fb-h1', '10.20.1.5')).rejects.toThrow(/only lab addresses/);
    await expect(canReach('fb-h1', '198.51.100.200; reboot')).rejects.toBeInstanceOf(LabError);
    await expect(canReach('not-a-lab-ns', '198.51.100.200')).rejects.toBeInstanceOf(LabError);
  });

  it('the root namespace never routes lab prefixes out of the machine', async () => {
    const r = await exec('ip', ['-j', 'route', 'show', 'type', 'unreachable']);
    const dsts = (JSON.parse(r.stdout) as Array<{ dst: string }>).map((x) => x.dst);
    expect(dsts).toEqual(expect.arrayContaining(['10.20.0.0/24', '198.51.100.0/24', '10.250.0.0/16']));
  });

  it('the inventory loads with the project loader and pins the host keys sshd really uses', async () => {
    const inv = await loadInventory(info.inventoryDir);
    expect([...inv.devices.keys()].sort()).toEqual(['fw', 'sw']);
    expect(inv.orchestratorAddresses).toEqual(['10.250.1.1', '10.250.2.1']);
    const fw = inv.devices.get('fw')!;
    expect(fw.ssh?.hostKey).toBe(info.hostKeys.fw);
    const sw = inv.devices.get('sw')!;
    expect(sw.snmp?.version).toBe('3');
    for (const f of Object.values(info.secrets)) expect(statSync(f).mode & 0o777).toBe(0o600);
  });

  it('ssh to fw with the orchestrator key and the pinned host key (openssh client)', async () => {
    const r = await exec('ssh', [
      '-i',
      info.keys.orchestrator,
      '-o',
      'BatchMode=yes',
      '-o',
      'StrictHostKeyChecking=yes',
      '-o',
      `UserKnownHostsFile=${info.keys.knownHosts}`,
      '-o',
      'ConnectTimeout=5',
      `root@${info.management.fw}`,
      'hostname; nft list tables',
    ]);
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain('fw\n');
    expect(r.stdout).toContain('table inet fblab');
  });

  it('ssh2 checks the presented host key against the inventory pin (and a wrong pin is refused)', async () => {
    const connect = (pin: string) =>
      new Promise<string>((resolve, reject) => {
        const c = new ssh2.Client();
        c.on('ready', () => {
          c.exec('hostname', (err, stream) => {
            if (err) return reject(err);
            let out = '';
            stream
              .on('data', (d: Buffer) => (out += d.toString()))
              .on('close', () => {
                c.end();
                resolve(out.trim());
              });
          });
        });
        c.on('error', reject);
        c.connect({
          host: info.management.sw,
          username: 'root',
          privateKey: readFileSync(info.keys.orchestrator),
          readyTimeout: 5000,
          hostVerifier: (key: Buffer) => `SHA256:${createHash('sha256').update(key).digest('base64').replace(/=+$/, '')}` === pin,
        });
      });
    expect(await connect(info.hostKeys.sw)).toBe('sw');
    await expect(connect(info.hostKeys.fw)).rejects.toThrow();
  });

  it('snmpget over SNMPv3 authPriv with the generated secrets reads ifAdminStatus of swp1', async () => {
    // Secrets go through an snmp.conf (SNMPCONFPATH), not the command line.
    const conf = join(scratch, 'snmp.conf');
    const secret = (f: string) => readFileSync(f, 'utf8').trim();
    writeFileSync(
      conf,
      `defSecurityName ${info.snmpUser}\ndefSecurityLevel authPriv\ndefAuthType SHA\ndefPrivType AES\n` +
        `defAuthPassphrase ${secret(info.secrets.swAuth)}\ndefPrivPassphrase ${secret(info.secrets.swPriv)}\n`,
      { mode: 0o600 },
    );
    const swp1 = info.ifindex['fb-sw']?.swp1;
    expect(swp1).toBeTypeOf('number');
    const env = { ...process.env, SNMPCONFPATH: scratch, MIBS: '', SNMP_PERSISTENT_DIR: scratch };
    const r = await exec(
      'snmpget',
      ['-v3', '-On', '-t', '2', '-r', '1', info.management.sw, `${IF_ADMIN_STATUS}.${swp1}`, `${IF_DESCR}.${swp1}`],
      env,
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`.${IF_ADMIN_STATUS}.${swp1} = INTEGER: 1`);
    expect(r.stdout).toContain(`.${IF_DESCR}.${swp1} = STRING: "swp1"`);
  });

  it('labUp on a running lab rebuilds nothing: same daemons, same ifindexes', async () => {
    const again = await labUp();
    console.warn(`[lab] labUp on a running lab: ${again.elapsedMs} ms`);
    expect(again.reused).toBe(true);
    expect(again.pids).toEqual(info.pids);
    expect(again.ifindex).toEqual(info.ifindex);
    expect(again.hostKeys).toEqual(info.hostKeys);
    const s = await labStatus();
    expect(s.up).toBe(true);
    expect(s.reach.every((x) => x.ok)).toBe(true);
  });

  // DOWN + UP: tears the shared lab down and rebuilds it (about a second); other test files run
  // after this one in the same process order, and find it up again.
  it('labDown removes namespaces, root veths and routes; labUp rebuilds with the same keys and ifindexes', async () => {
    const keyHash = sha256(info.keys.orchestrator);
    const t0 = Date.now();
    await labDown();
    const downMs = Date.now() - t0;
    const ns = await exec('ip', ['netns', 'list']);
    expect(ns.stdout).not.toMatch(/\bfb-/);
    const links = await exec('ip', ['-br', 'link']);
    expect(links.stdout).not.toMatch(/fbm-(fw|sw)/);
    const routes = await exec('ip', ['route', 'show', 'type', 'unreachable']);
    expect(routes.stdout).not.toMatch(/10\.20\.0\.0|198\.51\.100|203\.0\.113|10\.250\.0\.0/);
    expect((await labStatus()).up).toBe(false);

    const t1 = Date.now();
    const rebuilt = await labUp();
    console.warn(`[lab] labDown ${downMs} ms, labUp from nothing ${Date.now() - t1} ms`);
    expect(rebuilt.reused).toBe(false);
    expect(rebuilt.ifindex).toEqual(info.ifindex);
    expect(rebuilt.hostKeys).toEqual(info.hostKeys);
    expect(sha256(info.keys.orchestrator)).toBe(keyHash);
    expect(await canReach('fb-h1', '198.51.100.200')).toBe(true);
    expect(await canReach('fb-h1', '10.250.1.2')).toBe(false);
  });
});
