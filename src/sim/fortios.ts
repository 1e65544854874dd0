import { randomUUID } from 'node:crypto';
import { type CliIo, type CliLogic, startCliServer } from './cli-server.js';
import { RevertTimer, clone, cliControl } from './cli-model.js';
import type { SimFactory, SimSnapshot } from './types.js';

/**
 * A simulated FortiGate (FortiOS 7.x CLI). Shapes follow recorded sessions: the prompt
 * `host # ` / `host (policy) # ` / `host (0) # `, `new entry '0' added` on `edit 0` with the id
 * already shown by `show` inside the entry, `config ... / edit "x" / set ... / next / end` show
 * output indented by 4, defaults left out of `show` (deny is the default policy action, `up` the
 * default status) but printed by `show full-configuration`, the `--More-- ` pager until
 * `config system console / set output standard`, and the errors `command parse error before 'x'`
 * + `Command fail. Return code -61`, `entry not found in datasource` + `value parse error before`.
 * Auto-revert: `set cfg-save revert` keeps changes runtime-only until `execute cfg save`; after
 * `cfg-revert-timeout` seconds of idle time the saved config comes back (the CLI reference: "reverted
 * automatically if the administrative session is idle for more than" the timeout; the real unit
 * reboots to do it, unverified here: the running config is restored in place and sessions stay).
 */

type Fields = Record<string, string[]>;
interface Entry {
  key: string;
  fields: Fields;
}
interface Cfg {
  tables: Record<string, Entry[]>;
  objects: Record<string, Fields>;
}

const TABLES = ['system interface', 'firewall address', 'firewall policy'] as const;
const OBJECTS = ['system global', 'system console'] as const;
/** Fields each node accepts (anything else is a parse error) in the order `show` prints them. */
const SCHEMA: Record<string, string[]> = {
  'system interface': ['vdom', 'ip', 'allowaccess', 'status', 'type', 'alias', 'description', 'role', 'snmp-index', 'interface', 'vlanid'],
  'firewall address': ['uuid', 'type', 'subnet', 'comment', 'color'],
  'firewall policy': [
    'name',
    'uuid',
    'srcintf',
    'dstintf',
    'srcaddr',
    'dstaddr',
    'srcaddr-negate',
    'dstaddr-negate',
    'action',
    'status',
    'schedule',
    'service',
    'logtraffic',
    'nat',
    'comments',
  ],
  'system global': ['hostname', 'admintimeout', 'cfg-save', 'cfg-revert-timeout', 'timezone'],
  'system console': ['output', 'baudrate'],
};
/** Values `show` leaves out and `show full-configuration` prints. */
const DEFAULTS: Record<string, Fields> = {
  'system interface': { status: ['up'] },
  'firewall address': { type: ['ipmask'] },
  'firewall policy': { action: ['deny'], status: ['enable'], 'srcaddr-negate': ['disable'], 'dstaddr-negate': ['disable'] },
  'system global': { 'cfg-save': ['automatic'], 'cfg-revert-timeout': ['600'] },
  'system console': { output: ['more'] },
};
const QUOTED = new Set([
  'vdom',
  'alias',
  'description',
  'name',
  'srcintf',
  'dstintf',
  'srcaddr',
  'dstaddr',
  'schedule',
  'service',
  'comments',
  'comment',
  'hostname',
  'interface',
]);
const ENUMS: Record<string, string[]> = {
  status: ['up', 'down', 'enable', 'disable'],
  action: ['accept', 'deny', 'ipsec'],
  'cfg-save': ['automatic', 'manual', 'revert'],
  output: ['standard', 'more'],
  'srcaddr-negate': ['enable', 'disable'],
  'dstaddr-negate': ['enable', 'disable'],
  nat: ['enable', 'disable'],
};
/** Fields that name other entries: a wrong name is `entry not found in datasource`. */
const REFS = new Set(['srcintf', 'dstintf', 'srcaddr', 'dstaddr', 'service', 'schedule']);
const SERVICES = new Set(['ALL', 'HTTP', 'HTTPS', 'DNS', 'SSH', 'PING', 'NTP']);
const PARSE_FAIL = (tok: string) => `command parse error before '${tok}'\nCommand fail. Return code -61\n`;
const NOT_FOUND = (tok: string) => `entry not found in datasource\n\nvalue parse error before '${tok}'\nCommand fail. Return code -3\n`;

export const fortiosSim: SimFactory = async (spec, creds, opts) => {
  const initial: Cfg = {
    tables: {
      'system interface': spec.ports.map((p, i) => ({
        key: p.name,
        fields: { vdom: ['root'], ...(p.adminUp === false ? { status: ['down'] } : {}), type: ['physical'], 'snmp-index': [String(i + 1)] },
      })),
      'firewall address': [{ key: 'all', fields: { uuid: [randomUUID()] } }],
      // The operator's own rule: the LAN out through the first port, NATed.
      'firewall policy':
        spec.ports.length >= 2
          ? [{ key: '1', fields: policyFields('lan-out', spec.ports[1]!.name, spec.ports[0]!.name, 'accept', 'operator: LAN to internet') }]
          : [],
    },
    objects: { 'system global': { hostname: [spec.hostname] }, 'system console': {} },
  };
  const dev = { running: clone(initial), saved: clone(initial) };
  const timer = new RevertTimer();
  const minuteMs = spec.minuteMs ?? 60_000;
  const get = (c: Cfg, node: string, f: string) => c.objects[node]?.[f]?.[0] ?? DEFAULTS[node]?.[f]?.[0] ?? '';
  const hostname = () => get(dev.running, 'system global', 'hostname') || spec.hostname;

  const revertMs = () => (Number(get(dev.running, 'system global', 'cfg-revert-timeout')) / 60) * minuteMs;
  const revert = () => {
    dev.running = clone(dev.saved);
  };
  /**
   * A change reached the running config. In automatic mode it is saved at once (so is the switch
   * into revert mode, and the switch back, which also disarms, unless the `never-confirm` fault
   * loses it); in revert mode it stays runtime-only and the first such change starts the timer.
   */
  const committed = (before: string, confirmLost = false) => {
    if (JSON.stringify(dev.running) === before) return;
    const was = get(JSON.parse(before) as Cfg, 'system global', 'cfg-save');
    const now = get(dev.running, 'system global', 'cfg-save');
    if (confirmLost && was === 'revert' && timer.armed) return;
    if (now === 'automatic' || was !== 'revert') {
      dev.saved = clone(dev.running);
      timer.cancel();
    } else if (now === 'revert' && !timer.armed) timer.arm(revertMs(), revert);
  };

  const server = await startCliServer({
    spec,
    creds,
    hostKey: opts.hostKey,
    logic: () => session(),
  });

  function session(): CliLogic {
    /** Where the session is: top, a table (with the entry being edited), or a single object. */
    let node: string | undefined;
    let entry: { e: Entry; label: string; isNew: boolean } | undefined;
    let draft: Fields | undefined;
    const leave = () => {
      node = undefined;
      entry = undefined;
      draft = undefined;
    };
    const table = () => dev.running.tables[node!]!;

    /** Commits the entry being edited (`next`); an error leaves the session where it was. */
    const commitEntry = (io: CliIo): boolean => {
      if (!entry || !node) return true;
      const missing =
        node === 'system interface' && entry.isNew && !entry.e.fields['interface']
          ? 'interface'
          : node === 'firewall policy'
            ? ['srcintf', 'dstintf', 'srcaddr', 'dstaddr'].find((f) => !entry!.e.fields[f])
            : undefined;
      if (missing) {
        io.write(`node_check_object fail! for ${missing}\nAttribute '${missing}' MUST be set.\nCommand fail. Return code -56\n`);
        return false;
      }
      const before = JSON.stringify(dev.running);
      const list = table();
      const i = list.findIndex((x) => x.key === entry!.e.key);
      if (i >= 0) list[i] = entry.e;
      else list.push(entry.e);
      committed(before);
      entry = undefined;
      return true;
    };

    const setField = (io: CliIo, fields: Fields, args: string[]) => {
      const [field, ...values] = args;
      if (!field || !SCHEMA[node!]!.includes(field)) return io.write(PARSE_FAIL(field ?? 'set'));
      if (!values.length) return io.write(PARSE_FAIL(field));
      const allowed = ENUMS[field];
      const bad = values.find((v) => (allowed && !allowed.includes(v)) || !validRef(field, v));
      if (bad !== undefined)
        return io.write(REFS.has(field) ? NOT_FOUND(bad) : `value parse error before '${bad}'\nCommand fail. Return code -651\n`);
      fields[field] = field === 'subnet' ? [...toMask(values)] : values;
    };
    const validRef = (field: string, v: string): boolean => {
      const names = (t: string) => dev.running.tables[t]!.map((e) => e.key);
      if (field === 'srcintf' || field === 'dstintf') return v === 'any' || names('system interface').includes(v);
      if (field === 'srcaddr' || field === 'dstaddr') return v === 'none' || names('firewall address').includes(v);
      if (field === 'service') return SERVICES.has(v);
      if (field === 'schedule') return v === 'always';
      if (field === 'subnet') return /^[\d.]+(\/\d+)?$/.test(v);
      if (field === 'cfg-revert-timeout') return /^\d+$/.test(v) && Number(v) >= 10;
      return true;
    };

    const top = async (io: CliIo, words: string[]) => {
      const [verb, ...rest] = words;
      if (verb === 'config') {
        const path = rest.join(' ');
        if ((TABLES as readonly string[]).includes(path)) node = path;
        else if ((OBJECTS as readonly string[]).includes(path)) {
          node = path;
          draft = clone(dev.running.objects[path] ?? {});
        } else io.write(PARSE_FAIL(rest[rest.length - 1] ?? 'config'));
      } else if (verb === 'show') io.write(show(dev.running, rest));
      else if (verb === 'get' && rest.join(' ') === 'system status')
        io.write(
          `Version: FortiGate-VM64 v7.4.3,build2573,240201 (GA.F)\nHostname: ${hostname()}\nVirtual domain configuration: disable\nCurrent HA mode: standalone\n`,
        );
      else if (verb === 'get' && rest.join(' ') === 'system console')
        io.write(`output              : ${get(dev.running, 'system console', 'output')}\n`);
      else if (verb === 'execute' && rest.join(' ') === 'cfg save') {
        if (get(dev.running, 'system global', 'cfg-save') === 'automatic' || !timer.armed) return io.write('no config to be saved.\n');
        // never-confirm: the save is lost, so the timer still fires.
        if (!io.fault('never-confirm')) {
          dev.saved = clone(dev.running);
          timer.confirm();
        }
        io.write('config saved.\n');
      } else if (verb === 'execute' && rest.join(' ') === 'reboot') {
        // One keypress answers, as on the real unit; nothing reboots here.
        const answer = await io.ask('This operation will reboot the system !\nDo you want to continue? (y/n)', { char: true });
        io.write('\n');
        if (answer === 'y') {
          io.write('System is rebooting...\n');
          io.close();
        }
      } else if (verb === 'exit') io.close();
      else io.write(verb === 'get' || verb === 'execute' ? `Unknown action 0\nCommand fail. Return code -1\n` : PARSE_FAIL(verb ?? ''));
    };

    const inTable = (io: CliIo, words: string[]) => {
      const [verb, a, b, c] = words;
      const list = table();
      if (verb === 'edit' && a !== undefined) {
        const isPolicy = node === 'firewall policy';
        if (isPolicy && !/^\d+$/.test(a)) return io.write(`value parse error before '${a}'\nCommand fail. Return code -651\n`);
        const found = list.find((x) => x.key === a && a !== '0');
        const key = found ? a : isPolicy && a === '0' ? String(Math.max(0, ...list.map((x) => Number(x.key))) + 1) : a;
        if (!found) io.write(`new entry '${a}' added\n`);
        const fields: Fields = found ? clone(found.fields) : node === 'system interface' ? { vdom: ['root'] } : { uuid: [randomUUID()] };
        entry = { e: { key, fields }, label: a, isNew: !found };
      } else if (verb === 'delete' && a !== undefined) {
        const i = list.findIndex((x) => x.key === a);
        if (i < 0) return io.write(`entry not found in datasource\nCommand fail. Return code -3\n`);
        const used =
          node === 'firewall address'
            ? dev.running.tables['firewall policy']!.filter((p) => ['srcaddr', 'dstaddr'].some((f) => p.fields[f]?.includes(a))).length
            : 0;
        if (used) return io.write(`The entry is used by other ${used} entries\nCommand fail. Return code -23\n`);
        const before = JSON.stringify(dev.running);
        list.splice(i, 1);
        committed(before);
      } else if (verb === 'move' && node === 'firewall policy' && (b === 'before' || b === 'after') && c !== undefined) {
        const from = list.findIndex((x) => x.key === a);
        const to = list.find((x) => x.key === c);
        if (from < 0 || !to) return io.write(`entry not found in datasource\nCommand fail. Return code -3\n`);
        const before = JSON.stringify(dev.running);
        const [moved] = list.splice(from, 1);
        list.splice(list.indexOf(to) + (b === 'after' ? 1 : 0), 0, moved!);
        committed(before);
      } else if (verb === 'show') io.write(show(dev.running, [...node!.split(' '), ...(a ? [a] : [])]));
      else if (verb === 'end' || verb === 'abort') leave();
      else io.write(PARSE_FAIL(verb ?? ''));
    };

    const inFields = (io: CliIo, words: string[]) => {
      const [verb, ...args] = words;
      const fields = entry ? entry.e.fields : draft!;
      if (verb === 'set') setField(io, fields, args);
      else if (verb === 'unset' && args[0] && SCHEMA[node!]!.includes(args[0])) delete fields[args[0]];
      else if (verb === 'show') {
        const view: Cfg = clone(dev.running);
        if (entry) view.tables[node!] = [entry.e];
        else view.objects[node!] = fields;
        io.write(show(view, node!.split(' ')));
      } else if (verb === 'next' && entry) commitEntry(io);
      else if (verb === 'end') {
        if (entry) {
          if (commitEntry(io)) leave();
          return;
        }
        const before = JSON.stringify(dev.running);
        dev.running.objects[node!] = fields;
        committed(before, io.fault('never-confirm'));
        leave();
      } else if (verb === 'abort') leave();
      else io.write(PARSE_FAIL(verb ?? ''));
    };

    return {
      pagerPrompt: '--More-- ',
      paging: () => get(dev.running, 'system console', 'output') !== 'standard',
      prompt: () => `${hostname()} ${entry ? `(${entry.label}) ` : node ? `(${node.split(' ').pop()}) ` : ''}# `,
      rejectText: (line) => PARSE_FAIL(tokenize(line)[0] ?? line.trim()),
      handle(line, io) {
        const words = tokenize(line);
        if (!words.length) return;
        // The revert timeout counts idle time: any command restarts a running timer.
        if (timer.armed) timer.arm(revertMs(), revert);
        if (!node) return top(io, words);
        else if (entry || draft) inFields(io, words);
        else inTable(io, words);
      },
    };
  }

  return {
    spec,
    hostKey: server.hostKey,
    control: cliControl(server, {
      timer,
      snapshot: (): SimSnapshot => ({
        hostname: hostname(),
        ports: Object.fromEntries(
          dev.running.tables['system interface']!.map((e) => [e.key, { adminUp: e.fields['status']?.[0] !== 'down' }]),
        ),
        rules: dev.running.tables['firewall policy']!.map((e) => ({
          id: `policy ${e.key}${e.fields['name'] ? ` ${e.fields['name'][0]}` : ''}`,
          text: show({ ...dev.running, tables: { 'firewall policy': [e] } }, ['firewall', 'policy']),
        })),
        config: show(dev.running, []),
      }),
      reset: () => {
        dev.running = clone(initial);
        dev.saved = clone(initial);
      },
    }),
    stop: async () => {
      timer.cancel();
      await server.stop();
    },
  };
};

function policyFields(name: string, src: string, dst: string, action: string, comments: string): Fields {
  return {
    name: [name],
    uuid: [randomUUID()],
    srcintf: [src],
    dstintf: [dst],
    srcaddr: ['all'],
    dstaddr: ['all'],
    action: [action],
    schedule: ['always'],
    service: ['ALL'],
    nat: ['enable'],
    comments: [comments],
  };
}

/** `10.0.0.1/32` -> `10.0.0.1 255.255.255.255`, as FortiOS stores it. */
function toMask(values: string[]): string[] {
  const m = /^([\d.]+)\/(\d+)$/.exec(values[0] ?? '');
  if (!m) return values;
  const bits = Number(m[2]);
  const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
  return [m[1]!, [24, 16, 8, 0].map((s) => (mask >>> s) & 255).join('.')];
}

/** `show [full-configuration] [path...] [key]`: the config as FortiOS prints it. */
function show(cfg: Cfg, args: string[]): string {
  const full = args[0] === 'full-configuration';
  const rest = full ? args.slice(1) : args;
  const path = rest.slice(0, 2).join(' ');
  const key = rest[2];
  const nodes = rest.length ? [path] : [...OBJECTS, ...TABLES];
  const known = nodes.every((n) => (TABLES as readonly string[]).includes(n) || (OBJECTS as readonly string[]).includes(n));
  if (!known) return PARSE_FAIL(rest[rest.length - 1] ?? 'show');
  const out: string[] = [];
  const fieldLines = (node: string, f: Fields, indent: string) => {
    const all = full ? { ...DEFAULTS[node], ...f } : f;
    for (const name of SCHEMA[node]!) {
      const v = all[name];
      if (!v || (!full && JSON.stringify(DEFAULTS[node]?.[name]) === JSON.stringify(v))) continue;
      out.push(`${indent}set ${name} ${v.map((x) => (QUOTED.has(name) ? `"${x.replace(/(["\\])/g, '\\$1')}"` : x)).join(' ')}`);
    }
  };
  for (const node of nodes) {
    out.push(`config ${node}`);
    if ((OBJECTS as readonly string[]).includes(node)) fieldLines(node, cfg.objects[node] ?? {}, '    ');
    else
      for (const e of cfg.tables[node]!.filter((x) => key === undefined || x.key === key)) {
        out.push(`    edit ${node === 'firewall policy' ? e.key : `"${e.key}"`}`);
        fieldLines(node, e.fields, '        ');
        out.push('    next');
      }
    out.push('end');
  }
  return `${out.join('\n')}\n`;
}

/** Splits a CLI line into words; double or single quotes group, a backslash escapes. */
export function tokenize(line: string): string[] {
  const out: string[] = [];
  const re = /"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)'|(\S+)/g;
  for (let m = re.exec(line); m; m = re.exec(line)) out.push((m[1] ?? m[2] ?? m[3]!).replace(/\\(.)/g, '$1'));
  return out;
}
