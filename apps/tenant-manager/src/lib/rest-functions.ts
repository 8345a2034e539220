import type pg from 'pg';
import type { Context } from './context.js';
import { messageOf } from './errors.js';
import { setProjectConnectionLimit } from './project-db.js';
import { type ProjectRow, type ProjectStatus, projectRowById, withProjectLock } from './projects.js';

/**
 * Environment of a project's rest function (docs/contracts.md, "Rest function environment"). The
 * token is the project's own function token, never the platform's service token.
 */
export function restFunctionEnvironment(
  ctx: Context,
  project: { ref: string; id: string },
): Record<string, string> {
  return {
    SUPAPLANE_PROJECT_REF: project.ref,
    SUPAPLANE_CONFIG_URL: ctx.settings.internalBaseUrl,
    SUPAPLANE_INTERNAL_TOKEN: ctx.functionTokens.mint(project.ref, project.id),
  };
}

/**
 * The settled statuses whose function the start-up pass keeps current. Not PAUSE_FAILED or
 * RESTORE_FAILED: those wait for an operator and nothing touches them until then (a restore ensures
 * the function).
 */
const RECONCILED: readonly ProjectStatus[] = ['ACTIVE_HEALTHY', 'PAUSED'];

export interface ReconcileSummary {
  /** Projects whose function was re-ensured. */
  readonly checked: number;
  /** Refs whose stored function URL (or signing region) changed. */
  readonly updated: string[];
  /** Refs whose function could not be ensured (left as they were; retried at the next start). */
  readonly failed: string[];
}

/**
 * Re-runs the provider's idempotent `ensureRestFunction` for every ACTIVE_HEALTHY or PAUSED project,
 * at most `concurrency` at a time, so functions created by an older version get the current
 * environment and settings (on AWS: the environment encrypted with the stack's key) and a moved
 * endpoint (e.g. another LAMBDA_PORT on the same data dir) is written back. A paused project stays
 * paused: a pause lives in its database (connections refused), in the gateways (keys refused) and in
 * its stopped function, which the ensure asked to keep stopped makes current without making it
 * runnable at any moment (on AWS its reserved concurrency of 0 stays, locally the emulator keeps it
 * registered stopped). A changed URL bumps the project's version and tells the gateways to drop their
 * cached config. Projects whose lock is held elsewhere
 * (being paused, restored, deleted, or reconciled by another replica) are skipped. The stored
 * connection limit is re-applied to the project database on the way (projects from before limits
 * existed, or a limit changed by hand; it is independent of a pause); a cluster that cannot take it
 * is logged, not counted.
 */
export async function reconcileRestFunctions(
  ctx: Context,
  options: { concurrency?: number; signal?: AbortSignal } = {},
): Promise<ReconcileSummary> {
  const { rows } = await ctx.db.query<{ id: string; ref: string }>(
    'SELECT id, ref FROM tm.projects WHERE status = ANY ($1) ORDER BY created_at',
    [RECONCILED],
  );
  const summary = { checked: 0, updated: [] as string[], failed: [] as string[] };
  const queue = [...rows];
  const worker = async () => {
    for (let next = queue.shift(); next && !options.signal?.aborted; next = queue.shift()) {
      const { id, ref } = next;
      try {
        const outcome = await withProjectLock(ctx, id, (db) => reconcileOne(ctx, db, id), false);
        if (outcome === undefined || outcome === 'skipped') continue;
        summary.checked++;
        if (outcome === 'updated') summary.updated.push(ref);
      } catch (error) {
        summary.failed.push(ref);
        ctx.log.warn({ ref, err: (error as Error).message }, 'rest function not reconciled');
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, options.concurrency ?? 4) }, worker));
  return summary;
}

async function reconcileOne(
  ctx: Context,
  db: pg.PoolClient,
  id: string,
): Promise<'skipped' | 'unchanged' | 'updated'> {
  const row = await projectRowById(db, id);
  if (!row || !RECONCILED.includes(row.status)) return 'skipped';
  try {
    const cluster = await ctx.clusters.get(row.cluster_id!);
    await setProjectConnectionLimit(cluster.admin, row.ref, row.db_connection_limit);
  } catch (error) {
    ctx.log.warn({ ref: row.ref, err: messageOf(error) }, 'connection limit not re-applied');
  }
  const moved = await ensureProjectFunction(ctx, db, row, { stopped: row.status === 'PAUSED' });
  return moved ? 'updated' : 'unchanged';
}

/**
 * Re-runs the provider's idempotent `ensureRestFunction` with the current environment, runnable, or
 * kept stopped with `stopped` (a paused project's); a URL (or signing region) that moved is stored,
 * the version bumped and `function-updated` published. True when it moved. The caller holds the
 * project's lock.
 */
export async function ensureProjectFunction(
  ctx: Context,
  db: pg.ClientBase,
  row: ProjectRow,
  options: { stopped?: boolean } = {},
): Promise<boolean> {
  const fn = await ctx.provider.functions.ensureRestFunction({
    ref: row.ref,
    environment: restFunctionEnvironment(ctx, row),
    ...(options.stopped ? { stopped: true } : {}),
  });
  if (fn.url === row.rest_url && fn.region === row.rest_region) return false;
  await db.query(
    `UPDATE tm.projects SET rest_url = $2, rest_region = $3, version = version + 1, updated_at = $4
     WHERE id = $1`,
    [row.id, fn.url, fn.region, ctx.clock.now()],
  );
  ctx.log.info({ ref: row.ref }, 'rest function url updated');
  await ctx.invalidator.project(row.ref, 'function-updated');
  return true;
}
