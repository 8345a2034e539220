import type pg from 'pg';
import { sleep, within } from './background.js';
import type { Context } from './context.js';
import { messageOf } from './errors.js';
import { BYTES_PER_MB } from './limits.js';
import {
  endProjectSessions,
  type ProjectDatabaseSize,
  projectDatabaseSizes,
  setProjectReadOnly,
} from './project-db.js';
import {
  findProjectRow,
  projectRowById,
  type ProjectRow,
  type ProjectStatus,
  withProjectLock,
} from './projects.js';
import { withAdvisoryLock } from './transaction.js';

export interface SizeLimitEnforcerOptions {
  /** Time between rounds; 0: no rounds (`checkNow` and `checkProject` still work). Default 60 s. */
  readonly intervalMs?: number;
  /**
   * How long a cluster may take to answer each query of a round or a project check (sizes, the
   * read-only change): a cluster that stops answering fails that project, never holds the round or
   * the project's lock. Default 30 s.
   */
  readonly clusterTimeoutMs?: number;
}

interface SizeCheckSummary {
  /** Projects with a size limit (or still read-only for one) whose database size was read. */
  readonly checked: number;
  /** Refs made read-only this round. */
  readonly madeReadOnly: string[];
  /** Refs made writable again this round. */
  readonly madeWritable: string[];
  /** Refs whose change failed (tried again next round). */
  readonly failed: string[];
  /** Ids of clusters that could not be reached (skipped this round). */
  readonly unreachableClusters: string[];
}

type SizeLimitAction = 'read-only' | 'writable';

/** Only one replica runs a round at a time. */
const ROUND_LOCK = 'supaplane.db-size-limits';
/** A project's database is settled where its limits may change; rounds only look at ACTIVE_HEALTHY ones. */
const SETTLED_STATUSES: readonly ProjectStatus[] = ['ACTIVE_HEALTHY', 'PAUSED'];

type Limited = Pick<ProjectRow, 'db_size_limit_mb' | 'db_read_only'>;

/**
 * What the project's database needs, if anything: past its limit it is made read-only (again, when
 * its setting was removed by hand); the platform's read-only is lifted once it is within its limit or
 * has none. A read-only setting the platform did not make is left alone.
 */
export function sizeLimitAction(row: Limited, size: ProjectDatabaseSize): SizeLimitAction | null {
  const over = row.db_size_limit_mb !== null && size.sizeBytes > row.db_size_limit_mb * BYTES_PER_MB;
  if (over) return row.db_read_only && size.readOnly ? null : 'read-only';
  return row.db_read_only ? 'writable' : null;
}

/**
 * Enforces `limits.db_size_mb`: every `intervalMs`, the sizes of the ACTIVE_HEALTHY projects' databases
 * that have a limit (or are read-only for one) are read, one query per active or draining cluster. A
 * database past its limit gets `default_transaction_read_only = on` and its sessions are ended, so the
 * data API reconnects into read-only transactions; `db_read_only` records it. Once the database is
 * within its limit again (raised or removed, or space given back), the setting is reset the same way.
 * Changes are made under the project's lock, with its row read again, so a PATCH or a pause never
 * races a round. An advisory lock keeps rounds to one replica at a time.
 */
export class SizeLimitEnforcer {
  readonly #abort = new AbortController();
  readonly #intervalMs: number;
  readonly #clusterTimeoutMs: number;
  #loop: Promise<void> | null = null;
  /** The round in progress in this process: the next one starts after it. */
  #last: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly ctx: Context,
    options: SizeLimitEnforcerOptions = {},
  ) {
    this.#intervalMs = options.intervalMs ?? 60_000;
    this.#clusterTimeoutMs = options.clusterTimeoutMs ?? 30_000;
  }

  /** Starts the rounds (the first after one interval). */
  start(): void {
    if (this.#intervalMs <= 0 || this.#loop) return;
    const signal = this.#abort.signal;
    this.#loop = (async () => {
      while (!signal.aborted) {
        await sleep(this.#intervalMs, signal);
        if (signal.aborted) break;
        await this.checkNow().catch((error: unknown) =>
          this.ctx.log.error({ err: messageOf(error) }, 'database size round failed'),
        );
      }
    })();
  }

  /** Runs a round now (after the one in progress here); null when another replica is running one. */
  checkNow(): Promise<SizeCheckSummary | null> {
    const round = this.#last.then(async () => {
      const summary = await withAdvisoryLock(this.ctx, ROUND_LOCK, () => this.#round(), false);
      return summary ?? null;
    });
    this.#last = round.catch(() => {});
    return round;
  }

  /**
   * Brings one project's database in line with its limit now (after a limits PATCH). Never throws: a
   * cluster that cannot do it now is logged, and the next round tries again.
   */
  async checkProject(ref: string): Promise<SizeLimitAction | null> {
    try {
      const row = await findProjectRow(this.ctx.db, ref);
      if (!row) return null;
      return (await withProjectLock(this.ctx, row.id, (db) => this.#settle(db, row.id))) ?? null;
    } catch (error) {
      this.ctx.log.warn({ ref, err: messageOf(error) }, 'database size limit not checked');
      return null;
    }
  }

  /** Stops the rounds and waits for the one in progress. */
  async close(): Promise<void> {
    this.#abort.abort();
    await this.#loop;
    await this.#last;
  }

  async #round(): Promise<SizeCheckSummary> {
    const { rows } = await this.ctx.db.query<
      Pick<ProjectRow, 'id' | 'ref' | 'cluster_id' | 'db_read_only_since'> & Limited
    >(
      `SELECT p.id, p.ref, p.cluster_id, p.db_size_limit_mb, p.db_read_only, p.db_read_only_since
       FROM tm.projects p JOIN tm.clusters c ON c.id = p.cluster_id
       WHERE p.status = 'ACTIVE_HEALTHY' AND c.status IN ('active', 'draining')
         AND (p.db_size_limit_mb IS NOT NULL OR p.db_read_only)
       ORDER BY p.created_at`,
    );
    const byCluster = new Map<string, typeof rows>();
    for (const row of rows) {
      const same = byCluster.get(row.cluster_id!);
      if (same) same.push(row);
      else byCluster.set(row.cluster_id!, [row]);
    }
    const summary = {
      checked: 0,
      madeReadOnly: [] as string[],
      madeWritable: [] as string[],
      failed: [] as string[],
      unreachableClusters: [] as string[],
    };
    await Promise.all(
      [...byCluster].map(async ([clusterId, projects]) => {
        let sizes: Map<string, ProjectDatabaseSize>;
        let cluster: Awaited<ReturnType<Context['clusters']['get']>>;
        try {
          cluster = await this.ctx.clusters.get(clusterId);
          sizes = await within(
            this.#clusterTimeoutMs,
            'the database cluster',
            projectDatabaseSizes(
              cluster.admin,
              projects.map((p) => p.ref),
            ),
          );
        } catch (error) {
          summary.unreachableClusters.push(clusterId);
          this.ctx.log.warn(
            { clusterId, projects: projects.length, err: messageOf(error) },
            'database sizes not readable; cluster skipped this round',
          );
          return;
        }
        for (const project of projects) {
          if (this.#abort.signal.aborted) return;
          const size = sizes.get(project.ref);
          if (!size) continue;
          summary.checked++;
          if (!sizeLimitAction(project, size)) {
            if (project.db_read_only && size.readOnly && project.db_read_only_since) {
              await this.#endOldSessions(cluster, project.ref, project.db_read_only_since);
            }
            continue;
          }
          try {
            // Skipped when the project's lock is held (a pause, a delete, a PATCH that re-checks it).
            const action = await withProjectLock(
              this.ctx,
              project.id,
              (db) => this.#settle(db, project.id),
              false,
            );
            if (action === 'read-only') summary.madeReadOnly.push(project.ref);
            if (action === 'writable') summary.madeWritable.push(project.ref);
          } catch (error) {
            summary.failed.push(project.ref);
            this.ctx.log.warn(
              { ref: project.ref, err: messageOf(error) },
              'database size limit not enforced',
            );
          }
        }
      }),
    );
    return summary;
  }

  /**
   * A read-only database whose sessions from before that may not all have been ended (the ending
   * failed, or was given up on): ends them now. Each round does, so a failure is retried; sessions
   * that started since carry the read-only default and are left alone.
   */
  async #endOldSessions(
    cluster: Awaited<ReturnType<Context['clusters']['get']>>,
    ref: string,
    since: Date,
  ): Promise<void> {
    try {
      await within(
        this.#clusterTimeoutMs,
        'the database cluster',
        endProjectSessions(cluster.admin, ref, { startedBefore: since }),
      );
    } catch (error) {
      this.ctx.log.warn({ ref, err: messageOf(error) }, 'sessions from before read-only not ended');
    }
  }

  /** Under the project's lock: reads its row and its database's size afresh and acts on them. */
  async #settle(db: pg.PoolClient, projectId: string): Promise<SizeLimitAction | null> {
    const row = await projectRowById(db, projectId);
    if (!row?.cluster_id || !SETTLED_STATUSES.includes(row.status)) return null;
    const cluster = await this.ctx.clusters.get(row.cluster_id);
    const onCluster = <T>(work: Promise<T>) => within(this.#clusterTimeoutMs, 'the database cluster', work);
    const size = (await onCluster(projectDatabaseSizes(cluster.admin, [row.ref]))).get(row.ref);
    if (!size) return null;
    const action = sizeLimitAction(row, size);
    if (!action) return null;
    const readOnly = action === 'read-only';
    // `since` is the cluster's own time, as the sessions' `backend_start` it is compared with.
    const since = readOnly
      ? (await onCluster(cluster.admin.query<{ now: Date }>('SELECT now() AS now'))).rows[0]!.now
      : null;
    const record = () =>
      db.query(
        'UPDATE tm.projects SET db_read_only = $2, db_read_only_since = $3, updated_at = $4 WHERE id = $1',
        [row.id, readOnly, since, this.ctx.clock.now()],
      );
    // The flag before making it read-only, after lifting that: whatever fails in between, a read-only
    // database is flagged, so the next round (or PATCH) settles it whichever way its limit now says.
    // That holds too when a change given up on here still lands on the cluster later.
    if (readOnly) await record();
    await onCluster(setProjectReadOnly(cluster.admin, row.ref, readOnly));
    if (!readOnly) await record();
    const facts = { ref: row.ref, sizeBytes: size.sizeBytes, limitMb: row.db_size_limit_mb };
    if (readOnly) this.ctx.log.warn(facts, 'project database over its size limit: made read-only');
    else this.ctx.log.info(facts, 'project database within its size limit: writable again');
    return action;
  }
}
