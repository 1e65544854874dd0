import { type CliIo, type CliLogic, startCliServer } from './cli-server.js';
import { cliControl, clone, type PortState, portsFrom, portView, RevertTimer } from './cli-model.js';
import type { SimCredentials, SimDeviceSpec, SimFactory, SimSnapshot } from './types.js';

/**
 * A simulated Arista EOS switch. Prompts, errors and `show` output follow recorded EOS output
 * (ntc-templates arista_eos raw samples, eAPI JSON captured from vEOS/cEOS 4.2x-4.33, scrapli's
 * EOS prompt patterns): `host>`, `host#`, `host(config)#`, `host(config-if-Et5)#`,
 * `host(config-s-<6 chars of session>-if-Et5)#`; `% Invalid input (at token N: 'x')`;
 * ` --More-- ` paging until `terminal length 0`; `| json` on the show commands a driver reads.
 * Configure sessions work on a copy of the running config; `commit timer hh:mm:ss` commits and
 * rolls back by itself unless `configure session NAME commit` confirms in time.
 */

interface AclEntry {
  seq: number;
  text: string;
}
interface Cfg {
  ports: Record<string, PortState>;
  acls: Record<string, AclEntry[]>;
  /** interface -> ACL applied per direction */
  groups: Record<string, { in?: string; out?: string }>;
}
interface ConfigSession {
  cfg: Cfg;
  state: 'pending' | 'pendingCommitTimer' | 'completed';
  commitBy?: number;
}
interface Device {
  spec: SimDeviceSpec;
  creds: SimCredentials;
  running: Cfg;
  sessions: Map<string, ConfigSession>;
  timer: RevertTimer;
  minuteMs: number;
}

const IF_TYPES: [RegExp, string, string][] = [
  [/^et(?:h(?:e(?:r(?:n(?:e(?:t)?)?)?)?)?)?$/i, 'Ethernet', 'Et'],
  [/^po(?:rt-channel)?$/i, 'Port-Channel', 'Po'],
  [/^ma(?:nagement)?$/i, 'Management', 'Ma'],
  [/^vl(?:an)?$/i, 'Vlan', 'Vl'],
];

/** `Et5`, `ethernet5`, `ethernet 5` -> Ethernet5; `used` = tokens consumed; null: not an interface type. */
export function eosInterface(tokens: string[], i: number): { full: string; short: string; used: number } | null {
  const m = /^([A-Za-z-]+)([\d/.]*)$/.exec(tokens[i] ?? '');
  if (!m) return null;
  const type = IF_TYPES.find(([re]) => re.test(m[1]!));
  if (!type) return null;
  let num = m[2]!;
  let used = 1;
  if (!num && /^\d[\d/.]*$/.test(tokens[i + 1] ?? '')) {
    num = tokens[i + 1]!;
    used = 2;
  }
  if (!num) return null;
  return { full: `${type[1]}${num}`, short: `${type[2]}${num}`, used };
}

/** Writes a command's output; typed `undefined` so handlers can `return say(...)`. */
function say(io: CliIo, text: string): undefined {
  io.write(text);
  return undefined;
}

const invalid = (t: string[], i: number) => `% Invalid input (at token ${i}: '${t[i] ?? ''}')\n`;
const INCOMPLETE = '% Incomplete command\n';
const byName = (a: string, b: string) => a.localeCompare(b, 'en', { numeric: true });

export const aristaEosSim: SimFactory = async (spec, creds, opts) => {
  const initial = (): Cfg => {
    const ports: Record<string, PortState> = {};
    for (const p of portsFrom(spec, { mode: 'access', vlan: 1 }).values()) {
      const name = eosInterface([p.name], 0)?.full ?? p.name;
      ports[name] = { ...p, name, vlan: p.vlan ?? 1 };
    }
    return { ports, acls: {}, groups: {} };
  };
  const dev: Device = { spec, creds, running: initial(), sessions: new Map(), timer: new RevertTimer(), minuteMs: spec.minuteMs ?? 60_000 };
  const server = await startCliServer({ spec, creds, hostKey: opts.hostKey, logic: () => new EosLogic(dev) });
  const control = cliControl(server, {
    snapshot: () => snapshot(dev),
    reset: () => {
      dev.running = initial();
      dev.sessions.clear();
    },
    timer: dev.timer,
  });
  return {
    spec,
    control,
    hostKey: server.hostKey,
    stop: async () => {
      dev.timer.cancel();
      await server.stop();
    },
  };
};

function snapshot(dev: Device): SimSnapshot {
  const ports = new Map(Object.values(dev.running.ports).map((p) => [p.name, p]));
  const rules = Object.entries(dev.running.acls).flatMap(([name, entries]) =>
    entries.map((e) => ({ id: `${name}/${e.seq}`, text: e.text })),
  );
  return { hostname: dev.spec.hostname, ports: portView(ports), rules, config: runningConfig(dev.spec.hostname, dev.running) };
}

function interfaceSection(p: PortState, g: Cfg['groups'][string] | undefined): string[] {
  const out = [`interface ${p.name}`];
  if (p.description) out.push(`   description ${p.description}`);
  if (!p.adminUp) out.push('   shutdown');
  if (p.vlan !== null && p.vlan !== 1) out.push(`   switchport access vlan ${p.vlan}`);
  if (p.mode !== 'access') out.push(`   switchport mode ${p.mode}`);
  if (p.voiceVlan !== null) out.push(`   switchport phone vlan ${p.voiceVlan}`);
  if (g?.in) out.push(`   ip access-group ${g.in} in`);
  if (g?.out) out.push(`   ip access-group ${g.out} out`);
  return out;
}

function runningConfig(host: string, cfg: Cfg): string {
  const out = ['! Command: show running-config', `! device: ${host} (cEOSLab, EOS-4.33.2F)`, '!', 'no aaa root', '!'];
  out.push(`hostname ${host}`, '!', 'spanning-tree mode mstp', '!');
  for (const name of Object.keys(cfg.ports).sort(byName)) out.push(...interfaceSection(cfg.ports[name]!, cfg.groups[name]), '!');
  for (const name of Object.keys(cfg.acls).sort())
    out.push(`ip access-list ${name}`, ...cfg.acls[name]!.map((e) => `   ${e.seq} ${e.text}`), '!');
  out.push('end');
  return out.join('\n');
}

/** `show interfaces status` text, column widths as EOS prints them. */
function statusLine(p: PortState, short: string): string {
  const status = p.adminUp ? 'connected' : 'disabled';
  const vlan = p.mode.startsWith('trunk') ? 'trunk' : String(p.vlan ?? 1);
  return `${short.padEnd(10)} ${(p.description ?? '').slice(0, 22).padEnd(22)} ${status.padEnd(12)} ${vlan.padEnd(11)} full    1G    EbraTestPhyPort`;
}

function statusJson(p: PortState): unknown {
  const trunk = p.mode.startsWith('trunk');
  return {
    vlanInformation: trunk
      ? { interfaceMode: 'trunk', interfaceForwardingModel: 'bridged' }
      : { interfaceMode: 'bridged', vlanId: p.vlan ?? 1, interfaceForwardingModel: 'bridged' },
    bandwidth: 1000000000,
    interfaceType: 'EbraTestPhyPort',
    description: p.description ?? '',
    autoNegotiateActive: false,
    duplex: 'duplexFull',
    autoNegotigateActive: false,
    linkStatus: p.adminUp ? 'connected' : 'disabled',
    lineProtocolStatus: p.adminUp ? 'up' : 'down',
    interfaceDamped: false,
  };
}

function switchportJson(p: PortState): unknown {
  const vlanName = (v: number) => (v === 1 ? 'default' : `VLAN${String(v).padStart(4, '0')}`);
  return {
    enabled: true,
    switchportInfo: {
      mode: p.mode === 'trunk phone' ? 'trunk' : p.mode,
      phoneTrunk: p.mode === 'trunk phone',
      macLearning: true,
      tpid: '0x8100',
      tpidStatus: true,
      dot1qVlanTagRequired: false,
      dot1qVlanTagRequiredStatus: false,
      dot1qVlanTagDisallowed: false,
      accessVlanId: p.vlan ?? 1,
      accessVlanName: vlanName(p.vlan ?? 1),
      trunkingNativeVlanId: 1,
      trunkingNativeVlanName: 'default',
      trunkAllowedVlans: 'ALL',
      dynamicAllowedVlans: {},
      dynamicBlockedVlans: {},
      staticTrunkGroups: [],
      dynamicTrunkGroups: [],
      sourceportFilterMode: 'enabled',
      vlanForwardingMode: 'vlanForwardingModeAllowedVlansOnPort',
      phoneVlan: p.voiceVlan ?? 0,
      phoneTrunkUntagged: false,
      mbvaEnabled: false,
    },
  };
}

function switchportText(p: PortState, short: string): string {
  const mode = p.mode === 'access' ? 'static access' : p.mode;
  return [
    `Name: ${short}`,
    'Switchport: Enabled',
    `Administrative Mode: ${mode}`,
    `Operational Mode: ${mode}`,
    'MAC Address Learning: enabled',
    'Dot1q ethertype/TPID: 0x8100 (active)',
    'Dot1q Vlan Tag Required (Administrative/Operational): No/No',
    `Access Mode VLAN: ${p.vlan ?? 1}`,
    'Trunking Native Mode VLAN: 1 (default)',
    'Administrative Native VLAN tagging: disabled',
    'Trunking VLANs Enabled: ALL',
    `Phone VLAN: ${p.voiceVlan ?? 'none'}`,
    'Static Trunk Groups:',
    'Dynamic Trunk Groups:',
    'Source interface filtering: enabled',
  ].join('\n');
}

const ADDR = /^(?:any|\d{1,3}(?:\.\d{1,3}){3}\/\d{1,2}|[0-9a-fA-F:]+\/\d{1,3})$/;

/** One ACL entry text (`deny ip host 10.0.0.5 any`, `remark ...`), or the token index it breaks at. */
function parseEntry(t: string[], at: number): string | number {
  if (t[at] === 'remark') return t.length > at + 1 ? t.slice(at).join(' ') : at + 1;
  if (t[at] !== 'permit' && t[at] !== 'deny') return at;
  if (!['ip', 'tcp', 'udp', 'icmp'].includes(t[at + 1] ?? '')) return at + 1;
  let i = at + 2;
  for (let n = 0; n < 2; n++) {
    if (t[i] === 'host' && /^[\d.]+$|:/.test(t[i + 1] ?? '')) i += 2;
    else if (ADDR.test(t[i] ?? '')) i += 1;
    else return i;
  }
  return t.slice(at).join(' ');
}

class EosLogic implements CliLogic {
  readonly pagerPrompt = ' --More-- ';
  private mode: 'exec' | 'priv' | 'config' | 'if' | 'acl' = 'exec';
  private pages = true;
  private session: string | undefined;
  private iface: { full: string; short: string } | undefined;
  private acl: string | undefined;

  constructor(private readonly dev: Device) {}

  paging(): boolean {
    return this.pages;
  }

  rejectText(line: string): string {
    return invalid(line.trim().split(/\s+/), 0);
  }

  prompt(): string {
    const h = this.dev.spec.hostname;
    const s = this.session ? `-s-${this.session.slice(0, 6)}` : '';
    if (this.mode === 'exec') return `${h}>`;
    if (this.mode === 'priv') return `${h}#`;
    if (this.mode === 'if') return `${h}(config${s}-if-${this.iface!.short})#`;
    if (this.mode === 'acl') return `${h}(config${s}-acl-${this.acl})#`;
    return `${h}(config${s})#`;
  }

  exec(command: string): string {
    let out = '';
    this.mode = 'priv';
    void this.handle(command, { write: (t) => (out += t), ask: async () => '', close: () => undefined, fault: () => false });
    return out;
  }

  private cfg(): Cfg {
    return this.session ? this.dev.sessions.get(this.session)!.cfg : this.dev.running;
  }

  async handle(line: string, io: CliIo): Promise<undefined> {
    const pipe = /^(.*?)\s*\|\s*json\s*$/.exec(line.trim());
    const t = (pipe ? pipe[1]! : line.trim()).split(/\s+/);
    const w = t[0]!.toLowerCase();
    if (w === 'show') return this.show(t, !!pipe, io);
    if (this.mode === 'exec' || this.mode === 'priv') return this.execCommand(t, io);
    if (this.mode === 'if' && this.ifCommand(t, io)) return;
    if (this.mode === 'acl' && this.aclCommand(t, io)) return;
    this.configCommand(t, io);
  }

  private async execCommand(t: string[], io: CliIo): Promise<undefined> {
    const l = t.join(' ');
    if (l === 'enable') {
      if (this.mode === 'exec' && this.dev.creds.enableSecret) {
        const pw = await io.ask('Password: ', { echo: false });
        if (pw !== this.dev.creds.enableSecret) return say(io, '% Access denied\n');
      }
      this.mode = 'priv';
    } else if (l === 'disable') this.mode = 'exec';
    else if (/^terminal length \d+$/.test(l)) {
      this.pages = t[2] !== '0';
      io.write(this.pages ? `Page length set to ${t[2]} lines.\n` : 'Pagination disabled.\n');
    } else if (/^terminal width \d+$/.test(l)) io.write(`Width set to ${t[2]} columns.\n`);
    else if (['exit', 'logout', 'quit'].includes(l)) io.close();
    else if (this.mode === 'exec') io.write(invalid(t, 0));
    else if (/^(configure|configure terminal|conf t|config)$/.test(l)) this.mode = 'config';
    else if (t[0] === 'configure' && t[1] === 'session') this.sessionCommand(t, io);
    else io.write(invalid(t, 0));
  }

  private sessionCommand(t: string[], io: CliIo): undefined {
    const name = t[2];
    if (!name) return say(io, INCOMPLETE);
    if (!/^[A-Za-z0-9_.-]{1,64}$/.test(name)) return say(io, invalid(t, 2));
    const s = this.dev.sessions.get(name);
    if (t.length === 3) {
      if (s && s.state !== 'pending') return say(io, `% Cannot enter session ${name} (session was already committed)\n`);
      if (!s) this.dev.sessions.set(name, { cfg: clone(this.dev.running), state: 'pending' });
      this.session = name;
      this.mode = 'config';
    } else if (t[3] === 'commit' && t.length === 4) {
      // A never-confirm fault swallows the confirmation: the timer runs on and reverts.
      if (s?.state === 'pendingCommitTimer' && !io.fault('never-confirm')) {
        this.dev.timer.confirm();
        s.state = 'completed';
      } else if (s?.state === 'pending') this.commit(name, undefined);
    } else if (t[3] === 'abort' && t.length === 4) {
      if (s?.state === 'pendingCommitTimer') this.dev.timer.fire();
      if (s?.state !== 'completed') this.dev.sessions.delete(name);
    } else io.write(invalid(t, 3));
  }

  /** Commits the session into the running config; with a timer, arms the device-side rollback. */
  private commit(name: string, seconds: number | undefined): void {
    const s = this.dev.sessions.get(name)!;
    const before = clone(this.dev.running);
    this.dev.running = clone(s.cfg);
    if (seconds === undefined) s.state = 'completed';
    else {
      const ms = (seconds / 60) * this.dev.minuteMs;
      s.state = 'pendingCommitTimer';
      s.commitBy = Date.now() + ms;
      this.dev.timer.arm(ms, () => {
        this.dev.running = before;
        s.state = 'completed';
      });
    }
    if (this.session === name) {
      this.session = undefined;
      this.mode = 'priv';
    }
  }

  private configCommand(t: string[], io: CliIo): undefined {
    const l = t.join(' ');
    const cfg = this.cfg();
    if (l === 'end') {
      this.mode = 'priv';
      this.session = undefined; // the session stays pending, as on EOS
    } else if (l === 'exit') {
      if (this.mode === 'config') this.session = undefined;
      this.mode = this.mode === 'config' ? 'priv' : 'config';
    } else if (t[0] === 'interface') {
      if (!t[1]) return say(io, INCOMPLETE);
      const i = eosInterface(t, 1);
      if (!i || t.length > 1 + i.used) return say(io, invalid(t, i ? 1 + i.used : 1));
      if (!cfg.ports[i.full])
        io.write('! Interface does not exist. The configuration will not take effect until the module is inserted.\n');
      this.iface = i;
      this.mode = 'if';
    } else if (t[0] === 'ip' && t[1] === 'access-list') {
      if (!t[2]) return say(io, INCOMPLETE);
      if (!/^[A-Za-z][A-Za-z0-9_.:-]{0,99}$/.test(t[2]) || t.length > 3) return say(io, invalid(t, 2));
      cfg.acls[t[2]] ??= [];
      this.acl = t[2];
      this.mode = 'acl';
    } else if (t[0] === 'no' && t[1] === 'ip' && t[2] === 'access-list' && t[3]) {
      delete cfg.acls[t[3]];
    } else if (this.session && l === 'commit') this.commit(this.session, undefined);
    else if (this.session && t[0] === 'commit' && t[1] === 'timer') {
      const m = /^(\d{1,2}):(\d{2}):(\d{2})$/.exec(t[2] ?? '');
      if (!t[2]) return say(io, INCOMPLETE);
      if (!m || t.length > 3) return say(io, invalid(t, 2));
      this.commit(this.session, Number(m[1]) * 3600 + Number(m[2]) * 60 + Number(m[3]));
    } else if (this.session && l === 'abort') {
      this.dev.sessions.delete(this.session);
      this.session = undefined;
      this.mode = 'priv';
    } else io.write(invalid(t, 0));
  }

  /** Interface sub-mode; false when the line is not an interface command (it may be a config one). */
  private ifCommand(t: string[], io: CliIo): boolean {
    const cfg = this.cfg();
    const p = cfg.ports[this.iface!.full];
    const no = t[0] === 'no';
    const a = no ? t.slice(1) : t;
    const l = a.join(' ');
    const vlanAt = (i: number): number | undefined => {
      const v = Number(a[i]);
      if (!/^\d+$/.test(a[i] ?? '') || v < 1 || v > 4094) {
        io.write(a[i] === undefined ? INCOMPLETE : invalid(t, i + (no ? 1 : 0)));
        return undefined;
      }
      return v;
    };
    if (l === 'shutdown') {
      if (p) p.adminUp = no;
    } else if (a[0] === 'description') {
      if (p) p.description = no ? undefined : a.slice(1).join(' ');
    } else if (a[0] === 'switchport' && a[1] === 'access' && a[2] === 'vlan') {
      const v = no ? 1 : vlanAt(3);
      if (v !== undefined && p) p.vlan = v;
    } else if (a[0] === 'switchport' && a[1] === 'phone' && a[2] === 'vlan') {
      const v = no ? null : vlanAt(3);
      if (v !== undefined && p) p.voiceVlan = v;
    } else if (a[0] === 'switchport' && a[1] === 'mode') {
      const mode = no ? 'access' : a.slice(2).join(' ');
      if (!['access', 'trunk', 'trunk phone', 'dot1q-tunnel'].includes(mode)) io.write(a[2] ? invalid(t, 2) : INCOMPLETE);
      else if (p) p.mode = mode;
    } else if (a[0] === 'ip' && a[1] === 'access-group') {
      const dir = a[a.length - 1] as 'in' | 'out';
      if (dir !== 'in' && dir !== 'out') io.write(a.length < 4 ? INCOMPLETE : invalid(t, t.length - 1));
      else if (!no && a.length !== 4) io.write(invalid(t, 2));
      else {
        cfg.groups[this.iface!.full] ??= {};
        const g = cfg.groups[this.iface!.full]!;
        if (no) delete g[dir];
        else g[dir] = a[2]!;
      }
    } else return false;
    return true;
  }

  private aclCommand(t: string[], io: CliIo): boolean {
    const entries = this.cfg().acls[this.acl!]!;
    if (t[0] === 'no' && /^\d+$/.test(t[1] ?? '') && t.length === 2) {
      const i = entries.findIndex((e) => e.seq === Number(t[1]));
      if (i >= 0) entries.splice(i, 1);
      return true;
    }
    const seqGiven = /^\d+$/.test(t[0]!);
    if (!seqGiven && !['permit', 'deny', 'remark'].includes(t[0]!)) return false;
    const text = parseEntry(t, seqGiven ? 1 : 0);
    if (typeof text === 'number') {
      io.write(text >= t.length ? INCOMPLETE : invalid(t, text));
      return true;
    }
    const seq = seqGiven ? Number(t[0]) : (entries[entries.length - 1]?.seq ?? 0) + 10;
    if (seq < 1 || seq > 4294967295) io.write(invalid(t, 0));
    else if (entries.some((e) => e.seq === seq)) io.write(`% Error: Duplicate sequence number\n`);
    else {
      entries.push({ seq, text });
      entries.sort((x, y) => x.seq - y.seq);
    }
    return true;
  }

  private show(t: string[], json: boolean, io: CliIo): undefined {
    const cfg = this.cfg();
    const out = (v: unknown) => say(io, `${JSON.stringify(v, null, 2)}\n`);
    const l = t.slice(1).join(' ');
    if (t[1] === 'interfaces' || t[1] === 'interface') {
      const i = eosInterface(t, 2);
      const rest = t.slice(i ? 2 + i.used : 2).join(' ');
      if (!i && t[2] !== 'status' && t[2] !== 'switchport') return say(io, invalid(t, 2));
      if (rest !== 'status' && rest !== 'switchport') return say(io, rest ? invalid(t, i ? 2 + i.used : 2) : INCOMPLETE);
      const ports = i ? [cfg.ports[i.full]].filter((p) => p !== undefined) : Object.values(cfg.ports);
      // A runtime error (not a parse error): `| json` reports it as JSON, as eAPI does.
      if (i && !ports.length) return json ? out({ errors: ['Interface does not exist'] }) : say(io, '% Interface does not exist\n');
      ports.sort((a, b) => byName(a.name, b.name));
      const short = (p: PortState) => eosInterface([p.name], 0)?.short ?? p.name;
      if (rest === 'status') {
        if (json) return out({ interfaceStatuses: Object.fromEntries(ports.map((p) => [p.name, statusJson(p)])) });
        const head = 'Port       Name                   Status       Vlan        Duplex  Speed Type';
        return say(io, `${[head, ...ports.map((p) => statusLine(p, short(p)))].join('\n')}\n`);
      }
      if (json) return out({ switchports: Object.fromEntries(ports.map((p) => [p.name, switchportJson(p)])) });
      return say(io, `${ports.map((p) => switchportText(p, short(p))).join('\n\n')}\n`);
    }
    if (l === 'running-config' || l === 'running-config all') return say(io, `${runningConfig(this.dev.spec.hostname, cfg)}\n`);
    if (t[1] === 'running-config' && t[2] === 'interfaces') {
      const i = eosInterface(t, 3);
      if (!i) return say(io, t[3] ? invalid(t, 3) : INCOMPLETE);
      const p = cfg.ports[i.full];
      return say(io, p ? `${interfaceSection(p, cfg.groups[p.name]).join('\n')}\n` : '');
    }
    if (t[1] === 'ip' && t[2] === 'access-lists') {
      const names = Object.keys(cfg.acls)
        .filter((n) => !t[3] || n === t[3])
        .sort();
      if (json) {
        const seq = (n: string) =>
          cfg.acls[n]!.map((e) => ({ sequenceNumber: e.seq, text: e.text, counterData: { packetCount: 0, byteCount: 0 } }));
        return out({
          aclList: names.map((n) => ({ name: n, readonly: false, dynamic: false, statisticsEnabled: false, sequence: seq(n) })),
        });
      }
      const blocks = names.map((n) => [`IP Access List ${n}`, ...cfg.acls[n]!.map((e) => `        ${e.seq} ${e.text}`)].join('\n'));
      return say(io, blocks.length ? `${blocks.join('\n\n')}\n` : '');
    }
    if (l === 'configuration sessions') {
      const sessions = [...this.dev.sessions.entries()];
      if (json) {
        const view = (s: ConfigSession) => ({
          state: s.state,
          ...(s.commitBy ? { commitBy: s.commitBy / 1000 } : {}),
          description: '',
          instances: {},
        });
        return out({ maxSavedSessions: 1, maxOpenSessions: 5, sessions: Object.fromEntries(sessions.map(([n, s]) => [n, view(s)])) });
      }
      const rows = sessions.map(([n, s]) => `${n === this.session ? '*' : ' '} ${n.padEnd(11)} ${s.state.padEnd(27)}`);
      const head = ['Maximum number of completed sessions: 1', 'Maximum number of pending sessions: 5', ''];
      return say(
        io,
        `${[...head, '  Name        State                       User    Terminal', '  ----------- --------------------------- ------- --------', ...rows].join('\n')}\n`,
      );
    }
    if (l === 'version') return say(io, `Arista cEOSLab\nSoftware image version: 4.33.2F\nArchitecture: x86_64\n`);
    io.write(t[1] ? invalid(t, 1) : INCOMPLETE);
  }
}
