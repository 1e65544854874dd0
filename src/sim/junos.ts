import { type CliIo, type CliLogic, startCliServer } from './cli-server.js';
import { cliControl, clone, portsFrom, RevertTimer } from './cli-model.js';
import type { SimFactory, SimPort, SimSnapshot } from './types.js';

/**
 * A simulated Junos box (EX with ELS, or SRX/MX when its ports are `routed`). The configuration
 * is kept as `display set` statements: that is the form the driver reads, and `set`/`delete`/
 * `insert` map onto it one to one. Prompts, notices and errors follow recorded CLI sessions
 * (Netmiko/Scrapli Junos drivers, ntc-templates and vendor examples).
 */

const TOP = [
  'version',
  'system',
  'chassis',
  'interfaces',
  'snmp',
  'forwarding-options',
  'routing-options',
  'protocols',
  'policy-options',
  'firewall',
  'switch-options',
  'vlans',
  'security',
];
/** Keywords that take exactly one value: `set` replaces the old one. */
const SINGLE = new Set(['interface-mode', 'vlan-id', 'description', 'input', 'output', 'host-name', 'native-vlan-id', 'vlan', 'mtu']);
const TERMINATING = new Set(['accept', 'discard', 'reject']);
const IFACE_KEYS = new Set([
  'disable',
  'description',
  'unit',
  'native-vlan-id',
  'mtu',
  'ether-options',
  'gigether-options',
  'enable',
  'flexible-vlan-tagging',
  'vlan-tagging',
]);
const TOKEN = /^(?:"[^"]*"|[A-Za-z0-9._:/*+,=@-]+|\[|\])$/;
const STATUS_WIDTHS = [24, 6, 5, 9];

interface Commit {
  lines: string[];
  at: Date;
  user: string;
  how: string;
}

interface DeviceState {
  hostname: string;
  committed: string[];
  history: Commit[];
  timer: RevertTimer;
  minuteMs: number;
  ports: string[];
  vc: boolean;
}

export const junosSim: SimFactory = async (spec, creds, opts) => {
  const initial = seed(spec);
  const dev: DeviceState = {
    hostname: spec.hostname,
    committed: clone(initial),
    history: [{ lines: clone(initial), at: new Date(), user: 'root', how: 'cli' }],
    timer: new RevertTimer(),
    minuteMs: spec.minuteMs ?? 60_000,
    ports: spec.ports.map((p) => p.name),
    vc: (spec.tags ?? []).includes('virtual-chassis'),
  };
  const server = await startCliServer({ spec, creds, hostKey: opts.hostKey, logic: (user) => new JunosSession(dev, user) });
  const control = cliControl(server, {
    timer: dev.timer,
    snapshot: () => snapshot(dev),
    reset: () => {
      dev.committed = clone(initial);
      dev.history = [{ lines: clone(initial), at: new Date(), user: 'root', how: 'cli' }];
    },
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

/** The factory configuration: ports as the topology declares them, one VLAN per id in use. */
function seed(spec: Parameters<SimFactory>[0]): string[] {
  const out = ['version 21.4R3-S5.4', `system host-name ${spec.hostname}`, 'system services ssh'];
  const vlans = new Set<number>([999]);
  let net = 0;
  for (const p of portsFrom(spec, { mode: 'access', vlan: 1 }).values()) {
    if (!p.adminUp) out.push(`interfaces ${p.name} disable`);
    const es = `interfaces ${p.name} unit 0 family ethernet-switching`;
    if (p.mode === 'routed') out.push(`interfaces ${p.name} unit 0 family inet address 10.${++net}.0.1/24`);
    else if (p.mode === 'trunk') {
      out.push(`${es} interface-mode trunk`, `${es} vlan members all`);
      if (p.vlan !== null) out.push(`interfaces ${p.name} native-vlan-id ${p.vlan}`);
    } else {
      out.push(`${es} interface-mode access`);
      if (p.vlan !== null && p.vlan !== 1) out.push(`${es} vlan members ${vlanName(p.vlan)}`);
    }
    if (p.voiceVlan !== null) out.push(`switch-options voip interface ${p.name}.0 vlan ${vlanName(p.voiceVlan)}`);
    for (const v of [p.vlan, p.voiceVlan]) if (v !== null) vlans.add(v);
  }
  out.push('vlans default vlan-id 1');
  for (const v of [...vlans].filter((v) => v !== 1).sort((a, b) => a - b)) out.push(`vlans ${vlanName(v)} vlan-id ${v}`);
  return sortLines(out);
}

function vlanName(id: number): string {
  return id === 999 ? 'QUARANTINE' : `v${id}`;
}

/** One logged-in CLI session: its mode, paging and private candidate live here. */
class JunosSession implements CliLogic {
  readonly pagerPrompt = '---(more)---';
  private mode: 'op' | 'config' = 'op';
  private screenLength = 24;
  private cand: string[] = [];
  private greeted = false;

  constructor(
    private readonly dev: DeviceState,
    private readonly user: string,
  ) {}

  prompt(): string {
    const who = `${this.user}@${this.dev.hostname}`;
    const ctx = this.dev.vc ? '{master:0}' : '';
    let head = '';
    if (!this.greeted) {
      this.greeted = true;
      head = '--- JUNOS 21.4R3-S5.4 Kernel 64-bit  JNPR-12.1-20230321.be2d1d5_buil\n';
    }
    if (this.mode === 'op') return `${head}${ctx ? `\n${ctx}` : ''}\n${who}> `;
    const pending = this.dev.timer.armed ? `# commit confirmed will be rolled back in ${this.minutesLeft()} minutes\n` : '';
    return `\n${pending}${ctx}[edit]\n${who}# `;
  }

  paging(): boolean {
    return this.screenLength !== 0;
  }

  rejectText(line: string): string {
    return `${this.caret(line, 0)}\n${this.mode === 'op' ? 'unknown command.' : 'syntax error.'}`;
  }

  exec(command: string): string {
    return this.operational(command, undefined).replace(/\n?$/, '\n');
  }

  async handle(line: string, io: CliIo): Promise<void> {
    const out = this.mode === 'op' ? this.operational(line, io) : await this.configure(line, io);
    if (out) io.write(`${out.replace(/\n$/, '')}\n`);
  }

  private minutesLeft(): number {
    return Math.max(1, Math.ceil((this.dev.timer.firesAt - Date.now()) / this.dev.minuteMs));
  }

  /** A `^` under the offending word, counted from the prompt as the device echoes it. */
  private caret(line: string, word: number): string {
    const promptLen = `${this.user}@${this.dev.hostname}${this.mode === 'op' ? '>' : '#'} `.length;
    let col = 0;
    const m = [...line.matchAll(/\S+/g)][word];
    if (m?.index !== undefined) col = m.index;
    return `${' '.repeat(promptLen + col)}^`;
  }

  private operational(line: string, io: CliIo | undefined): string {
    const [cmd, ...pipes] = line.split('|').map((s) => s.trim());
    const w = (cmd ?? '').split(/\s+/).filter(Boolean);
    const displaySet = pipes.some((p) => /^display\s+set$/.test(p));
    const is = (...words: string[]) => words.every((x, i) => w[i] === x);
    if (is('set', 'cli', 'screen-length') && /^\d+$/.test(w[3] ?? '')) {
      this.screenLength = Number(w[3]);
      return `Screen length set to ${w[3]}`;
    }
    if (is('set', 'cli', 'screen-width') && /^\d+$/.test(w[3] ?? '')) return `Screen width set to ${w[3]}`;
    if (is('set', 'cli', 'complete-on-space', 'off')) return 'Disabling complete-on-space';
    if (is('show', 'configuration')) return showConfig(this.dev.committed, w.slice(2), displaySet);
    if (is('show', 'interfaces') && w.includes('terse')) return this.terse(w.slice(2).filter((x) => x !== 'terse')[0]);
    if (is('show', 'system', 'commit')) return this.commits();
    if (is('show', 'version')) return `Hostname: ${this.dev.hostname}\nModel: ex4300-48p\nJunos: 21.4R3-S5.4`;
    if (w[0] === 'configure' && io && (w.length === 1 || ['private', 'exclusive'].includes(w[1] ?? ''))) {
      this.mode = 'config';
      this.cand = clone(this.dev.committed);
      return `${w[1] === 'private' ? 'warning: uncommitted changes will be discarded on exit\n' : ''}Entering configuration mode`;
    }
    if ((is('exit') || is('quit') || is('logout')) && w.length === 1 && io) {
      io.close();
      return '';
    }
    return `${this.caret(line, 0)}\nunknown command.`;
  }

  private terse(name: string | undefined): string {
    const head = row(['Interface', 'Admin', 'Link', 'Proto', 'Local', 'Remote']);
    const phys = name?.replace(/\.\d+$/, '');
    if (name !== undefined && !this.dev.ports.includes(phys ?? '')) return `error: device ${name} not found`;
    const out = [head];
    for (const p of this.dev.ports.filter((x) => phys === undefined || x === phys)) {
      const up = !this.dev.committed.includes(`interfaces ${p} disable`);
      if (name === undefined || name === p) out.push(row([p, up ? 'up' : 'down', up ? 'up' : 'down']));
      const unit = this.dev.committed.filter((l) => l.startsWith(`interfaces ${p} unit 0 `));
      if (!unit.length || (name !== undefined && name !== p && name !== `${p}.0`)) continue;
      const addr = unit.map((l) => /family inet address (\S+)/.exec(l)?.[1]).find(Boolean);
      const proto = unit.some((l) => l.includes('family ethernet-switching')) ? 'eth-switch' : 'inet';
      out.push(row([`${p}.0`, 'up', up ? 'up' : 'down', proto, addr ?? '']));
    }
    return out.join('\n');
  }

  private commits(): string {
    return this.dev.history
      .map((c, i) => `${String(i).padEnd(4)}${c.at.toISOString().replace('T', ' ').slice(0, 19)} UTC by ${c.user} via ${c.how}`)
      .join('\n');
  }

  private async configure(line: string, io: CliIo): Promise<string> {
    const [cmd, ...pipes] = line.split('|').map((s) => s.trim());
    const t = tokenize(cmd ?? '');
    const bad = t.findIndex((x) => !TOKEN.test(x));
    const verb = t[0] ?? '';
    if (verb === 'run') return this.operational(line.replace(/^\s*run\s+/, ''), undefined);
    if (bad >= 0) return `${this.caret(cmd ?? '', bad)}\nsyntax error.`;
    if (verb === 'set' || verb === 'delete') {
      const err = checkStatement(t.slice(1));
      if (err !== undefined) return `${this.caret(cmd ?? '', err + 1)}\nsyntax error.`;
      let found = false;
      for (const s of expand(t.slice(1))) {
        if (verb === 'set') this.cand = setStatement(this.cand, s);
        else {
          const before = this.cand.length;
          this.cand = this.cand.filter((l) => l !== s && !l.startsWith(`${s} `));
          found ||= this.cand.length !== before;
        }
      }
      return verb === 'delete' && !found ? 'warning: statement not found' : '';
    }
    if (verb === 'insert') return this.insert(t);
    if (verb === 'commit') return this.commit(t, io);
    if (verb === 'rollback') {
      const n = Number(t[1] ?? '0');
      const c = this.dev.history[n];
      if (!Number.isInteger(n) || (n > 0 && !c)) return `error: Cannot open rollback file ${t[1]}`;
      this.cand = clone(n === 0 ? this.dev.committed : c!.lines);
      return 'load complete';
    }
    if (verb === 'show')
      return showConfig(
        this.cand,
        t.slice(1),
        pipes.some((p) => /^display\s+set$/.test(p)),
      );
    if (verb === 'top' || verb === 'up') return '';
    if (verb === 'exit' || verb === 'quit') {
      if (t.length > 1 && t[1] !== 'configuration-mode') return `${this.caret(cmd ?? '', 1)}\nsyntax error.`;
      if (sortLines(this.cand).join('\n') !== sortLines(this.dev.committed).join('\n')) {
        const a = (
          await io.ask('The configuration has been changed but not committed\nExit with uncommitted changes? [yes,no] (yes) ')
        ).trim();
        if (a !== '' && a !== 'yes') return '';
      }
      this.mode = 'op';
      this.cand = [];
      return 'Exiting configuration mode';
    }
    return `${this.caret(cmd ?? '', 0)}\nunknown command.`;
  }

  /** `insert <path> <value> before|after <other value>`: order matters in input-list and terms. */
  private insert(t: string[]): string {
    const k = t.length - 2;
    const where = t[k];
    if (k < 3 || (where !== 'before' && where !== 'after')) return 'missing argument.';
    const stmt = t.slice(1, k).join(' ');
    const ref = [...t.slice(1, k - 1), t[k + 1]].join(' ');
    const at = this.cand.indexOf(ref);
    if (at < 0) return `error: statement not found: ${ref}`;
    const rest = this.cand.filter((l) => l !== stmt);
    const i = rest.indexOf(ref) + (where === 'after' ? 1 : 0);
    this.cand = [...rest.slice(0, i), stmt, ...rest.slice(i)];
    return '';
  }

  private commit(t: string[], io: CliIo): string {
    const problem = commitCheck(this.cand);
    if (problem) return `${problem}\nerror: configuration check-out failed`;
    if (t[1] === 'check') return 'configuration check succeeds';
    const confirmed = t[1] === 'confirmed';
    const minutes = confirmed && /^\d+$/.test(t[2] ?? '') ? Number(t[2]) : 10;
    if (confirmed && (minutes < 1 || minutes > 65535)) return `error: Value ${minutes} is not within range (1..65535)`;
    const previous = clone(this.dev.committed);
    this.dev.committed = sortLines(clone(this.cand));
    const how = confirmed ? `cli commit confirmed, rollback in ${minutes}mins` : 'cli';
    this.dev.history.unshift({ lines: clone(this.dev.committed), at: new Date(), user: this.user, how });
    if (confirmed) {
      this.dev.timer.arm(minutes * this.dev.minuteMs, () => {
        this.dev.committed = previous;
        this.dev.history.unshift({ lines: clone(previous), at: new Date(), user: 'root', how: 'other' });
      });
      return `commit confirmed will be automatically rolled back in ${minutes} minutes unless confirmed\ncommit complete`;
    }
    // A plain commit confirms a pending `commit confirmed` (unless the test says it never arrives).
    if (this.dev.timer.armed && !io.fault('never-confirm')) this.dev.timer.confirm();
    return 'commit complete';
  }
}

function row(cols: string[]): string {
  return cols
    .map((c, i) => c.padEnd(STATUS_WIDTHS[i] ?? 22))
    .join('')
    .trimEnd();
}

/** Words of a command; double-quoted strings stay one word. */
function tokenize(line: string): string[] {
  return line.match(/"[^"]*"|\S+/g) ?? [];
}

/** `a b [ x y ]` is two statements: `a b x` and `a b y`. */
function expand(t: string[]): string[] {
  const open = t.indexOf('[');
  if (open < 0) return [t.join(' ')];
  const close = t.indexOf(']', open);
  const head = t.slice(0, open).join(' ');
  return t.slice(open + 1, close < 0 ? undefined : close).map((v) => `${head} ${v}`);
}

/** A light grammar: the word index (from 0) of the first word the device would refuse, if any. */
function checkStatement(t: string[]): number | undefined {
  if (!t.length) return 0;
  if (!TOP.includes(t[0]!)) return 0;
  if (t[0] === 'interfaces' && t.length > 1) {
    if (!/^(?:[a-z]{2,5}-\d+\/\d+\/\d+(?::\d+)?|ae\d+|irb|lo0|em\d|me\d|fxp\d|vme|reth\d+)$/.test(t[1]!)) return 1;
    if (t.length > 2 && !IFACE_KEYS.has(t[2]!)) return 2;
    if (t[2] === 'unit' && !/^\d+$/.test(t[3] ?? '')) return 3;
  }
  return undefined;
}

function setStatement(lines: string[], stmt: string): string[] {
  if (lines.includes(stmt)) return lines;
  const t = stmt.split(' ');
  const key = t[t.length - 2] ?? '';
  let out = lines;
  if (SINGLE.has(key)) {
    const prefix = `${t.slice(0, -1).join(' ')} `;
    out = out.filter((l) => !(l.startsWith(prefix) && l.split(' ').length === t.length));
  }
  if (key === 'then' && TERMINATING.has(t[t.length - 1]!)) {
    const prefix = t.slice(0, -1).join(' ');
    out = out.filter((l) => !(l.startsWith(`${prefix} `) && TERMINATING.has(l.slice(prefix.length + 1))));
  }
  // Keep a statement next to its siblings, as the device lists its hierarchy.
  const parent = t.slice(0, Math.min(t.length - 1, 3)).join(' ');
  let at = -1;
  out.forEach((l, i) => {
    if (l.startsWith(`${parent} `)) at = i;
  });
  return at < 0 ? [...out, stmt] : [...out.slice(0, at + 1), stmt, ...out.slice(at + 1)];
}

/** Hierarchy order as `show configuration | display set` prints it; order within stays. */
function sortLines(lines: string[]): string[] {
  const rank = (l: string) => {
    const i = TOP.indexOf(l.split(' ')[0]!);
    return i < 0 ? TOP.length : i;
  };
  return lines
    .map((l, i) => ({ l, i }))
    .sort((a, b) => rank(a.l) - rank(b.l) || a.i - b.i)
    .map((x) => x.l);
}

function showConfig(lines: string[], path: string[], _displaySet: boolean): string {
  const p = path.filter((x) => x !== '|').join(' ');
  // Both forms are printed in set form: the driver reads `| display set` only (see report).
  return sortLines(lines)
    .filter((l) => !p || l === p || l.startsWith(`${p} `))
    .map((l) => `set ${l}`)
    .join('\n');
}

/** What `commit` refuses, in the device's words (`[edit ...]` context, quoted statement, reason). */
function commitCheck(lines: string[]): string | undefined {
  const filters = new Set(
    lines
      .map((l) => /^firewall family (\S+) filter (\S+) /.exec(l))
      .filter(Boolean)
      .map((m) => `${m![1]} ${m![2]}`),
  );
  const vlans = new Set(lines.map((l) => /^vlans (\S+) /.exec(l)?.[1]).filter(Boolean));
  for (const l of lines) {
    const f = /^interfaces (\S+) unit (\d+) family (\S+) filter (input|output|input-list|output-list) (\S+)$/.exec(l);
    if (f && !filters.has(`${f[3]} ${f[5]}`)) {
      return `[edit interfaces ${f[1]} unit ${f[2]} family ${f[3]} filter]\n  '${f[4]} ${f[5]}'\n    Referenced filter '${f[5]}' is not defined`;
    }
    const single = /^(interfaces \S+ unit \d+ family \S+ filter) (input|output) /.exec(l);
    if (single && lines.some((x) => x.startsWith(`${single[1]} ${single[2]}-list `))) {
      // Unverified wording; the rule (one of input / input-list per direction) is the device's.
      return `[edit ${single[1]}]\n  '${single[2]}-list'\n    ${single[2]} and ${single[2]}-list are mutually exclusive`;
    }
    const es = /^interfaces (\S+) unit (\d+) family ethernet-switching /.exec(l);
    if (es && lines.some((x) => x.startsWith(`interfaces ${es[1]} unit ${es[2]} family inet`))) {
      return `[edit interfaces ${es[1]} unit ${es[2]}]\n  'family'\n    When ethernet-switching family is configured on an interface, no other family type can be configured on the same interface.`;
    }
    const m = /^(?:interfaces (\S+) unit \d+ family ethernet-switching vlan members|switch-options voip interface (\S+) vlan) (\S+)$/.exec(
      l,
    );
    if (m && m[3] !== 'all' && !/^\d+$/.test(m[3]!) && !vlans.has(m[3])) {
      return `[edit ${m[1] ? `interfaces ${m[1]} unit 0 family ethernet-switching vlan` : `switch-options voip interface ${m[2]}`}]\n  '${m[1] ? 'members' : 'vlan'} ${m[3]}'\n    Vlan ${m[3]} is not defined`;
    }
  }
  return undefined;
}

function snapshot(dev: DeviceState): SimSnapshot {
  const lines = dev.committed;
  const vlanIds = new Map<string, number>();
  for (const l of lines) {
    const m = /^vlans (\S+) vlan-id (\d+)$/.exec(l);
    if (m) vlanIds.set(m[1]!, Number(m[2]));
  }
  const id = (v: string | undefined) => (v === undefined ? null : /^\d+$/.test(v) ? Number(v) : (vlanIds.get(v) ?? null));
  const ports: Record<string, SimPort> = {};
  for (const p of dev.ports) {
    const es = `interfaces ${p} unit 0 family ethernet-switching `;
    const switching = lines.filter((l) => l.startsWith(es)).map((l) => l.slice(es.length));
    const mode = switching.length ? (switching.find((l) => l.startsWith('interface-mode '))?.slice(15) ?? 'access') : 'routed';
    const member = switching.find((l) => l.startsWith('vlan members '))?.slice(13);
    const native = lines.find((l) => l.startsWith(`interfaces ${p} native-vlan-id `))?.split(' ')[3];
    const voice = lines.find((l) => l.startsWith(`switch-options voip interface ${p}.0 vlan `))?.split(' ')[5];
    ports[p] = {
      adminUp: !lines.includes(`interfaces ${p} disable`),
      mode,
      vlan: mode === 'routed' ? null : mode === 'trunk' ? id(native) : member === undefined ? 1 : id(member),
      voiceVlan: id(voice),
    };
  }
  const rules = new Map<string, string[]>();
  for (const l of lines) {
    const m = /^firewall family (\S+) filter (\S+) term (\S+) /.exec(l);
    if (!m) continue;
    const key = `firewall family ${m[1]} filter ${m[2]} term ${m[3]}`;
    rules.set(key, [...(rules.get(key) ?? []), `set ${l}`]);
  }
  return {
    hostname: dev.hostname,
    ports,
    rules: [...rules].map(([k, v]) => ({ id: k, text: v.join('\n') })),
    config: sortLines(lines)
      .map((l) => `set ${l}`)
      .join('\n'),
  };
}
