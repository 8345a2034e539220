import type pg from 'pg';

/** pg's `ssl` option as the tenant-manager sets it: off, or on and always verifying the server. */
type PgSsl = false | { readonly rejectUnauthorized: true; readonly ca?: string };

/**
 * TLS for a database connection that asked for it: the server certificate (and host name) is always
 * verified, against `ca` (a PEM bundle such as RDS's, from DB_CA_BUNDLE_FILE) or, without one, Node's
 * default trust store. Verification is never switched off.
 */
export function pgSsl(enabled: boolean, ca?: string | null): PgSsl {
  if (!enabled) return false;
  return ca ? { rejectUnauthorized: true, ca } : { rejectUnauthorized: true };
}

/** URL parameters pg would turn into its own (possibly non-verifying) TLS settings. */
const TLS_PARAMS = ['sslmode', 'ssl', 'sslrootcert', 'sslcert', 'sslkey', 'sslnegotiation', 'uselibpqcompat'];
const TLS_MODES = new Set(['prefer', 'require', 'verify-ca', 'verify-full', 'no-verify']);

/**
 * Whether a postgres:// URL asks for TLS: `sslmode` prefer/require/verify-ca/verify-full (and pg's
 * `no-verify`, which is verified all the same), or `ssl=true|1`. `disable`, `allow` or nothing: plain.
 */
export function urlWantsTls(url: URL): boolean {
  const mode = url.searchParams.get('sslmode');
  const ssl = url.searchParams.get('ssl');
  return (mode !== null && TLS_MODES.has(mode)) || ssl === 'true' || ssl === '1';
}

/**
 * Pool options for the management database URL. The TLS parameters are taken out of the connection
 * string (pg lets them override `ssl`; its `sslmode=no-verify`, and `require` with `uselibpqcompat=true`,
 * turn verification off) and replaced by {@link pgSsl}. The CA comes from DB_CA_BUNDLE_FILE only.
 */
export function managementPoolConfig(databaseUrl: string, ca?: string | null): pg.PoolConfig {
  const url = new URL(databaseUrl);
  const ssl = pgSsl(urlWantsTls(url), ca);
  for (const name of TLS_PARAMS) url.searchParams.delete(name);
  return { connectionString: url.toString(), ssl };
}
