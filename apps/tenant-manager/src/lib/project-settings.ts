import type pg from 'pg';
import type { Context } from './context.js';
import { randomSecret } from './crypto.js';
import { AppError, conflict, messageOf, notFound } from './errors.js';
import { applyLimits, type LimitsPatch } from './limits.js';
import { setProjectConnectionLimit } from './project-db.js';
import {
  getProject,
  limitsOf,
  type Project,
  type ProjectRow,
  type ProjectStatus,
  projectRowById,
  requireProjectRow,
  secretAad,
  toProject,
  validateName,
  withProjectLock,
} from './projects.js';

// What an operator changes on a live project: its name and limits (PATCH), and its data-API
// settings and JWT secret (GET /postgrest, rotate).

async function renameProject(ctx: Context, ref: string, rawName: string): Promise<Project> {
  const name = validateName(rawName);
  const { rows } = await ctx.db.query<ProjectRow>(
    `UPDATE tm.projects SET name = $2, version = version + 1, updated_at = $3
     WHERE ref = $1 AND status <> 'REMOVED' RETURNING *`,
    [ref, name, ctx.clock.now()],
  );
  if (!rows[0]) throw notFound();
  await ctx.invalidator.project(ref, 'renamed');
  return toProject(ctx, rows[0]);
}

/** Where limits and the JWT secret may change: the project database exists (a paused one too) and no step is running. */
const SETTLED: readonly ProjectStatus[] = ['ACTIVE_HEALTHY', 'PAUSED'];

/** Runs `change` under the project's lock on its row as it is then: 404 once removed, 409 unless settled. */
async function changeSettled(
  ctx: Context,
  ref: string,
  change: (db: pg.ClientBase, row: ProjectRow) => Promise<ProjectRow>,
): Promise<ProjectRow> {
  const found = await requireProjectRow(ctx.db, ref);
  const changed = await withProjectLock(ctx, found.id, async (db) => {
    const row = await projectRowById(db, found.id);
    if (!row || row.status === 'REMOVED') throw notFound();
    if (!SETTLED.includes(row.status)) {
      throw conflict(`project is ${row.status}; expected ${SETTLED.join(' or ')}`, 'invalid_status');
    }
    return change(db, row);
  });
  // Waiting for the lock, withProjectLock always runs the callback.
  return changed!;
}

/**
 * `PATCH /v1/projects/:ref`: a new name and/or limits (only the fields present change). A new
 * `db_connections` is set on the cluster first, so an unreachable cluster (503) leaves everything
 * as it was. A new `db_size_mb` is only stored: the caller has the `SizeLimitEnforcer` re-check the
 * project. Limits change only in ACTIVE_HEALTHY or PAUSED (409 otherwise); gateways are told
 * (`limits-updated`, and `renamed` for a name).
 */
export async function updateProject(
  ctx: Context,
  ref: string,
  patch: { name?: string; limits?: LimitsPatch },
): Promise<Project> {
  if (patch.limits === undefined) {
    return patch.name === undefined ? getProject(ctx, ref) : renameProject(ctx, ref, patch.name);
  }
  const limitsPatch = patch.limits;
  const name = patch.name === undefined ? null : validateName(patch.name);
  const updated = await changeSettled(ctx, ref, async (db, row) => {
    const limits = applyLimits(limitsOf(row), limitsPatch);
    if (limitsPatch.db_connections !== undefined) {
      await applyConnectionLimit(ctx, row, limits.db_connections);
    }
    const { rows } = await db.query<ProjectRow>(
      `UPDATE tm.projects SET name = COALESCE($2, name), db_connection_limit = $3, rate_limit_rps = $4,
         rate_limit_burst = $5, db_size_limit_mb = $7, version = version + 1, updated_at = $6
       WHERE id = $1 RETURNING *`,
      [
        row.id,
        name,
        limits.db_connections,
        limits.requests_per_second,
        limits.burst,
        ctx.clock.now(),
        limits.db_size_mb,
      ],
    );
    return rows[0]!;
  });
  ctx.log.info({ ref, limits: limitsOf(updated) }, 'project limits updated');
  if (name !== null) await ctx.invalidator.project(ref, 'renamed');
  await ctx.invalidator.project(ref, 'limits-updated');
  return toProject(ctx, updated);
}

/** Sets the project database's CONNECTION LIMIT; a cluster that cannot do it now is a 503. */
async function applyConnectionLimit(ctx: Context, row: ProjectRow, limit: number): Promise<void> {
  try {
    const cluster = await ctx.clusters.get(row.cluster_id!);
    await setProjectConnectionLimit(cluster.admin, row.ref, limit);
  } catch (error) {
    ctx.log.warn({ ref: row.ref, err: messageOf(error) }, 'connection limit not applied');
    throw new AppError(
      503,
      "the project's database cluster is not reachable; the limits were not changed",
      'database_unreachable',
    );
  }
}

/** Data-API settings, as Supabase's `GET /v1/projects/{ref}/postgrest`. */
export async function getPostgrestConfig(ctx: Context, ref: string) {
  return postgrestConfig(ctx, await requireProjectRow(ctx.db, ref));
}

/**
 * Replaces the project's HS256 JWT secret with a new random one (32 bytes, sealed at rest) and tells
 * the gateways (`jwt-rotated`): tokens signed with the old secret stop verifying once they evict,
 * and the rest function re-reads its config on the first token that fails. Answers like
 * `GET /postgrest`, with the new secret. Only ACTIVE_HEALTHY or PAUSED projects (409 otherwise).
 */
export async function rotateJwtSecret(ctx: Context, ref: string) {
  const row = await changeSettled(ctx, ref, async (db, { id }) => {
    const { rows } = await db.query<ProjectRow>(
      `UPDATE tm.projects SET jwt_secret_enc = $2, version = version + 1, updated_at = $3
       WHERE id = $1 RETURNING *`,
      [id, ctx.box.seal(randomSecret(32), secretAad.jwtSecret(id)), ctx.clock.now()],
    );
    return rows[0]!;
  });
  ctx.log.info({ ref }, 'jwt secret rotated');
  await ctx.invalidator.project(ref, 'jwt-rotated');
  return postgrestConfig(ctx, row);
}

function postgrestConfig(ctx: Context, row: ProjectRow) {
  return {
    db_schema: row.db_schemas.join(','),
    max_rows: row.max_rows,
    jwt_secret: ctx.box.open(row.jwt_secret_enc, secretAad.jwtSecret(row.id)),
  };
}
