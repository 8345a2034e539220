import type pg from 'pg';
import { KeyedRuns, retryUntilSettled } from './background.js';
import type { Context } from './context.js';
import { messageOf } from './errors.js';
import { withAdvisoryLock } from './transaction.js';

export interface ClusterDeleterOptions {
  /** First retry delay; doubles each attempt up to `maxBackoffMs`. Default 5 s. */
  readonly backoffMs?: number;
  /** Longest wait between attempts. Default 5 min. */
  readonly maxBackoffMs?: number;
}

/**
 * Deletes provider-created worker clusters that were deregistered (status `deleting`, see
 * `deregisterCluster`): the provider's cluster first (AWS: instances, then the cluster with a final
 * snapshot; many minutes), the row once that is done. The provider's call is idempotent, so a run cut
 * off by a crash or restart is simply run again ({@link resumeAll}). A failure is recorded on the
 * row (`last_error`) and retried with backoff, without end: the cluster costs money until it is gone,
 * and the operator sees why it is not. The cluster's advisory lock keeps two replicas off the same one.
 */
export class ClusterDeleter {
  readonly #runs = new KeyedRuns((error, clusterId) =>
    this.ctx.log.error({ err: messageOf(error), clusterId }, 'cluster deletion crashed'),
  );
  readonly #abort = new AbortController();
  readonly #backoffMs: number;
  readonly #maxBackoffMs: number;

  constructor(
    private readonly ctx: Context,
    options: ClusterDeleterOptions = {},
  ) {
    this.#backoffMs = options.backoffMs ?? 5_000;
    this.#maxBackoffMs = options.maxBackoffMs ?? 300_000;
  }

  /** Starts (or joins) the deletion of a `deleting` cluster; resolves when it is settled in this process. */
  start(clusterId: string): Promise<void> {
    return this.#runs.start(clusterId, () =>
      retryUntilSettled(this.#abort.signal, this.#backoffMs, this.#maxBackoffMs, () =>
        // Undefined when another replica holds the cluster's lock: it is that replica's to finish.
        withAdvisoryLock(
          this.ctx,
          `supaplane.cluster:${clusterId}`,
          (db) => this.#attempt(db, clusterId),
          false,
        ),
      ),
    );
  }

  /** Picks up every cluster still `deleting`, e.g. after a restart; returns how many. */
  async resumeAll(): Promise<number> {
    const { rows } = await this.ctx.db.query<{ id: string }>(
      `SELECT id FROM tm.clusters WHERE status = 'deleting' ORDER BY updated_at`,
    );
    for (const { id } of rows) void this.start(id);
    return rows.length;
  }

  /** Stops retrying and waits for attempts in progress. */
  async close(): Promise<void> {
    this.#abort.abort();
    await this.#runs.settled();
  }

  async #attempt(db: pg.PoolClient, clusterId: string): Promise<'settled' | 'retry'> {
    const { rows } = await db.query<{ name: string; status: string; external_id: string | null }>(
      'SELECT name, status, external_id FROM tm.clusters WHERE id = $1',
      [clusterId],
    );
    const row = rows[0];
    if (!row || row.status !== 'deleting') return 'settled';
    const provider = this.ctx.provider.clusters;
    const started = performance.now();
    try {
      if (!provider || !row.external_id)
        throw new Error(`the ${this.ctx.provider.name} provider cannot delete it`);
      await provider.deleteCluster(row.external_id);
    } catch (error) {
      const message = messageOf(error).slice(0, 500);
      await db.query(`UPDATE tm.clusters SET last_error = $2, updated_at = $3 WHERE id = $1`, [
        clusterId,
        message,
        this.ctx.clock.now(),
      ]);
      this.ctx.log.warn({ cluster: row.name, err: message }, 'cluster deletion failed; will retry');
      return 'retry';
    }
    await db.query(`DELETE FROM tm.clusters WHERE id = $1 AND status = 'deleting'`, [clusterId]);
    this.ctx.log.info(
      { cluster: row.name, externalId: row.external_id, ms: Math.round(performance.now() - started) },
      'worker cluster deleted',
    );
    return 'settled';
  }
}
