import { randomInt, randomUUID } from 'node:crypto';
import type pg from 'pg';
import type { Context, TransitionStep } from './context.js';
import { randomSecret } from './crypto.js';
import {
  AppError,
  badRequest,
  conflict,
  isFromWorkerCluster,
  isUnreachable,
  messageOf,
  notFound,
} from './errors.js';
import { applyLimits, type LimitsPatch, type ProjectLimits } from './limits.js';
import {
  dropProjectDatabase,
  setProjectConnectionLimit,
  setProjectConnections,
  setProjectReadOnly,
} from './project-db.js';
import { ensureProjectFunction } from './rest-functions.js';
import { withAdvisoryLock } from './transaction.js';

/** Supabase's project statuses (PAUSED instead of INACTIVE, as the issue asks). */
export const PROJECT_STATUSES = [
  'COMING_UP',
  'ACTIVE_HEALTHY',
  'ACTIVE_UNHEALTHY',
  'PAUSING',
  'PAUSED',
  'RESTORING',
  'PAUSE_FAILED',
  'RESTORE_FAILED',
  'INIT_FAILED',
  'GOING_DOWN',
  'REMOVED',
] as const;
export type ProjectStatus = (typeof PROJECT_STATUSES)[number];

/** Lower-case letters, digits and inner hyphens, 3–40 chars: fits a DNS label and `authenticator_<ref>`. */
export const REF_PATTERN = /^[a-z0-9][a-z0-9-]{1,38}[a-z0-9]$/;
const MAX_NAME = 256;

export interface ProjectRow {
  id: string;
  ref: string;
  name: string;
  status: ProjectStatus;
  step: string;
  attempts: number;
  last_error: string | null;
  requested_cluster_id: string | null;
  requested_region: string | null;
  cluster_id: string | null;
  region: string | null;
  owner_password_enc: string;
  authenticator_password_enc: string;
  jwt_secret_enc: string;
  db_schemas: string[];
  max_rows: number;
  rest_url: string | null;
  rest_region: string | null;
  db_connection_limit: number;
  rate_limit_rps: number | null;
  rate_limit_burst: number | null;
  db_size_limit_mb: number | null;
  /** The platform made the database read-only because it outgrew `db_size_limit_mb`. */
  db_read_only: boolean;
  /** When the platform made the database read-only (null while it is not). */
  db_read_only_since: Date | null;
  version: number;
  created_at: Date;
  updated_at: Date;
}

/** A project as the Management API shows it. */
export interface Project {
  id: string;
  ref: string;
  name: string;
  status: ProjectStatus;
  region: string | null;
  cluster_id: string | null;
  created_at: string;
  endpoint: string;
  /** The last provisioning error while COMING_UP, the cause of INIT_FAILED, why a pause, restore or delete is unfinished or failed; null once a step succeeds. */
  last_error: string | null;
  limits: ProjectLimits;
}

export const secretAad = {
  ownerPassword: (id: string) => `project:${id}:owner-password`,
  authenticatorPassword: (id: string) => `project:${id}:authenticator-password`,
  jwtSecret: (id: string) => `project:${id}:jwt-secret`,
};

export function projectEndpoint(ctx: Context, ref: string): string {
  return ctx.settings.publicUrlTemplate.replaceAll('{ref}', ref);
}

export function toProject(ctx: Context, row: ProjectRow): Project {
  return {
    id: row.id,
    ref: row.ref,
    name: row.name,
    status: row.status,
    region: row.region ?? row.requested_region,
    cluster_id: row.cluster_id,
    created_at: row.created_at.toISOString(),
    endpoint: projectEndpoint(ctx, row.ref),
    last_error: row.last_error,
    limits: limitsOf(row),
  };
}

export const limitsOf = (row: ProjectRow): ProjectLimits => ({
  db_connections: row.db_connection_limit,
  requests_per_second: row.rate_limit_rps,
  burst: row.rate_limit_burst,
  db_size_mb: row.db_size_limit_mb,
});

/** A Supabase-style ref: 20 random lower-case letters. */
export function generateRef(): string {
  let ref = '';
  for (let i = 0; i < 20; i++) ref += String.fromCharCode(97 + randomInt(26));
  return ref;
}

export function validateName(raw: string): string {
  const name = raw.trim();
  if (name.length === 0 || name.length > MAX_NAME || /\p{Cc}/u.test(name)) {
    throw badRequest(`invalid project name: 1 to ${MAX_NAME} printable characters`, 'invalid_name');
  }
  return name;
}

export function validateRef(ref: string): string {
  if (!REF_PATTERN.test(ref)) {
    throw badRequest(
      'invalid project ref: 3 to 40 lower-case letters, digits or inner hyphens',
      'invalid_ref',
    );
  }
  return ref;
}

/** The live (not REMOVED) project row with this ref. */
export async function findProjectRow(db: pg.ClientBase | pg.Pool, ref: string): Promise<ProjectRow | null> {
  if (!REF_PATTERN.test(ref)) return null;
  const { rows } = await db.query<ProjectRow>(
    `SELECT * FROM tm.projects WHERE ref = $1 AND status <> 'REMOVED'`,
    [ref],
  );
  return rows[0] ?? null;
}

/** The row of project `id` as it is now, whatever its status (callers holding its lock read it so). */
export async function projectRowById(
  db: pg.ClientBase | pg.Pool,
  id: string,
): Promise<ProjectRow | undefined> {
  const { rows } = await db.query<ProjectRow>('SELECT * FROM tm.projects WHERE id = $1', [id]);
  return rows[0];
}

export async function requireProjectRow(db: pg.ClientBase | pg.Pool, ref: string): Promise<ProjectRow> {
  const row = await findProjectRow(db, validateRef(ref));
  if (!row) throw notFound();
  return row;
}

/**
 * The project row for a call that stores a credential (API key, signing key, secret): refused with
 * 409 `invalid_status` while the project is being deleted or never came up, where it would outlive
 * the teardown or never be used.
 */
export async function requireProjectForCredentials(
  db: pg.ClientBase | pg.Pool,
  ref: string,
): Promise<ProjectRow> {
  const row = await requireProjectRow(db, ref);
  if (row.status === 'GOING_DOWN' || row.status === 'INIT_FAILED') {
    throw conflict(`project is ${row.status}`, 'invalid_status');
  }
  return row;
}

export interface NewProject {
  name: string;
  ref?: string;
  cluster_id?: string;
  region?: string;
  /** Defaults: `ctx.settings.defaultLimits`. */
  limits?: LimitsPatch;
}

/** Records a new project in COMING_UP with its credentials; provisioning does the rest. */
export async function insertProject(ctx: Context, input: NewProject): Promise<ProjectRow> {
  const name = validateName(input.name);
  const ref = input.ref === undefined ? generateRef() : validateRef(input.ref);
  const limits = applyLimits(ctx.settings.defaultLimits, input.limits ?? {});
  if (input.cluster_id !== undefined) {
    const { rows } = await ctx.db.query(`SELECT status FROM tm.clusters WHERE id::text = lower($1)`, [
      input.cluster_id,
    ]);
    if (!rows[0]) throw badRequest('unknown cluster_id', 'invalid_cluster');
    if (rows[0].status !== 'active') throw badRequest('cluster is not active', 'invalid_cluster');
  }
  // Refuse at once when nothing could take the project (races still end cleanly in INIT_FAILED).
  const room = await ctx.db.query(
    `SELECT 1 FROM tm.clusters c
     WHERE c.status = 'active' AND ($1::uuid IS NULL OR c.id = $1) AND ($2::text IS NULL OR c.region = $2)
       AND c.capacity > (SELECT count(*) FROM tm.projects p
                         WHERE p.cluster_id = c.id AND p.status NOT IN ('REMOVED', 'INIT_FAILED'))
     LIMIT 1`,
    [input.cluster_id ?? null, input.region ?? null],
  );
  if (!room.rowCount) throw new AppError(503, 'no worker cluster has room for a new project', 'no_capacity');

  const id = randomUUID();
  const now = ctx.clock.now();
  try {
    const { rows } = await ctx.db.query<ProjectRow>(
      `INSERT INTO tm.projects (id, ref, name, status, step, requested_cluster_id, requested_region,
         owner_password_enc, authenticator_password_enc, jwt_secret_enc, db_connection_limit,
         rate_limit_rps, rate_limit_burst, db_size_limit_mb, created_at, updated_at)
       VALUES ($1, $2, $3, 'COMING_UP', 'allocate_cluster', $4, $5, $6, $7, $8, $10, $11, $12, $13, $9, $9)
       RETURNING *`,
      [
        id,
        ref,
        name,
        input.cluster_id ?? null,
        input.region ?? null,
        ctx.box.seal(randomSecret(24), secretAad.ownerPassword(id)),
        ctx.box.seal(randomSecret(24), secretAad.authenticatorPassword(id)),
        ctx.box.seal(randomSecret(32), secretAad.jwtSecret(id)),
        now,
        limits.db_connections,
        limits.requests_per_second,
        limits.burst,
        limits.db_size_mb,
      ],
    );
    return rows[0]!;
  } catch (error) {
    if ((error as { code?: string }).code === '23505') {
      throw conflict(`a project with ref ${ref} already exists`, 'duplicate_ref');
    }
    throw error;
  }
}

export async function getProject(ctx: Context, ref: string): Promise<Project> {
  return toProject(ctx, await requireProjectRow(ctx.db, ref));
}

export async function listProjects(
  ctx: Context,
  query: { limit: number; offset: number; status?: ProjectStatus },
): Promise<Project[]> {
  const { rows } = await ctx.db.query<ProjectRow>(
    `SELECT * FROM tm.projects
     WHERE ($1::text IS NULL AND status <> 'REMOVED') OR status = $1
     ORDER BY created_at, id LIMIT $2 OFFSET $3`,
    [query.status ?? null, query.limit, query.offset],
  );
  return rows.map((row) => toProject(ctx, row));
}

export async function renameProject(ctx: Context, ref: string, rawName: string): Promise<Project> {
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

/** Where limits may change: the project database exists (a paused one too) and no step is running. */
const LIMITS_STATUSES: readonly ProjectStatus[] = ['ACTIVE_HEALTHY', 'PAUSED'];

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
  const found = await requireProjectRow(ctx.db, ref);
  const result = await withProjectLock(ctx, found.id, async (db) => {
    const row = await projectRowById(db, found.id);
    if (!row || row.status === 'REMOVED') throw notFound();
    if (!LIMITS_STATUSES.includes(row.status)) {
      throw conflict(`project is ${row.status}; expected ACTIVE_HEALTHY or PAUSED`, 'invalid_status');
    }
    const limits = applyLimits(limitsOf(row), limitsPatch);
    if (limitsPatch.db_connections !== undefined) {
      await applyConnectionLimit(ctx, row, limits.db_connections);
    }
    const updated = await db.query<ProjectRow>(
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
    return updated.rows[0]!;
  });
  const row = result!;
  ctx.log.info({ ref, limits: limitsOf(row) }, 'project limits updated');
  if (name !== null) await ctx.invalidator.project(ref, 'renamed');
  await ctx.invalidator.project(ref, 'limits-updated');
  return toProject(ctx, row);
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

/** Runs `fn` holding the project's advisory lock (the one provisioning holds while it works). */
export function withProjectLock<T>(
  ctx: Context,
  projectId: string,
  fn: (db: pg.PoolClient) => Promise<T>,
  wait = true,
): Promise<T | undefined> {
  return withAdvisoryLock(ctx, `supaplane.project:${projectId}`, fn, wait);
}

async function keyHashes(db: pg.ClientBase, projectId: string): Promise<string[]> {
  const { rows } = await db.query<{ hash: string }>('SELECT hash FROM tm.api_keys WHERE project_id = $1', [
    projectId,
  ]);
  return rows.map((r) => r.hash);
}

/**
 * Removes everything a project holds outside its row: function, database, roles, keys, secrets,
 * signing keys. Idempotent; returns the hashes of the keys it removed.
 */
export async function teardownProject(ctx: Context, db: pg.ClientBase, row: ProjectRow): Promise<string[]> {
  await ctx.provider.functions.deleteRestFunction(row.ref);
  if (row.cluster_id) {
    const cluster = await ctx.clusters.get(row.cluster_id);
    await dropProjectDatabase(cluster.admin, row.ref);
  }
  const hashes = await keyHashes(db, row.id);
  await db.query('DELETE FROM tm.api_keys WHERE project_id = $1', [row.id]);
  await db.query('DELETE FROM tm.project_secrets WHERE project_id = $1', [row.id]);
  await db.query('DELETE FROM tm.signing_keys WHERE project_id = $1', [row.id]);
  return hashes;
}

/** A new status starts a new count of failed attempts, with no error yet (a stale one would mislead). */
async function setStatus(ctx: Context, db: pg.ClientBase, id: string, status: ProjectStatus) {
  const { rows } = await db.query<ProjectRow>(
    `UPDATE tm.projects SET status = $2, attempts = 0, last_error = NULL, version = version + 1, updated_at = $3
     WHERE id = $1 RETURNING *`,
    [id, status, ctx.clock.now()],
  );
  return rows[0]!;
}

/**
 * Where a delete, pause or restore whose step failed goes on: the provisioner retries it in the
 * background (once the caller has released the project's lock), a pause or restore at most
 * `transitionAttempts` failed attempts in all, the call's own included.
 */
export interface UnfinishedWork {
  readonly transitionAttempts: number;
  finishTransition(projectId: string): Promise<void>;
  finishDelete(projectId: string): Promise<void>;
}

const FAILED_ENDS: readonly ProjectStatus[] = ['PAUSE_FAILED', 'RESTORE_FAILED'];
/** The status a pause or restore ends in once its attempts are used up (a delete has none: it is retried until done). */
const FAILED_STATUS: Partial<Record<ProjectStatus, ProjectStatus>> = {
  PAUSING: 'PAUSE_FAILED',
  RESTORING: 'RESTORE_FAILED',
};

/**
 * The one place a failed attempt at finishing a delete, pause or restore is recorded, on the session
 * holding the project's lock (the call's or the background's): `last_error`, one more attempt, and,
 * for a pause or restore whose attempts are used up, PAUSE_FAILED / RESTORE_FAILED (gateways told).
 * Only while the project is GOING_DOWN, PAUSING or RESTORING; the status after it, or null when the
 * project is in none of them (finished or failed meanwhile: nothing left to retry).
 */
export async function recordUnfinished(
  ctx: Context,
  db: pg.ClientBase,
  id: string,
  error: unknown,
  maxAttempts: number,
): Promise<ProjectStatus | null> {
  const message = messageOf(error);
  const { rows } = await db.query<ProjectRow & { failed: boolean }>(
    `WITH attempt AS (
       SELECT id, attempts + 1 >= $4 AND status IN ('PAUSING', 'RESTORING') AS failed
       FROM tm.projects WHERE id = $1 AND status IN ('PAUSING', 'RESTORING', 'GOING_DOWN')
     )
     UPDATE tm.projects p SET last_error = $2, updated_at = $3,
       attempts = p.attempts + 1,
       status = CASE WHEN NOT a.failed THEN p.status WHEN p.status = 'PAUSING' THEN $5 ELSE $6 END,
       version = p.version + a.failed::int
     FROM attempt a WHERE p.id = a.id RETURNING p.*, a.failed`,
    [id, message.slice(0, 500), ctx.clock.now(), maxAttempts, FAILED_STATUS.PAUSING, FAILED_STATUS.RESTORING],
  );
  const row = rows[0];
  if (!row) return null;
  if (row.failed) {
    ctx.log.error(
      { ref: row.ref, status: row.status, err: message },
      'gave up retrying; an operator must act',
    );
    await ctx.invalidator.project(row.ref, row.status === 'PAUSE_FAILED' ? 'pause-failed' : 'restore-failed');
    return null;
  }
  ctx.log.warn({ ref: row.ref, status: row.status, err: message }, 'step failed; will retry');
  return row.status;
}

/**
 * Records why a delete, pause or restore did not finish during the call and gives the answer: 503
 * saying the project stays `via` and is retried, or that it is now PAUSE_FAILED / RESTORE_FAILED;
 * the error itself when the management database is what failed (its own 503).
 */
async function unfinished(
  ctx: Context,
  db: pg.ClientBase,
  row: ProjectRow,
  what: string,
  work: UnfinishedWork,
  error: unknown,
): Promise<{ error: unknown; retry: boolean }> {
  const status = await recordUnfinished(ctx, db, row.id, error, work.transitionAttempts).catch(
    () => row.status,
  );
  if (isUnreachable(error) && !isFromWorkerCluster(error)) return { error, retry: status !== null };
  const code = what === 'delete' ? 'delete_incomplete' : 'transition_incomplete';
  if (status === null) {
    // Nothing left to retry: this attempt was the last one, or the step failed before the project
    // was in a state that is retried (then the error is answered as it is).
    const now = (await projectRowById(db, row.id).catch(() => undefined))?.status;
    if (now === undefined || !FAILED_ENDS.includes(now)) return { error, retry: false };
    return {
      error: new AppError(
        503,
        `the ${what} failed and is not retried any more (see the project's last_error); the project is ${now}: pause, restore or delete it again to retry`,
        'transition_failed',
      ),
      retry: false,
    };
  }
  return {
    error: new AppError(
      503,
      `the ${what} did not finish (see the project's last_error); the project stays ${status} and is retried in the background`,
      code,
    ),
    retry: true,
  };
}

/**
 * Deletes a project: GOING_DOWN first (so a crash is finished on restart), then teardown, then
 * REMOVED. A removed ref answers 404 afterwards, so deleting twice gives 200 then 404. A step that
 * fails (cluster or function provider unreachable) leaves it GOING_DOWN for `retry` and answers 503.
 */
export async function deleteProject(ctx: Context, ref: string, work: UnfinishedWork): Promise<Project> {
  const found = await requireProjectRow(ctx.db, ref);
  let failure: { error: unknown; retry: boolean } | null = null;
  const result = await withProjectLock(ctx, found.id, async (db) => {
    try {
      return await finishDelete(ctx, db, found.id);
    } catch (error) {
      failure = await unfinished(ctx, db, found, 'delete', work, error);
      return undefined;
    }
  });
  if (failure) throw handOver(failure, found.id, work.finishDelete.bind(work));
  if (!result) throw notFound();
  return result;
}

/** Hands a project whose step failed during the call to the background (lock released) and gives the error to answer. */
function handOver(
  failure: { error: unknown; retry: boolean },
  projectId: string,
  finish: (projectId: string) => Promise<void>,
): unknown {
  if (failure.retry) void finish(projectId);
  return failure.error;
}

export async function finishDelete(
  ctx: Context,
  db: pg.ClientBase,
  id: string,
): Promise<Project | undefined> {
  const row = await projectRowById(db, id);
  if (!row || row.status === 'REMOVED') return undefined;
  if (row.status !== 'GOING_DOWN') await setStatus(ctx, db, id, 'GOING_DOWN');
  // Gateways stop serving before anything is dropped.
  await ctx.invalidator.project(row.ref, 'deleted', await keyHashes(db, id));
  const hashes = await teardownProject(ctx, db, row);
  const removed = await setStatus(ctx, db, id, 'REMOVED');
  await ctx.invalidator.project(row.ref, 'deleted', hashes);
  ctx.log.info({ ref: row.ref }, 'project removed');
  return toProject(ctx, removed);
}

interface Transition {
  /** Where the call starts from: the usual state, and the failed ends of either transition (a retry, or undoing a failed one). */
  readonly from: readonly ProjectStatus[];
  /** Recorded while the transition runs: what a crash leaves behind, and what `finishTransition` picks up. */
  readonly via: ProjectStatus;
  readonly to: ProjectStatus;
  /** The database takes connections at the end (restore) or refuses them (pause). */
  readonly open: boolean;
}
const PAUSE: Transition = {
  from: ['ACTIVE_HEALTHY', ...FAILED_ENDS],
  via: 'PAUSING',
  to: 'PAUSED',
  open: false,
};
const RESTORE: Transition = {
  from: ['PAUSED', ...FAILED_ENDS],
  via: 'RESTORING',
  to: 'ACTIVE_HEALTHY',
  open: true,
};

/** ACTIVE_HEALTHY → PAUSED: database connections blocked, gateways told to refuse its keys. */
export async function pauseProject(ctx: Context, ref: string, work: UnfinishedWork): Promise<Project> {
  return transition(ctx, ref, PAUSE, work);
}

/** PAUSED → ACTIVE_HEALTHY. */
export async function restoreProject(ctx: Context, ref: string, work: UnfinishedWork): Promise<Project> {
  return transition(ctx, ref, RESTORE, work);
}

/**
 * A step that fails leaves the project in `t.via` with `last_error` saying why, hands it to the
 * background (once the lock is released) and answers 503: the operator sees what happens instead of
 * a project stuck until the next restart. Calling again also retries at once. Once its attempts are
 * used up the project is PAUSE_FAILED / RESTORE_FAILED, from which either call starts afresh.
 */
async function transition(ctx: Context, ref: string, t: Transition, work: UnfinishedWork): Promise<Project> {
  const found = await requireProjectRow(ctx.db, ref);
  let failure: { error: unknown; retry: boolean } | null = null;
  const result = await withProjectLock(ctx, found.id, async (db) => {
    const row = await projectRowById(db, found.id);
    if (!row || row.status === 'REMOVED') throw notFound();
    if (row.status === t.to) return toProject(ctx, row);
    if (!t.from.includes(row.status) && row.status !== t.via) {
      throw conflict(`project is ${row.status}; expected ${t.from.join(', ')}`, 'invalid_status');
    }
    try {
      return toProject(ctx, await runTransition(ctx, db, row, t));
    } catch (error) {
      failure = await unfinished(ctx, db, row, t.open ? 'restore' : 'pause', work, error);
      return undefined;
    }
  });
  if (failure) throw handOver(failure, found.id, work.finishTransition.bind(work));
  return result!;
}

/**
 * Finishes a pause or restore that was cut off (the process died, or a step failed): a PAUSING
 * project completes its pause, a RESTORING one its restore. Every step is idempotent, so steps that
 * had in fact completed are harmless to re-run. The caller holds the project's lock. Undefined when
 * the project is in neither state (finished meanwhile, removed).
 */
export async function finishTransition(
  ctx: Context,
  db: pg.ClientBase,
  id: string,
): Promise<Project | undefined> {
  const row = await projectRowById(db, id);
  const t = [PAUSE, RESTORE].find((candidate) => candidate.via === row?.status);
  if (!row || !t) return undefined;
  ctx.log.info({ ref: row.ref, status: row.status }, 'finishing an interrupted pause or restore');
  return toProject(ctx, await runTransition(ctx, db, row, t));
}

/** From `t.from` or `t.via` to `t.to`; the caller holds the project's lock. */
async function runTransition(
  ctx: Context,
  db: pg.ClientBase,
  row: ProjectRow,
  t: Transition,
): Promise<ProjectRow> {
  const { ref } = row;
  const step = (name: TransitionStep) => ctx.faults?.beforeTransitionStep?.(name, ref);
  if (row.status !== t.via) await setStatus(ctx, db, row.id, t.via);
  await step('prepare');
  if (!t.open) await ctx.invalidator.project(ref, 'paused', await keyHashes(db, row.id));
  // The start-up reconciliation skips paused projects: a restored one gets the current environment
  // (its function token among it) and function URL here, before it serves again.
  if (t.open) await ensureProjectFunction(ctx, db, row);
  const cluster = await ctx.clusters.get(row.cluster_id!);
  // Before connections are allowed again: a restored database is never without its limits.
  if (t.open) {
    await setProjectConnectionLimit(cluster.admin, ref, row.db_connection_limit);
    if (row.db_read_only) await setProjectReadOnly(cluster.admin, ref, true);
  }
  await step('connections');
  await setProjectConnections(cluster.admin, ref, t.open);
  await step('settle');
  const { rows } = await db.query<ProjectRow>(
    `UPDATE tm.projects SET status = $2, last_error = NULL, attempts = 0, version = version + 1,
       updated_at = $3
     WHERE id = $1 RETURNING *`,
    [row.id, t.to, ctx.clock.now()],
  );
  const done = rows[0]!;
  await ctx.invalidator.project(ref, t.open ? 'restored' : 'paused', await keyHashes(db, row.id));
  return done;
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
  const found = await requireProjectRow(ctx.db, ref);
  const result = await withProjectLock(ctx, found.id, async (db) => {
    const { rows } = await db.query<ProjectRow>(
      `UPDATE tm.projects SET jwt_secret_enc = $2, version = version + 1, updated_at = $3
       WHERE id = $1 AND status IN ('ACTIVE_HEALTHY', 'PAUSED') RETURNING *`,
      [found.id, ctx.box.seal(randomSecret(32), secretAad.jwtSecret(found.id)), ctx.clock.now()],
    );
    if (rows[0]) return rows[0];
    const current = await findProjectRow(db, ref);
    if (!current || current.id !== found.id) throw notFound();
    throw conflict(`project is ${current.status}; expected ACTIVE_HEALTHY or PAUSED`, 'invalid_status');
  });
  const row = result!;
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
