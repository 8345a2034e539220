import type pg from 'pg';
import type { Context, TransitionStep } from './context.js';
import { AppError, conflict, isFromWorkerCluster, isUnreachable, messageOf, notFound } from './errors.js';
import {
  dropProjectDatabase,
  setProjectConnectionLimit,
  setProjectConnections,
  setProjectReadOnly,
} from './project-db.js';
import {
  apiStatus,
  apiStatusList,
  type Project,
  type ProjectRef,
  type ProjectRow,
  type ProjectStatus,
  projectRowById,
  requireProjectRow,
  toProject,
  toProjectRef,
  withProjectLock,
} from './projects.js';
import { ensureProjectFunction } from './rest-functions.js';

// A project's status transitions after provisioning: delete (→ GOING_DOWN → REMOVED), pause
// (→ PAUSING → PAUSED) and restore (→ RESTORING → ACTIVE_HEALTHY), each under the project's lock,
// and how one cut off by a failure or a crash is recorded and finished later.

async function keyHashes(db: pg.ClientBase, projectId: string): Promise<string[]> {
  const { rows } = await db.query<{ hash: string }>('SELECT hash FROM tm.api_keys WHERE project_id = $1', [
    projectId,
  ]);
  return rows.map((r) => r.hash);
}

/**
 * Removes everything a project holds outside its row: function, database, roles, keys, secrets,
 * signing keys. Idempotent.
 */
export async function teardownProject(ctx: Context, db: pg.ClientBase, row: ProjectRow): Promise<void> {
  await ctx.provider.functions.deleteRestFunction(row.ref);
  if (row.cluster_id) {
    const cluster = await ctx.clusters.get(row.cluster_id);
    await dropProjectDatabase(cluster.admin, cluster.conn, row.ref);
  }
  await db.query('DELETE FROM tm.api_keys WHERE project_id = $1', [row.id]);
  await db.query('DELETE FROM tm.project_secrets WHERE project_id = $1', [row.id]);
  await db.query('DELETE FROM tm.signing_keys WHERE project_id = $1', [row.id]);
}

/**
 * A new status starts a new count of failed attempts, with no error yet (a stale one would mislead).
 * REMOVED also drops the row's sealed secrets (JWT secret, database passwords): the row stays as the
 * record of what existed, nothing in it opens with the master key any more.
 */
async function setStatus(ctx: Context, db: pg.ClientBase, id: string, status: ProjectStatus) {
  const { rows } = await db.query<ProjectRow>(
    `UPDATE tm.projects SET status = $2, attempts = 0, last_error = NULL, version = version + 1, updated_at = $3,
       owner_password_enc = CASE WHEN $2 = 'REMOVED' THEN NULL ELSE owner_password_enc END,
       authenticator_password_enc = CASE WHEN $2 = 'REMOVED' THEN NULL ELSE authenticator_password_enc END,
       jwt_secret_enc = CASE WHEN $2 = 'REMOVED' THEN NULL ELSE jwt_secret_enc END
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
interface UnfinishedWork {
  readonly transitionAttempts: number;
  finishTransition(projectId: string): Promise<void>;
  finishDelete(projectId: string): Promise<void>;
}

/** Where a pause or restore ends once its attempts are used up (a delete has none: it is retried until done). */
const FAILED_ENDS: readonly ProjectStatus[] = ['PAUSE_FAILED', 'RESTORE_FAILED'];

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
       status = CASE WHEN NOT a.failed THEN p.status WHEN p.status = 'PAUSING' THEN 'PAUSE_FAILED'
                ELSE 'RESTORE_FAILED' END,
       version = p.version + a.failed::int
     FROM attempt a WHERE p.id = a.id RETURNING p.*, a.failed`,
    [id, message.slice(0, 500), ctx.clock.now(), maxAttempts],
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

/** What a call answers when its steps failed, and whether the background goes on with them. */
type Unfinished = { readonly error: unknown; readonly retry: boolean };

/**
 * Records why a delete, pause or restore did not finish during the call and gives the answer: 503
 * saying the project stays `via` and is retried, or that it is now PAUSE_FAILED / RESTORE_FAILED;
 * the error itself when the management database is what failed (its own 503).
 */
async function unfinished(
  ctx: Context,
  db: pg.ClientBase,
  row: ProjectRow,
  what: Call,
  work: UnfinishedWork,
  error: unknown,
): Promise<Unfinished> {
  const status = await recordUnfinished(ctx, db, row.id, error, work.transitionAttempts).catch(
    () => row.status,
  );
  if (isUnreachable(error) && !isFromWorkerCluster(error)) return { error, retry: status !== null };
  if (status === null) {
    // Nothing left to retry: this attempt was the last one, or the step failed before the project
    // was in a state that is retried (then the error is answered as it is).
    const now = (await projectRowById(db, row.id).catch(() => undefined))?.status;
    if (now === undefined || !FAILED_ENDS.includes(now)) return { error, retry: false };
    return {
      error: new AppError(
        503,
        `the ${what} failed and is not retried any more (see the project's last_error); the project is ${apiStatus(now)}: pause, restore or delete it again to retry`,
        'transition_failed',
      ),
      retry: false,
    };
  }
  return {
    error: new AppError(
      503,
      `the ${what} did not finish (see the project's last_error); the project stays ${apiStatus(status)} and is retried in the background`,
      what === 'delete' ? 'delete_incomplete' : 'transition_incomplete',
    ),
    retry: true,
  };
}

type Call = 'delete' | 'pause' | 'restore';

/**
 * A delete, pause or restore call, under the project's lock: `begin` refuses the project's status
 * (throws), answers at once (nothing to do) or returns null for `steps` to run. Steps that fail are
 * recorded and, once the lock is released, handed to the background when they are to be retried; the
 * call answers the error {@link unfinished} chose.
 */
async function callUnderLock<T>(
  ctx: Context,
  ref: string,
  what: Call,
  work: UnfinishedWork,
  begin: (row: ProjectRow) => T | null,
  steps: (db: pg.ClientBase, row: ProjectRow) => Promise<T>,
): Promise<T> {
  const found = await requireProjectRow(ctx.db, ref);
  const outcome = await withProjectLock(
    ctx,
    found.id,
    async (db): Promise<{ answer: T } | { failure: Unfinished }> => {
      const row = await projectRowById(db, found.id);
      if (!row || row.status === 'REMOVED') throw notFound();
      const answer = begin(row);
      if (answer) return { answer };
      try {
        return { answer: await steps(db, row) };
      } catch (error) {
        return { failure: await unfinished(ctx, db, row, what, work, error) };
      }
    },
  );
  // Waiting for the lock, withProjectLock always runs the callback.
  const settled = outcome!;
  if ('answer' in settled) return settled.answer;
  const { error, retry } = settled.failure;
  if (retry) void (what === 'delete' ? work.finishDelete(found.id) : work.finishTransition(found.id));
  throw error;
}

/**
 * Deletes a project: GOING_DOWN first (so a crash is finished on restart), then teardown, then
 * REMOVED. A removed ref answers 404 afterwards, so deleting twice gives 200 then 404. A step that
 * fails (cluster or function provider unreachable) leaves it GOING_DOWN for the background to finish
 * and answers 503.
 */
export function deleteProject(ctx: Context, ref: string, work: UnfinishedWork): Promise<ProjectRef> {
  return callUnderLock(
    ctx,
    ref,
    'delete',
    work,
    () => null,
    async (db, row) => (await finishDelete(ctx, db, row.id))!,
  );
}

/**
 * Takes a project to REMOVED (from any status, GOING_DOWN first) on the session holding its lock;
 * a GOING_DOWN one left by a failure or a crash is finished the same way. Undefined once removed.
 */
export async function finishDelete(
  ctx: Context,
  db: pg.ClientBase,
  id: string,
): Promise<ProjectRef | undefined> {
  const row = await projectRowById(db, id);
  if (!row || row.status === 'REMOVED') return undefined;
  if (row.status !== 'GOING_DOWN') await setStatus(ctx, db, id, 'GOING_DOWN');
  // GOING_DOWN is closed to new keys (lockProjectForCredentials): the hashes read now are all there
  // will be. Gateways stop serving before anything is dropped, and are told again once it is gone.
  const hashes = await keyHashes(db, id);
  await ctx.invalidator.project(row.ref, 'deleted', hashes);
  await teardownProject(ctx, db, row);
  const removed = await setStatus(ctx, db, id, 'REMOVED');
  await ctx.invalidator.project(row.ref, 'deleted', hashes);
  await ctx.invalidator.forgetUsage(row.ref, true);
  ctx.log.info({ ref: row.ref }, 'project removed');
  return toProjectRef(removed);
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
function transition(ctx: Context, ref: string, t: Transition, work: UnfinishedWork): Promise<Project> {
  return callUnderLock(
    ctx,
    ref,
    t.open ? 'restore' : 'pause',
    work,
    (row) => {
      if (row.status === t.to) return toProject(ctx, row);
      if (!t.from.includes(row.status) && row.status !== t.via) {
        throw conflict(
          `project is ${apiStatus(row.status)}; expected ${apiStatusList(t.from)}`,
          'invalid_status',
        );
      }
      return null;
    },
    async (db, row) => toProject(ctx, await runTransition(ctx, db, row, t)),
  );
}

/**
 * Finishes a pause or restore that was cut off (the process died, or a step failed): a PAUSING
 * project completes its pause, a RESTORING one its restore. Every step is idempotent, so steps that
 * had in fact completed are harmless to re-run. The caller holds the project's lock. Nothing to do
 * when the project is in neither state (finished meanwhile, removed).
 */
export async function finishTransition(ctx: Context, db: pg.ClientBase, id: string): Promise<void> {
  const row = await projectRowById(db, id);
  const t = [PAUSE, RESTORE].find((candidate) => candidate.via === row?.status);
  if (!row || !t) return;
  ctx.log.info({ ref: row.ref, status: row.status }, 'finishing an interrupted pause or restore');
  await runTransition(ctx, db, row, t);
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
  if (t.open) {
    // A restored project gets the current environment (its function token among it) and function
    // URL here, before it serves again, whether or not the start-up reconciliation reached it.
    await ensureProjectFunction(ctx, db, row);
  } else {
    // Gateways refuse the project's keys before its database refuses connections, and its function
    // stops (its pool ends its own sessions) before the rest are ended.
    await ctx.invalidator.project(ref, 'paused', await keyHashes(db, row.id));
    await ctx.provider.functions.stopRestFunction?.(ref);
  }
  const cluster = await ctx.clusters.get(row.cluster_id!);
  // Before connections are allowed again: a restored database is never without its limits.
  if (t.open) {
    await setProjectConnectionLimit(cluster.admin, ref, row.db_connection_limit);
    if (row.db_read_only) await setProjectReadOnly(cluster.admin, ref, true);
  }
  await step('connections');
  await setProjectConnections(cluster.admin, ref, t.open);
  await step('settle');
  const done = await setStatus(ctx, db, row.id, t.to);
  await ctx.invalidator.project(ref, t.open ? 'restored' : 'paused', await keyHashes(db, row.id));
  return done;
}
