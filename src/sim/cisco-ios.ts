import { type CliIo, type CliLogic, startCliServer } from './cli-server.js';
import { clone, cliControl, type PortState, portsFrom, portView, RevertTimer } from './cli-model.js';
import type { SimFactory, SimSnapshot } from './types.js';

/**
 * A simulated Cisco IOS-XE (17.x) access switch / router: user and privileged EXEC, global,
 * interface, named-ACL and archive configuration modes; keyword abbreviation; the real error
 * texts with their caret line; ` --More-- ` paging until `terminal length 0`; named extended ACLs
 * with sequence numbers as IOS-XE shows them in the running config; `configure terminal revert
 * timer N` (needs `archive`) confirmed by `configure confirm`. Output shapes follow recorded
 * device output (ntc-templates cisco_ios samples for `show interfaces status` and
 * `show ip access-lists`; NAPALM/Netmiko for the rollback-timer and save texts).
 */

interface IosPort extends PortState {
  aclIn: string | null;
  aclOut: string | null;
}
interface Ace {
  seq: number;
  /** As the running config shows it after the sequence number: `remark ...`, `deny ip any host 10.1.1.1`. */
  text: string;
}
interface DeviceState {
  ports: Map<string, IosPort>;
  acls: Map<string, Ace[]>;
  archive: boolean;
}

const TYPES = [
  ['GigabitEthernet', 'Gi'],
  ['FastEthernet', 'Fa'],
  ['TenGigabitEthernet', 'Te'],
  ['TwoGigabitEthernet', 'Tw'],
  ['TwentyFiveGigE', 'Twe'],
  ['FortyGigabitEthernet', 'Fo'],
  ['HundredGigE', 'Hu'],
  ['Ethernet', 'Et'],
  ['Port-channel', 'Po'],
  ['Vlan', 'Vl'],
  ['Loopback', 'Lo'],
] as const;

/** `gi1/0/5`, `Gi 1/0/5` and `GigabitEthernet1/0/5` all name one port, as on IOS. */
export function canonicalInterface(name: string): string | null {
  const m = /^([A-Za-z-]+)\s*(\d[\d/.:]*)$/.exec(name.trim());
  if (!m) return null;
  const t = TYPES.find(([full]) => full.toLowerCase().startsWith(m[1]!.toLowerCase()));
  return t ? `${t[0]}${m[2]}` : null;
}
function shortInterface(full: string): string {
  const t = TYPES.find(([f]) => full.startsWith(f));
  return t ? `${t[1]}${full.slice(t[0].length)}` : full;
}

const INVALID = "% Invalid input detected at '^' marker.";
const ADDR = String.raw`\d{1,3}(?:\.\d{1,3}){3}`;
const ENDPOINT = `(?:any|host ${ADDR}|${ADDR} ${ADDR})`;
/** The entry shapes the simulator accepts in an extended ACL (enough for operators' rules and ours). */
const ACE = new RegExp(`^(?:remark .+|(?:permit|deny) (?:ip|tcp|udp|icmp) ${ENDPOINT} ${ENDPOINT}(?: .*)?)$`);

type Mode = 'exec' | 'priv' | 'config' | 'if' | 'acl' | 'archive';
type Handler = (args: string[], io: CliIo) => void | Promise<void>;
interface Command {
  words: string[];
  run: Handler;
}
class Reject extends Error {}

export const ciscoIosSim: SimFactory = async (spec, creds, opts) => {
  const minuteMs = spec.minuteMs ?? 60_000;
  const fresh = (): DeviceState => {
    const ports = new Map<string, IosPort>();
    for (const p of portsFrom(spec, { mode: 'dynamic auto', vlan: 1 }).values()) {
      const routed = p.mode === 'routed';
      ports.set(p.name, { ...p, vlan: routed ? null : p.vlan, voiceVlan: routed ? null : p.voiceVlan, aclIn: null, aclOut: null });
    }
    return { ports, acls: new Map(), archive: true };
  };
  let dev = fresh();
  const timer = new RevertTimer();
  let timerUser = '';

  const findPort = (typed: string): IosPort | undefined => {
    const want = canonicalInterface(typed);
    if (!want) return undefined;
    for (const p of dev.ports.values()) if (canonicalInterface(p.name) === want) return p;
    return undefined;
  };

  const interfaceBlock = (p: IosPort): string[] => {
    const out = [`interface ${canonicalInterface(p.name) ?? p.name}`];
    if (p.description) out.push(` description ${p.description}`);
    if (p.mode === 'routed') out.push(' no switchport');
    else {
      // IOS hides defaults: access VLAN 1 and mode dynamic auto are not printed.
      if (p.vlan !== null && p.vlan !== 1) out.push(` switchport access vlan ${p.vlan}`);
      if (p.mode !== 'dynamic auto') out.push(` switchport mode ${p.mode}`);
      if (p.voiceVlan !== null) out.push(` switchport voice vlan ${p.voiceVlan}`);
    }
    if (p.aclIn) out.push(` ip access-group ${p.aclIn} in`);
    if (p.aclOut) out.push(` ip access-group ${p.aclOut} out`);
    if (!p.adminUp) out.push(' shutdown');
    return out;
  };

  const configBody = (): string => {
    const lines = [
      'version 17.9',
      'service timestamps debug datetime msec',
      'service timestamps log datetime msec',
      '!',
      `hostname ${spec.hostname}`,
      '!',
    ];
    if (dev.archive) lines.push('archive', ' path flash:archive', '!');
    for (const p of dev.ports.values()) lines.push(...interfaceBlock(p), '!');
    for (const [name, aces] of dev.acls) lines.push(`ip access-list extended ${name}`, ...aces.map((a) => ` ${a.seq} ${a.text}`), '!');
    lines.push('line vty 0 4', ' transport input ssh', '!', 'end');
    return lines.join('\n');
  };
  const building = (body: string) => `Building configuration...\n\nCurrent configuration : ${body.length + 1} bytes\n!\n${body}\n`;

  const interfacesStatus = (): string => {
    const pad = (s: string, n: number) => s.padEnd(n);
    const rows = ['Port      Name               Status       Vlan       Duplex  Speed Type'];
    for (const p of dev.ports.values()) {
      const status = p.adminUp ? 'connected' : 'disabled';
      const vlan = p.mode === 'routed' ? 'routed' : p.mode === 'trunk' ? 'trunk' : String(p.vlan ?? 1);
      const duplex = p.adminUp ? 'a-full' : 'auto';
      const speed = p.adminUp ? 'a-1000' : 'auto';
      rows.push(
        `${pad(shortInterface(canonicalInterface(p.name) ?? p.name), 10)}${pad((p.description ?? '').slice(0, 18), 19)}${pad(status, 13)}${pad(vlan, 11)}${duplex.padStart(6)} ${speed.padStart(6)} 10/100/1000BaseTX`,
      );
    }
    return `${rows.join('\n')}\n`;
  };

  const accessLists = (only?: string): string => {
    const out: string[] = [];
    for (const [name, aces] of dev.acls) {
      if (only && name !== only) continue;
      out.push(`Extended IP access list ${name}`);
      // `show ip access-lists` does not show remarks; the running config does.
      for (const a of aces) if (!a.text.startsWith('remark ')) out.push(`    ${a.seq} ${a.text}`);
    }
    return out.length ? `${out.join('\n')}\n` : '';
  };

  const rollbackTimer = (): string =>
    timer.armed
      ? `Time configured(or reset): ${new Date(timer.firesAt).toUTCString()}\nTimer type: revert timer\nTimer value: ${Math.max(1, Math.ceil((timer.firesAt - Date.now()) / minuteMs))} min\nUser: ${timerUser}\n`
      : '%No Rollback Confirmed Change pending\n';

  /** `| include x` / `| section x`, as IOS filters output. */
  const pipe = (text: string, filter: string | undefined): string => {
    if (!filter) return text;
    const m = /^\s*(include|section|exclude)\s+(.+)$/.exec(filter);
    if (!m) throw new Reject();
    const re = new RegExp(m[2]!.trim());
    const lines = text.replace(/\n$/, '').split('\n');
    if (m[1] === 'include') return `${lines.filter((l) => re.test(l)).join('\n')}\n`;
    if (m[1] === 'exclude') return `${lines.filter((l) => !re.test(l)).join('\n')}\n`;
    const out: string[] = [];
    let inSection = false;
    for (const l of lines) {
      if (!l.startsWith(' ')) inSection = re.test(l);
      if (inSection) out.push(l);
    }
    return out.length ? `${out.join('\n')}\n` : '';
  };

  const showCommands = (): Command[] => {
    const show = (words: string, text: (a: string[]) => string): Command => ({
      words: words.split(' '),
      run: (a, io) => io.write(text(a)),
    });
    return [
      show('show running-config', () => building(configBody())),
      show('show running-config interface <if>', (a) => building(`${interfaceBlock(findPort(a[0]!)!).join('\n')}\nend`)),
      show('show interfaces status', interfacesStatus),
      show('show ip access-lists', () => accessLists()),
      show('show ip access-lists <w>', (a) => accessLists(a[0])),
      show('show archive config rollback timer', rollbackTimer),
      show(
        'show version',
        () => `Cisco IOS XE Software, Version 17.09.04a\n\n${spec.hostname} uptime is 4 weeks, 2 days, 3 hours, 1 minute\n`,
      ),
    ];
  };

  const logic = (user: string): CliLogic => {
    let mode: Mode = creds.enableSecret ? 'exec' : 'priv';
    let paging = true;
    let port: IosPort | undefined;
    let acl = '';
    const cmd = (words: string, run: Handler): Command => ({ words: words.split(' '), run });
    const leave = () => {
      mode = 'priv';
      port = undefined;
    };
    const exit = () => {
      mode = mode === 'config' ? 'priv' : 'config';
      port = undefined;
    };
    const aclAdd = (seq: number | null, text: string) => {
      if (!ACE.test(text)) throw new Reject();
      const aces = dev.acls.get(acl)!;
      const n = seq ?? (aces.length ? aces[aces.length - 1]!.seq + 10 : 10);
      const i = aces.findIndex((a) => a.seq === n);
      if (i >= 0) throw new Reject(`% Duplicate sequence number`);
      aces.push({ seq: n, text });
      aces.sort((a, b) => a.seq - b.seq);
    };
    const set =
      <K extends keyof IosPort>(key: K, value: IosPort[K]): Handler =>
      () => {
        port![key] = value;
      };
    const terminal = [
      cmd('terminal length <n>', (a) => {
        paging = Number(a[0]) !== 0;
      }),
      cmd('terminal width <n>', () => undefined),
    ];

    const tables: Record<Mode, Command[]> = {
      exec: [
        cmd('enable', async (_a, io) => {
          // IOS asks three times, silently, then gives up.
          for (let i = 0; i < 3; i++) {
            if ((await io.ask('Password: ', { echo: false })) === creds.enableSecret) {
              mode = 'priv';
              return;
            }
          }
          io.write('% Bad secrets\n\n');
        }),
        ...terminal,
        ...showCommands().filter((c) => c.words[1] !== 'running-config' && c.words[1] !== 'archive'),
        cmd('exit', (_a, io) => io.close()),
        cmd('logout', (_a, io) => io.close()),
      ],
      priv: [
        cmd('configure terminal', (_a, io) => {
          io.write('Enter configuration commands, one per line.  End with CNTL/Z.\n');
          mode = 'config';
        }),
        cmd('configure terminal revert timer <n>', (a, io) => {
          if (!dev.archive) throw new Reject('%Turn config archive on before using Rollback Confirmed Change');
          const restore = clone(dev);
          timer.arm(Number(a[0]) * minuteMs, () => {
            dev = restore;
          });
          timerUser = user;
          io.write(`Rollback Confirmed Change: Backing up current running config to flash:archive-${Date.now() % 100000}-1\n`);
          io.write('Enter configuration commands, one per line.  End with CNTL/Z.\n');
          mode = 'config';
        }),
        cmd('configure confirm', (_a, io) => {
          // The never-confirm fault: the device ignores it and the timer runs out.
          if (io.fault('never-confirm')) return;
          if (!timer.confirm()) io.write('%No Rollback Confirmed Change pending\n');
        }),
        cmd('configure revert now', () => timer.fire()),
        cmd('copy running-config startup-config', async (_a, io) => {
          const answer = await io.ask('Destination filename [startup-config]? ');
          if (answer.trim() && answer.trim() !== 'startup-config')
            throw new Reject('%Error opening nvram:/' + answer.trim() + ' (Permission denied)');
          io.write('Building configuration...\n[OK]\n');
        }),
        cmd('write memory', (_a, io) => io.write('Building configuration...\n[OK]\n')),
        cmd('disable', () => {
          mode = 'exec';
        }),
        ...terminal,
        ...showCommands(),
        cmd('exit', (_a, io) => io.close()),
        cmd('logout', (_a, io) => io.close()),
      ],
      config: [
        cmd('interface <if>', (a) => {
          port = findPort(a[0]!);
          mode = 'if';
        }),
        cmd('ip access-list extended <w>', (a) => {
          acl = a[0]!;
          if (!/^[A-Za-z][A-Za-z0-9_.-]{0,63}$/.test(acl)) throw new Reject();
          if (!dev.acls.has(acl)) dev.acls.set(acl, []);
          mode = 'acl';
        }),
        cmd('no ip access-list extended <w>', (a) => void dev.acls.delete(a[0]!)),
        cmd('archive', () => {
          dev.archive = true;
          mode = 'archive';
        }),
        cmd('no archive', () => {
          dev.archive = false;
        }),
        cmd('end', leave),
        cmd('exit', exit),
      ],
      if: [
        cmd('shutdown', set('adminUp', false)),
        cmd('no shutdown', set('adminUp', true)),
        cmd('description <rest>', (a) => {
          port!.description = a[0];
        }),
        cmd('switchport mode access', set('mode', 'access')),
        cmd('switchport mode trunk', set('mode', 'trunk')),
        cmd('switchport mode dynamic auto', set('mode', 'dynamic auto')),
        cmd('switchport mode dynamic desirable', set('mode', 'dynamic desirable')),
        cmd('no switchport mode', set('mode', 'dynamic auto')),
        cmd('switchport access vlan <n>', (a, io) => {
          const vlan = Number(a[0]);
          if (vlan < 1 || vlan > 4094) throw new Reject();
          // Real IOS creates a missing VLAN and says so: informational, not an error.
          if (![...dev.ports.values()].some((p) => p.vlan === vlan)) io.write(`% Access VLAN does not exist. Creating vlan ${vlan}\n`);
          port!.vlan = vlan;
        }),
        cmd('no switchport access vlan', set('vlan', 1)),
        cmd('switchport voice vlan <n>', (a) => {
          port!.voiceVlan = Number(a[0]);
        }),
        cmd('no switchport voice vlan', set('voiceVlan', null)),
        cmd('ip access-group <w> <dir>', (a) => {
          port![a[1] === 'in' ? 'aclIn' : 'aclOut'] = a[0]!;
        }),
        cmd('no ip access-group <w> <dir>', (a) => {
          const key = a[1] === 'in' ? 'aclIn' : 'aclOut';
          if (port![key] === a[0]) port![key] = null;
        }),
        cmd('interface <if>', (a) => {
          port = findPort(a[0]!);
        }),
        cmd('end', leave),
        cmd('exit', exit),
      ],
      acl: [
        cmd('<n> <rest>', (a) => aclAdd(Number(a[0]), a[1]!)),
        cmd('permit <rest>', (a) => aclAdd(null, `permit ${a[0]}`)),
        cmd('deny <rest>', (a) => aclAdd(null, `deny ${a[0]}`)),
        cmd('remark <rest>', (a) => aclAdd(null, `remark ${a[0]}`)),
        cmd('no <n>', (a) => {
          const aces = dev.acls.get(acl)!;
          dev.acls.set(
            acl,
            aces.filter((x) => x.seq !== Number(a[0])),
          );
        }),
        cmd('end', leave),
        cmd('exit', exit),
      ],
      archive: [cmd('path <rest>', () => undefined), cmd('end', leave), cmd('exit', exit)],
    };

    const prompts: Record<Mode, string> = {
      exec: '>',
      priv: '#',
      config: '(config)#',
      if: '(config-if)#',
      acl: '(config-ext-nacl)#',
      archive: '(config-archive)#',
    };
    const prompt = () => `${spec.hostname}${prompts[mode]}`;

    const dispatch = (line: string, io: CliIo): void | Promise<void> => {
      const [head = '', filter] = line.split(/\s\|\s?/, 2);
      const words = head.trim().split(/\s+/);
      const offsets: number[] = [];
      for (let at = 0, i = 0; i < words.length; i++) {
        at = line.indexOf(words[i]!, at);
        offsets.push(at);
        at += words[i]!.length;
      }
      const caret = (word: number) => `${' '.repeat(prompt().length + (offsets[word] ?? line.length))}^\n${INVALID}\n\n`;
      // `do <exec command>` from any configuration mode, as IOS allows.
      const table = mode !== 'exec' && mode !== 'priv' && /^do$/i.test(words[0]!) ? null : tables[mode];
      if (!table) {
        words.shift();
        offsets.shift();
      }
      const found = match(table ?? tables.priv.filter((c) => c.words[0] === 'show'), words);
      if (found.kind === 'invalid') return io.write(caret(found.at));
      if (found.kind === 'incomplete') return io.write('% Incomplete command.\n\n');
      if (found.kind === 'ambiguous') return io.write(`% Ambiguous command:  "${head.trim()}"\n`);
      const wrap = (w: () => void | Promise<void>) => {
        try {
          const r = w();
          if (r instanceof Promise) return r.catch((e) => onError(e, io));
        } catch (e) {
          onError(e, io);
        }
      };
      const onError = (e: unknown, o: CliIo) => {
        if (!(e instanceof Reject)) throw e;
        o.write(e.message ? `${e.message}\n` : caret(0));
      };
      if (!filter) return wrap(() => found.cmd.run(found.args, io));
      let captured = '';
      const sub: CliIo = {
        ...io,
        write: (t) => {
          captured += t;
        },
      };
      return wrap(async () => {
        await found.cmd.run(found.args, sub);
        io.write(pipe(captured, filter));
      });
    };

    const match = (
      table: Command[],
      words: string[],
    ): { kind: 'ok'; cmd: Command; args: string[] } | { kind: 'invalid'; at: number } | { kind: 'incomplete' } | { kind: 'ambiguous' } => {
      // A first word that abbreviates two different commands is ambiguous however the line goes on.
      const firsts = new Set(table.map((c) => c.words[0]!).filter((w) => !w.startsWith('<') && w.startsWith(words[0]!.toLowerCase())));
      if (firsts.size > 1 && !firsts.has(words[0]!.toLowerCase())) return { kind: 'ambiguous' };
      const full: { cmd: Command; args: string[]; exact: number }[] = [];
      let deepest = 0;
      let incomplete = false;
      for (const c of table) {
        const args: string[] = [];
        let exact = 0;
        let i = 0;
        let ok = true;
        for (const [t, tok] of c.words.entries()) {
          const w = words[i];
          if (w === undefined) {
            incomplete ||= t > 0;
            ok = false;
            break;
          }
          if (tok === '<rest>') {
            args.push(words.slice(i).join(' '));
            i = words.length;
          } else if (
            tok === '<n>'
              ? /^\d+$/.test(w)
              : tok === '<w>'
                ? true
                : tok === '<dir>'
                  ? w === 'in' || w === 'out'
                  : tok === '<if>'
                    ? findPort(w) !== undefined
                    : tok.startsWith(w.toLowerCase())
          ) {
            if (tok.startsWith('<')) args.push(w);
            else if (tok === w.toLowerCase()) exact++;
            i++;
          } else {
            ok = false;
            break;
          }
          deepest = Math.max(deepest, i);
        }
        if (ok && i === words.length) full.push({ cmd: c, args, exact });
      }
      if (!full.length) return incomplete && deepest === words.length ? { kind: 'incomplete' } : { kind: 'invalid', at: deepest };
      const best = Math.max(...full.map((f) => f.exact));
      const top = full.filter((f) => f.exact === best);
      if (top.length > 1 && new Set(top.map((f) => f.cmd.words[0])).size > 1) return { kind: 'ambiguous' };
      return { kind: 'ok', ...top[0]! };
    };

    return {
      prompt,
      paging: () => paging,
      pagerPrompt: ' --More-- ',
      rejectText: (line) => `${' '.repeat(prompt().length + Math.max(0, line.search(/\S/)))}^\n${INVALID}\n`,
      handle: (line, io) => dispatch(line, io),
      exec: (command) => {
        mode = 'priv';
        let out = '';
        void dispatch(command, {
          write: (t) => {
            out += t;
          },
          ask: async () => '',
          close: () => undefined,
          fault: () => false,
        });
        return out;
      },
    };
  };

  const server = await startCliServer({ spec, creds, ...(opts.hostKey ? { hostKey: opts.hostKey } : {}), logic });
  const snapshot = (): SimSnapshot => ({
    hostname: spec.hostname,
    ports: portView(dev.ports),
    rules: [...dev.acls].flatMap(([name, aces]) => aces.map((a) => ({ id: `${name}/${a.seq}`, text: a.text }))),
    config: configBody(),
  });
  return {
    spec,
    hostKey: server.hostKey,
    control: cliControl(server, {
      snapshot,
      reset: () => {
        dev = fresh();
      },
      timer,
    }),
    stop: async () => {
      timer.cancel();
      await server.stop();
    },
  };
};
