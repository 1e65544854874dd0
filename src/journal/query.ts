import type { JournalQuery } from './types.js';

/**
 * The SQL for JournalStore.find, shared by the stores: `placeholder(n)` writes the n-th (1-based)
 * parameter in the store's dialect (`?` for SQLite, `$n` for PostgreSQL). Null when the query
 * cannot match anything (an empty type list, limit 0), so no SQL need run.
 */
export function findSql(
  q: JournalQuery,
  table: string,
  placeholder: (n: number) => string,
  columns = '*',
  /** The store's SQL for the `device` field of the entry data (data is JSON text in both stores). */
  deviceExpr = "json_extract(data, '$.device')",
): { sql: string; params: unknown[] } | null {
  const where: string[] = [];
  const params: unknown[] = [];
  const param = (v: unknown) => {
    params.push(v);
    return placeholder(params.length);
  };
  if (q.runId !== undefined) where.push(`run_id = ${param(q.runId)}`);
  if (q.types !== undefined) {
    if (!q.types.length) return null;
    where.push(`type IN (${[...new Set(q.types)].map(param).join(', ')})`);
  }
  if (q.device !== undefined) where.push(`${deviceExpr} = ${param(q.device)}`);
  if (q.afterSeq !== undefined) where.push(`seq > ${param(wholeNumber(q.afterSeq, 'afterSeq'))}`);
  let limit = '';
  if (q.limit !== undefined) {
    const n = wholeNumber(q.limit, 'limit');
    if (n === 0) return null;
    limit = ` LIMIT ${param(n)}`;
  }
  return { sql: `SELECT ${columns} FROM ${table}${where.length ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY seq${limit}`, params };
}

function wholeNumber(v: number, what: string): number {
  if (!Number.isFinite(v) || v < 0) throw new RangeError(`journal find: ${what} must be a number >= 0, got ${v}`);
  return Math.floor(v);
}
