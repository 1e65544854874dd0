import { createHash } from 'node:crypto';
import type { Action, ActionKind } from '../actions.js';
import { CommandRejected, UnsupportedAction } from '../errors.js';
import type { CliPlatform, CliShell, Session } from '../transports/types.js';
import type { ActionContext, Driver, State } from './driver.js';
import { invertForward, type LinkState, linkHolds } from './port-state.js';
import { sshSession } from './unsupported.js';
import { addressFamily, checkAddress, checkInterface, checkSegment, checkTag } from './validate.js';

/**
 * Fortinet FortiGate (FortiOS 6.4-7.x CLI) over SSH. Blocks are deny policies whose `comments`
 * carry the action tag (`<tag> host.block 10.20.0.11 src`), with address objects of their own;
 * they are moved above the first policy so that the operator's policies keep working below them,
 * and rollback deletes exactly the tagged policies and addresses. Read-back parses `show` output
 * (defaults are left out there: no `set action` means deny, no `set status` means up/enable).
 * Not covered: multi-VDOM units (`config vdom` / `config global`), IPv6 blocks, port.vlan (a
 * FortiGate is not the access switch).
 */

export const FORTIOS: CliPlatform = {
  name: 'fortios',
  levels: [
    // `$` instead of `#` for read-only admin profiles (as Netmiko's alt terminator).
    { name: 'exec', prompt: (h) => new RegExp(`^${h} [#$] ?$`) },
    // One level for every config depth: `host (interface) # `, `host (port5) # `, `host (0) # `.
    // Leaving it by `abort` discards the entry being edited (what `next`/`end` would commit).
    { name: 'config', prompt: (h) => new RegExp(`^${h} \\(.+\\) [#$] ?$`), parent: 'exec', enter: 'config system console', leave: 'abort' },
  ],
  defaultLevel: 'exec',
  onOpen: [],
  // Paging is part of FortiOS's configuration: turned off only if it is on, and back on at close
  // (as Netmiko does), so that a session leaves the configuration as it found it.
  async prepare(send) {
    if (!/^\s*output\s*:\s*more\b/m.test(await send('get system console'))) return [];
    for (const line of ['config system console', 'set output standard', 'end']) await send(line);
    return ['config system console', 'set output more', 'end'];
  },
  pager: /--More--\s*$/,
  pagerReply: ' ',
  // `command parse error before 'x'` + `Command fail. Return code -61` (recorded sessions); the rest
  // after a wrong reference, a missing attribute or an address still in use.
  errors: [
    /^(command parse error before|Command fail\. Return code|Unknown action \d+)/i,
    /entry not found in datasource|value parse error before|node_check_object fail|MUST be set|entry is used by other/,
  ],
};

const SUPPORTS = [
  'interface.disable',
  'interface.enable',
  'host.block',
  'host.unblock',
  'egress.block',
  'egress.unblock',
] as const satisfies readonly ActionKind[];
/** FortiOS interface names are at most 15 characters; policy names 35. */
const IFNAME_MAX = 15;
const POLICY_NAME_MAX = 35;

/** One of our policies as read back; `seq` is its place in the evaluation order. */
interface OurPolicy {
  id: string;
  seq: number;
  comment: string;
  deny: boolean;
  enabled: boolean;
  srcintf: string[];
  dstintf: string[];
}
interface RuleState extends State {
  subject: string;
  policies: OurPolicy[];
  addresses: { name: string; comment: string }[];
  /** Place of the first policy that is not Firebreak's (null: none). */
  firstOther: number | null;
}
type Block = Extract<Action, { kind: 'host.block' | 'egress.block' }>;
type Link = Extract<Action, { kind: 'interface.disable' | 'interface.enable' }>;

export const fortios: Driver = {
  family: 'fortios',
  transport: 'ssh',
  supports: SUPPORTS,

  render(action, ctx) {
    const id = ctx.device.id;
    switch (kindOf(action, ctx)) {
      case 'interface.disable':
      case 'interface.enable':
        return statusLines(ctx, [action as Link]);
      case 'host.block':
      case 'egress.block': {
        const a = action as Block;
        const { addresses, policies } = blockPlan(a, ctx);
        const moves = policies.map((p) => `move <id of "${p.name}"> before <first policy>`);
        return [...addressLines(addresses), ...policyLines(policies), 'config firewall policy', ...moves, 'end'];
      }
      case 'host.unblock':
      case 'egress.unblock': {
        const subject = subjectOf(action, ctx);
        const tag = checkTag(id, ctx.tag);
        return [
          'config firewall policy',
          `delete <each policy commented "${tag} ${blockKind(action)} ${subject} ...">`,
          'end',
          'config firewall address',
          `delete <each address commented "${tag} ${blockKind(action)} ${subject} ...">`,
          'end',
        ];
      }
    }
  },

  async read(session, action, ctx) {
    const kind = kindOf(action, ctx);
    const sh = await cli(session, ctx);
    if (kind === 'interface.disable' || kind === 'interface.enable') {
      return (await readLinks(sh, ctx, [(action as Link).interface]))[0]!;
    }
    return readRules(sh, ctx, blockKind(action), subjectOf(action, ctx));
  },

  holds(action, state, ctx) {
    switch (kindOf(action, ctx)) {
      case 'interface.disable':
      case 'interface.enable':
        return linkHolds(action as Link, state);
      case 'host.block': {
        // Any run's policies count (a second run finds the host blocked), if they are in force.
        const live = inForce(state as RuleState);
        return ['src', 'dst'].every((q) => live.some((p) => qualifier(p.comment) === q));
      }
      case 'egress.block': {
        const a = action as Extract<Action, { kind: 'egress.block' }>;
        return inForce(state as RuleState).some(
          (p) => a.interfaces.every((i) => p.srcintf.includes(i)) && a.uplinks.every((u) => p.dstintf.includes(u)),
        );
      }
      case 'host.unblock':
      case 'egress.unblock': {
        const s = state as RuleState;
        return ![...s.policies, ...s.addresses].some((x) => tagOf(x.comment) === ctx.tag);
      }
    }
  },

  async apply(session, action, ctx) {
    const kind = kindOf(action, ctx);
    const id = ctx.device.id;
    // Everything is checked before the first byte goes out.
    fortios.render(action, ctx);
    const sh = await cli(session, ctx);
    if (kind === 'interface.disable' || kind === 'interface.enable') return setStatus(sh, ctx, [action as Link]);
    const out: string[] = [];
    const send = async (line: string) => {
      out.push(await sh.send(line, { timeoutMs: ctx.timeoutMs }));
    };
    try {
      // The device-side timer is armed right before the first change, after the checks.
      const arm = async () => {
        if (ctx.autoRevert) for (const line of armLines(ctx.autoRevert.minutes)) await send(line);
      };
      switch (kind) {
        case 'host.block':
        case 'egress.block': {
          const a = action as Block;
          const subject = subjectOf(a, ctx);
          const plan = blockPlan(a, ctx);
          const before = await readRules(sh, ctx, a.kind, subject);
          // Applying twice by hand adds nothing: what this tag already made is kept.
          const have = (c: string) => [...before.policies, ...before.addresses].some((x) => x.comment === c);
          await arm();
          for (const line of addressLines(plan.addresses.filter((x) => !have(x.comment)))) await send(line);
          const fresh = plan.policies.filter((p) => !have(p.comment));
          for (const line of policyLines(fresh)) await send(line);
          const after = await readPolicies(sh, ctx);
          const first = after.find((p) => !parseComment(p.comment));
          const ids = fresh.map((p) => after.find((x) => x.comment === p.comment)?.id);
          if (ids.some((x) => x === undefined))
            throw new CommandRejected(`${id}: ${a.kind} ${subject}: the new policies do not show up in "show firewall policy"`);
          if (first && ids.length) {
            await send('config firewall policy');
            // The first goes above the operator's first policy, the rest follow it in order.
            for (const [i, pid] of ids.entries())
              await send(i === 0 ? `move ${pid} before ${first.id}` : `move ${pid} after ${ids[i - 1]}`);
            await send('end');
          }
          break;
        }
        case 'host.unblock':
        case 'egress.unblock': {
          const tag = checkTag(id, ctx.tag);
          const state = await readRules(sh, ctx, blockKind(action), subjectOf(action, ctx));
          const policies = state.policies.filter((p) => tagOf(p.comment) === tag);
          const addresses = state.addresses.filter((x) => tagOf(x.comment) === tag);
          if (!policies.length && !addresses.length) return `nothing tagged ${tag} left`;
          await arm();
          // Policies first: an address still used by a policy can't be deleted.
          if (policies.length)
            for (const line of ['config firewall policy', ...policies.map((p) => `delete ${p.id}`), 'end']) await send(line);
          if (addresses.length)
            for (const line of ['config firewall address', ...addresses.map((x) => `delete ${q(x.name)}`), 'end']) await send(line);
          break;
        }
      }
      return out.filter(Boolean).join('\n');
    } finally {
      // Also after an error: `abort` drops a half-built entry and the shell is back at the top.
      if (!sh.broken) await sh.moveTo('exec', { timeoutMs: ctx.timeoutMs });
    }
  },

  /**
   * The interface changes of one stage go out in one `config system interface` block (one cut,
   * not a ripple); blocks read the policies they move, so each still runs as its own apply after
   * them. Auto-revert is armed once, before the first change; items that disagree go one by one.
   */
  async applyAll(session, items) {
    // Everything is checked before the first byte goes out.
    for (const i of items) fortios.render(i.action, i.ctx);
    const same = items.every((i) => JSON.stringify(i.ctx.autoRevert) === JSON.stringify(items[0]!.ctx.autoRevert));
    const links = same ? items.filter((i) => i.action.kind === 'interface.disable' || i.action.kind === 'interface.enable') : [];
    let armed = false;
    // When they agree, the first change arms the revert for all; the later ones do not arm it again.
    const arm = (ctx: ActionContext): ActionContext => {
      const c = same && armed ? { ...ctx, autoRevert: undefined } : ctx;
      armed = true;
      return c;
    };
    const out: string[] = [];
    if (links.length) {
      const [ctx, list] = [arm(links[0]!.ctx), links.map((i) => i.action as Link)];
      out.push(await setStatus(await cli(session, ctx), ctx, list));
    }
    for (const i of items) if (!links.includes(i)) out.push(await fortios.apply(session, i.action, arm(i.ctx)));
    return out.filter(Boolean).join('\n');
  },

  invert(action, before, ctx) {
    return invertForward(SUPPORTS, action, before, () => fortios.holds(action, before, ctx));
  },

  /**
   * `cfg-save revert` keeps changes runtime-only until `execute cfg save`; after
   * `cfg-revert-timeout` seconds unsaved the unit goes back to the saved config (Fortinet CLI
   * reference, `execute cfg save`). Confirming saves, then puts the unit back in automatic mode
   * so that later changes by the operators are not reverted. Unverified on a real unit: whether
   * the switch back to automatic itself saves pending changes (we save first, so it is moot).
   */
  async confirm(session, _action, ctx) {
    const out = await sendLines(await cli(session, ctx), ctx, [
      'execute cfg save',
      'config system global',
      'set cfg-save automatic',
      'end',
    ]);
    return out || 'nothing pending';
  },
};

function kindOf(action: Action | undefined, ctx: ActionContext): (typeof SUPPORTS)[number] {
  const kind = (action as { kind?: string } | undefined)?.kind;
  if (!(SUPPORTS as readonly string[]).includes(kind ?? '')) {
    throw new UnsupportedAction(`${ctx.device.id}: fortios does not support ${kind ?? 'this action'} (supports: ${SUPPORTS.join(', ')})`);
  }
  return kind as (typeof SUPPORTS)[number];
}

async function cli(session: Session, ctx: ActionContext): Promise<CliShell> {
  return sshSession('fortios', session, ctx).cli(FORTIOS);
}

function iface(deviceId: string, name: string): string {
  return checkInterface(deviceId, name, IFNAME_MAX);
}

function q(value: string): string {
  return `"${value}"`;
}

/** One `config system interface` block for all: `next` between entries, `end` commits the last. */
function statusLines(ctx: ActionContext, list: Link[]): string[] {
  const entries = list.map((a) => [
    `edit ${q(iface(ctx.device.id, a.interface))}`,
    `set status ${a.kind === 'interface.disable' ? 'down' : 'up'}`,
  ]);
  return ['config system interface', ...entries.flatMap((e, i) => (i ? ['next', ...e] : e)), 'end'];
}

/**
 * Interface status changes, armed first when asked. Editing a name that does not exist would
 * create an interface: every one is checked first.
 */
async function setStatus(sh: CliShell, ctx: ActionContext, list: Link[]): Promise<string> {
  await readLinks(
    sh,
    ctx,
    list.map((a) => a.interface),
  );
  return sendLines(sh, ctx, [...(ctx.autoRevert ? armLines(ctx.autoRevert.minutes) : []), ...statusLines(ctx, list)]);
}

/** Sends `lines`; always back at the top afterwards, also after an error (`abort` drops a half-built entry). */
async function sendLines(sh: CliShell, ctx: ActionContext, lines: string[]): Promise<string> {
  const opts = { timeoutMs: ctx.timeoutMs };
  const out: string[] = [];
  try {
    for (const line of lines) out.push(await sh.send(line, opts));
  } catch (err) {
    if (!sh.broken) await sh.moveTo('exec', opts).catch(() => undefined);
    throw err;
  }
  await sh.moveTo('exec', opts);
  return out.filter(Boolean).join('\n');
}

function armLines(minutes: number): string[] {
  const seconds = Math.max(60, Math.round(minutes * 60));
  return ['config system global', 'set cfg-save revert', `set cfg-revert-timeout ${seconds}`, 'end'];
}

function blockKind(action: Action): 'host.block' | 'egress.block' {
  return action.kind.startsWith('host.') ? 'host.block' : 'egress.block';
}

function subjectOf(action: Action, ctx: ActionContext): string {
  const id = ctx.device.id;
  if (action.kind === 'host.block' || action.kind === 'host.unblock') {
    if (checkAddress(id, action.address) !== 4)
      throw new CommandRejected(`${id}: fortios driver: IPv6 blocks are not supported yet (${action.address})`);
    return action.address;
  }
  return checkSegment(id, (action as Extract<Action, { segment: string }>).segment);
}

/** `fb:p1a2b:a3` -> `fb-p1a2b-a3`, cut with a hash of the tag where FortiOS wants it shorter. */
function objectName(tag: string, suffix: string, max: number): string {
  const safe = tag.replace(/[^A-Za-z0-9_.-]/g, '-');
  const whole = `${safe}-${suffix}`;
  if (whole.length <= max) return whole;
  const hash = createHash('sha256').update(tag).digest('hex').slice(0, 8);
  return `${safe.slice(0, max - suffix.length - 10)}-${hash}-${suffix}`;
}

interface PlannedPolicy {
  name: string;
  comment: string;
  srcintf: string[];
  dstintf: string[];
  srcaddr: string;
  dstaddr: string[];
  negate: boolean;
}

/** The address objects and deny policies a block adds, all named and commented after the tag. */
function blockPlan(
  a: Block,
  ctx: ActionContext,
): { addresses: { name: string; subnet: string; comment: string }[]; policies: PlannedPolicy[] } {
  const id = ctx.device.id;
  const tag = checkTag(id, ctx.tag);
  const subject = subjectOf(a, ctx);
  const base = `${tag} ${a.kind} ${subject}`;
  const subnet = (x: string) => (x.includes('/') ? x : `${x}/32`);
  if (a.kind === 'host.block') {
    const host = objectName(tag, 'host', 79);
    const policy = (dir: 'src' | 'dst'): PlannedPolicy => ({
      name: objectName(tag, dir, POLICY_NAME_MAX),
      comment: `${base} ${dir}`,
      srcintf: ['any'],
      dstintf: ['any'],
      srcaddr: dir === 'src' ? host : 'all',
      dstaddr: [dir === 'dst' ? host : 'all'],
      negate: false,
    });
    return { addresses: [{ name: host, subnet: subnet(subject), comment: base }], policies: [policy('src'), policy('dst')] };
  }
  if (!a.interfaces.length || !a.uplinks.length)
    throw new CommandRejected(`${id}: egress.block ${subject} needs segment interfaces and uplinks`);
  for (const x of a.allow)
    if (checkAddress(id, x, 'allow entry') !== 4 || addressFamily(x) !== 4)
      throw new CommandRejected(`${id}: fortios driver: IPv6 allow entries are not supported yet (${x})`);
  // Allowed destinations are excepted by negating the deny's destination, not by an accept above
  // it: their traffic then falls through to the operator's own policies, as before.
  const allow = a.allow.map((x, i) => ({
    name: objectName(tag, `allow${i + 1}`, 79),
    subnet: subnet(x),
    comment: `${base} allow${i + 1}`,
  }));
  return {
    addresses: allow,
    policies: [
      {
        name: objectName(tag, 'egress', POLICY_NAME_MAX),
        comment: base,
        srcintf: a.interfaces.map((x) => iface(id, x)),
        dstintf: a.uplinks.map((x) => iface(id, x)),
        srcaddr: 'all',
        dstaddr: allow.length ? allow.map((x) => x.name) : ['all'],
        negate: allow.length > 0,
      },
    ],
  };
}

function addressLines(list: { name: string; subnet: string; comment: string }[]): string[] {
  if (!list.length) return [];
  const body = list.flatMap((x) => [`edit ${q(x.name)}`, `set subnet ${x.subnet}`, `set comment ${q(x.comment)}`, 'next']);
  return ['config firewall address', ...body, 'end'];
}

function policyLines(list: PlannedPolicy[]): string[] {
  if (!list.length) return [];
  const body = list.flatMap((p) => [
    // `edit 0` takes the next free policy id.
    'edit 0',
    `set name ${q(p.name)}`,
    `set srcintf ${p.srcintf.map(q).join(' ')}`,
    `set dstintf ${p.dstintf.map(q).join(' ')}`,
    `set srcaddr ${q(p.srcaddr)}`,
    `set dstaddr ${p.dstaddr.map(q).join(' ')}`,
    ...(p.negate ? ['set dstaddr-negate enable'] : []),
    'set action deny',
    'set schedule "always"',
    'set service "ALL"',
    'set logtraffic all',
    `set comments ${q(p.comment)}`,
    'next',
  ]);
  return ['config firewall policy', ...body, 'end'];
}

/** One name: `show system interface <name>`; several: the whole table, in one round trip. */
async function readLinks(sh: CliShell, ctx: ActionContext, names: string[]): Promise<LinkState[]> {
  for (const name of names) iface(ctx.device.id, name);
  const text = await sh.send(`show system interface${names.length === 1 ? ` ${names[0]}` : ''}`, { timeoutMs: ctx.timeoutMs });
  const entries = parseEntries(text);
  return names.map((name) => {
    const entry = entries.find((e) => e.key === name);
    if (!entry) throw new CommandRejected(`${ctx.device.id}: interface "${name}" does not exist`);
    return { interface: name, adminUp: entry.fields['status']?.[0] !== 'down' };
  });
}

async function readPolicies(sh: CliShell, ctx: ActionContext) {
  const text = await sh.send('show firewall policy', { timeoutMs: ctx.timeoutMs });
  return parseEntries(text).map((e, seq) => ({ id: e.key, seq, fields: e.fields, comment: e.fields['comments']?.[0] ?? '' }));
}

async function readRules(sh: CliShell, ctx: ActionContext, kind: string, subject: string): Promise<RuleState> {
  const all = await readPolicies(sh, ctx);
  const mine = (comment: string) => {
    const c = parseComment(comment);
    return c?.kind === kind && c.subject === subject;
  };
  const addresses = parseEntries(await sh.send('show firewall address', { timeoutMs: ctx.timeoutMs }));
  return {
    subject,
    policies: all
      .filter((p) => mine(p.comment))
      .map((p) => ({
        id: p.id,
        seq: p.seq,
        comment: p.comment,
        // Defaults are not shown: no `set action` is deny, no `set status` is enable.
        deny: (p.fields['action']?.[0] ?? 'deny') === 'deny',
        enabled: (p.fields['status']?.[0] ?? 'enable') === 'enable',
        srcintf: p.fields['srcintf'] ?? [],
        dstintf: p.fields['dstintf'] ?? [],
      })),
    addresses: addresses
      .filter((x) => mine(x.fields['comment']?.[0] ?? ''))
      .map((x) => ({ name: x.key, comment: x.fields['comment']?.[0] ?? '' })),
    firstOther: all.find((p) => !parseComment(p.comment))?.seq ?? null,
  };
}

/** Our deny policies that are enabled and evaluated before any policy of the operator's. */
function inForce(s: RuleState): OurPolicy[] {
  return s.policies.filter((p) => p.deny && p.enabled && (s.firstOther === null || p.seq < s.firstOther));
}

/** `<tag> <kind> <subject> [qualifier]`, the comment every object of ours carries. */
function parseComment(comment: string): { tag: string; kind: string; subject: string; qualifier?: string } | null {
  const m = /^(fb:[A-Za-z0-9:._-]+) (host\.block|egress\.block) (\S+)(?: (\S+))?$/.exec(comment);
  return m ? { tag: m[1]!, kind: m[2]!, subject: m[3]!, ...(m[4] ? { qualifier: m[4] } : {}) } : null;
}
const tagOf = (comment: string) => parseComment(comment)?.tag;
const qualifier = (comment: string) => parseComment(comment)?.qualifier;

/**
 * The `edit` entries of `show` output, tolerant of what varies by release: banners, blank lines,
 * a console log line in between, nested `config ... end` blocks inside an entry (skipped).
 */
function parseEntries(text: string): { key: string; fields: Record<string, string[]> }[] {
  const out: { key: string; fields: Record<string, string[]> }[] = [];
  let cur: (typeof out)[number] | undefined;
  let depth = 0;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (cur && /^config\s/.test(line)) depth++;
    else if (cur && depth > 0 && line === 'end') depth--;
    else if (depth > 0) continue;
    else if (/^edit\s/.test(line)) cur = { key: tokenize(line.slice(5))[0] ?? '', fields: {} };
    else if (cur && line === 'next') {
      out.push(cur);
      cur = undefined;
    } else if (cur && /^set\s+\S+/.test(line)) {
      const [field, ...values] = tokenize(line.slice(4));
      cur.fields[field!] = values;
    }
  }
  return out;
}

function tokenize(line: string): string[] {
  const out: string[] = [];
  const re = /"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)'|(\S+)/g;
  for (let m = re.exec(line); m; m = re.exec(line)) out.push((m[1] ?? m[2] ?? m[3]!).replace(/\\(.)/g, '$1'));
  return out;
}
