import type pg from 'pg';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { within } from './background.js';
import { LIVE_PROJECT } from './clusters.js';
import type { ProvisioningStep } from './context.js';

/** What the library reports as it works; the scrape-time gauges read the management database. */
export interface TenantManagerMetrics {
  readonly registry: Registry;
  /** An operator or internal API request answered; `route` is the route's pattern (bounded). */
  request(app: 'public' | 'internal', method: string, route: string, status: number, seconds: number): void;
  provisioningStep(step: ProvisioningStep, outcome: 'done' | 'failed', seconds: number): void;
  /** A project finished provisioning: ACTIVE_HEALTHY, or rolled back to INIT_FAILED. */
  provisioned(result: 'active' | 'init_failed'): void;
  invalidation(result: 'published' | 'failed'): void;
}

const STEP_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
const HTTP_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/**
 * Prometheus metrics of one tenant-manager (a registry of its own: tests build several apps in one
 * process). Projects by status and each cluster's load are read from the management database at
 * scrape time, so every replica reports the same platform-wide figures; `…_management_db_up` says
 * whether that read worked.
 */
export function createTenantManagerMetrics(
  db: pg.Pool,
  options: {
    defaultMetrics?: boolean;
    /** How long a scrape waits for the management database before reporting it down (default 3 s). */
    snapshotTimeoutMs?: number;
  } = {},
): TenantManagerMetrics {
  const registry = new Registry();
  if (options.defaultMetrics) collectDefaultMetrics({ register: registry });
  const registers = [registry];

  const requests = new Counter({
    name: 'tenant_manager_http_requests_total',
    help: 'API requests answered, by app (public operator API or internal API), method, route and status',
    labelNames: ['app', 'method', 'route', 'status'],
    registers,
  });
  const requestSeconds = new Histogram({
    name: 'tenant_manager_http_request_duration_seconds',
    help: 'Time to answer an API request, by app and route',
    labelNames: ['app', 'route'],
    buckets: HTTP_BUCKETS,
    registers,
  });
  const steps = new Histogram({
    name: 'tenant_manager_provisioning_step_duration_seconds',
    help: 'Time of each provisioning step attempt, by step and outcome (done, failed)',
    labelNames: ['step', 'outcome'],
    buckets: STEP_BUCKETS,
    registers,
  });
  const provisioned = new Counter({
    name: 'tenant_manager_projects_provisioned_total',
    help: 'Projects that finished provisioning, by result (active, init_failed)',
    labelNames: ['result'],
    registers,
  });
  const invalidations = new Counter({
    name: 'tenant_manager_invalidations_total',
    help: 'Gateway cache invalidations, by result (published, failed: gateways fall back to their TTL)',
    labelNames: ['result'],
    registers,
  });

  // Platform state: one read serves every gauge of a scrape (they collect together), the scrapes that
  // come while it runs, and those up to a second after it. A scrape waits for it at most
  // `snapshotTimeoutMs` (then the database reads as down), and no second read starts while one is
  // still out: a slow or hung management database never holds a scrape nor piles up queries.
  const snapshotTimeoutMs = options.snapshotTimeoutMs ?? 3_000;
  let last: { at: number; value: PlatformSnapshot | null } | null = null;
  let reading: Promise<PlatformSnapshot | null> | null = null;
  const read = async (): Promise<PlatformSnapshot | null> => {
    if (last && performance.now() - last.at <= 1_000) return last.value;
    reading ??= readSnapshot(db).then((value) => {
      last = { at: performance.now(), value };
      reading = null;
      return value;
    });
    return within(snapshotTimeoutMs, 'the management database', reading).catch(() => null);
  };
  new Gauge({
    name: 'tenant_manager_management_db_up',
    help: 'Whether the last scrape could read the management database (1) or not (0)',
    registers,
    async collect() {
      this.set((await read()) ? 1 : 0);
    },
  });
  new Gauge({
    name: 'tenant_manager_projects',
    help: 'Projects by status (REMOVED ones included)',
    labelNames: ['status'],
    registers,
    async collect() {
      this.reset();
      for (const row of (await read())?.projects ?? []) this.labels(row.status).set(row.count);
    },
  });
  const clusterGauge = (name: string, help: string, pick: (cluster: ClusterLoad) => number) =>
    new Gauge({
      name,
      help,
      labelNames: ['cluster', 'name', 'status'],
      registers,
      async collect() {
        this.reset();
        for (const c of (await read())?.clusters ?? []) this.labels(c.id, c.name, c.status).set(pick(c));
      },
    });
  clusterGauge(
    'tenant_manager_cluster_projects',
    'Projects holding a place on each worker cluster (not REMOVED or INIT_FAILED)',
    (c) => c.projects,
  );
  clusterGauge('tenant_manager_cluster_capacity', 'Projects each worker cluster may hold', (c) => c.capacity);

  return {
    registry,
    request(app, method, route, status, seconds) {
      requests.labels(app, method, route, String(status)).inc();
      requestSeconds.labels(app, route).observe(seconds);
    },
    provisioningStep: (step, outcome, seconds) => steps.labels(step, outcome).observe(seconds),
    provisioned: (result) => provisioned.labels(result).inc(),
    invalidation: (result) => invalidations.labels(result).inc(),
  };
}

interface ClusterLoad {
  id: string;
  name: string;
  status: string;
  capacity: number;
  projects: number;
}

interface PlatformSnapshot {
  projects: Array<{ status: string; count: number }>;
  clusters: ClusterLoad[];
}

async function readSnapshot(db: pg.Pool): Promise<PlatformSnapshot | null> {
  try {
    const [projects, clusters] = await Promise.all([
      db.query<{ status: string; count: number }>(
        'SELECT status, count(*)::int AS count FROM tm.projects GROUP BY status',
      ),
      db.query<ClusterLoad>(
        `SELECT c.id, c.name, c.status, c.capacity,
           (SELECT count(*) FROM tm.projects p WHERE p.cluster_id = c.id AND p.${LIVE_PROJECT})::int AS projects
         FROM tm.clusters c`,
      ),
    ]);
    return { projects: projects.rows, clusters: clusters.rows };
  } catch {
    return null;
  }
}
