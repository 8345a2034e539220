import type { Clock } from './clock.js';
import type { AwsCredentials } from './sigv4.js';

/** Credentials for SigV4, synchronous while the cached set is good. */
export interface CredentialsSource {
  current(): AwsCredentials | Promise<AwsCredentials>;
}

export function staticCredentials(credentials: AwsCredentials): CredentialsSource {
  return { current: () => credentials };
}

/** Refresh this long before expiry, in the background while the old set is still valid. */
const REFRESH_BEFORE_MS = 5 * 60_000;
/** Stop using a set this long before it expires, and wait for a new one. */
const HARD_MARGIN_MS = 30_000;

/**
 * Wraps a provider (the AWS default chain) so the hot path reads a cached set; a new set is fetched
 * once, in the background, shortly before the current one expires.
 */
export function refreshingCredentials(
  provider: () => Promise<AwsCredentials>,
  clock: Clock,
): CredentialsSource {
  let cached: AwsCredentials | undefined;
  let refreshing: Promise<AwsCredentials> | undefined;
  const refresh = () => {
    refreshing ??= provider()
      .then((credentials) => {
        cached = credentials;
        return credentials;
      })
      .finally(() => {
        refreshing = undefined;
      });
    return refreshing;
  };
  return {
    current() {
      if (!cached) return refresh();
      const expires = cached.expiration?.getTime();
      if (expires === undefined) return cached;
      const now = clock.now();
      if (now < expires - REFRESH_BEFORE_MS) return cached;
      if (now < expires - HARD_MARGIN_MS) {
        refresh().catch(() => {});
        return cached;
      }
      return refresh();
    },
  };
}
