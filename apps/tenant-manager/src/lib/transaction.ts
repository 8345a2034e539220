import type pg from 'pg';
import type { Context } from './context.js';
import { conflict } from './errors.js';

/** Runs `work` between BEGIN and COMMIT on `client`; a throw rolls back and is rethrown as is. */
export async function inTransaction<T>(client: pg.ClientBase, work: () => Promise<T>): Promise<T> {
  await client.query('BEGIN');
  try {
    const result = await work();
    await client.query('COMMIT');
    return result;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {});
    throw error;
  }
}

/**
 * Runs `fn` on a session of its own holding the advisory lock named `key` (replicas coordinate
 * through it). With `wait` false, a lock held elsewhere returns undefined at once. A caller that
 * waits does so without a connection (tries again after a short pause, 10 ms doubling to 250 ms):
 * callers queued on one busy project must not take every connection of the pool, which the
 * gateway's internal API and every other project need too.
 */
export async function withAdvisoryLock<T>(
  ctx: Context,
  key: string,
  fn: (db: pg.PoolClient) => Promise<T>,
  wait = true,
): Promise<T | undefined> {
  for (let pause = 10; ; pause = Math.min(pause * 2, 250)) {
    const db = await ctx.db.connect();
    try {
      const { rows } = await db.query('SELECT pg_try_advisory_lock(hashtext($1)) AS ok', [key]);
      if (rows[0].ok) {
        try {
          return await fn(db);
        } finally {
          await db.query('SELECT pg_advisory_unlock(hashtext($1))', [key]);
        }
      }
    } finally {
      db.release();
    }
    if (!wait) return undefined;
    await new Promise((resolve) => setTimeout(resolve, pause));
  }
}

/**
 * Runs `insert` only while the project holds fewer than `cap.max` of something (`cap.countSql`, with
 * the project's id as $1), counting and inserting under one advisory lock so concurrent creates
 * cannot pass the cap together. At the cap: 409 `cap.code` saying `cap.message`. Count and insert
 * share one transaction, so `insert` can lock what it depends on (`lockProjectForCredentials`).
 */
export async function insertWithinCap<T>(
  ctx: Context,
  projectId: string,
  cap: {
    readonly name: string;
    readonly countSql: string;
    readonly max: number;
    readonly code: string;
    readonly message: string;
  },
  insert: (db: pg.PoolClient) => Promise<T>,
): Promise<T> {
  const result = await withAdvisoryLock(ctx, `supaplane.${cap.name}:${projectId}`, (db) =>
    inTransaction(db, async () => {
      const { rows } = await db.query<{ n: number }>(cap.countSql, [projectId]);
      if (rows[0]!.n >= cap.max) throw conflict(cap.message, cap.code);
      return insert(db);
    }),
  );
  return result as T;
}
