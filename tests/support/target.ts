/** Where the suites point: a deployed platform (PLATFORM_* variables) or a local stack they start. */
export interface PlatformTarget {
  readonly gatewayUrl: string;
  readonly baseDomain: string;
  readonly tenantManagerUrl: string;
  readonly adminKey: string;
  /** Only when the suites started the local stack: direct access for the database-level isolation checks. */
  readonly local?: {
    /** Superuser URL of the local cluster (checks that a database is gone, never used for data access). */
    readonly postgresUrl: string;
    /** The tenant-manager's internal API base URL. */
    readonly internalUrl: string;
    /** The shared service token of the internal API. */
    readonly internalToken: string;
    /** The Redis the gateways and the tenant-manager share; null when the stack runs without one. */
    readonly redisUrl: string | null;
    /** The `demo` project the start-up created and printed. */
    readonly demoProject: {
      readonly ref: string;
      readonly publishableKey: string;
      readonly secretKey: string;
      /** Its owner role's connection URL, password included. */
      readonly databaseUrl: string;
    };
  };
}

declare module 'vitest' {
  export interface ProvidedContext {
    platform: PlatformTarget;
  }
}
