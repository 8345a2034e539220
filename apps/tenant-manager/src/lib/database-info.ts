import type { Context } from './context.js';
import type { Project } from './projects.js';

/** Supabase's `database` of a project response (V1ProjectWithDatabaseResponse): every field required. */
export interface DatabaseInfo {
  /** What a client connects to for the project's database: its worker cluster's host. */
  host: string;
  /** The cluster's Postgres version, as its `server_version` says (e.g. `16.4`). */
  version: string;
  /** The major version, as Supabase names its engines (`15`, `17`). */
  postgres_engine: string;
  /** Supabase's release channel: every cluster here runs a released Postgres. */
  release_channel: 'ga';
}

export type ProjectWithDatabase = Project & { database: DatabaseInfo };

/** A project not placed on a cluster yet (or whose cluster's version was never read) has empty fields. */
const databaseInfo = (host: string, version: string | null): DatabaseInfo => ({
  host,
  version: version ?? '',
  postgres_engine: version?.split('.')[0] ?? '',
  release_channel: 'ga',
});

/**
 * The projects with their `database`: one read of their clusters' hosts, and each cluster's version
 * from `ClusterPools.serverVersion` (read from the cluster now and then, the stored one while it is
 * out of reach).
 */
export async function withDatabases(ctx: Context, projects: Project[]): Promise<ProjectWithDatabase[]> {
  const clusterIds = [...new Set(projects.flatMap((p) => (p.cluster_id ? [p.cluster_id] : [])))];
  const { rows } = clusterIds.length
    ? await ctx.db.query<{ id: string; host: string }>(
        'SELECT id, host FROM tm.clusters WHERE id = ANY($1)',
        [clusterIds],
      )
    : { rows: [] };
  const infos = new Map(
    await Promise.all(
      rows.map(async (c) => [c.id, databaseInfo(c.host, await ctx.clusters.serverVersion(c.id))] as const),
    ),
  );
  const none = databaseInfo('', null);
  return projects.map((p) => ({ ...p, database: (p.cluster_id && infos.get(p.cluster_id)) || none }));
}

export async function withDatabase(ctx: Context, project: Project): Promise<ProjectWithDatabase> {
  return (await withDatabases(ctx, [project]))[0]!;
}
