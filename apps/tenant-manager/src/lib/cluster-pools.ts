import pg from 'pg';
import type { SecretBox } from './crypto.js';
import { fromWorkerCluster, markWorkerCluster } from './errors.js';
import type { ClusterConnection } from './project-db.js';
import { pgSsl } from './tls.js';

interface ClusterHandle {
  readonly id: string;
  readonly conn: ClusterConnection;
  /** Admin pool on the cluster's maintenance database. */
  readonly admin: pg.Pool;
}

export const clusterPasswordAad = (clusterId: string) => `cluster:${clusterId}:admin-password`;

/** How long a cluster's server version is taken as read before it is asked again (an upgrade changes it). */
const SERVER_VERSION_TTL_MS = 10 * 60_000;
/** A cluster that does not answer `SHOW server_version` in this time answers with the version last stored. */
const SERVER_VERSION_TIMEOUT_MS = 2_000;
/** After a failed read, how long the stored version is answered before the cluster is asked again. */
const SERVER_VERSION_RETRY_MS = 30_000;

/** One admin pg Pool per worker cluster, built from its encrypted credentials on first use. */
export class ClusterPools {
  readonly #handles = new Map<string, Promise<ClusterHandle>>();
  readonly #versions = new Map<string, { until: number; version: Promise<string | null> }>();

  constructor(
    private readonly db: pg.Pool,
    private readonly box: SecretBox,
    /** PEM CA bundle for clusters registered with `ssl: true` (null: Node's default trust store). */
    private readonly ca: string | null = null,
    private readonly poolSize = 6,
  ) {}

  get(clusterId: string): Promise<ClusterHandle> {
    let handle = this.#handles.get(clusterId);
    if (!handle) {
      handle = this.#load(clusterId);
      this.#handles.set(clusterId, handle);
      handle.catch(() => this.#handles.delete(clusterId));
    }
    return handle;
  }

  async #load(clusterId: string): Promise<ClusterHandle> {
    const { rows } = await this.db.query(
      'SELECT host, port, admin_user, admin_password_enc, admin_database, ssl FROM tm.clusters WHERE id = $1',
      [clusterId],
    );
    const row = rows[0];
    if (!row) throw new Error(`cluster ${clusterId} is not registered`);
    const conn: ClusterConnection = {
      host: row.host,
      port: row.port,
      user: row.admin_user,
      password: this.box.open(row.admin_password_enc, clusterPasswordAad(clusterId)),
      database: row.admin_database,
      ssl: row.ssl,
      ...(this.ca ? { ca: this.ca } : {}),
    };
    return { id: clusterId, conn, admin: adminPool(conn, this.poolSize) };
  }

  /**
   * The cluster's Postgres version (`server_version`'s first word, e.g. `16.4`), read from the
   * cluster at most every ten minutes (one read at a time) and stored on its row, so that a cluster
   * out of reach answers with the version it last had; null when it was never read.
   */
  serverVersion(clusterId: string, now = Date.now()): Promise<string | null> {
    const cached = this.#versions.get(clusterId);
    if (cached && now < cached.until) return cached.version;
    const entry = { until: now + SERVER_VERSION_TTL_MS, version: Promise.resolve<string | null>(null) };
    entry.version = this.#readServerVersion(clusterId).catch(async () => {
      // Out of reach: the version stored, asked again in a little while (not at every request).
      entry.until = Date.now() + SERVER_VERSION_RETRY_MS;
      const { rows } = await this.db
        .query<{ server_version: string | null }>('SELECT server_version FROM tm.clusters WHERE id = $1', [
          clusterId,
        ])
        .catch(() => ({ rows: [] as { server_version: string | null }[] }));
      return rows[0]?.server_version ?? null;
    });
    this.#versions.set(clusterId, entry);
    return entry.version;
  }

  async #readServerVersion(clusterId: string): Promise<string> {
    let timer: NodeJS.Timeout | undefined;
    try {
      const { admin } = await this.get(clusterId);
      const { rows } = await Promise.race([
        admin.query<{ server_version: string }>('SHOW server_version'),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error('timeout')), SERVER_VERSION_TIMEOUT_MS);
        }),
      ]);
      // e.g. '16.4 (Debian 16.4-1.pgdg120+1)': the version is the first word.
      const version = rows[0]!.server_version.split(' ')[0]!;
      await this.db.query(
        'UPDATE tm.clusters SET server_version = $2 WHERE id = $1 AND server_version IS DISTINCT FROM $2',
        [clusterId, version],
      );
      return version;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Forgets a cluster's pool (after its credentials or address change). */
  async evict(clusterId: string): Promise<void> {
    const handle = this.#handles.get(clusterId);
    this.#handles.delete(clusterId);
    this.#versions.delete(clusterId);
    if (handle) await (await handle.catch(() => null))?.admin.end();
  }

  async closeAll(): Promise<void> {
    await Promise.all([...this.#handles.keys()].map((id) => this.evict(id)));
  }
}

export function adminPool(conn: ClusterConnection, max = 6): pg.Pool {
  const pool = new pg.Pool({
    Client: WorkerClusterClient,
    host: conn.host,
    port: conn.port,
    user: conn.user,
    password: conn.password,
    database: conn.database,
    ssl: pgSsl(conn.ssl, conn.ca),
    max,
    idleTimeoutMillis: 30_000,
    connectionTimeoutMillis: 10_000,
  });
  pool.on('error', () => {}); // idle client errors (cluster restart) must not crash the process
  // The pool's own failures (no free connection in time): its queries and connections are its
  // clients', which mark theirs.
  markFailures(pool, 'connect');
  return pool;
}

/**
 * A connection to a worker cluster (the admin pool's, and every one-off client): whatever fails on it
 * (connecting, or a query, by promise, callback or Query object, the connection dropping under it
 * included) is marked as the worker cluster's, so that its outage is told apart from the management
 * database's in the 503 the API answers, and a delete, pause or restore is retried in the background.
 * (A dropped connection is also emitted as `error`, which pg.Pool answers its query with: the same
 * error object, marked by the query's callback first.)
 */
export class WorkerClusterClient extends pg.Client {
  constructor(config?: pg.ClientConfig) {
    super(config);
    markFailures(this, 'connect');
    markFailures(this, 'query');
    // A connection dropped between queries (a failover, a cluster restart, the local stack stopping)
    // is emitted as `error`, and with no listener that ends the process: a one-off client and a
    // client taken from a pool have none. Nothing is lost by listening: a query running then gets the
    // error itself, and the next one fails as the worker cluster's outage.
    this.on('error', ignoreIdleError);
  }
}

const ignoreIdleError = () => {};

type Callback = (error: unknown, ...results: unknown[]) => void;

/** Marks the failures of `target[method]`, whether it answers by promise, callback or a Query's own. */
function markFailures<T extends object>(target: T, method: keyof T & ('connect' | 'query')): void {
  const original = (target[method] as (...args: unknown[]) => unknown).bind(target);
  const replacement = (...args: unknown[]) => {
    const last = args.length - 1;
    const callback = args[last];
    if (typeof callback === 'function') {
      args[last] = (error: unknown, ...results: unknown[]) =>
        (callback as Callback)(error && markWorkerCluster(error), ...results);
    }
    const submitted = args[0] as {
      submit?: unknown;
      handleError?: (error: unknown, ...rest: unknown[]) => void;
    };
    if (typeof submitted?.submit === 'function' && typeof submitted.handleError === 'function') {
      const handleError = submitted.handleError.bind(submitted);
      submitted.handleError = (error, ...rest) => handleError(markWorkerCluster(error), ...rest);
    }
    const result = original(...args);
    return result instanceof Promise ? result.catch(fromWorkerCluster) : result;
  };
  Object.assign(target, { [method]: replacement });
}
