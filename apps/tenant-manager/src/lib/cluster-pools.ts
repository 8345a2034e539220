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

/** One admin pg Pool per worker cluster, built from its encrypted credentials on first use. */
export class ClusterPools {
  readonly #handles = new Map<string, Promise<ClusterHandle>>();

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

  /** Forgets a cluster's pool (after its credentials or address change). */
  async evict(clusterId: string): Promise<void> {
    const handle = this.#handles.get(clusterId);
    this.#handles.delete(clusterId);
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
