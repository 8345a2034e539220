import pg from 'pg';
import { loadSchemaCache, loadTimezones, SCHEMA_FINGERPRINT, type SchemaCache } from './schema-cache.js';

/**
 * The engine's one schema cache over time: loaded once at a time, reloaded on `NOTIFY pgrst`
 * (when listening) and on demand, and compared with the catalogs at most once per check interval.
 */

const MIN_RELOAD_INTERVAL_MS = 50;
const DEFAULT_SCHEMA_CHECK_INTERVAL_MS = 3000;

export interface SchemaCacheLoaderOptions {
  readonly pool: pg.Pool;
  readonly schemas: readonly string[];
  /** LISTEN on `pgrst` for `reload schema`. */
  readonly listen: boolean;
  /** See `RestEngineOptions.schemaCheckIntervalMs`. */
  readonly checkIntervalMs?: number;
  readonly onLoad?: (cache: SchemaCache) => void;
  readonly onError?: (error: unknown) => void;
}

export interface SchemaCacheLoader {
  /** The cache; with `freshAfter` (a `performance.now()` instant), one whose load started after it. */
  load(freshAfter?: number): Promise<SchemaCache>;
  /** `current` with the server's time zones, read on the first call (for `Prefer: timezone`). */
  withTimezones(current: SchemaCache): Promise<SchemaCache>;
  checkDue(): boolean;
  schemaChanged(current: SchemaCache): Promise<boolean>;
  close(): Promise<void>;
}

export function createSchemaCacheLoader(options: SchemaCacheLoaderOptions): SchemaCacheLoader {
  let cache: SchemaCache | undefined;
  let loading: Promise<SchemaCache> | undefined;
  let closed = false;
  let timezones: Promise<ReadonlySet<string>> | undefined;
  let knownTimezones: ReadonlySet<string> | undefined;

  let lastLoadStart = Number.NEGATIVE_INFINITY;
  const { pool, schemas } = options;
  const checkInterval =
    options.checkIntervalMs ?? (options.listen ? Number.POSITIVE_INFINITY : DEFAULT_SCHEMA_CHECK_INTERVAL_MS);
  /** When the catalogs were last read or compared (a load counts as a check). */
  let lastCheck = Number.NEGATIVE_INFINITY;
  /** Whether this request compares the catalogs with the cache (once per `checkInterval`). */
  function checkDue(): boolean {
    const now = performance.now();
    if (!(now - lastCheck >= checkInterval)) return false;
    lastCheck = now;
    return true;
  }
  /**
   * The check of a request that reached no transaction (a planning error such as PGRST201 from a
   * stale cache, a cached OpenAPI document, OPTIONS): one query of its own, as nothing else runs.
   */
  async function schemaChanged(current: SchemaCache): Promise<boolean> {
    try {
      const { rows } = await pool.query(`SELECT ${SCHEMA_FINGERPRINT} AS f`);
      return rows[0]?.f !== current.fingerprint;
    } catch {
      return false;
    }
  }
  /**
   * Single-flight load; `freshAfter` (a `performance.now()` instant) demands a load that started
   * after it. Loads start at most every MIN_RELOAD_INTERVAL_MS: a request that needs a fresh cache
   * waits for the next one rather than being answered from a stale cache, and a flood of misses
   * cannot turn into a flood of introspection queries.
   */
  function loadCache(freshAfter = Number.NEGATIVE_INFINITY): Promise<SchemaCache> {
    if (cache && cache.loadedAt >= freshAfter) return Promise.resolve(cache);
    if (loading) {
      return loading.then((c) => (c.loadedAt >= freshAfter ? c : loadCache(freshAfter)));
    }
    const wait = lastLoadStart + MIN_RELOAD_INTERVAL_MS - performance.now();
    let started = 0;
    loading = (wait > 0 ? new Promise((resolve) => setTimeout(resolve, wait)) : Promise.resolve())
      .then(() => {
        started = performance.now();
        lastLoadStart = started;
        return loadSchemaCache(pool, schemas, knownTimezones);
      })
      .then((loaded) => {
        // A slower, older load never replaces a newer cache.
        if (!cache || cache.loadedAt <= started) cache = { ...loaded, loadedAt: started };
        lastCheck = Math.max(lastCheck, started);
        options.onLoad?.(cache);
        return cache;
      })
      .finally(() => {
        loading = undefined;
      });
    return loading;
  }

  /** Not in the cache's own load: most requests never name a time zone, and reading them costs ~20 ms. */
  async function withTimezones(current: SchemaCache): Promise<SchemaCache> {
    timezones ??= loadTimezones(pool).then(
      (zones) => {
        knownTimezones = zones; // later loads carry them
        return zones;
      },
      (error) => {
        timezones = undefined;
        throw error;
      },
    );
    const zones = await timezones;
    if (current.timezones === zones) return current;
    const withZones = { ...current, timezones: zones };
    if (cache === current) cache = withZones;
    return withZones;
  }

  let listener: pg.Client | undefined;
  let listenerRetry: NodeJS.Timeout | undefined;
  async function listen() {
    if (closed) return;
    const client = new pg.Client(pool.options);
    listener = client;
    const retry = () => {
      if (closed || listener !== client) return;
      listener = undefined;
      client.end().catch(() => {});
      listenerRetry = setTimeout(() => void listen(), 1000);
      listenerRetry.unref?.();
    };
    client.on('error', retry);
    client.on('end', retry);
    client.on('notification', (n) => {
      if (
        n.channel === 'pgrst' &&
        (!n.payload || n.payload === 'reload schema' || n.payload === 'reload config')
      ) {
        loadCache(performance.now()).catch((error) => options.onError?.(error));
      }
    });
    try {
      await client.connect();
      await client.query('LISTEN pgrst');
      // Anything created while we were not listening is picked up now.
      if (cache) await loadCache(performance.now());
    } catch {
      retry();
    }
  }
  if (options.listen) void listen();

  return {
    load: loadCache,
    withTimezones,
    checkDue,
    schemaChanged,
    async close() {
      closed = true;
      if (listenerRetry) clearTimeout(listenerRetry);
      const l = listener;
      listener = undefined;
      await l?.end().catch(() => {});
    },
  };
}
