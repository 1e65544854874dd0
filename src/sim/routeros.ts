import { isIP } from 'node:net';
import { type CliIo, type CliLogic, startCliServer } from './cli-server.js';
import { clone, cliControl, portsFrom } from './cli-model.js';
import type { SimFactory, SimPort, SimSnapshot } from './types.js';

/**
 * MikroTik RouterOS v7 over SSH. Prompts `[admin@host] > `, `[admin@host] /interface bridge> `;
 * commands are menu paths (`/interface disable ether5`, `/interface/bridge/port print`), items are
 * picked by name, by the number of the last `print`, or by `[find key=value]` (an empty find is a
 * silent no-op, as on the real box). Output shapes follow ntc-templates' recorded `print terse`
 * samples; errors are RouterOS's own words. The login name's `+flags` suffix (`admin+cte`) turns
 * colours off; without `c` the prompt and rows carry ANSI colour codes. `print` pages at the PTY
 * height with `-- [Q quit|D dump|down]` unless the command says `without-paging` (RouterOS has no
 * session-wide paging switch). No commit timer: Safe Mode is session-bound and needs Ctrl-X, which
 * the shared terminal does not pass on, so it is not simulated.
 */

type Fields = Record<string, string>;
type TableName = 'iface' | 'bport' | 'bvlan' | 'filter4' | 'filter6' | 'list4' | 'list6' | 'conn4';
interface DeviceState {
  identity: string;
  tables: Record<TableName, Fields[]>;
}

interface MenuDef {
  table: TableName;
  only?: (r: Fields) => boolean;
  /** Items can be named by this field (`disable ether5`). */
  named?: string;
  /** Settable keys (add/set); everything else is `expected end of command`. */
  keys: string[];
  ops: string[];
  flags: (r: Fields, s: DeviceState) => string;
  flagsHelp: string;
}

const words = (s: string) => s.split(' ');
const IFACE_KEYS = words('name comment disabled mtu');
const FW_KEYS = words(
  'chain action comment disabled src-address dst-address src-address-list dst-address-list in-interface out-interface ' +
    'in-interface-list out-interface-list protocol dst-port connection-state log log-prefix',
);
const LIST_KEYS = words('list address comment disabled timeout');
const ALL_OPS = words('print add remove set enable disable');
const ACTIONS = words('accept drop reject jump return passthrough log fasttrack-connection tarpit');
const FRAME_TYPES = ['admit-all', 'admit-only-untagged-and-priority-tagged', 'admit-only-vlan-tagged'];
const fwFlags = (r: Fields) => (r.disabled === 'yes' ? 'X' : ' ') + (r.dynamic === 'yes' ? 'D' : ' ');
const ifFlags = (r: Fields, s: DeviceState) =>
  ` ${r.disabled === 'yes' ? 'X' : 'R'}${s.tables.bport.some((p) => p.interface === r.name) ? 'S' : ' '}`;
const menu = (table: TableName, keys: string[], ops: string[], flagsHelp: string, more: Partial<MenuDef> = {}): MenuDef => ({
  table,
  keys,
  ops,
  flags: fwFlags,
  flagsHelp,
  ...more,
});
const IF_OPS = words('print set enable disable');
const FW_HELP = 'Flags: X - disabled, I - invalid; D - dynamic';

const MENUS: Record<string, MenuDef> = {
  interface: menu('iface', IFACE_KEYS, IF_OPS, 'Flags: D - DYNAMIC; X - DISABLED, R - RUNNING; S - SLAVE', {
    named: 'name',
    flags: ifFlags,
  }),
  'interface ethernet': menu('iface', IFACE_KEYS, IF_OPS, 'Flags: X - DISABLED, R - RUNNING; S - SLAVE', {
    named: 'name',
    flags: ifFlags,
    only: (r) => r.type === 'ether',
  }),
  'interface bridge': menu('iface', [...IFACE_KEYS, 'vlan-filtering'], words('print set'), 'Flags: X - DISABLED, R - RUNNING', {
    named: 'name',
    flags: (r) => (r.disabled === 'yes' ? 'X' : 'R'),
    only: (r) => r.type === 'bridge',
  }),
  'interface bridge port': menu(
    'bport',
    words('interface bridge pvid frame-types ingress-filtering comment disabled'),
    ALL_OPS,
    'Flags: I - INACTIVE; H - HW-OFFLOAD',
  ),
  'interface bridge vlan': menu(
    'bvlan',
    words('bridge vlan-ids tagged untagged comment disabled'),
    ALL_OPS,
    'Flags: X - DISABLED, D - DYNAMIC',
  ),
  'ip firewall filter': menu('filter4', FW_KEYS, ALL_OPS, FW_HELP),
  'ipv6 firewall filter': menu('filter6', FW_KEYS, ALL_OPS, FW_HELP),
  'ip firewall address-list': menu('list4', LIST_KEYS, ALL_OPS, 'Flags: X - disabled, D - dynamic'),
  'ipv6 firewall address-list': menu('list6', LIST_KEYS, ALL_OPS, 'Flags: X - disabled, D - dynamic'),
  'ip firewall connection': menu('conn4', [], words('print remove'), 'Flags: E - EXPECTED, S - SEEN-REPLY; A - ASSURED'),
};
/** Menus that only lead somewhere, and root-level commands of a few of them. */
const PLAIN_MENUS = new Set(['', 'interface bridge', 'ip', 'ip firewall', 'ipv6', 'ipv6 firewall', 'system', 'system identity']);
const ORDERED: TableName[] = ['filter4', 'filter6'];

/** The RouterOS-side error for a command: thrown, printed as is. */
class RosError extends Error {}
const at = (what: string, col: number) => new RosError(`${what} (line 1 column ${col})`);

interface Tok {
  t: string;
  col: number;
}

/** Splits a console line: quotes and `[ ... ]` stay inside one token. */
function tokenize(line: string): Tok[] {
  const out: Tok[] = [];
  let i = 0;
  while (i < line.length) {
    if (/\s/.test(line[i]!)) {
      i++;
      continue;
    }
    const start = i;
    let depth = 0;
    let quoted = false;
    for (; i < line.length; i++) {
      const c = line[i]!;
      if (quoted) {
        if (c === '\\') i++;
        else if (c === '"') quoted = false;
      } else if (c === '"') quoted = true;
      else if (c === '[') depth++;
      else if (c === ']') depth--;
      else if (depth === 0 && /\s/.test(c)) break;
    }
    if (quoted || depth !== 0) throw at('syntax error', start + 1);
    out.push({ t: line.slice(start, i), col: start + 1 });
  }
  return out;
}

const unquote = (v: string) => (v.startsWith('"') && v.endsWith('"') && v.length >= 2 ? v.slice(1, -1).replace(/\\(.)/g, '$1') : v);
const quoteIf = (v: string) => (/^[A-Za-z0-9._:/,!*+-]*$/.test(v) && v !== '' ? v : `"${v.replace(/["\\]/g, '\\$&')}"`);

/** `key=value` conditions of `where` / `find` (`=`, `!=`, `~`), all of which must hold. */
function matcher(toks: Tok[]): (r: Fields) => boolean {
  const conds = toks
    .filter((t) => t.t !== 'where' && t.t !== 'and')
    .map((t) => {
      const m = /^([a-z][a-z0-9.-]*)(!=|=|~)(.*)$/.exec(t.t);
      if (!m) throw at('expected end of command', t.col);
      return { key: m[1]!, op: m[2]!, value: unquote(m[3]!) };
    });
  return (r) =>
    conds.every((c) => {
      const v = r[c.key] ?? '';
      if (c.op === '~') return new RegExp(c.value).test(v);
      return (v === c.value) === (c.op === '=');
    });
}

/** One logged-in console: its menu, the numbering of its last print per menu, its colours. */
class Console implements CliLogic {
  readonly pagerPrompt = '-- [Q quit|D dump|down]';
  private menu: string[] = [];
  private numbering = new Map<string, Fields[]>();
  private noPaging = false;
  private readonly colours: boolean;
  private readonly tallScreen: boolean;
  readonly user: string;

  constructor(
    private readonly dev: { state: DeviceState },
    login: string,
  ) {
    const [name = login, opts = ''] = login.split('+', 2);
    this.user = name;
    this.colours = !/(^|[^0-9])c/.test(opts);
    const h = /(\d+)h/.exec(opts);
    this.tallScreen = h !== null && Number(h[1]) > 100;
  }

  prompt(): string {
    const where = this.menu.length ? `/${this.menu.join(' ')}` : '';
    const who = `${this.user}@${this.dev.state.identity}`;
    return this.colours ? `[\x1b[1;36m${who}\x1b[m] \x1b[1m${where}>\x1b[m ` : `[${who}] ${where}> `;
  }

  paging(): boolean {
    return !this.noPaging && !this.tallScreen;
  }

  rejectText(line: string): string {
    return `syntax error (line 1 column ${Math.max(1, line.length)})`;
  }

  exec(command: string): string {
    let out = '';
    try {
      void this.run(command, { write: (t) => (out += t), ask: async () => 'n', close: () => undefined, fault: () => false });
    } catch (err) {
      if (!(err instanceof RosError)) throw err;
      out += `${err.message}\n`;
    }
    return out;
  }

  async handle(line: string, io: CliIo): Promise<void> {
    this.noPaging = false;
    try {
      await this.run(line, io);
    } catch (err) {
      if (!(err instanceof RosError)) throw err;
      io.write(`${err.message}\n`);
    }
  }

  /** Synchronous except for a command that asks a question (so exec gets its output at once). */
  private run(line: string, io: CliIo): Promise<void> | undefined {
    const toks = tokenize(line);
    let path = [...this.menu];
    let i = 0;
    if (toks[0]?.t.startsWith('/')) {
      path = [];
      const parts = toks[0].t.split('/').filter(Boolean);
      i = 1;
      // `/interface/bridge/port print`: the last part may be the command itself.
      for (const [n, part] of parts.entries()) {
        if (isMenu([...path, part])) path.push(part);
        else if (n === parts.length - 1) toks.splice(1, 0, { t: part, col: toks[0].col + toks[0].t.lastIndexOf(part) });
        else throw at(`bad command name ${part}`, toks[0].col + toks[0].t.indexOf(part));
      }
    }
    for (; i < toks.length; i++) {
      const t = toks[i]!.t;
      if (t === '..') path.pop();
      else if (isMenu([...path, t])) path.push(t);
      else break;
    }
    const cmd = toks[i];
    if (!cmd) {
      this.menu = path;
      return;
    }
    const key = path.join(' ');
    const args = toks.slice(i + 1);
    if (key === '' && cmd.t === 'quit') {
      io.close();
      return;
    }
    if (key === '' && cmd.t === 'export') {
      this.out(io, exportConfig(this.dev.state), args, true);
      return;
    }
    if (key === 'system identity' && cmd.t === 'print') {
      io.write(`  name: ${this.dev.state.identity}\n`);
      return;
    }
    if (key === 'system' && cmd.t === 'reboot') {
      return io.ask('Reboot, yes? [y/N]: ', { char: true }).then((a) => {
        io.write(/^y/i.test(a) ? 'system will reboot shortly\n' : '\naction cancelled\n');
        if (/^y/i.test(a)) io.close();
      });
    }
    const def = MENUS[key];
    if (!def?.ops.includes(cmd.t)) throw at(`bad command name ${cmd.t}`, cmd.col);
    const rows = this.dev.state.tables[def.table];
    const view = () => rows.filter((r) => !def.only || def.only(r));
    if (cmd.t === 'print') {
      this.print(io, key, def, view(), args);
      return;
    }
    const named = args.filter((a) => !a.t.includes('=') || a.t.startsWith('['));
    const kv = args.filter((a) => a.t.includes('=') && !a.t.startsWith('['));
    const values = new Map<string, string>();
    for (const a of kv) {
      const k = a.t.slice(0, a.t.indexOf('='));
      if (!def.keys.includes(k) && !(cmd.t === 'add' && k === 'place-before' && ORDERED.includes(def.table)))
        throw at('expected end of command', a.col);
      values.set(k, unquote(a.t.slice(a.t.indexOf('=') + 1)));
    }
    if (cmd.t === 'add') {
      if (named.length) throw at('expected end of command', named[0]!.col);
      this.add(def, rows, values, key);
      return;
    }
    if (cmd.t !== 'remove' && cmd.t !== 'enable' && cmd.t !== 'disable' && cmd.t !== 'set') throw at(`bad command name ${cmd.t}`, cmd.col);
    if (!named.length) throw new RosError('expected item number');
    const items = named.flatMap((a) => this.items(def, key, view(), a));
    if (cmd.t === 'remove') {
      for (const r of items) rows.splice(rows.indexOf(r), 1);
    } else {
      if (cmd.t !== 'set' && values.size) throw at('expected end of command', kv[0]!.col);
      if (cmd.t !== 'set') values.set('disabled', cmd.t === 'disable' ? 'yes' : 'no');
      for (const [k, v] of values) this.check(def, k, v);
      for (const r of items) for (const [k, v] of values) r[k] = v;
    }
  }

  /** Items an argument names: `[find ...]`, numbers of the last print, or names. */
  private items(def: MenuDef, key: string, view: Fields[], a: Tok): Fields[] {
    const t = a.t.trim();
    const find = /^\[\s*find\b(.*)\]$/.exec(t);
    if (find) return view.filter(matcher(tokenize(find[1]!)));
    return t.split(',').map((one) => {
      if (/^\d+$/.test(one)) {
        const r = (this.numbering.get(key) ?? view)[Number(one)];
        if (!r || !view.includes(r)) throw new RosError('no such item');
        return r;
      }
      const r = def.named ? view.find((x) => x[def.named!] === unquote(one)) : undefined;
      if (!r) throw new RosError('no such item');
      return r;
    });
  }

  private check(def: MenuDef, k: string, v: string): void {
    const ifaces = this.dev.state.tables.iface.map((r) => r.name);
    if (['interface', 'bridge', 'in-interface', 'out-interface'].includes(k) && !ifaces.includes(v.replace(/^!/, ''))) {
      throw new RosError('input does not match any value of interface');
    }
    if ((k === 'tagged' || k === 'untagged') && v !== '' && v.split(',').some((x) => !ifaces.includes(x))) {
      throw new RosError('input does not match any value of interface');
    }
    if (k === 'pvid' && !(/^\d+$/.test(v) && Number(v) >= 1 && Number(v) <= 4094))
      throw new RosError('value of pvid out of range (1..4094)');
    if (k === 'frame-types' && !FRAME_TYPES.includes(v)) throw new RosError('input does not match any value of frame-types');
    if (k === 'action' && !ACTIONS.includes(v)) throw new RosError('input does not match any value of action');
    if (k === 'disabled' && v !== 'yes' && v !== 'no') throw new RosError('input does not match any value of disabled');
    if (k === 'address') {
      const [ip = '', len] = v.split('/');
      const fam = isIP(ip);
      const want = def.table === 'list6' ? 6 : 4;
      if (fam !== want || (len !== undefined && !(/^\d+$/.test(len) && Number(len) <= (want === 4 ? 32 : 128)))) {
        throw new RosError('invalid value for argument address');
      }
    }
  }

  private add(def: MenuDef, rows: Fields[], values: Map<string, string>, key: string): void {
    const place = values.get('place-before');
    values.delete('place-before');
    for (const [k, v] of values) this.check(def, k, v);
    if (def.table.startsWith('filter') && !values.has('chain')) throw new RosError('failure: chain not specified');
    if (def.table.startsWith('list')) {
      if (!values.has('list') || !values.has('address')) throw new RosError('failure: list and address must be specified');
      if (rows.some((r) => r.list === values.get('list') && r.address === values.get('address')))
        throw new RosError('failure: already have such entry');
    }
    if (def.table === 'bport' && rows.some((r) => r.interface === values.get('interface')))
      throw new RosError('failure: device already added as bridge port');
    const row: Fields = { disabled: 'no', ...(def.table.startsWith('filter') ? { action: 'accept' } : {}) };
    if (def.table === 'bport') Object.assign(row, { pvid: '1', 'frame-types': 'admit-all', 'ingress-filtering': 'yes' });
    for (const [k, v] of values) row[k] = v;
    if (place === undefined) rows.push(row);
    else {
      const target = this.items(def, key, rows, { t: place, col: 1 })[0]!;
      rows.splice(rows.indexOf(target), 0, row);
    }
  }

  private print(io: CliIo, key: string, def: MenuDef, view: Fields[], args: Tok[]): void {
    const w = args.findIndex((a) => a.t === 'where');
    const opts = w < 0 ? args : args.slice(0, w);
    for (const o of opts)
      if (!['terse', 'detail', 'without-paging', 'brief', 'count-only'].includes(o.t)) throw at('expected end of command', o.col);
    const has = (o: string) => opts.some((a) => a.t === o);
    const rows = w < 0 ? view : view.filter(matcher(args.slice(w + 1)));
    // Later `set 3` / `place-before=0` refer to the numbers this print showed.
    this.numbering.set(key, rows);
    if (has('count-only')) {
      io.write(`${rows.length}\n`);
      return;
    }
    const lines: string[] = has('terse') ? [] : [def.flagsHelp];
    rows.forEach((r, n) => {
      const flags = def.flags(r, this.dev.state);
      const fields = Object.entries(r).filter(([k]) => k !== 'disabled' && k !== 'dynamic' && k !== 'comment');
      let text: string;
      if (has('terse'))
        text = `${String(n).padStart(2)} ${flags} ${r.comment !== undefined ? `comment=${r.comment} ` : ''}${fields.map(([k, v]) => `${k}=${v}`).join(' ')}`;
      else {
        const body = fields.map(([k, v]) => `${k}=${/^\d+$/.test(v) ? v : `"${v}"`}`).join(' ');
        text = `${String(n).padStart(2)} ${flags} ${r.comment !== undefined ? `;;; ${r.comment}\n${' '.repeat(flags.length + 4)}` : ''}${body}`;
      }
      lines.push(this.colours && r.disabled === 'yes' ? `\x1b[2m${text}\x1b[m` : text);
    });
    this.out(io, `${lines.join('\n')}${lines.length ? '\n' : ''}`, opts, false);
  }

  private out(io: CliIo, text: string, opts: Tok[], isExport: boolean): void {
    const bad = opts.find((o) => !['terse', 'verbose', 'compact', 'hide-sensitive', 'show-sensitive'].includes(o.t));
    if (isExport && bad) throw at('expected end of command', bad.col);
    this.noPaging = opts.some((a) => a.t === 'without-paging');
    io.write(text);
  }
}

function isMenu(path: string[]): boolean {
  const k = path.join(' ');
  return k !== '' && (k in MENUS || PLAIN_MENUS.has(k));
}

/** One item as `/export` writes it: keys sorted, defaults left out, values quoted where needed. */
function exportLine(r: Fields, skip: string[] = []): string {
  return Object.entries(r)
    .filter(([k, v]) => !skip.includes(k) && !(k === 'disabled' && v === 'no'))
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k}=${quoteIf(v)}`)
    .join(' ');
}

/** `/export` in RouterOS's shape: a header, then one section per menu with its `add`/`set` lines. */
function exportConfig(s: DeviceState): string {
  const out = ['# by RouterOS 7.15.3', '# software id = FBSM-0001', '#'];
  const line = exportLine;
  const bridges = s.tables.iface.filter((r) => r.type === 'bridge');
  if (bridges.length)
    out.push('/interface bridge', ...bridges.map((r) => `add ${line(r, ['type', 'mtu', 'mac-address', 'default-name'])}`));
  const off = s.tables.iface.filter((r) => r.type === 'ether' && r.disabled === 'yes');
  if (off.length) out.push('/interface ethernet', ...off.map((r) => `set [ find default-name=${r['default-name']} ] disabled=yes`));
  for (const [menu, table] of [
    ['interface bridge port', 'bport'],
    ['interface bridge vlan', 'bvlan'],
    ['ip firewall address-list', 'list4'],
    ['ipv6 firewall address-list', 'list6'],
    ['ip firewall filter', 'filter4'],
    ['ipv6 firewall filter', 'filter6'],
  ] as const) {
    const rows = s.tables[table];
    if (rows.length) out.push(`/${menu}`, ...rows.map((r) => `add ${line(r)}`));
  }
  out.push('/system identity', `set name=${quoteIf(s.identity)}`);
  return `${out.join('\n')}\n`;
}

/** Spec port `mode` words (access/trunk/hybrid, or a frame-types value) -> RouterOS frame-types. */
function frameTypes(mode: string, voice: number | null): string {
  if (FRAME_TYPES.includes(mode)) return mode;
  if (mode === 'trunk') return 'admit-only-vlan-tagged';
  return mode === 'access' && voice === null ? 'admit-only-untagged-and-priority-tagged' : 'admit-all';
}

function initialState(spec: Parameters<SimFactory>[0]): DeviceState {
  const ports = portsFrom(spec, { mode: 'access', vlan: 1 });
  const switched = (name: string) => {
    const p = spec.ports.find((x) => x.name === name)!;
    return (
      p.mode !== undefined ||
      p.vlan !== undefined ||
      p.voiceVlan !== undefined ||
      (p.roles ?? []).some((r) => r === 'access' || r === 'trunk')
    );
  };
  const s: DeviceState = {
    identity: spec.hostname,
    tables: { iface: [], bport: [], bvlan: [], filter4: [], filter6: [], list4: [], list6: [], conn4: [] },
  };
  let mac = 0x10;
  const macOf = () => `4C:5E:0C:00:00:${(mac++).toString(16).toUpperCase().padStart(2, '0')}`;
  for (const p of ports.values()) {
    s.tables.iface.push({
      name: p.name,
      'default-name': p.name,
      type: 'ether',
      mtu: '1500',
      'mac-address': macOf(),
      disabled: p.adminUp ? 'no' : 'yes',
    });
  }
  const members = [...ports.values()].filter((p) => switched(p.name));
  if (members.length) {
    s.tables.iface.push({ name: 'bridge1', type: 'bridge', mtu: 'auto', 'mac-address': macOf(), 'vlan-filtering': 'yes', disabled: 'no' });
    const tagged = new Map<number, string[]>();
    for (const p of members) {
      const ft = frameTypes(p.mode, p.voiceVlan);
      s.tables.bport.push({
        interface: p.name,
        bridge: 'bridge1',
        pvid: String(p.vlan ?? 1),
        'frame-types': ft,
        'ingress-filtering': 'yes',
        disabled: 'no',
      });
      if (p.voiceVlan !== null) tagged.set(p.voiceVlan, [...(tagged.get(p.voiceVlan) ?? []), p.name]);
    }
    for (const [vlan, names] of tagged)
      s.tables.bvlan.push({
        bridge: 'bridge1',
        'vlan-ids': String(vlan),
        tagged: ['bridge1', ...names].join(','),
        untagged: '',
        disabled: 'no',
      });
  }
  // The operator's own rules (RouterOS defconf): they must survive everything Firebreak does.
  s.tables.filter4.push(
    {
      chain: 'forward',
      action: 'accept',
      'connection-state': 'established,related',
      comment: 'defconf: accept established,related',
      disabled: 'no',
    },
    { chain: 'forward', action: 'drop', 'connection-state': 'invalid', comment: 'defconf: drop invalid', disabled: 'no' },
  );
  s.tables.list4.push({ list: 'mgmt', address: '10.250.0.0/24', comment: 'operator: management', disabled: 'no' });
  return s;
}

/** What a test sees: ports as the switch config says, rules with their comments, the export. */
function snapshotOf(s: DeviceState, portNames: string[]): SimSnapshot {
  const ports: Record<string, SimPort> = {};
  for (const name of portNames) {
    const i = s.tables.iface.find((r) => r.name === name);
    const b = s.tables.bport.find((r) => r.interface === name);
    const tagged = s.tables.bvlan.filter((v) => v.tagged?.split(',').includes(name)).map((v) => Number(v['vlan-ids']));
    ports[name] = {
      adminUp: i?.disabled !== 'yes',
      ...(b
        ? {
            mode: b['frame-types'],
            vlan: Number(b.pvid),
            voiceVlan: b['frame-types'] === 'admit-all' && tagged.length === 1 ? tagged[0]! : null,
          }
        : {}),
    };
  }
  const rules: SimSnapshot['rules'] = [];
  for (const [menu, table] of [
    ['ip firewall filter', 'filter4'],
    ['ipv6 firewall filter', 'filter6'],
    ['ip firewall address-list', 'list4'],
    ['ipv6 firewall address-list', 'list6'],
  ] as const) {
    s.tables[table].forEach((r, n) => {
      rules.push({ id: r.comment ?? `/${menu} #${n}`, text: `/${menu} add ${exportLine(r)}` });
    });
  }
  return { hostname: s.identity, ports, rules, config: exportConfig(s) };
}

export const routerosSim: SimFactory = async (spec, creds, opts) => {
  const initial = initialState(spec);
  const dev = { state: clone(initial) };
  const server = await startCliServer({
    spec,
    creds,
    ...(opts.hostKey ? { hostKey: opts.hostKey } : {}),
    logic: (user) => new Console(dev, user),
    account: (login) => login.split('+', 1)[0] ?? login,
  });
  const portNames = spec.ports.map((p) => p.name);
  return {
    spec,
    hostKey: server.hostKey,
    control: cliControl(server, {
      snapshot: () => snapshotOf(dev.state, portNames),
      reset: () => {
        dev.state = clone(initial);
      },
    }),
    stop: () => server.stop(),
  };
};
