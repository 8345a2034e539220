import type pg from 'pg';
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

/** Test hooks that throw at a given point of provisioning. */
export interface Faults {
  beforeStep?(step: ProvisioningStep, ref: string): void | Promise<void>;
  /** After the step's work is done but before it is recorded: proves re-running a step is harmless. */
  afterStep?(step: ProvisioningStep, ref: string): void | Promise<void>;
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
}

export const systemClock: Clock = { now: () => new Date() };
