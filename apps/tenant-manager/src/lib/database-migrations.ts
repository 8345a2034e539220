import { randomBytes } from 'node:crypto';
import type { Context } from './context.js';
import { badRequest } from './errors.js';
import { withProjectOwner } from './sql-endpoint.js';
import { inTransaction } from './transaction.js';

/**
 * Migrations through the Management API, as Supabase's `GET/POST /v1/projects/{ref}/database/migrations`
 * (what Supabase's MCP server's `list_migrations` and `apply_migration` call): each one runs in a
 * transaction of its own as the project's owner and is recorded in `supabase_migrations.schema_migrations`,
 * the ledger the Supabase CLI keeps too (`supabase db push`, `migration list` over a direct connection).
 */

interface Migration {
  readonly version: string;
  readonly name: string | null;
}

/** The ledger as the CLI makes it: version, the statements run, a name. */
const LEDGER_SQL = `
CREATE SCHEMA IF NOT EXISTS supabase_migrations;
CREATE TABLE IF NOT EXISTS supabase_migrations.schema_migrations (version text NOT NULL PRIMARY KEY);
ALTER TABLE supabase_migrations.schema_migrations ADD COLUMN IF NOT EXISTS statements text[];
ALTER TABLE supabase_migrations.schema_migrations ADD COLUMN IF NOT EXISTS name text;`;

const NAME = /^[^\p{Cc}]{1,255}$/u;

export async function listMigrations(ctx: Context, ref: string): Promise<Migration[]> {
  return withProjectOwner(ctx, ref, 'supaplane-migrations', async (client) => {
    const { rows } = await client.query<{ ledger: string | null }>(
      "SELECT to_regclass('supabase_migrations.schema_migrations')::text AS ledger",
    );
    if (rows[0]?.ledger == null) return [];
    const list = await client.query<Migration>(
      'SELECT version, name FROM supabase_migrations.schema_migrations ORDER BY version',
    );
    return list.rows;
  });
}

/**
 * Runs `query` (any number of statements) and records it, in one transaction: a statement that fails
 * leaves nothing behind, the ledger row included. The statements run through a PL/pgSQL `EXECUTE`, so
 * a COMMIT or ROLLBACK among them is an error (0A000) rather than the end of the transaction with
 * half the migration kept. The version is the time in UTC (`YYYYMMDDHHMMSS`), as the CLI names
 * migrations, moved past the newest recorded one if that is as late.
 */
export async function applyMigration(
  ctx: Context,
  ref: string,
  input: { query: string; name?: string | undefined },
): Promise<Migration> {
  const name = input.name?.trim() || null;
  if (name !== null && !NAME.test(name)) {
    throw badRequest('migration name must be 1 to 255 characters without control characters', 'invalid_name');
  }
  if (input.query.trim() === '') throw badRequest('query is empty', 'invalid_query');
  const block = executeBlock(input.query);
  return withProjectOwner(ctx, ref, 'supaplane-migrations', (client) =>
    inTransaction(client, async () => {
      await client.query(LEDGER_SQL);
      // One migration at a time: a second waits here, then takes the version after this one's.
      await client.query('LOCK TABLE supabase_migrations.schema_migrations IN EXCLUSIVE MODE');
      await client.query(block);
      const { rows } = await client.query<{ newest: string | null }>(
        'SELECT max(version) AS newest FROM supabase_migrations.schema_migrations',
      );
      const version = nextVersion(ctx.clock.now(), rows[0]?.newest ?? null);
      await client.query(
        'INSERT INTO supabase_migrations.schema_migrations (version, statements, name) VALUES ($1, $2, $3)',
        [version, [input.query], name],
      );
      return { version, name };
    }),
  );
}

/** `DO … EXECUTE '<query>'` with dollar quotes that cannot occur in the query. */
function executeBlock(query: string): string {
  for (;;) {
    const id = randomBytes(8).toString('hex');
    const [outer, inner] = [`$do_${id}$`, `$sql_${id}$`];
    if (!query.includes(id)) return `DO ${outer} BEGIN EXECUTE ${inner}${query}\n${inner}; END ${outer}`;
  }
}

/** `YYYYMMDDHHMMSS` of `now` in UTC, or one past `newest` when that is as late or later. */
export function nextVersion(now: Date, newest: string | null): string {
  const stamp = now.toISOString().replace(/[-:T]/g, '').slice(0, 14);
  if (newest === null || !/^\d+$/.test(newest) || BigInt(newest) < BigInt(stamp)) return stamp;
  return String(BigInt(newest) + 1n);
}
