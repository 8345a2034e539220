import { badRequest } from './errors.js';

/**
 * Per-project caps that keep one busy tenant from starving the others on a shared cluster:
 * `db_connections` is the project database's `CONNECTION LIMIT` on its worker cluster, and each of
 * its two login roles' (Postgres enforces both; the owner may change its database's, not its roles');
 * the request rate is enforced by the gateways, which
 * read it from the internal config (`rateLimit`). `burst` is null exactly when there is no rate.
 * `db_size_mb` (MiB, null: none) is enforced by the tenant-manager's `SizeLimitEnforcer`, which makes
 * a database past it read-only.
 */
export interface ProjectLimits {
  db_connections: number;
  requests_per_second: number | null;
  burst: number | null;
  db_size_mb: number | null;
}

/** What a create or a PATCH may say about limits: only the fields present change. */
export interface LimitsPatch {
  db_connections?: number;
  requests_per_second?: number | null;
  burst?: number | null;
  db_size_mb?: number | null;
}

export const LIMIT_RANGES = {
  db_connections: { minimum: 1, maximum: 10_000 },
  requests_per_second: { minimum: 1, maximum: 1_000_000 },
  burst: { minimum: 1, maximum: 10_000_000 },
  db_size_mb: { minimum: 1, maximum: 10_000_000 },
} as const;

/** What `db_size_mb` counts in: a MiB, as `pg_size_pretty` reports sizes. */
export const BYTES_PER_MB = 1024 * 1024;

/**
 * `current` with `patch` applied. Setting a rate without a burst (or with `burst: null`) makes the
 * burst equal to the rate; `burst` alone changes the burst of the current rate; removing the rate
 * (`requests_per_second: null`) removes the burst too. Ranges are the schema's business; the rules
 * between fields are checked here (400 `invalid_limits`).
 */
export function applyLimits(current: ProjectLimits, patch: LimitsPatch): ProjectLimits {
  const db_connections = patch.db_connections ?? current.db_connections;
  const db_size_mb = patch.db_size_mb === undefined ? current.db_size_mb : patch.db_size_mb;
  const rate =
    patch.requests_per_second === undefined ? current.requests_per_second : patch.requests_per_second;
  if (rate === null) {
    if (patch.burst !== undefined && patch.burst !== null) {
      throw badRequest(
        'limits.burst must be null when the project has no requests_per_second',
        'invalid_limits',
      );
    }
    return { db_connections, requests_per_second: null, burst: null, db_size_mb };
  }
  const keepBurst = patch.burst === undefined && patch.requests_per_second === undefined;
  const burst = patch.burst ?? (keepBurst ? (current.burst ?? rate) : rate);
  if (burst < rate) {
    throw badRequest(
      `limits.burst (${burst}) must be at least requests_per_second (${rate})`,
      'invalid_limits',
    );
  }
  return { db_connections, requests_per_second: rate, burst, db_size_mb };
}
