/** Where the suites point: a deployed platform (PLATFORM_* variables) or a local stack they start. */
export interface PlatformTarget {
  readonly gatewayUrl: string;
  readonly baseDomain: string;
  readonly tenantManagerUrl: string;
  readonly adminKey: string;
  /** Only when the suites started the local stack: direct database access for isolation checks. */
  readonly local?: { readonly postgresUrl: string; readonly internalUrl: string };
}

declare module 'vitest' {
  export interface ProvidedContext {
    platform: PlatformTarget;
  }
}
