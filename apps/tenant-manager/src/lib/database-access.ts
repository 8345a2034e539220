import type { Context } from './context.js';
import { ownerRole, projectDatabase, setOwnerPassword } from './project-db.js';
import {
  requireActiveProject,
  requireProjectRow,
  secretAad,
  validateDbPassword,
  withProjectLock,
} from './projects.js';
import { inTransaction } from './transaction.js';

/**
 * Direct connections to a project's database, for what the data API is not for: migrations (psql,
 * `supabase db push`, Prisma, Drizzle), dumps, admin tools. They log in as the project's owner role
 * (`owner_<ref>`: owns `proj_<ref>`, no other database, no cluster-wide rights), as Supabase's
 * `postgres` user, with the password the operator chose (`db_pass` at create, or set later). The
 * password is only ever stored sealed; no answer carries it.
 */

interface DatabaseConnection {
  readonly host: string;
  readonly port: number;
  readonly database: string;
  readonly user: string;
  /** Whether the cluster takes only TLS connections (the AWS clusters; not the local one). */
  readonly ssl: boolean;
  /** `postgresql://user@host:port/database`, the password left for the caller to add. */
  readonly uri: string;
}

/** Where the project's database is, as the tenant-manager reaches it. */
export async function projectDatabaseConnection(ctx: Context, ref: string): Promise<DatabaseConnection> {
  const row = requireActiveProject(await requireProjectRow(ctx.db, ref));
  const { conn } = await ctx.clusters.get(row.cluster_id!);
  const user = ownerRole(ref);
  const database = projectDatabase(ref);
  const host = conn.host.includes(':') ? `[${conn.host}]` : conn.host;
  return {
    host: conn.host,
    port: conn.port,
    database,
    user,
    ssl: conn.ssl,
    uri: `postgresql://${user}@${host}:${conn.port}/${database}${conn.ssl ? '?sslmode=require' : ''}`,
  };
}

/**
 * Sets the owner role's password on the cluster and the sealed copy the SQL endpoint logs in with, in
 * one management transaction under the project's lock: if the cluster refuses, nothing changes.
 */
export async function setDatabasePassword(ctx: Context, ref: string, password: string): Promise<void> {
  validateDbPassword(password);
  const row = requireActiveProject(await requireProjectRow(ctx.db, ref));
  await withProjectLock(ctx, row.id, async (db) => {
    // Read again under the lock: a pause or delete may have finished while this waited.
    requireActiveProject(await requireProjectRow(db, ref));
    const { admin } = await ctx.clusters.get(row.cluster_id!);
    await inTransaction(db, async () => {
      await db.query('UPDATE tm.projects SET owner_password_enc = $2, updated_at = now() WHERE id = $1', [
        row.id,
        ctx.box.seal(password, secretAad.ownerPassword(row.id)),
      ]);
      await setOwnerPassword(admin, ref, password);
    });
  });
}
