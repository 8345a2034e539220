import type pg from 'pg';
import type { Context } from './context.js';
import { randomSecret } from './crypto.js';
import { AppError, badRequest, conflict, messageOf, notFound } from './errors.js';
import { applyLimits, type LimitsPatch } from './limits.js';
import { setProjectConnectionLimit } from './project-db.js';
import {
  apiStatus,
  apiStatusList,
  limitsOf,
  type ProjectRef,
  type ProjectRow,
  type ProjectStatus,
  projectRowById,
  requireProjectRow,
  secretAad,
  toProjectRef,
  validateName,
  withProjectLock,
} from './projects.js';

// What an operator changes on a live project: its name and limits (PATCH), and its data-API
// settings and JWT secret (GET/PATCH /postgrest, rotate).

async function renameProject(ctx: Context, ref: string, rawName: string): Promise<ProjectRow> {
  const name = validateName(rawName);
  const { rows } = await ctx.db.query<ProjectRow>(
    `UPDATE tm.projects SET name = $2, version = version + 1, updated_at = $3
     WHERE ref = $1 AND status <> 'REMOVED' RETURNING *`,
    [ref, name, ctx.clock.now()],
  );
  if (!rows[0]) throw notFound();
  await ctx.invalidator.project(ref, 'renamed');
  return rows[0];
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
      throw conflict(
        `project is ${apiStatus(row.status)}; expected ${apiStatusList(SETTLED, ' or ')}`,
        'invalid_status',
      );
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
 * project. Limits change only in ACTIVE_HEALTHY or INACTIVE (stored PAUSED) (409 otherwise); gateways are told
 * (`limits-updated`, and `renamed` for a name).
 */
export async function updateProject(
  ctx: Context,
  ref: string,
  patch: { name?: string; limits?: LimitsPatch },
): Promise<UpdatedProject> {
  if (patch.limits === undefined) {
    const row =
      patch.name === undefined
        ? await requireProjectRow(ctx.db, ref)
        : await renameProject(ctx, ref, patch.name);
    return updatedProject(row);
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
  return updatedProject(updated);
}

/** What an update answers: Supabase's V1ProjectRefResponse, and the limits now in force (Supaplane's). */
export type UpdatedProject = ProjectRef & { limits: ReturnType<typeof limitsOf> };

const updatedProject = (row: ProjectRow): UpdatedProject => ({ ...toProjectRef(row), limits: limitsOf(row) });

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

/** Data-API settings, as Supabase's `GET /v1/projects/{ref}/postgrest` (plus `db_aggregates_enabled`). */
export async function getPostgrestConfig(ctx: Context, ref: string) {
  return postgrestConfig(ctx, await requireProjectRow(ctx.db, ref));
}

/**
 * Replaces the project's HS256 JWT secret with a new random one (32 bytes, sealed at rest) and tells
 * the gateways (`jwt-rotated`): tokens signed with the old secret stop verifying once they evict,
 * and the rest function re-reads its config on the first token that fails. Answers like
 * `GET /postgrest`, with the new secret. Only ACTIVE_HEALTHY or INACTIVE projects (409 otherwise).
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

/** Bounds of `PATCH /postgrest`'s fields (the schema's, and the reasons here). */
export const POSTGREST_RANGES = {
  // A response past 6 MB is refused by the Function URL anyway; a million short rows is already that.
  max_rows: { minimum: 1, maximum: 1_000_000 },
  // Every exposed schema is loaded into the function's schema cache on each cold start and reload.
  schemas: 32,
} as const;

/** Postgres' reserved names and the schemas the platform owns: never exposed through the data API. */
const PLATFORM_SCHEMAS = new Set(['information_schema', 'auth', 'supaplane']);
/** An unquoted Postgres identifier (at most 63 bytes, so ASCII only). */
const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_$]{0,62}$/;

/**
 * `db_schema` as Supabase takes it (comma-separated, spaces around names ignored) → the schema list,
 * first occurrence kept. 400 `invalid_db_schema` for an empty or malformed name, a system or platform
 * schema (`pg_*`, `information_schema`, `auth`, `supaplane`), or more than 32 schemas. Whether the
 * schemas exist is not checked: a missing one answers PGRST106 like any unexposed schema.
 */
function parseSchemaList(raw: string): string[] {
  const schemas: string[] = [];
  for (const part of raw.split(',')) {
    const name = part.trim();
    if (!IDENTIFIER.test(name)) {
      throw badRequest(
        `db_schema: ${JSON.stringify(name)} is not a schema name (letters, digits, _ or $, not starting with a digit, at most 63 characters)`,
        'invalid_db_schema',
      );
    }
    if (name.startsWith('pg_') || PLATFORM_SCHEMAS.has(name)) {
      throw badRequest(
        `db_schema: ${name} is a system or platform schema and cannot be exposed`,
        'invalid_db_schema',
      );
    }
    if (!schemas.includes(name)) schemas.push(name);
  }
  if (schemas.length > POSTGREST_RANGES.schemas) {
    throw badRequest(`db_schema: at most ${POSTGREST_RANGES.schemas} schemas`, 'invalid_db_schema');
  }
  return schemas;
}

/**
 * PostgREST's `db-extra-search-path` as the data API applies it to every project (after the
 * exposed schema), in Supabase's default spelling. Not settable: it is the engine's.
 */
export const DB_EXTRA_SEARCH_PATH = 'public, extensions';

const nameList = (raw: string) =>
  raw
    .split(',')
    .map((name) => name.trim())
    .filter((name) => name !== '');

/**
 * Supabase's PATCH fields this platform does not let change, said plainly rather than ignored: the
 * search path the CLI's `config push` always sends is taken when it is the one the data API uses.
 */
function refuseFixedSettings(patch: PostgrestPatch): void {
  if (patch.db_schema !== undefined && patch.db_schema.trim() === '') {
    throw badRequest(
      'db_schema: the data API cannot be turned off here (an empty db_schema does that on Supabase); name at least one schema',
      'unsupported_setting',
    );
  }
  const path = patch.db_extra_search_path;
  if (path !== undefined && nameList(path).join(',') !== nameList(DB_EXTRA_SEARCH_PATH).join(',')) {
    throw badRequest(
      `db_extra_search_path is fixed at '${DB_EXTRA_SEARCH_PATH}' on this platform (the data API searches the exposed schema, then those); got ${JSON.stringify(path.slice(0, 200))}`,
      'unsupported_setting',
    );
  }
  if (patch.db_pool !== undefined && patch.db_pool !== null) {
    throw badRequest(
      "db_pool is not configurable here: each data-API function instance keeps its own small pool, and limits.db_connections caps the project's connections (PATCH /v1/projects/:ref)",
      'unsupported_setting',
    );
  }
}

interface PostgrestPatch {
  db_schema?: string;
  max_rows?: number;
  db_aggregates_enabled?: boolean;
  /** Supabase's; only the data API's own search path is taken. */
  db_extra_search_path?: string;
  /** Supabase's; only null (automatic) is taken. */
  db_pool?: number | null;
}

/**
 * `PATCH /v1/projects/:ref/postgrest`: the exposed schemas, the row cap and whether aggregates are
 * allowed (only the fields present change). ACTIVE_HEALTHY or INACTIVE only (409 otherwise); the
 * version grows and gateways are told (`postgrest-updated`), so the next request a gateway forwards
 * carries the new version and the rest function re-reads its config before serving it. Answers the
 * settings as `GET /postgrest` does, without the JWT secret.
 */
export async function updatePostgrestConfig(ctx: Context, ref: string, patch: PostgrestPatch) {
  refuseFixedSettings(patch);
  const schemas = patch.db_schema === undefined ? null : parseSchemaList(patch.db_schema);
  const row = await changeSettled(ctx, ref, async (db, { id }) => {
    const { rows } = await db.query<ProjectRow>(
      `UPDATE tm.projects SET db_schemas = COALESCE($2, db_schemas), max_rows = COALESCE($3, max_rows),
         db_aggregates_enabled = COALESCE($4, db_aggregates_enabled), version = version + 1, updated_at = $5
       WHERE id = $1 RETURNING *`,
      [id, schemas, patch.max_rows ?? null, patch.db_aggregates_enabled ?? null, ctx.clock.now()],
    );
    return rows[0]!;
  });
  ctx.log.info(
    { ref, dbSchemas: row.db_schemas, maxRows: row.max_rows, aggregates: row.db_aggregates_enabled },
    'data-API settings updated',
  );
  await ctx.invalidator.project(ref, 'postgrest-updated');
  return postgrestSettings(row);
}

/** The data-API settings alone: what a PATCH answers (Supabase's PATCH answers no secret either). */
function postgrestSettings(row: ProjectRow) {
  return {
    db_schema: row.db_schemas.join(','),
    max_rows: row.max_rows,
    db_extra_search_path: DB_EXTRA_SEARCH_PATH,
    // Supabase's null: sized automatically (here, by the platform for each function instance).
    db_pool: null,
    db_aggregates_enabled: row.db_aggregates_enabled,
  };
}

function postgrestConfig(ctx: Context, row: ProjectRow) {
  return {
    ...postgrestSettings(row),
    jwt_secret: ctx.box.open(row.jwt_secret_enc, secretAad.jwtSecret(row.id)),
  };
}
