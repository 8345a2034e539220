import type pg from 'pg';
import type { Context } from './context.js';
import { AppError, conflict } from './errors.js';
import { connectTo, ownerRole, projectDatabase } from './project-db.js';
import { requireProjectRow, secretAad } from './projects.js';

const MAX_ROWS = 10_000;

/**
 * Runs operator SQL in the project database as the project's owner role (never the cluster master),
 * under a statement timeout. Returns the rows of the last statement. SQL errors become 400 with the
 * SQLSTATE as `code`.
 */
export async function runProjectQuery(ctx: Context, ref: string, query: string): Promise<unknown[]> {
  const project = await requireProjectRow(ctx.db, ref);
  if (project.status !== 'ACTIVE_HEALTHY') {
    throw conflict(`project is ${project.status}; the database is not available`, 'project_not_active');
  }
  const cluster = await ctx.clusters.get(project.cluster_id!);
  const client = connectTo(
    {
      ...cluster.conn,
      user: ownerRole(ref),
      password: ctx.box.open(project.owner_password_enc, secretAad.ownerPassword(project.id)),
    },
    projectDatabase(ref),
    {
      statement_timeout: ctx.settings.sqlStatementTimeoutMs,
      query_timeout: ctx.settings.sqlStatementTimeoutMs + 2_000,
      application_name: 'supaplane-sql-endpoint',
    },
  );
  client.on('error', () => {});
  try {
    await client.connect();
  } catch (error) {
    const code = (error as { code?: string }).code;
    ctx.log.warn({ ref, code }, 'sql endpoint could not connect');
    if (code === '53300') {
      throw new AppError(
        503,
        'project database connection limit reached: every connection the project may open is in use (see limits.db_connections)',
        'connection_limit_reached',
      );
    }
    throw new AppError(503, 'project database is not reachable', 'database_unreachable');
  }
  try {
    const result = (await client.query(query)) as pg.QueryResult | pg.QueryResult[];
    const last = Array.isArray(result) ? result[result.length - 1] : result;
    const rows = last?.rows ?? [];
    if (rows.length > MAX_ROWS)
      throw new AppError(400, `result has more than ${MAX_ROWS} rows`, 'too_many_rows');
    return rows;
  } catch (error) {
    const pgError = error as { code?: string; message?: string };
    if (error instanceof AppError) throw error;
    if (typeof pgError.code === 'string' && /^[0-9A-Z]{5}$/.test(pgError.code)) {
      throw new AppError(400, pgError.message ?? 'query failed', pgError.code);
    }
    if (pgError.message === 'Query read timeout') throw new AppError(400, 'query timed out', '57014');
    throw error;
  } finally {
    await client.end().catch(() => {});
  }
}
