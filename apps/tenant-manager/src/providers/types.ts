/**
 * The provisioning interface: what differs between running on one machine (`local`) and in an
 * operator's AWS account (`aws`). Everything else (databases, roles, keys) is plain SQL against the
 * worker cluster and is the same in both.
 */

export interface RestFunctionInput {
  readonly ref: string;
  /** Environment of the function (see docs/contracts.md, "Rest function environment"). */
  readonly environment: Readonly<Record<string, string>>;
  /**
   * Brings the function current while keeping it stopped (see `FunctionProvider.ensureRestFunction`):
   * what the start-up reconcile asks for a paused project's. Default false: the ensure makes it runnable.
   */
  readonly stopped?: boolean;
}

export interface RestFunction {
  /** Function name, always `rest-<ref>`. */
  readonly name: string;
  /** Its Function URL, with a trailing slash. */
  readonly url: string;
  /** Region used for SigV4 signing. */
  readonly region: string;
}

/** The provider's view of a project's rest function, read without changing it. */
export interface DescribedRestFunction {
  readonly name: string;
  /** Its Function URL, with a trailing slash; null when it has none (AWS: no URL config). */
  readonly url: string | null;
  /**
   * `pending` while being created or updated; `failed` when the provider cannot run it; `stopped` when
   * it takes no invocation (a pause: AWS reserved concurrency 0, the emulator's stopped state).
   */
  readonly state: 'active' | 'pending' | 'failed' | 'stopped';
}

/** Hosts one data-API (rest) function per project. Ensure and delete are idempotent. */
export interface FunctionProvider {
  /**
   * Creates the function, or brings its code, settings and environment up to date, and answers where
   * it is. Without `input.stopped` it leaves the function runnable (provisioning, the restore). With
   * `input.stopped` it leaves it stopped as `stopRestFunction` does, and runnable at no moment of the
   * ensure: a stopped function stays stopped, a runnable one is stopped before anything about it
   * changes, a missing one is stopped before it can be invoked. A provider without `stopRestFunction`
   * has nothing to stop and ignores it.
   */
  ensureRestFunction(input: RestFunctionInput): Promise<RestFunction>;
  deleteRestFunction(ref: string): Promise<void>;
  /**
   * Stops what runs of the function (a pause): its instances, and the database connections and memory
   * they hold. Idempotent; a stopped `ensureRestFunction` keeps it stopped, and the next one without
   * `stopped` (the restore) makes it runnable again at the same URL. Optional: without it a paused
   * project's function idles until the provider stops it (only the gateways invoke it, and they refuse
   * a paused project).
   */
  stopRestFunction?(ref: string): Promise<void>;
  /**
   * The function as the provider has it now, null when it does not exist (the health check's view).
   * Optional: without it the health check trusts the URL stored at the last ensure.
   */
  describeRestFunction?(ref: string): Promise<DescribedRestFunction | null>;
}

export interface NewWorkerCluster {
  readonly name: string;
  readonly region?: string;
  readonly minCapacity?: number;
  readonly maxCapacity?: number;
}

export interface WorkerClusterConnection {
  readonly host: string;
  readonly port: number;
  readonly adminUser: string;
  readonly adminPassword: string;
  readonly region: string;
  /** Provider's identifier (e.g. the RDS cluster identifier). */
  readonly externalId: string;
}

/** Creates worker database clusters (AWS: Aurora Serverless v2). Absent in local mode. */
export interface WorkerClusterProvider {
  createCluster(input: NewWorkerCluster): Promise<WorkerClusterConnection>;
  /** Whether `externalId` names a cluster this provider created and may delete (AWS: by name prefix). */
  owns(externalId: string): boolean;
  /** Deletes the cluster (AWS: with a final snapshot). Idempotent; may take many minutes. */
  deleteCluster(externalId: string): Promise<void>;
}

export interface ServiceStatus {
  readonly name: string;
  readonly status: string;
  readonly running: number;
  readonly desired: number;
}

/** Running/desired counts of the platform's own services (AWS: ECS DescribeServices). */
export interface PlatformStatusProvider {
  describeServices(): Promise<ServiceStatus[]>;
}

export interface Provider {
  readonly name: 'local' | 'aws';
  readonly functions: FunctionProvider;
  readonly clusters?: WorkerClusterProvider;
  readonly platform?: PlatformStatusProvider;
}
