import type { PoolClient } from 'pg';
import { JournalCorrupt } from '../errors.js';

/**
 * The PostgreSQL journal's tables, created and upgraded by numbered migrations recorded in
 * `<schema>.schema_migrations`. Migrating runs in one transaction under an advisory lock keyed
 * on the schema, so two processes starting at once do not race on CREATE: the second waits,
 * then finds the work done.
 *
 * `data` is text, not jsonb: the hash covers the canonical JSON bytes, and jsonb would rewrite
 * them. `seq` comes from the head row, not a sequence: sequences leave gaps on rollback.
 */

/** The schema version this build writes. */
export const PG_SCHEMA_VERSION = 4;

interface Migration {
  version: number;
  description: string;
  /** `s` is the quoted schema name. */
  sql: (s: string) => string;
}

const MIGRATIONS: Migration[] = [
  {
    version: 1,
    description: 'entries, head, append-only triggers',
    sql: (s) => `
CREATE TABLE ${s}.entries (
  seq       bigint PRIMARY KEY CHECK (seq > 0),
  run_id    text NOT NULL,
  ts        text NOT NULL,
  type      text NOT NULL,
  data      text NOT NULL,
  prev_hash text NOT NULL,
  hash      text NOT NULL
);
CREATE INDEX entries_run_id ON ${s}.entries (run_id, seq);
CREATE INDEX entries_type ON ${s}.entries (type, seq);
CREATE TABLE ${s}.head (
  id   integer PRIMARY KEY CHECK (id = 1),
  seq  bigint NOT NULL,
  hash text NOT NULL
);
INSERT INTO ${s}.head (id, seq, hash) VALUES (1, 0, '');
-- Append-only: these stop accidents; a deliberate tamperer can disable them, which verify catches.
CREATE FUNCTION ${s}.refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION '%', TG_ARGV[0];
END $$;
CREATE TRIGGER entries_no_change BEFORE UPDATE OR DELETE ON ${s}.entries
  FOR EACH ROW EXECUTE FUNCTION ${s}.refuse_change('journal entries are append-only');
CREATE TRIGGER entries_no_truncate BEFORE TRUNCATE ON ${s}.entries
  FOR EACH STATEMENT EXECUTE FUNCTION ${s}.refuse_change('journal entries are append-only');
CREATE TRIGGER head_no_delete BEFORE DELETE ON ${s}.head
  FOR EACH ROW EXECUTE FUNCTION ${s}.refuse_change('journal head cannot be deleted');
CREATE TRIGGER head_no_truncate BEFORE TRUNCATE ON ${s}.head
  FOR EACH STATEMENT EXECUTE FUNCTION ${s}.refuse_change('journal head cannot be deleted');
-- The head moves forward only (a group commit moves it by n). WHEN keeps the check in C: no
-- function call on the append path, which runs while every other writer waits for the head.
CREATE TRIGGER head_forward_only BEFORE UPDATE ON ${s}.head
  FOR EACH ROW WHEN (NEW.seq <= OLD.seq OR NEW.id <> OLD.id)
  EXECUTE FUNCTION ${s}.refuse_change('journal head only moves forward');
`,
  },
  {
    version: 2,
    description: "device column (from data.device, not hashed) and its index: a device's holds without a full scan",
    // The hash covers `data` only; `device` is a copy of data.device for the index. Rows written
    // before it get theirs here, the one time the append-only trigger is set aside, inside this
    // migration's transaction.
    sql: (s) => `
ALTER TABLE ${s}.entries ADD COLUMN device text;
ALTER TABLE ${s}.entries DISABLE TRIGGER entries_no_change;
UPDATE ${s}.entries SET device = data::jsonb ->> 'device' WHERE data::jsonb ? 'device';
ALTER TABLE ${s}.entries ENABLE TRIGGER entries_no_change;
CREATE INDEX entries_device ON ${s}.entries (device, seq) WHERE device IS NOT NULL;
`,
  },
  {
    version: 3,
    description: 'one run per idempotency key, whichever process asks',
    sql: (s) => `
CREATE UNIQUE INDEX entries_idempotency ON ${s}.entries ((data::jsonb ->> 'idempotencyKey'))
  WHERE type = 'run.created' AND (data::jsonb ->> 'idempotencyKey') IS NOT NULL;
`,
  },
  {
    version: 4,
    description: "a device's entries in one run through one index (a rollback reads them per device)",
    // Without it PostgreSQL ANDs the run's and the device's bitmaps: work that grows with the run
    // and with the device's history, for each device.
    sql: (s) => `
CREATE INDEX entries_run_device ON ${s}.entries (run_id, device, seq) WHERE device IS NOT NULL;
`,
  },
];

/** A schema name safe to write into SQL unquoted-equivalent: lower case, digits, underscore. */
export function validSchemaName(schema: string): boolean {
  return /^[a-z_][a-z0-9_]{0,62}$/.test(schema);
}

/**
 * Brings `schema` to PG_SCHEMA_VERSION on `client` (idempotent). Throws JournalCorrupt when the
 * database is newer than this build. Returns the version found before migrating.
 */
export async function migrate(client: PoolClient, schema: string): Promise<number> {
  const s = `"${schema}"`;
  await client.query('BEGIN');
  try {
    await client.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [`firebreak.journal.migrate:${schema}`]);
    // Only CREATE SCHEMA when missing: a role without CREATE on the database can use one made for it.
    const found = await client.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [schema]);
    if (!found.rowCount) await client.query(`CREATE SCHEMA ${s}`);
    await client.query(
      `CREATE TABLE IF NOT EXISTS ${s}.schema_migrations (
         version integer PRIMARY KEY,
         description text NOT NULL,
         applied_at timestamptz NOT NULL DEFAULT now()
       )`,
    );
    const { rows } = await client.query<{ v: number }>(`SELECT coalesce(max(version), 0)::integer AS v FROM ${s}.schema_migrations`);
    const before = rows[0]?.v ?? 0;
    if (before > PG_SCHEMA_VERSION) {
      throw new JournalCorrupt(
        `journal schema "${schema}" is at version ${before}; this build knows up to ${PG_SCHEMA_VERSION}: upgrade Firebreak`,
      );
    }
    for (const m of MIGRATIONS.filter((x) => x.version > before)) {
      await client.query(m.sql(s));
      await client.query(`INSERT INTO ${s}.schema_migrations (version, description) VALUES ($1, $2)`, [m.version, m.description]);
    }
    await client.query('COMMIT');
    return before;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}
