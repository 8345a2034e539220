import type pg from 'pg';
import type { Organization } from './organizations.js';
import type { Provider } from '../providers/types.js';
import type { ClusterPools } from './cluster-pools.js';
import type { SecretBox } from './crypto.js';
import type { FunctionTokens } from './function-tokens.js';
import type { Invalidator } from './invalidation.js';
import type { ProjectLimits } from './limits.js';
import type { TenantManagerMetrics } from './metrics.js';

export interface Clock {
  now(): Date;
}

/** The subset of pino the library logs through. */
export interface Logger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

/** Provisioning steps, in order. Each is idempotent; `step` on the project row is the next to run. */
export const PROVISIONING_STEPS = [
  'allocate_cluster',
  'create_roles',
  'create_database',
  'configure_database',
  'create_keys',
  'create_function',
  'activate',
] as const;
export type ProvisioningStep = (typeof PROVISIONING_STEPS)[number];

/**
 * Steps of a pause or restore once the project is PAUSING / RESTORING: `prepare` (a pause tells the
 * gateways; a restore re-ensures the function and the database's limits), `connections` (the
 * database is closed or opened), `settle` (PAUSED / ACTIVE_HEALTHY recorded, gateways told).
 */
export const TRANSITION_STEPS = ['prepare', 'connections', 'settle'] as const;
export type TransitionStep = (typeof TRANSITION_STEPS)[number];

/** Test hooks that throw at a given point of provisioning, or of a pause or restore. */
export interface Faults {
  beforeStep?(step: ProvisioningStep, ref: string): void | Promise<void>;
  /** After the step's work is done but before it is recorded: proves re-running a step is harmless. */
  afterStep?(step: ProvisioningStep, ref: string): void | Promise<void>;
  /** Before a pause or restore step: a throw leaves the project PAUSING / RESTORING, as a crash would. */
  beforeTransitionStep?(step: TransitionStep, ref: string): void | Promise<void>;
}

export interface Settings {
  readonly publicUrlTemplate: string;
  readonly internalBaseUrl: string;
  readonly internalServiceToken: string;
  readonly sqlStatementTimeoutMs: number;
  /** PEM CA bundle verifying worker clusters reached over TLS; null: Node's default trust store. */
  readonly dbCaBundle: string | null;
  /** Limits of a new project where its create does not say (PROJECT_DB_CONNECTION_LIMIT, PROJECT_RATE_LIMIT_*). */
  readonly defaultLimits: ProjectLimits;
  /** The one organization every project belongs to (ORGANIZATION_SLUG, ORGANIZATION_NAME). */
  readonly organization: Organization;
}

/** Everything the library needs, passed explicitly. */
export interface Context {
  readonly db: pg.Pool;
  readonly box: SecretBox;
  readonly clock: Clock;
  readonly log: Logger;
  readonly provider: Provider;
  readonly invalidator: Invalidator;
  readonly clusters: ClusterPools;
  /** Mints and checks the per-project tokens handed to rest functions. */
  readonly functionTokens: FunctionTokens;
  readonly settings: Settings;
  readonly metrics: TenantManagerMetrics;
  /** Test hooks (none in production). */
  readonly faults?: Faults;
}

export const systemClock: Clock = { now: () => new Date() };
