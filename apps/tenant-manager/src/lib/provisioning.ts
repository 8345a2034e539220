import type pg from 'pg';
import { ensureDefaultKeys } from './api-keys.js';
import { KeyedRuns, retryUntilSettled } from './background.js';
import { placeProject } from './clusters.js';
import { type Context, type Faults, PROVISIONING_STEPS, type ProvisioningStep } from './context.js';
import { AppError, messageOf } from './errors.js';
import {
  configureProjectDatabase,
  createProjectDatabase,
  createProjectRoles,
  refillSpares,
} from './project-db.js';
import { restFunctionEnvironment } from './rest-functions.js';
import { finishDelete, finishTransition, recordUnfinished, teardownProject } from './project-lifecycle.js';
import { type ProjectRow, projectRowById, secretAad, withProjectLock } from './projects.js';

export interface ProvisionerOptions {
  /** Failed attempts (persisted) before a project is rolled back to INIT_FAILED. Default 3. */
  readonly maxAttempts?: number;
  /** First retry delay; doubles each attempt up to `maxBackoffMs`. Default 200 ms. */
  readonly backoffMs?: number;
  /** Longest wait between attempts, so a long outage is retried this often. Default 30 s. */
  readonly maxBackoffMs?: number;
  /**
   * Failed attempts at finishing a pause or restore (the call's own included) before the project is
   * left PAUSE_FAILED / RESTORE_FAILED for an operator. Default 20: with the default backoff, about
   * six minutes of an unreachable cluster. A delete is retried until it is done.
   */
  readonly transitionAttempts?: number;
  /** Provisioning runs at once in this process. Default 4. */
  readonly concurrency?: number;
  /** Spare databases kept ready per active cluster (0 disables). Default 2. */
  readonly spareDatabases?: number;
  readonly faults?: Faults;
}

// While a rollback keeps failing, last_error says so and keeps the provisioning error after CAUSE, so
// INIT_FAILED can show the latter once the rollback succeeds (there is no column of its own for it).
const ROLLBACK_FAILED = 'rollback failed: ';
const CAUSE = '; provisioning failed: ';
const rollbackFailure = (reason: string, cause: string | null) =>
  `${ROLLBACK_FAILED}${reason.slice(0, 300)}${CAUSE}${cause ?? 'unknown'}`;
const provisioningError = (lastError: string | null) =>
  lastError?.startsWith(ROLLBACK_FAILED) && lastError.includes(CAUSE)
    ? lastError.slice(lastError.indexOf(CAUSE) + CAUSE.length)
    : lastError;

/**
 * Drives projects through {@link PROVISIONING_STEPS}. The next step is persisted on the project row
 * and every step is idempotent, so a crash anywhere is finished by whichever replica resumes it; the
 * project's advisory lock (held for the whole run, on the session that does the work) keeps two
 * replicas off the same project. A step that keeps failing rolls the project back to INIT_FAILED
 * with nothing left on the cluster; a rollback that fails (cluster unreachable) is retried the same way.
 */
export class Provisioner {
  readonly #runs = new KeyedRuns((error, projectId) =>
    this.ctx.log.error({ err: messageOf(error), projectId }, 'provisioning crashed'),
  );
  readonly #transitions = new KeyedRuns((error, projectId) =>
    this.ctx.log.error({ err: messageOf(error), projectId }, 'finishing a pause or restore crashed'),
  );
  readonly #deletions = new KeyedRuns((error, projectId) =>
    this.ctx.log.error({ err: messageOf(error), projectId }, 'finishing a delete crashed'),
  );
  readonly #refills = new KeyedRuns((error, clusterId) =>
    this.ctx.log.warn({ err: messageOf(error), clusterId }, 'spare refill failed'),
  );
  readonly #waiting: (() => void)[] = [];
  readonly #abort = new AbortController();
  #running = 0;
  readonly #maxAttempts: number;
  readonly #backoffMs: number;
  readonly #maxBackoffMs: number;
  readonly #concurrency: number;
  readonly transitionAttempts: number;

  constructor(
    private readonly ctx: Context,
    private readonly options: ProvisionerOptions = {},
  ) {
    this.#maxAttempts = options.maxAttempts ?? 3;
    this.#backoffMs = options.backoffMs ?? 200;
    this.#maxBackoffMs = options.maxBackoffMs ?? 30_000;
    this.#concurrency = options.concurrency ?? 4;
    this.transitionAttempts = options.transitionAttempts ?? 20;
  }

  /** Starts (or joins) provisioning of a project; resolves when it is settled in this process. */
  start(projectId: string): Promise<void> {
    return this.#runs.start(projectId, () =>
      retryUntilSettled(this.#abort.signal, this.#backoffMs, this.#maxBackoffMs, () =>
        // Undefined when another replica holds the project's lock: it is that replica's to finish.
        this.#slot(() => withProjectLock(this.ctx, projectId, (db) => this.#attempt(db, projectId), false)),
      ),
    );
  }

  /** Tops up a cluster's spare databases in the background (one refill per cluster at a time). */
  refill(clusterId: string): void {
    const target = this.options.spareDatabases ?? 2;
    if (target <= 0 || this.#abort.signal.aborted) return;
    void this.#refills.start(clusterId, async () => {
      const { admin, conn } = await this.ctx.clusters.get(clusterId);
      await refillSpares(admin, conn, target, () => this.#abort.signal.aborted);
    });
  }

  /**
   * Finishes (or joins finishing) a pause or restore cut off by a crash: PAUSING → PAUSED, RESTORING →
   * ACTIVE_HEALTHY, under the project's lock. A failing step is retried with backoff until it
   * succeeds, the project leaves that state (e.g. it is deleted) or {@link transitionAttempts} are
   * used up (PAUSE_FAILED / RESTORE_FAILED). A lock held elsewhere is tried
   * again later rather than left to its holder, which may be a call that refuses the state (PATCH,
   * rotate, a restore of a PAUSING project) instead of one that finishes it; once the project is no
   * longer PAUSING / RESTORING, an attempt has nothing to do. Resolves when settled in this process.
   */
  finishTransition(projectId: string): Promise<void> {
    return this.#finish(this.#transitions, projectId, (db) => finishTransition(this.ctx, db, projectId));
  }

  /**
   * Finishes (or joins finishing) the delete of a GOING_DOWN project, retried with backoff like
   * {@link finishTransition} until the project is REMOVED. Resolves when settled in this process.
   */
  finishDelete(projectId: string): Promise<void> {
    return this.#finish(this.#deletions, projectId, (db) => finishDelete(this.ctx, db, projectId));
  }

  /** Runs `work` under the project's lock until it succeeds (with backoff) or gives up; a lock held elsewhere is tried again. */
  #finish(runs: KeyedRuns, projectId: string, work: (db: pg.PoolClient) => Promise<unknown>): Promise<void> {
    return runs.start(projectId, () =>
      retryUntilSettled(this.#abort.signal, this.#backoffMs, this.#maxBackoffMs, async () => {
        try {
          const outcome = await this.#slot(() =>
            withProjectLock(this.ctx, projectId, (db) => this.#finishOnce(db, projectId, work), false),
          );
          // Undefined only when the lock is held elsewhere.
          return outcome ?? 'retry';
        } catch (error) {
          // The management database itself: nothing could be recorded.
          this.ctx.log.warn({ projectId, err: messageOf(error) }, 'not finished; will retry');
          return 'retry';
        }
      }),
    );
  }

  /**
   * One attempt of `work` on the session holding the project's lock, where a failure is recorded as a
   * call's is. `work` finding nothing to do, or the project's attempts used up, is settled.
   */
  async #finishOnce(
    db: pg.PoolClient,
    projectId: string,
    work: (db: pg.PoolClient) => Promise<unknown>,
  ): Promise<'settled' | 'retry'> {
    try {
      await work(db);
      return 'settled';
    } catch (error) {
      const status = await recordUnfinished(this.ctx, db, projectId, error, this.transitionAttempts);
      return status === null ? 'settled' : 'retry';
    }
  }

  /**
   * Picks up every unfinished project, e.g. after a restart: provisioning (COMING_UP), deletion
   * (GOING_DOWN), pause (PAUSING) and restore (RESTORING).
   */
  async resumeAll(): Promise<number> {
    const clusters = await this.ctx.db.query<{ id: string }>(
      `SELECT id FROM tm.clusters WHERE status = 'active'`,
    );
    for (const { id } of clusters.rows) this.refill(id);
    const { rows } = await this.ctx.db.query<{ id: string; status: string }>(
      `SELECT id, status FROM tm.projects
       WHERE status IN ('COMING_UP', 'GOING_DOWN', 'PAUSING', 'RESTORING') ORDER BY created_at`,
    );
    for (const row of rows) {
      if (row.status === 'COMING_UP') void this.start(row.id);
      else if (row.status === 'GOING_DOWN') void this.finishDelete(row.id);
      else void this.finishTransition(row.id);
    }
    return rows.length;
  }

  /** Stops retries and waits for runs in progress. */
  async close(): Promise<void> {
    this.#abort.abort();
    await Promise.all([
      this.#runs.settled(),
      this.#transitions.settled(),
      this.#deletions.settled(),
      this.#refills.settled(),
    ]);
  }

  async #slot<T>(fn: () => Promise<T>): Promise<T> {
    if (this.#running >= this.#concurrency) await new Promise<void>((resolve) => this.#waiting.push(resolve));
    this.#running++;
    try {
      return await fn();
    } finally {
      this.#running--;
      this.#waiting.shift()?.();
    }
  }

  /** One pass under the project lock: run steps until done, or record the failure. */
  async #attempt(db: pg.PoolClient, projectId: string): Promise<'settled' | 'retry'> {
    let row = await projectRowById(db, projectId);
    if (!row || row.status !== 'COMING_UP') return 'settled';
    if (row.attempts >= this.#maxAttempts) return (await this.#rollback(db, row)) ? 'settled' : 'retry';
    let step: ProvisioningStep | null = null;
    let started = 0;
    try {
      while (row && row.status === 'COMING_UP') {
        step = row.step as ProvisioningStep;
        started = performance.now();
        await this.options.faults?.beforeStep?.(step, row.ref);
        await this.#runStep(db, step, row);
        await this.options.faults?.afterStep?.(step, row.ref);
        const next = PROVISIONING_STEPS[PROVISIONING_STEPS.indexOf(step) + 1] ?? step;
        const advanced = await db.query<ProjectRow>(
          `UPDATE tm.projects SET step = $2, attempts = 0, last_error = NULL, updated_at = $4
           WHERE id = $1 AND step = $3 RETURNING *`,
          [projectId, next, step, this.ctx.clock.now()],
        );
        // Only once recorded: an attempt whose record fails is counted once, as failed, below.
        this.ctx.metrics.provisioningStep(step, 'done', (performance.now() - started) / 1000);
        this.ctx.log.info(
          { ref: row.ref, step, ms: Math.round(performance.now() - started) },
          'provisioning step done',
        );
        step = null; // counted: a failure before the next step starts is no attempt of it
        row = advanced.rows[0] ?? (await projectRowById(db, projectId));
      }
      return 'settled';
    } catch (error) {
      if (step) this.ctx.metrics.provisioningStep(step, 'failed', (performance.now() - started) / 1000);
      const message = messageOf(error);
      // A permanent failure counts as all attempts used, so a rollback retried (here or after a
      // restart) goes on rolling back instead of re-running the step.
      const { rows } = await db.query<{ attempts: number }>(
        `UPDATE tm.projects SET attempts = GREATEST(attempts + 1, $4), last_error = $2, updated_at = $3
         WHERE id = $1 RETURNING attempts`,
        [
          projectId,
          message.slice(0, 500),
          this.ctx.clock.now(),
          error instanceof AppError ? this.#maxAttempts : 0,
        ],
      );
      this.ctx.log.warn({ ref: row?.ref, step: row?.step, err: message }, 'provisioning step failed');
      if ((rows[0]?.attempts ?? 0) < this.#maxAttempts) return 'retry';
      const current = await projectRowById(db, projectId);
      if (current?.status !== 'COMING_UP') return 'settled';
      return (await this.#rollback(db, current)) ? 'settled' : 'retry';
    }
  }

  async #runStep(db: pg.ClientBase, step: ProvisioningStep, row: ProjectRow): Promise<void> {
    const { ctx } = this;
    const cluster = () => ctx.clusters.get(row.cluster_id!);
    switch (step) {
      case 'allocate_cluster':
        if (!row.cluster_id) {
          await placeProject(db, row.id, {
            clusterId: row.requested_cluster_id,
            region: row.requested_region,
          });
        }
        return;
      case 'create_roles':
        await createProjectRoles((await cluster()).admin, row.ref, {
          owner: ctx.box.open(row.owner_password_enc, secretAad.ownerPassword(row.id)),
          authenticator: ctx.box.open(
            row.authenticator_password_enc,
            secretAad.authenticatorPassword(row.id),
          ),
        });
        return;
      case 'create_database': {
        const handle = await cluster();
        await createProjectDatabase(handle.admin, handle.conn, row.ref, row.db_connection_limit);
        this.refill(handle.id);
        return;
      }
      case 'configure_database': {
        const handle = await cluster();
        await configureProjectDatabase(handle.admin, handle.conn, row.ref);
        return;
      }
      case 'create_keys':
        await ensureDefaultKeys(ctx, db, row);
        return;
      case 'create_function': {
        const fn = await ctx.provider.functions.ensureRestFunction({
          ref: row.ref,
          environment: restFunctionEnvironment(ctx, row),
        });
        await db.query('UPDATE tm.projects SET rest_url = $2, rest_region = $3 WHERE id = $1', [
          row.id,
          fn.url,
          fn.region,
        ]);
        return;
      }
      case 'activate': {
        await db.query(
          `UPDATE tm.projects SET status = 'ACTIVE_HEALTHY', version = version + 1, updated_at = $2
           WHERE id = $1 AND status = 'COMING_UP'`,
          [row.id, ctx.clock.now()],
        );
        ctx.metrics.provisioned('active');
        // Counts of a removed project with this ref that a gateway flushed after its delete.
        await ctx.invalidator.forgetUsage(row.ref, false);
        // A gateway may hold a negative entry for this ref from before it existed.
        await ctx.invalidator.project(row.ref, 'created');
        return;
      }
    }
  }

  /**
   * Undoes whatever was created and marks the project INIT_FAILED (its cluster slot is freed). False
   * when the teardown failed: the project stays COMING_UP with attempts exhausted and a last_error
   * saying why, for the caller to retry.
   */
  async #rollback(db: pg.ClientBase, row: ProjectRow): Promise<boolean> {
    const cause = provisioningError(row.last_error);
    try {
      await teardownProject(this.ctx, db, row);
    } catch (error) {
      const reason = messageOf(error);
      await db.query('UPDATE tm.projects SET last_error = $2, updated_at = $3 WHERE id = $1', [
        row.id,
        rollbackFailure(reason, cause),
        this.ctx.clock.now(),
      ]);
      this.ctx.log.error({ ref: row.ref, err: reason }, 'rollback failed; will retry');
      return false;
    }
    await db.query(
      `UPDATE tm.projects SET status = 'INIT_FAILED', last_error = $2, updated_at = $3 WHERE id = $1`,
      [row.id, cause, this.ctx.clock.now()],
    );
    this.ctx.log.warn({ ref: row.ref, err: cause }, 'provisioning rolled back: INIT_FAILED');
    this.ctx.metrics.provisioned('init_failed');
    return true;
  }
}
