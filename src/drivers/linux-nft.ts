import type { SshSession } from '../transports/types.js';
import { CommandRejected } from '../errors.js';
import { redactor } from '../secrets.js';

/**
 * nftables pieces of the linux driver: Firebreak's own table and chain, the rules it writes, and
 * the read-back from `nft -j` (JSON, never the human listing).
 */
export const TABLE = 'inet firebreak';
/** `fwd` is a reserved word in nft; priority -10 runs before the usual filter chains. */
export const CHAIN = 'contain';
export const CHAIN_SPEC = '{ type filter hook forward priority -10; policy accept; }';
export const LIST_COMMAND = `nft -j list chain ${TABLE} ${CHAIN}`;

/** `add table` / `add chain` are idempotent, so every change script can start with them. */
export const ENSURE_LINES = [`add table ${TABLE}`, `add chain ${TABLE} ${CHAIN} ${CHAIN_SPEC}`];

/** One of our rules as read back, with what its expression really does. */
export interface NftRule {
  handle: number;
  comment: string;
  /** Which address field a `drop` rule matches on (`saddr`/`daddr`), `any` for a drop without one, null if it does not drop. */
  drops: 'saddr' | 'daddr' | 'any' | null;
}

/** Our comments are `<tag> <kind> <subject> [<qualifier>]`; words never contain spaces (validated). */
export interface ParsedComment {
  tag: string;
  kind: string;
  subject: string;
  qualifier?: string;
}

export function parseComment(comment: string): ParsedComment | null {
  const [tag, kind, subject, qualifier, ...rest] = comment.split(' ');
  if (!tag || !kind || !subject || rest.length) return null;
  return qualifier ? { tag, kind, subject, qualifier } : { tag, kind, subject };
}

/** Renders a script as the shell would send it: the heredoc shows exactly what goes to stdin. */
export function renderScript(lines: string[]): string[] {
  return [`nft -f - <<'EOF'`, ...lines, 'EOF'];
}

/** Runs an nft script atomically (one `nft -f -` transaction); a non-zero exit is CommandRejected. */
export async function runScript(session: SshSession, deviceId: string, lines: string[], timeoutMs: number): Promise<string> {
  const r = await session.exec('nft -f -', { stdin: lines.join('\n') + '\n', timeoutMs });
  if (r.code !== 0) {
    throw new CommandRejected(`${deviceId}: nft refused the script (exit ${r.code}): ${redactor.text(r.stderr.trim()).slice(0, 500)}`);
  }
  return [r.stdout, r.stderr].filter(Boolean).join('\n');
}

/** Reads the rules of our chain; a missing table or chain means no rules. */
export async function listRules(session: SshSession, deviceId: string, timeoutMs: number): Promise<NftRule[]> {
  const r = await session.exec(LIST_COMMAND, { timeoutMs });
  if (r.code !== 0) {
    if (/No such file or directory/i.test(r.stderr)) return [];
    throw new CommandRejected(`${deviceId}: "${LIST_COMMAND}" failed (exit ${r.code}): ${redactor.text(r.stderr.trim()).slice(0, 300)}`);
  }
  let doc: { nftables?: Array<Record<string, unknown>> };
  try {
    doc = JSON.parse(r.stdout) as typeof doc;
  } catch {
    throw new CommandRejected(`${deviceId}: "${LIST_COMMAND}" did not return JSON`);
  }
  const rules: NftRule[] = [];
  for (const item of doc.nftables ?? []) {
    const rule = item['rule'] as { handle?: number; comment?: string; expr?: unknown[] } | undefined;
    if (!rule || typeof rule.handle !== 'number' || typeof rule.comment !== 'string') continue;
    rules.push({ handle: rule.handle, comment: rule.comment, drops: dropKind(rule.expr ?? []) });
  }
  return rules;
}

/** Reads a rule's expression: does it end in drop, and on which address field does it match? */
function dropKind(expr: unknown[]): NftRule['drops'] {
  let field: 'saddr' | 'daddr' | 'any' = 'any';
  let drops = false;
  for (const e of expr) {
    if (!e || typeof e !== 'object') continue;
    if ('drop' in e) drops = true;
    const match = (e as { match?: { op?: string; left?: { payload?: { field?: string } } } }).match;
    const f = match?.left?.payload?.field;
    if (match?.op === '==' && (f === 'saddr' || f === 'daddr')) field = f;
  }
  return drops ? field : null;
}

export function deleteLines(handles: number[]): string[] {
  return handles.map((h) => `delete rule ${TABLE} ${CHAIN} handle ${h}`);
}
