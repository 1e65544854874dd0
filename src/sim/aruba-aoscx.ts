import { type CliIo, type CliLogic, startCliServer } from './cli-server.js';
import { clone, cliControl, type PortState, portsFrom, portView, RevertTimer } from './cli-model.js';
import type { SimFactory, SimSnapshot } from './types.js';

/**
 * A stateful HPE Aruba AOS-CX switch. Admins land at the manager prompt `host#`; `configure
 * terminal` gives `host(config)#`, `interface 1/1/5` gives `host(config-if)#`, `access-list ip N`
 * gives `host(config-acl-ip)#`. Paging is on until `no page`; the pager prompt is the one
 * AOS-CX/ProCurve print. Auto-revert is `checkpoint auto <1-60>` / `checkpoint auto confirm`
 * (manager context, per the AOS-CX command reference).
 * Simplified: VLANs need not exist before `vlan access N`; voice VLANs are not modelled (on AOS-CX
 * a phone port is a trunk with the voice VLAN tagged, which the driver refuses like any trunk).
 */

const PAGER = '-- MORE --, next page: Space, next line: Enter, quit: Control-C';
const VERSION = 'FL.10.13.1000';
const PORT_NAME = /^\d{1,2}\/\d{1,2}\/\d{1,3}(?::\d{1,2})?$/;
const ADDR = /^(\d{1,3}(?:\.\d{1,3}){3})(?:\/(\d{1,2}|\d{1,3}(?:\.\d{1,3}){3}))?$/;

interface Port extends PortState {
  /** `vlan trunk allowed` list as typed (trunk ports). */
  allowed: string | null;
  aclIn: string | null;
  aclOut: string | null;
}
interface Ace {
  seq: number;
  /** `deny any 10.1.2.3 any` (normalized as the device lists it), or null for a comment-only slot. */
  rule: string | null;
  comment?: string;
}
interface Device {
  ports: Map<string, Port>;
  acls: Map<string, Ace[]>;
}
type Mode = { kind: 'manager' } | { kind: 'config' } | { kind: 'config-if'; port: string } | { kind: 'config-acl-ip'; acl: string };

export const arubaAoscxSim: SimFactory = async (spec, creds, opts) => {
  const minuteMs = spec.minuteMs ?? 60_000;
  const initial = (): Device => {
    const ports = new Map<string, Port>();
    for (const p of portsFrom(spec, { mode: 'access', vlan: 1 }).values()) {
      ports.set(p.name, { ...p, voiceVlan: null, allowed: p.mode === 'trunk' ? String(p.vlan ?? 1) : null, aclIn: null, aclOut: null });
    }
    return { ports, acls: new Map() };
  };
  let dev = initial();
  const timer = new RevertTimer();

  const config = (): string => {
    const out = [`!Version ArubaOS-CX ${VERSION}`, '!export-password: default', `hostname ${spec.hostname}`, '!'];
    for (const [name, aces] of dev.acls) {
      out.push(`access-list ip ${name}`);
      for (const a of aces) {
        if (a.comment !== undefined) out.push(`    ${a.seq} comment ${a.comment}`);
        if (a.rule) out.push(`    ${a.seq} ${a.rule}`);
      }
    }
    const vlans = [...new Set([...dev.ports.values()].map((p) => p.vlan ?? 1))].sort((a, b) => a - b);
    out.push(`vlan ${vlans.join(',')}`);
    for (const p of dev.ports.values()) out.push(...portConfig(p));
    return `${out.join('\n')}\n`;
  };
  const snapshot = (): SimSnapshot => ({
    hostname: spec.hostname,
    ports: portView(dev.ports),
    rules: [...dev.acls].flatMap(([name, aces]) =>
      aces.map((a) => ({
        id: `${name}/${a.seq}`,
        text: [a.comment !== undefined ? `comment ${a.comment}` : '', a.rule ?? ''].filter(Boolean).join(' / '),
      })),
    ),
    config: config(),
  });

  const logic = (): CliLogic => {
    let mode: Mode = { kind: 'manager' };
    let paging = true;
    const prompt = () => {
      const ctx = mode.kind === 'manager' ? '' : mode.kind === 'config' ? '(config)' : `(${mode.kind})`;
      return `${spec.hostname}${ctx}# `;
    };

    const manager = (words: string[], io: CliIo): boolean => {
      const line = words.join(' ');
      if (line === 'no page') paging = false;
      else if (line === 'page') paging = true;
      else if (/^conf(igure)?( t(erminal)?)?$/.test(line)) mode = { kind: 'config' };
      else if (line === 'show running-config' || line === 'show run') io.write(config());
      else if (words[0] === 'show' && words[1] === 'running-config' && words[2] === 'interface') {
        const p = words[3] ? dev.ports.get(words[3]) : undefined;
        if (!words[3]) io.write('% Command incomplete.\n');
        else if (!p) io.write(`Invalid input: ${words[3]}\n`);
        else io.write(`${portConfig(p).join('\n')}\n`);
      } else if (line === 'checkpoint auto confirm') {
        // never-confirm: the device takes the command but the timer still fires.
        if (!timer.armed) io.write('No auto checkpoint is pending.\n');
        else {
          if (!io.fault('never-confirm')) timer.confirm();
          io.write(`checkpoint AUTO${stamp()} created\n`);
        }
      } else if (words[0] === 'checkpoint' && words[1] === 'auto') {
        const n = Number(words[2]);
        if (!words[2]) io.write('% Command incomplete.\n');
        else if (!/^\d+$/.test(words[2]) || n < 1 || n > 60) io.write(`Invalid input: ${words[2]}\n`);
        else {
          const restore = clone({ ports: [...dev.ports], acls: [...dev.acls] });
          timer.arm(n * minuteMs, () => {
            dev = { ports: new Map(restore.ports), acls: new Map(restore.acls) };
          });
          io.write(`Auto checkpoint mode expires in ${n} minute(s)\n`);
        }
      } else if (line === 'exit') io.close();
      else if (line === 'end') return true;
      else return false;
      return true;
    };

    const configure = (words: string[], io: CliIo): boolean => {
      const [w0, w1, w2, w3] = words;
      if (w0 === 'interface') {
        if (!w1) io.write('% Command incomplete.\n');
        else if (!PORT_NAME.test(w1) || !dev.ports.has(w1)) io.write(`Invalid input: ${w1}\n`);
        else mode = { kind: 'config-if', port: w1 };
      } else if (w0 === 'access-list' && w1 === 'ip') {
        if (!w2) io.write('% Command incomplete.\n');
        else if (!/^[A-Za-z0-9_.-]{1,64}$/.test(w2)) io.write(`Invalid input: ${w2}\n`);
        else {
          if (!dev.acls.has(w2)) dev.acls.set(w2, []);
          mode = { kind: 'config-acl-ip', acl: w2 };
        }
      } else if (w0 === 'no' && w1 === 'access-list' && w2 === 'ip' && w3) {
        if (!dev.acls.delete(w3)) io.write(`ACL ${w3} does not exist.\n`);
        else for (const p of dev.ports.values()) for (const d of ['aclIn', 'aclOut'] as const) if (p[d] === w3) p[d] = null;
      } else return false;
      return true;
    };

    const iface = (port: Port, words: string[], io: CliIo): boolean => {
      const line = words.join(' ');
      const vlan = (s: string | undefined) => (s && /^\d+$/.test(s) && Number(s) >= 1 && Number(s) <= 4094 ? Number(s) : null);
      if (line === 'shutdown') port.adminUp = false;
      else if (line === 'no shutdown') port.adminUp = true;
      else if (words[0] === 'vlan' && words[1] === 'access') {
        const v = vlan(words[2]);
        if (!words[2]) io.write('% Command incomplete.\n');
        else if (v === null) io.write(`Invalid input: ${words[2]}\n`);
        else Object.assign(port, { mode: 'access', vlan: v, allowed: null });
      } else if (line === 'no vlan access') Object.assign(port, { mode: 'access', vlan: 1, allowed: null });
      else if (words[0] === 'vlan' && words[1] === 'trunk' && words[2] === 'native' && vlan(words[3]) !== null) {
        Object.assign(port, { mode: 'trunk', vlan: vlan(words[3]), allowed: port.allowed ?? words[3] });
      } else if (words[0] === 'vlan' && words[1] === 'trunk' && words[2] === 'allowed' && words[3]) {
        Object.assign(port, { mode: 'trunk', allowed: words[3] });
      } else if (/^(no )?apply access-list ip \S+ (in|out)$/.test(line)) {
        const no = words[0] === 'no';
        const name = words[no ? 4 : 3]!;
        const dir = words[no ? 5 : 4] === 'in' ? 'aclIn' : 'aclOut';
        if (!dev.acls.has(name)) io.write(`ACL ${name} does not exist.\n`);
        // One ACL per direction: applying another replaces it, as on the real box.
        else if (!no) port[dir] = name;
        else if (port[dir] === name) port[dir] = null;
      } else return false;
      return true;
    };

    const acl = (aces: Ace[], words: string[], io: CliIo): boolean => {
      const [w0, w1] = words;
      if (w0 === 'no' && w1 && /^\d+$/.test(w1) && words.length === 2) {
        const i = aces.findIndex((a) => a.seq === Number(w1));
        if (i >= 0) aces.splice(i, 1);
        return true;
      }
      let seq: number;
      let rest = words;
      if (w0 && /^\d+$/.test(w0)) {
        seq = Number(w0);
        rest = words.slice(1);
      } else seq = (aces.reduce((m, a) => Math.max(m, a.seq), 0) || 0) + 10;
      if (seq < 1 || seq > 4294967295) return false;
      const slot = () => {
        let a = aces.find((x) => x.seq === seq);
        if (!a) {
          a = { seq, rule: null };
          aces.push(a);
          aces.sort((x, y) => x.seq - y.seq);
        }
        return a;
      };
      if (rest[0] === 'comment') {
        if (rest.length < 2) io.write('% Command incomplete.\n');
        else slot().comment = rest.slice(1).join(' ');
        return true;
      }
      if (rest[0] !== 'permit' && rest[0] !== 'deny') return false;
      if (rest.length < 4) {
        io.write('% Command incomplete.\n');
        return true;
      }
      const [action, proto, src, dst, ...more] = rest as [string, string, string, string, ...string[]];
      const bad = [proto, src, dst, ...more].find((w, i) =>
        i === 0 ? !/^(any|tcp|udp|icmp|\d{1,3})$/.test(w) : i < 3 ? w !== 'any' && normAddr(w) === null : !/^(count|log)$/.test(w),
      );
      if (bad !== undefined) io.write(`Invalid input: ${bad}\n`);
      else slot().rule = [action, proto, src === 'any' ? 'any' : normAddr(src), dst === 'any' ? 'any' : normAddr(dst), ...more].join(' ');
      return true;
    };

    return {
      prompt,
      paging: () => paging,
      pagerPrompt: PAGER,
      rejectText: (line) => `Invalid input: ${line.trim().split(/\s+/)[0] ?? ''}`,
      handle(raw, io) {
        const words = raw.trim().split(/\s+/);
        const line = words.join(' ');
        // `do` runs a manager command from any config context.
        if (mode.kind !== 'manager' && words[0] === 'do' && words.length > 1) {
          if (!manager(words.slice(1), io)) io.write(`Invalid input: ${words[1]}\n`);
          return;
        }
        // AOS-CX also takes `show` commands straight from config contexts.
        if (mode.kind !== 'manager' && words[0] === 'show') {
          if (!manager(words, io)) io.write(`Invalid input: ${firstBad(words)}\n`);
          return;
        }
        if (mode.kind !== 'manager' && line === 'end') {
          mode = { kind: 'manager' };
          return;
        }
        if (mode.kind !== 'manager' && line === 'exit') {
          mode = mode.kind === 'config' ? { kind: 'manager' } : { kind: 'config' };
          return;
        }
        let ok = false;
        if (mode.kind === 'manager') ok = manager(words, io);
        else {
          // Global config commands work from sub-contexts too (and move there), as on AOS-CX.
          const here = mode;
          if (here.kind === 'config-if') ok = iface(dev.ports.get(here.port)!, words, io);
          else if (here.kind === 'config-acl-ip') ok = acl(dev.acls.get(here.acl) ?? [], words, io);
          if (!ok) ok = configure(words, io);
        }
        if (!ok) io.write(`Invalid input: ${firstBad(words)}\n`);
      },
    };
  };

  const server = await startCliServer({ spec, creds, hostKey: opts.hostKey, logic });
  const control = cliControl(server, {
    snapshot,
    reset: () => {
      dev = initial();
    },
    timer,
  });
  return { spec, control, hostKey: server.hostKey, stop: () => server.stop() };
};

function portConfig(p: Port): string[] {
  const out = [`interface ${p.name}`, p.adminUp ? '    no shutdown' : '    shutdown'];
  if (p.mode === 'trunk') {
    out.push(`    vlan trunk native ${p.vlan ?? 1}`);
    if (p.allowed) out.push(`    vlan trunk allowed ${p.allowed}`);
  } else out.push(`    vlan access ${p.vlan ?? 1}`);
  if (p.aclIn) out.push(`    apply access-list ip ${p.aclIn} in`);
  if (p.aclOut) out.push(`    apply access-list ip ${p.aclOut} out`);
  out.push('    exit');
  return out;
}

/** `10.1.0.0/16` -> `10.1.0.0/255.255.0.0` as AOS-CX lists prefixes; a host stays bare. */
function normAddr(s: string): string | null {
  const m = ADDR.exec(s);
  if (!m || m[1]!.split('.').some((o) => Number(o) > 255)) return null;
  if (m[2] === undefined) return m[1]!;
  if (m[2].includes('.')) return `${m[1]}/${m[2]}`;
  const len = Number(m[2]);
  if (len > 32) return null;
  if (len === 32) return m[1]!;
  const mask = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
  return `${m[1]}/${[24, 16, 8, 0].map((s) => (mask >>> s) & 255).join('.')}`;
}

function firstBad(words: string[]): string {
  return words.find((w) => !['show', 'no', 'interface', 'vlan', 'access-list', 'ip'].includes(w)) ?? words[0] ?? '';
}

function stamp(): string {
  return new Date().toISOString().replace(/[-:T]/g, '').slice(0, 14);
}
