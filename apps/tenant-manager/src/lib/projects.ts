import { randomInt, randomUUID } from 'node:crypto';
import type pg from 'pg';
import type { Context } from './context.js';
import { randomSecret } from './crypto.js';
import { AppError, badRequest, conflict, notFound } from './errors.js';
import { applyLimits, type LimitsPatch, type ProjectLimits } from './limits.js';
import { requireOwnOrganization } from './organizations.js';
import { withAdvisoryLock } from './transaction.js';

// A project's row and its API shape, reading and creating projects, and the project's lock. What
// changes a live project is in project-settings.ts, its status transitions in project-lifecycle.ts.

/**
 * The statuses a project row stores. A paused project is stored `PAUSED` (what every version of the
 * tenant-manager and the gateway's internal record reads), and shown as Supabase's `INACTIVE` by the
 * operator API (`apiStatus`).
 */
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

/** The statuses the operator API answers: Supabase's names (a paused project is `INACTIVE`). */
export const API_PROJECT_STATUSES = PROJECT_STATUSES.map((s) =>
  s === 'PAUSED' ? 'INACTIVE' : s,
) as readonly (Exclude<ProjectStatus, 'PAUSED'> | 'INACTIVE')[];
export type ApiProjectStatus = (typeof API_PROJECT_STATUSES)[number];

/** A stored status as Supabase's Management API names it. */
export const apiStatus = (status: ProjectStatus): ApiProjectStatus =>
  status === 'PAUSED' ? 'INACTIVE' : status;

/** Stored statuses as the API names them, for messages: `ACTIVE_HEALTHY or INACTIVE`. */
export const apiStatusList = (statuses: readonly ProjectStatus[], joiner = ', '): string =>
  statuses.map(apiStatus).join(joiner);

/** The stored status an API status names (`INACTIVE`, or its old spelling `PAUSED`, is `PAUSED`). */
export const storedStatus = (status: ApiProjectStatus | 'PAUSED'): ProjectStatus =>
  status === 'INACTIVE' ? 'PAUSED' : status;

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
  // Sealed with the master key; null only once REMOVED (projects_secrets_check), and no code reads a
  // removed row's secrets.
  owner_password_enc: string;
  authenticator_password_enc: string;
  jwt_secret_enc: string;
  db_schemas: string[];
  max_rows: number;
  /** PostgREST's `db-aggregates-enabled`: `count()`, `sum()`, … in `select`. */
  db_aggregates_enabled: boolean;
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
  /** Supabase's integer project id (V1ProjectRefResponse): numbered once, never reused (a bigint, read as text). */
  number: string;
  created_at: Date;
  updated_at: Date;
}

/** A project as the Management API shows it. */
export interface Project {
  /** The ref, as Supabase's deprecated `id` is. */
  id: string;
  ref: string;
  name: string;
  status: ApiProjectStatus;
  region: string;
  cluster_id: string | null;
  /** The platform's one organization (its slug), in both of Supabase's fields. */
  organization_id: string;
  organization_slug: string;
  created_at: string;
  endpoint: string;
  /** The last provisioning error while COMING_UP, the cause of INIT_FAILED, why a pause, restore or delete is unfinished or failed; null once a step succeeds. */
  last_error: string | null;
  limits: ProjectLimits;
}

/** Supabase's V1ProjectRefResponse (what a delete or an update answers): its integer id, ref and name. */
export interface ProjectRef {
  id: number;
  ref: string;
  name: string;
}

export const toProjectRef = (row: ProjectRow): ProjectRef => ({
  id: Number(row.number),
  ref: row.ref,
  name: row.name,
});

export const secretAad = {
  ownerPassword: (id: string) => `project:${id}:owner-password`,
  authenticatorPassword: (id: string) => `project:${id}:authenticator-password`,
  jwtSecret: (id: string) => `project:${id}:jwt-secret`,
};

function projectEndpoint(ctx: Context, ref: string): string {
  return ctx.settings.publicUrlTemplate.replaceAll('{ref}', ref);
}

export function toProject(ctx: Context, row: ProjectRow): Project {
  return {
    id: row.ref,
    ref: row.ref,
    name: row.name,
    status: apiStatus(row.status),
    // Supabase's region is always a string: '' while no cluster was chosen and none was asked for.
    region: row.region ?? row.requested_region ?? '',
    cluster_id: row.cluster_id,
    organization_id: ctx.settings.organization.slug,
    organization_slug: ctx.settings.organization.slug,
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
function generateRef(): string {
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

/**
 * A database password as one can be typed into every client: printable ASCII, 8 to 128 characters.
 * (libpq normalises a non-ASCII password with SASLprep before SCRAM; the verifier stored here is made
 * from the bytes as given, so such a password could be refused by one client and taken by another.)
 */
const PASSWORD = /^[\x20-\x7e]{8,128}$/;

export function validateDbPassword(password: string): string {
  if (!PASSWORD.test(password)) {
    throw badRequest(
      'database password must be 8 to 128 printable ASCII characters (letters, digits, punctuation, space)',
      'invalid_password',
    );
  }
  return password;
}

function validateRef(ref: string): string {
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

/** The row of a project whose database is open (ACTIVE_HEALTHY); any other status is 409 naming it. */
export function requireActiveProject(row: ProjectRow): ProjectRow {
  if (row.status !== 'ACTIVE_HEALTHY') {
    throw conflict(
      `project is ${apiStatus(row.status)}; the database is not available`,
      'project_not_active',
    );
  }
  return row;
}

/** Statuses in which a project takes no new API keys, signing keys or secrets (REMOVED reads as 404). */
export const CLOSED_TO_CREDENTIALS: readonly ProjectStatus[] = ['GOING_DOWN', 'INIT_FAILED', 'REMOVED'];

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
  if (CLOSED_TO_CREDENTIALS.includes(row.status)) {
    throw conflict(`project is ${apiStatus(row.status)}`, 'invalid_status');
  }
  return row;
}

/**
 * In the caller's transaction, before it writes a credential: the project's status read again under
 * a share lock on its row. A delete begun since `requireProjectForCredentials` either waits for the
 * write (and its teardown removes what was written) or is seen here: 409 `invalid_status`.
 */
export async function lockProjectForCredentials(db: pg.ClientBase, projectId: string): Promise<void> {
  const { rows } = await db.query<{ status: ProjectStatus }>(
    'SELECT status FROM tm.projects WHERE id = $1 FOR SHARE',
    [projectId],
  );
  const status = rows[0]?.status ?? 'REMOVED';
  if (CLOSED_TO_CREDENTIALS.includes(status)) {
    throw conflict(`project is ${apiStatus(status)}`, 'invalid_status');
  }
}

interface NewProject {
  name: string;
  ref?: string;
  cluster_id?: string;
  region?: string;
  /** Defaults: `ctx.settings.defaultLimits`. */
  limits?: LimitsPatch;
  /** The owner role's password (direct connections); default: random. */
  db_pass?: string;
  /** Supabase's: must be the platform's one organization. */
  organization_slug?: string;
  /** Supabase's deprecated name for `organization_slug`. */
  organization_id?: string;
  /** Supabase's choice of region: a `specific` one is `region`; smart groups are not offered. */
  region_selection?: { type: 'specific' | 'smartGroup'; code: string };
  /** Supabase's; no instance sizes here (refused). */
  desired_instance_size?: string;
  /** Supabase's; no templates here (refused). */
  template_url?: string;
  /** Supabase ignores both (a plan is the organization's), and so does this platform. */
  plan?: string;
  kps_enabled?: boolean;
}

/**
 * The organization and region a create names in Supabase's fields as well as ours; what cannot be
 * honoured here is a 400 saying so, never silently dropped.
 */
async function supabaseCreateFields(ctx: Context, input: NewProject): Promise<{ region?: string }> {
  if (input.desired_instance_size !== undefined) {
    throw badRequest(
      'desired_instance_size: instance sizes are not offered here (projects share a worker cluster); cap a project with limits instead',
      'unsupported_setting',
    );
  }
  if (input.template_url !== undefined) {
    throw badRequest(
      'template_url: creating a project from a template is not offered here',
      'unsupported_setting',
    );
  }
  const { organization_id: id, organization_slug: slug } = input;
  if (id !== undefined && slug !== undefined && id !== slug) {
    throw badRequest(
      `organization_id and organization_slug name different organizations (${id}, ${slug})`,
      'invalid_organization',
    );
  }
  if ((slug ?? id) !== undefined) requireOwnOrganization(ctx, (slug ?? id)!);
  const selection = input.region_selection;
  if (selection === undefined) return { region: input.region };
  if (input.region !== undefined) {
    throw badRequest('only one of region or region_selection can be given', 'validation_failed');
  }
  if (selection.type === 'smartGroup') {
    const served = await servedRegions(ctx);
    throw badRequest(
      `region_selection: smart region groups are not offered here; name a region (regions: ${served.join(', ') || 'none'})`,
      'unsupported_setting',
    );
  }
  return { region: selection.code };
}

/** Records a new project in COMING_UP with its credentials; provisioning does the rest. */
export async function insertProject(ctx: Context, request: NewProject): Promise<ProjectRow> {
  const name = validateName(request.name);
  const input = { ...request, ...(await supabaseCreateFields(ctx, request)) };
  const ref = input.ref === undefined ? generateRef() : validateRef(input.ref);
  const limits = applyLimits(ctx.settings.defaultLimits, input.limits ?? {});
  const ownerPassword = input.db_pass === undefined ? randomSecret(24) : validateDbPassword(input.db_pass);
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
  if (!room.rowCount) {
    if (input.region !== undefined) await requireServedRegion(ctx, input.region, input.cluster_id);
    throw new AppError(503, 'no worker cluster has room for a new project', 'no_capacity');
  }

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
        ctx.box.seal(ownerPassword, secretAad.ownerPassword(id)),
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

/**
 * A region no active cluster (or not the one asked for) is in is the caller's mistake, not a lack
 * of room that frees up: 400 `invalid_region` naming the regions there are, where a 503 would be
 * retried for ever.
 */
async function requireServedRegion(ctx: Context, region: string, clusterId: string | undefined) {
  const served = await servedRegions(ctx, clusterId);
  if (served.includes(region)) return;
  throw badRequest(
    `no active worker cluster in region ${region} (regions: ${served.join(', ') || 'none'})`,
    'invalid_region',
  );
}

/** The regions of the active clusters (or of the one named), sorted: what a create may ask for. */
async function servedRegions(ctx: Context, clusterId?: string): Promise<string[]> {
  const { rows } = await ctx.db.query<{ region: string }>(
    `SELECT DISTINCT region FROM tm.clusters WHERE status = 'active' AND ($1::uuid IS NULL OR id = $1)
     ORDER BY region`,
    [clusterId ?? null],
  );
  return rows.map((row) => row.region);
}

export async function getProject(ctx: Context, ref: string): Promise<Project> {
  return toProject(ctx, await requireProjectRow(ctx.db, ref));
}

export async function listProjects(
  ctx: Context,
  query: { limit?: number; offset: number; status?: ApiProjectStatus | 'PAUSED' },
): Promise<Project[]> {
  const { rows } = await ctx.db.query<ProjectRow>(
    `SELECT * FROM tm.projects
     WHERE ($1::text IS NULL AND status <> 'REMOVED') OR status = $1
     ORDER BY created_at, id LIMIT $2 OFFSET $3`,
    // LIMIT NULL is no limit: without one, every project (Supabase's list has no pages).
    [query.status ? storedStatus(query.status) : null, query.limit ?? null, query.offset],
  );
  return rows.map((row) => toProject(ctx, row));
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
