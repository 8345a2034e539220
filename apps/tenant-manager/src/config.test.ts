import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from './config.js';

const masterKey = Buffer.alloc(32, 7).toString('base64');
const base = {
  DATABASE_URL: 'postgres://u:p@127.0.0.1:5433/supaplane',
  ADMIN_API_KEY: 'admin-key-0123456789',
  INTERNAL_SERVICE_TOKEN: 'internal-token-0123456789',
  MASTER_KEY: masterKey,
};

describe('loadConfig', () => {
  it('applies the documented defaults', () => {
    const config = loadConfig(base);
    expect(config).toMatchObject({
      publicPort: 3001,
      internalPort: 3002,
      host: '127.0.0.1',
      provider: 'local',
      redisUrl: null,
      lambdaEmulatorUrl: 'http://127.0.0.1:9000',
      internalBaseUrl: null,
      publicUrlTemplate: 'https://{ref}.localhost',
      workerCluster: null,
      projectDbConnectionLimit: 60,
      projectRateLimit: null,
      projectDbSizeLimitMb: null,
      dbSizeCheckIntervalMs: 60_000,
      organization: { slug: 'supaplane', name: 'Supaplane' },
    });
    expect(config.masterKey.equals(Buffer.alloc(32, 7))).toBe(true);
  });

  it('reads the master key from a file, and a worker cluster URL', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tm-config-'));
    writeFileSync(join(dir, 'master.key'), `${masterKey}\n`);
    const { MASTER_KEY: _, ...rest } = base;
    const config = loadConfig({
      ...rest,
      MASTER_KEY_FILE: join(dir, 'master.key'),
      BASE_DOMAIN: 'supaplane.example',
      WORKER_CLUSTER_URL: 'postgres://postgres:pw@127.0.0.1:5432/postgres',
      WORKER_CLUSTER_CAPACITY: '50',
    });
    expect(config.publicUrlTemplate).toBe('https://{ref}.supaplane.example');
    expect(config.workerCluster).toEqual({
      url: 'postgres://postgres:pw@127.0.0.1:5432/postgres',
      name: 'local',
      capacity: 50,
      region: 'local',
    });
  });

  it('reads the default project limits; the burst defaults to the rate', () => {
    expect(
      loadConfig({ ...base, PROJECT_DB_CONNECTION_LIMIT: '25', PROJECT_RATE_LIMIT_RPS: '100' }),
    ).toMatchObject({
      projectDbConnectionLimit: 25,
      projectRateLimit: { requestsPerSecond: 100, burst: 100 },
    });
    expect(
      loadConfig({ ...base, PROJECT_RATE_LIMIT_RPS: '100', PROJECT_RATE_LIMIT_BURST: '250' })
        .projectRateLimit,
    ).toEqual({ requestsPerSecond: 100, burst: 250 });
  });

  it('reads the default database size limit and the interval of its checks (0: no rounds)', () => {
    expect(
      loadConfig({ ...base, PROJECT_DB_SIZE_LIMIT_MB: '512', DB_SIZE_CHECK_INTERVAL_MS: '0' }),
    ).toMatchObject({ projectDbSizeLimitMb: 512, dbSizeCheckIntervalMs: 0 });
    expect(loadConfig({ ...base, PROJECT_DB_SIZE_LIMIT_MB: '' }).projectDbSizeLimitMb).toBeNull();
  });

  it("reads the platform's one organization (what Supabase's organization routes answer)", () => {
    expect(
      loadConfig({ ...base, ORGANIZATION_SLUG: 'acme-ops', ORGANIZATION_NAME: 'Acme Operations' })
        .organization,
    ).toEqual({ slug: 'acme-ops', name: 'Acme Operations' });
  });

  it.each([
    [
      { ORGANIZATION_SLUG: 'Acme' },
      'ORGANIZATION_SLUG must be 1 to 64 lower-case letters, digits or inner hyphens',
    ],
    [
      { ORGANIZATION_SLUG: '-acme' },
      'ORGANIZATION_SLUG must be 1 to 64 lower-case letters, digits or inner hyphens',
    ],
    [{ ORGANIZATION_NAME: 'x'.repeat(257) }, 'ORGANIZATION_NAME must be 1 to 256 printable characters'],
    [{ PROJECT_DB_SIZE_LIMIT_MB: '0' }, 'PROJECT_DB_SIZE_LIMIT_MB must be an integer between 1 and 10000000'],
    [
      { PROJECT_DB_SIZE_LIMIT_MB: '10000001' },
      'PROJECT_DB_SIZE_LIMIT_MB must be an integer between 1 and 10000000',
    ],
    [
      { PROJECT_DB_SIZE_LIMIT_MB: '1GB' },
      'PROJECT_DB_SIZE_LIMIT_MB must be an integer between 1 and 10000000',
    ],
    [
      { DB_SIZE_CHECK_INTERVAL_MS: '-1' },
      'DB_SIZE_CHECK_INTERVAL_MS must be an integer between 0 and 86400000',
    ],
    [
      { PROJECT_DB_CONNECTION_LIMIT: '0' },
      'PROJECT_DB_CONNECTION_LIMIT must be an integer between 1 and 10000',
    ],
    [{ PROJECT_RATE_LIMIT_BURST: '10' }, 'PROJECT_RATE_LIMIT_BURST needs PROJECT_RATE_LIMIT_RPS'],
    [
      { PROJECT_RATE_LIMIT_RPS: '10', PROJECT_RATE_LIMIT_BURST: '5' },
      'PROJECT_RATE_LIMIT_BURST must be at least PROJECT_RATE_LIMIT_RPS',
    ],
    [{ DATABASE_URL: '' }, 'DATABASE_URL is required'],
    [{ ADMIN_API_KEY: 'short' }, 'ADMIN_API_KEY is required (at least 16 characters)'],
    [{ MASTER_KEY: Buffer.alloc(16).toString('base64') }, 'MASTER_KEY must be base64 of exactly 32 bytes'],
    [{ TM_PUBLIC_PORT: 'abc' }, 'TM_PUBLIC_PORT must be an integer'],
    [{ PROVIDER: 'gcp' }, 'PROVIDER must be local or aws'],
  ])('rejects %j', (override, message) => {
    expect(() => loadConfig({ ...base, ...override })).toThrow(message);
  });

  it('never echoes a secret in its errors', () => {
    try {
      loadConfig({ ...base, MASTER_KEY: 'not-a-valid-key-but-secret' });
    } catch (error) {
      expect((error as Error).message).not.toContain('not-a-valid-key-but-secret');
      return;
    }
    throw new Error('expected a failure');
  });
});
