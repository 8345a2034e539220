import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { clusterPasswordAad, adminPool } from './cluster-pools.js';
import type { Context } from './context.js';
import { AppError, badRequest, conflict, messageOf, notFound } from './errors.js';
import { prepareCluster, type ClusterConnection } from './project-db.js';
import { inTransaction } from './transaction.js';

/** Statuses an operator sets; `deleting` is the platform's own (see {@link deregisterCluster}). */
type SettableClusterStatus = 'active' | 'draining' | 'offline';
type ClusterStatus = SettableClusterStatus | 'deleting';

/** A worker cluster as operators see it (credentials never leave the tenant-manager). */
interface Cluster {
  id: string;
  name: string;
  host: string;
  port: number;
  admin_user: string;
  admin_database: string;
  ssl: boolean;
  capacity: number;
  weight: number;
  region: string;
  status: ClusterStatus;
  project_count: number;
  external_id: string | null;
  /** Why deleting the provider's cluster is being retried (status `deleting`); null otherwise. */
  last_error: string | null;
  created_at: string;
  updated_at: string;
}

interface NewCluster {
  name: string;
  host: string;
  port: number;
  admin_user: string;
  admin_password: string;
  admin_database?: string;
  ssl?: boolean;
  capacity: number;
  weight?: number;
  region?: string;
  status?: SettableClusterStatus;
  external_id?: string;
}

interface ClusterPatch {
  capacity?: number;
  weight?: number;
  region?: string;
  status?: SettableClusterStatus;
  host?: string;
  port?: number;
  admin_user?: string;
  admin_password?: string;
}

const CLUSTER_NAME = /^[a-z0-9][a-z0-9_-]{0,62}$/;
/** Projects that hold a slot on their cluster. */
export const LIVE_PROJECT = `status NOT IN ('REMOVED', 'INIT_FAILED')`;

const SELECT_CLUSTER = `
SELECT c.*, (SELECT count(*)::int FROM tm.projects p WHERE p.cluster_id = c.id AND p.${LIVE_PROJECT}) AS project_count
FROM tm.clusters c`;

function toCluster(row: Record<string, unknown>): Cluster {
  return {
    id: row['id'] as string,
    name: row['name'] as string,
    host: row['host'] as string,
    port: row['port'] as number,
    admin_user: row['admin_user'] as string,
    admin_database: row['admin_database'] as string,
    ssl: row['ssl'] as boolean,
    capacity: row['capacity'] as number,
    weight: row['weight'] as number,
    region: row['region'] as string,
    status: row['status'] as ClusterStatus,
    project_count: row['project_count'] as number,
    external_id: (row['external_id'] as string | null) ?? null,
    last_error: (row['last_error'] as string | null) ?? null,
    created_at: (row['created_at'] as Date).toISOString(),
    updated_at: (row['updated_at'] as Date).toISOString(),
  };
}

/** Checks the admin credential works and prepares roles and template; a bad cluster is a 400. */
async function verifyAndPrepare(conn: ClusterConnection): Promise<void> {
  const pool = adminPool(conn, 2);
  try {
    await prepareCluster(pool, conn);
  } catch (error) {
    throw badRequest(
      `cluster is not usable: ${messageOf(error).replace(conn.password, '***')}`,
      'cluster_unreachable',
    );
  } finally {
    await pool.end();
  }
}

export async function registerCluster(ctx: Context, input: NewCluster): Promise<Cluster> {
  if (!CLUSTER_NAME.test(input.name)) throw badRequest('invalid cluster name', 'invalid_name');
  const conn: ClusterConnection = {
    host: input.host,
    port: input.port,
    user: input.admin_user,
    password: input.admin_password,
    database: input.admin_database ?? 'postgres',
    ssl: input.ssl ?? false,
    ...(ctx.settings.dbCaBundle ? { ca: ctx.settings.dbCaBundle } : {}),
  };
  const existing = await ctx.db.query('SELECT 1 FROM tm.clusters WHERE name = $1', [input.name]);
  if (existing.rowCount) throw conflict(`cluster ${input.name} already exists`, 'duplicate_cluster');
  await verifyAndPrepare(conn);
  const now = ctx.clock.now();
  const client = await ctx.db.connect();
  try {
    const id = randomUUID();
    await client.query(
      `INSERT INTO tm.clusters (id, name, host, port, admin_user, admin_password_enc, admin_database, ssl,
         capacity, weight, region, status, external_id, created_at, updated_at)
       VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$14)`,
      [
        id,
        input.name,
        conn.host,
        conn.port,
        conn.user,
        ctx.box.seal(input.admin_password, clusterPasswordAad(id)),
        conn.database,
        conn.ssl,
        input.capacity,
        input.weight ?? 100,
        input.region ?? 'local',
        input.status ?? 'active',
        input.external_id ?? null,
        now,
      ],
    );
  } catch (error) {
    if ((error as { code?: string }).code === '23505') {
      throw conflict(`cluster ${input.name} already exists`, 'duplicate_cluster');
    }
    throw error;
  } finally {
    client.release();
  }
  return (await findClusterByName(ctx, input.name))!;
}

export async function findClusterByName(ctx: Context, name: string): Promise<Cluster | null> {
  const { rows } = await ctx.db.query(`${SELECT_CLUSTER} WHERE c.name = $1`, [name]);
  return rows[0] ? toCluster(rows[0]) : null;
}

export async function getCluster(ctx: Context, id: string): Promise<Cluster> {
  const { rows } = await ctx.db.query(`${SELECT_CLUSTER} WHERE c.id::text = lower($1)`, [id]);
  if (!rows[0]) throw notFound('cluster');
  return toCluster(rows[0]);
}

export async function listClusters(ctx: Context): Promise<Cluster[]> {
  const { rows } = await ctx.db.query(`${SELECT_CLUSTER} ORDER BY c.created_at, c.name`);
  return rows.map(toCluster);
}

export async function updateCluster(ctx: Context, id: string, patch: ClusterPatch): Promise<Cluster> {
  const current = await getCluster(ctx, id);
  if (current.status === 'deleting') throw beingDeleted();
  const credentialsChanged =
    patch.host !== undefined ||
    patch.port !== undefined ||
    patch.admin_user !== undefined ||
    patch.admin_password !== undefined;
  const sets: string[] = [];
  const values: unknown[] = [];
  const set = (column: string, value: unknown) => {
    values.push(value);
    sets.push(`${column} = $${values.length}`);
  };
  if (patch.capacity !== undefined) set('capacity', patch.capacity);
  if (patch.weight !== undefined) set('weight', patch.weight);
  if (patch.region !== undefined) set('region', patch.region);
  if (patch.status !== undefined) set('status', patch.status);
  if (credentialsChanged) {
    const handle = await ctx.clusters.get(id);
    const conn: ClusterConnection = {
      ...handle.conn,
      host: patch.host ?? current.host,
      port: patch.port ?? current.port,
      user: patch.admin_user ?? current.admin_user,
      password: patch.admin_password ?? handle.conn.password,
    };
    await verifyAndPrepare(conn);
    set('host', conn.host);
    set('port', conn.port);
    set('admin_user', conn.user);
    set('admin_password_enc', ctx.box.seal(conn.password, clusterPasswordAad(id)));
  }
  if (sets.length === 0) return current;
  set('updated_at', ctx.clock.now());
  values.push(id);
  const updated = await ctx.db.query(
    `UPDATE tm.clusters SET ${sets.join(', ')} WHERE id = $${values.length} AND status <> 'deleting'`,
    values,
  );
  if (updated.rowCount === 0) throw beingDeleted();
  if (credentialsChanged) await ctx.clusters.evict(id);
  return getCluster(ctx, id);
}

/**
 * Creates a worker cluster through the provider (AWS: Aurora Serverless v2), then registers it like
 * any other. Refused when the provider cannot create clusters (local mode).
 */
export async function provisionCluster(
  ctx: Context,
  input: {
    name: string;
    capacity: number;
    region?: string;
    min_capacity?: number;
    max_capacity?: number;
    weight?: number;
    /** Default: on for AWS. */
    ssl?: boolean;
  },
): Promise<Cluster> {
  if (!ctx.provider.clusters) {
    throw badRequest(
      `the ${ctx.provider.name} provider cannot create clusters; register one instead`,
      'unsupported',
    );
  }
  if (!CLUSTER_NAME.test(input.name)) throw badRequest('invalid cluster name', 'invalid_name');
  if (await findClusterByName(ctx, input.name)) {
    throw conflict(`cluster ${input.name} already exists`, 'duplicate_cluster');
  }
  const created = await ctx.provider.clusters.createCluster({
    name: input.name,
    region: input.region,
    minCapacity: input.min_capacity,
    maxCapacity: input.max_capacity,
  });
  return registerCluster(ctx, {
    name: input.name,
    host: created.host,
    port: created.port,
    admin_user: created.adminUser,
    admin_password: created.adminPassword,
    ssl: input.ssl ?? ctx.provider.name === 'aws',
    capacity: input.capacity,
    weight: input.weight,
    region: created.region,
    external_id: created.externalId,
  });
}

/**
 * Takes a worker cluster off the platform: only once it is drained (or offline), so no placement can
 * pick it meanwhile, and holds no live project. Removed and failed projects keep their history without
 * it (their `cluster_id` becomes null).
 *
 * A cluster the provider created and owns (`external_id`, e.g. an Aurora cluster) goes to `deleting`:
 * the {@link ClusterDeleter} deletes it there and then removes the row, retrying until it is gone and
 * resuming after a restart. Any other cluster (registered by hand, or with `keepServer`) is removed
 * at once and its server left as it is; the template and spare databases it keeps hold no tenant data.
 */
export async function deregisterCluster(
  ctx: Context,
  id: string,
  options: { keepServer?: boolean } = {},
): Promise<Cluster | null> {
  const client = await ctx.db.connect();
  let outcome: Cluster | null;
  try {
    outcome = await inTransaction(client, () => retire(ctx, client, id, options.keepServer ?? false));
  } finally {
    client.release();
  }
  await ctx.clusters.evict(id);
  return outcome;
}

/**
 * Under the cluster's row lock: the checks, then the history detached and the row deleted (null) or
 * marked `deleting` (the cluster as it now is).
 */
async function retire(
  ctx: Context,
  client: pg.ClientBase,
  id: string,
  keepServer: boolean,
): Promise<Cluster | null> {
  const deleting = async () =>
    toCluster((await client.query(`${SELECT_CLUSTER} WHERE c.id = $1`, [id])).rows[0]);
  // Placement locks candidate rows too, and only ever picks `active` ones.
  const { rows } = await client.query<{ status: ClusterStatus; external_id: string | null }>(
    `SELECT status, external_id FROM tm.clusters WHERE id::text = lower($1) FOR UPDATE`,
    [id],
  );
  const row = rows[0];
  if (!row) throw notFound('cluster');
  if (row.status === 'deleting') return deleting();
  if (row.status === 'active') {
    throw conflict('the cluster still takes new projects: drain it first', 'cluster_active');
  }
  const live = await client.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM tm.projects
     WHERE (cluster_id = $1 OR requested_cluster_id = $1) AND ${LIVE_PROJECT}`,
    [id],
  );
  const n = live.rows[0]!.n;
  if (n > 0) {
    throw conflict(
      `${n} live project${n === 1 ? '' : 's'} still on the cluster: delete ${n === 1 ? 'it' : 'them'} first`,
      'cluster_in_use',
    );
  }
  await client.query('UPDATE tm.projects SET cluster_id = NULL WHERE cluster_id = $1', [id]);
  await client.query('UPDATE tm.projects SET requested_cluster_id = NULL WHERE requested_cluster_id = $1', [
    id,
  ]);
  const owned = !keepServer && row.external_id !== null && ctx.provider.clusters?.owns(row.external_id);
  if (owned) {
    await client.query(
      `UPDATE tm.clusters SET status = 'deleting', last_error = NULL, updated_at = $2 WHERE id = $1`,
      [id, ctx.clock.now()],
    );
    return deleting();
  }
  await client.query('DELETE FROM tm.clusters WHERE id = $1', [id]);
  return null;
}

const beingDeleted = () =>
  conflict('the cluster is being deleted: it can no longer be changed', 'cluster_deleting');

/** Stops placing new projects on a cluster; existing projects stay. */
export function drainCluster(ctx: Context, id: string): Promise<Cluster> {
  return updateCluster(ctx, id, { status: 'draining' });
}

/**
 * Picks the least-loaded active cluster with room (fill ratio, then weight) and records it on the
 * project, in one transaction. Candidate cluster rows are locked first and counted after the locks
 * are held, so concurrent placements see each other and never over-allocate.
 */
export async function placeProject(
  db: pg.ClientBase,
  projectId: string,
  wish: { clusterId: string | null; region: string | null },
): Promise<{ clusterId: string; region: string }> {
  return inTransaction(db, async () => {
    const candidates = await db.query<{ id: string }>(
      `SELECT id FROM tm.clusters
       WHERE status = 'active' AND ($1::uuid IS NULL OR id = $1) AND ($2::text IS NULL OR region = $2)
       ORDER BY id FOR UPDATE`,
      [wish.clusterId, wish.region],
    );
    const ids = candidates.rows.map((r) => r.id);
    const { rows } = await db.query<{ id: string; region: string }>(
      `SELECT c.id, c.region FROM tm.clusters c
       CROSS JOIN LATERAL (SELECT count(*) AS used FROM tm.projects p
                           WHERE p.cluster_id = c.id AND p.${LIVE_PROJECT}) load
       WHERE c.id = ANY($1::uuid[]) AND load.used < c.capacity
       ORDER BY load.used::float8 / c.capacity, c.weight DESC, c.created_at
       LIMIT 1`,
      [ids],
    );
    const chosen = rows[0];
    if (!chosen) throw new AppError(503, 'no worker cluster has room for a new project', 'no_capacity');
    await db.query('UPDATE tm.projects SET cluster_id = $1, region = $2 WHERE id = $3', [
      chosen.id,
      chosen.region,
      projectId,
    ]);
    return { clusterId: chosen.id, region: chosen.region };
  });
}
