import { Pool } from 'undici';
import { type ApiKeyRecord, type ProjectRecord, parseApiKeyRecord, parseProjectRecord } from './records.js';

/** A lookup either finds a record or learns that none exists; outages throw. */
export type OriginResult<R> = { found: true; record: R } | { found: false };

/** The tenant-manager's internal API, as the gateway uses it. */
export interface InternalApi {
  projectConfig(ref: string): Promise<OriginResult<ProjectRecord>>;
  apiKey(sha256hex: string): Promise<OriginResult<ApiKeyRecord>>;
  /** True when the tenant-manager answers HTTP at all. */
  ping(): Promise<boolean>;
  close(): Promise<void>;
}

class InternalApiError extends Error {}

interface InternalApiClientOptions {
  readonly baseUrl: string;
  readonly token: string;
  readonly timeoutMs: number;
}

export function createInternalApiClient(options: InternalApiClientOptions): InternalApi {
  const base = new URL(options.baseUrl);
  const prefix = base.pathname.replace(/\/$/, '');
  const pool = new Pool(base.origin, { connections: 16, keepAliveTimeout: 30_000 });
  const headers = { authorization: `Bearer ${options.token}`, accept: 'application/json' };

  async function getJson<R>(path: string, parse: (v: unknown) => R | null): Promise<OriginResult<R>> {
    const response = await pool.request({
      method: 'GET',
      path: prefix + path,
      headers,
      headersTimeout: options.timeoutMs,
      bodyTimeout: options.timeoutMs,
    });
    if (response.statusCode === 404) {
      await response.body.dump();
      return { found: false };
    }
    if (response.statusCode !== 200) {
      await response.body.dump();
      throw new InternalApiError(`tenant-manager answered ${response.statusCode} for ${path.split('/')[3]}`);
    }
    const record = parse(await response.body.json());
    if (!record) throw new InternalApiError('tenant-manager answered a malformed record');
    return { found: true, record };
  }

  return {
    projectConfig: (ref) =>
      getJson(`/internal/v1/projects/${encodeURIComponent(ref)}/config`, parseProjectRecord),
    apiKey: (hash) => getJson(`/internal/v1/api-keys/${encodeURIComponent(hash)}`, parseApiKeyRecord),
    async ping() {
      try {
        const response = await pool.request({
          method: 'GET',
          path: `${prefix}/internal/v1/projects/-/config`,
          headers,
          headersTimeout: options.timeoutMs,
          bodyTimeout: options.timeoutMs,
        });
        await response.body.dump();
        return response.statusCode < 500;
      } catch {
        return false;
      }
    },
    close: () => pool.close(),
  };
}
