import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Device } from '../src/inventory/types.js';
import { type CliLogic, type CliServer, LEGACY_ALGORITHMS, startCliServer } from '../src/sim/cli-server.js';
import type { SimDeviceSpec } from '../src/sim/types.js';
import type { CliPlatform } from '../src/transports/types.js';
import { openSsh } from '../src/transports/ssh.js';
import { resolveSecret } from '../src/secrets.js';
import { AuthFailed, CommandRejected, DeviceTimeout, DeviceUnreachable, HostKeyMismatch } from '../src/errors.js';

/**
 * The CLI session layer against a small IOS-like device served by the shared simulator base:
 * prompts learned and anchored, echo then prompt, pager, questions, enable secret, config modes,
 * errors in the device's words, timeouts, drops, legacy algorithms. Vendor behaviour proper is
 * tested with each vendor's simulator.
 */

const ADDR = '127.0.10.1';
const PORT = 10022;
process.env.FB_TEST_CLI_PW = 'cli-pass-0f9e8d7c';
process.env.FB_TEST_CLI_EN = 'enable-secret-5a4b3c';

/** A tiny IOS: exec `>`, privileged `#`, config `(config)#`; pages 30-line output until `terminal length 0`. */
function toyLogic(host: string): () => CliLogic {
  return () => {
    let mode: 'exec' | 'priv' | 'config' = 'exec';
    let paging = true;
    return {
      pagerPrompt: ' --More-- ',
      paging: () => paging,
      prompt: () => `${host}${mode === 'exec' ? '>' : mode === 'priv' ? '#' : '(config)#'}`,
      rejectText: (line) => `${' '.repeat(line.length)}^\n% Invalid input detected at '^' marker.\n`,
      async handle(line, io) {
        const l = line.trim();
        if (l === 'enable') {
          const pw = await io.ask('Password: ', { echo: false });
          if (pw === process.env.FB_TEST_CLI_EN) mode = 'priv';
          else io.write('% Access denied\n');
        } else if (l === 'terminal length 0') paging = false;
        else if (l === 'configure terminal') {
          io.write('Enter configuration commands, one per line.  End with CNTL/Z.\n');
          mode = 'config';
        } else if (l === 'end' || (l === 'exit' && mode === 'config')) mode = 'priv';
        else if (l === 'disable') mode = 'exec';
        else if (l === 'show long') io.write(Array.from({ length: 30 }, (_, i) => `line ${i + 1}`).join('\n'));
        else if (l === 'slow') {
          await new Promise((r) => setTimeout(r, 1200));
          io.write('slow done');
        } else if (l === 'copy running-config startup-config') {
          const a = await io.ask('Destination filename [startup-config]? ');
          io.write(a === '' ? '[OK]' : '% bad name');
        } else if (l === 'reload') {
          await io.ask('Proceed with reload? [confirm]');
        } else if (l === 'show version') io.write('Cisco IOS Software, toy\nuptime is 1 week');
        else io.write(`${' '.repeat(l.length)}^\n% Invalid input detected at '^' marker.\n`);
      },
      exec: (command) => `exec: ${command}`,
    };
  };
}

const TOY: CliPlatform = {
  name: 'toy-ios',
  levels: [
    { name: 'exec', prompt: (h) => new RegExp(`^${h}>\\s?$`) },
    {
      name: 'privileged',
      prompt: (h) => new RegExp(`^${h}#\\s?$`),
      parent: 'exec',
      enter: 'enable',
      leave: 'disable',
      secretPrompt: /^Password:\s?$/,
    },
    {
      name: 'config',
      prompt: (h) => new RegExp(`^${h}\\(config[^)]*\\)#\\s?$`),
      parent: 'privileged',
      enter: 'configure terminal',
      leave: 'end',
    },
  ],
  defaultLevel: 'privileged',
  onOpen: ['terminal length 0'],
  pager: /\s*--More--\s*$/,
  errors: [/^% ?(Invalid input|Incomplete command|Ambiguous command|Access denied)/],
};
/** The same platform without the paging-off command: the pager must be answered. */
const TOY_PAGED: CliPlatform = { ...TOY, name: 'toy-ios-paged', onOpen: [] };

async function start(over: Partial<SimDeviceSpec> & { address: string }): Promise<{ server: CliServer; device: Device }> {
  const spec: SimDeviceSpec = { id: 'toy', family: 'toy', site: 's', hostname: 'core-sw1.north-dc', sshPort: PORT, ports: [], ...over };
  const server = await startCliServer({
    spec,
    creds: { user: 'netops', password: process.env.FB_TEST_CLI_PW! },
    logic: toyLogic(spec.hostname),
  });
  const device: Device = {
    id: 'toy',
    site: 's',
    driver: 'toy',
    address: spec.address,
    tags: [],
    ssh: {
      port: PORT,
      user: 'netops',
      password: 'env:FB_TEST_CLI_PW',
      enableSecret: 'env:FB_TEST_CLI_EN',
      hostKey: server.hostKey,
      readyTimeoutMs: 5000,
    },
    managementPath: { interfaces: ['mgmt0'], via: [] },
    interfaces: { mgmt0: { roles: ['mgmt'] } },
  };
  return { server, device };
}

describe('CLI session layer (PTY shell) against a simulated IOS-like device', () => {
  let server: CliServer;
  let device: Device;
  beforeAll(async () => {
    ({ server, device } = await start({ address: ADDR, banner: '*** Authorised access only ***\n** Municipal network **' }));
  });
  afterAll(async () => server?.stop());

  it('learns the prompt past a banner (hostname with dots and dashes), enables with the secret, turns paging off', async () => {
    const ssh = await openSsh(device, resolveSecret);
    try {
      const sh = await ssh.cli(TOY);
      expect(sh.hostname).toBe('core-sw1.north-dc');
      expect(sh.level).toBe('privileged');
      expect(await sh.send('show version')).toBe('Cisco IOS Software, toy\nuptime is 1 week');
      expect((await sh.send('show long')).split('\n')).toHaveLength(30);
      // The same shell is kept for the session.
      expect(await ssh.cli(TOY)).toBe(sh);
    } finally {
      await ssh.close();
    }
  });

  it('answers the pager when paging is still on, and leaves no pager residue in the output', async () => {
    const ssh = await openSsh(device, resolveSecret);
    try {
      const out = await (await ssh.cli(TOY_PAGED)).send('show long');
      expect(out.split('\n')).toEqual(Array.from({ length: 30 }, (_, i) => `line ${i + 1}`));
    } finally {
      await ssh.close();
    }
  });

  it('moves between levels and always finds its way back; errors carry the device words', async () => {
    const ssh = await openSsh(device, resolveSecret);
    try {
      const sh = await ssh.cli(TOY);
      await sh.moveTo('config');
      expect(sh.level).toBe('config');
      const err = await sh.send('interfce Gi1/0/1').catch((e: Error) => e);
      expect(err).toBeInstanceOf(CommandRejected);
      expect((err as Error).message).toContain("% Invalid input detected at '^' marker.");
      await sh.moveTo('privileged');
      expect(sh.level).toBe('privileged');
      await sh.moveTo('exec');
      await sh.moveTo('config');
      expect(sh.level).toBe('config');
    } finally {
      await ssh.close();
    }
  });

  it('a syslog line inside output is tolerated; a slow command needs no read window, only its timeout', async () => {
    const ssh = await openSsh(device, resolveSecret);
    try {
      const sh = await ssh.cli(TOY);
      server.faults.add({ kind: 'syslog', on: /show version/, once: true });
      const out = await sh.send('show version');
      expect(out).toContain('uptime is 1 week');
      expect(out).toContain('%LINK-3-UPDOWN');
      expect(await sh.send('slow', { timeoutMs: 5000 })).toBe('slow done');
    } finally {
      await ssh.close();
    }
  });

  it('answers questions the driver expects; an unexpected question is a timeout that quotes it', async () => {
    const ssh = await openSsh(device, resolveSecret);
    try {
      const sh = await ssh.cli(TOY);
      const copied = await sh.send('copy running-config startup-config', {
        answers: [{ prompt: /\[startup-config\]\?\s*$/, reply: '\n' }],
      });
      // The question stays in the output, in the device's words; the answer's result follows it.
      expect(copied.split('\n')).toEqual(['Destination filename [startup-config]?', '[OK]']);
      const err = await sh.send('reload', { timeoutMs: 700 }).catch((e: Error) => e);
      expect(err).toBeInstanceOf(DeviceTimeout);
      expect((err as Error).message).toMatch(/asks "Proceed with reload\? \[confirm\]", which the driver does not expect/);
      // A timed-out shell is not reused: the next cli() opens a fresh one.
      expect(sh.broken).toBe(true);
      const again = await ssh.cli(TOY);
      expect(again).not.toBe(sh);
      expect(await again.send('show version')).toContain('toy');
    } finally {
      await ssh.close();
    }
  });

  it('a hung command -> DeviceTimeout; a connection dropped mid-command -> DeviceUnreachable', async () => {
    const ssh = await openSsh(device, resolveSecret);
    try {
      const sh = await ssh.cli(TOY);
      server.faults.add({ kind: 'hang', on: /show version/, once: true });
      expect(await sh.send('show version', { timeoutMs: 500 }).catch((e) => e)).toBeInstanceOf(DeviceTimeout);
      const sh2 = await ssh.cli(TOY);
      server.faults.add({ kind: 'drop', on: /show version/, once: true });
      const err = await sh2.send('show version', { timeoutMs: 3000 }).catch((e) => e);
      expect(err).toBeInstanceOf(DeviceUnreachable);
    } finally {
      await ssh.close();
    }
  });

  it('two callers on one shell are served one after the other, each getting its own output', async () => {
    const ssh = await openSsh(device, resolveSecret);
    try {
      const sh = await ssh.cli(TOY);
      const [slow, fast] = await Promise.all([sh.send('slow', { timeoutMs: 5000 }), sh.send('show version')]);
      expect(slow).toBe('slow done');
      expect(fast).toBe('Cisco IOS Software, toy\nuptime is 1 week');
    } finally {
      await ssh.close();
    }
  });

  it('a wrong enable secret fails at open with the device words, never showing the secret', async () => {
    process.env.FB_TEST_CLI_EN_BAD = 'wrong-secret-77';
    const ssh = await openSsh({ ...device, ssh: { ...device.ssh!, enableSecret: 'env:FB_TEST_CLI_EN_BAD' } }, resolveSecret);
    try {
      const err = await ssh.cli(TOY).catch((e: Error) => e);
      expect(err).toBeInstanceOf(Error);
      expect((err as Error).message).not.toContain('wrong-secret-77');
    } finally {
      await ssh.close();
    }
  });

  it('a wrong host key is refused; a refused login is AuthFailed', async () => {
    const bad = { ...device, ssh: { ...device.ssh!, hostKey: `SHA256:${'B'.repeat(43)}` } };
    expect(await openSsh(bad, resolveSecret).catch((e) => e)).toBeInstanceOf(HostKeyMismatch);
    server.faults.add({ kind: 'refuse-auth' });
    try {
      expect(await openSsh(device, resolveSecret).catch((e) => e)).toBeInstanceOf(AuthFailed);
    } finally {
      server.faults.clear();
    }
  });
});

describe('devices with old firmware or one exec per connection', () => {
  let legacy: { server: CliServer; device: Device };
  let oneExec: { server: CliServer; device: Device };
  beforeAll(async () => {
    legacy = await start({ address: '127.0.10.2', legacyOnly: true });
    oneExec = await start({ address: '127.0.10.3', oneExecThenClose: true });
  });
  afterAll(async () => {
    await legacy?.server.stop();
    await oneExec?.server.stop();
  });

  it('a device that takes keyboard-interactive only: the password is answered at its prompt', async () => {
    const kbd = await start({ address: '127.0.10.4', keyboardInteractiveOnly: true });
    try {
      const ssh = await openSsh(kbd.device, resolveSecret);
      try {
        expect(await (await ssh.cli(TOY)).send('show version')).toContain('toy');
      } finally {
        await ssh.close();
      }
      process.env.FB_TEST_CLI_PW_BAD = 'not-the-password-1';
      const bad = { ...kbd.device, ssh: { ...kbd.device.ssh!, password: 'env:FB_TEST_CLI_PW_BAD' } };
      expect(await openSsh(bad, resolveSecret).catch((e) => e)).toBeInstanceOf(AuthFailed);
    } finally {
      await kbd.server.stop();
    }
  });

  it('a legacy-only device is refused unless its entry asks for the old algorithms, and then works', async () => {
    const err = await openSsh(legacy.device, resolveSecret).catch((e: Error) => e);
    expect(err).toBeInstanceOf(DeviceUnreachable);
    expect((err as Error).message).toMatch(
      /share no SSH algorithm \(no matching key exchange algorithm\); the device offers KEX method: diffie-hellman-group1-sha1.*ssh\.algorithms/,
    );
    const ssh = await openSsh({ ...legacy.device, ssh: { ...legacy.device.ssh!, algorithms: LEGACY_ALGORITHMS } }, resolveSecret);
    try {
      expect(await (await ssh.cli(TOY)).send('show version')).toContain('toy');
    } finally {
      await ssh.close();
    }
  });

  it('a device that closes after one exec still serves a whole session over the PTY shell', async () => {
    const ssh = await openSsh(oneExec.device, resolveSecret);
    try {
      const sh = await ssh.cli(TOY);
      for (let i = 0; i < 3; i++) expect(await sh.send('show version')).toContain('toy');
    } finally {
      await ssh.close();
    }
    const ssh2 = await openSsh(oneExec.device, resolveSecret);
    try {
      expect((await ssh2.execChannel('show clock')).stdout).toBe('exec: show clock');
      await new Promise((r) => setTimeout(r, 50));
      expect(await ssh2.execChannel('show clock').catch((e) => e)).toBeInstanceOf(DeviceUnreachable);
    } finally {
      await ssh2.close();
    }
  });
});
