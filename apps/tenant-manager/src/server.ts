import { createServer } from 'node:net';
import { Redis } from 'ioredis';
import pg from 'pg';
import { type DestinationStream, pino } from 'pino';
import { buildApp, type TenantManagerApp } from './app.js';
import type { TenantManagerConfig } from './config.js';
import { findClusterByName, registerCluster, updateCluster } from './lib/clusters.js';
import { createTenantManagerMetrics } from './lib/metrics.js';
import { managementPoolConfig, urlWantsTls } from './lib/tls.js';
import { createLocalProvider } from './providers/local.js';
import type { Provider } from './providers/types.js';

interface RunningTenantManager {
  readonly publicUrl: string;
  readonly internalUrl: string;
  readonly app: TenantManagerApp;
  close(): Promise<void>;
}

async function loadProvider(config: TenantManagerConfig): Promise<Provider> {
  if (config.provider === 'local') {
    return createLocalProvider({
      emulatorUrl: config.lambdaEmulatorUrl,
      internalServiceToken: config.internalServiceToken,
    });
  }
  // A variable specifier keeps the AWS provider (and its SDK clients) out of local builds.
  const specifier = './providers/aws/index.js';
  let module: { createAwsProvider?: (input: { awsProviderConfig: string }) => Provider | Promise<Provider> };
  try {
    module = await import(specifier);
  } catch (error) {
    throw new Error(`PROVIDER=aws but the AWS provider could not be loaded: ${(error as Error).message}`);
  }
  if (typeof module.createAwsProvider !== 'function') {
    throw new Error('PROVIDER=aws but providers/aws/index.ts does not export createAwsProvider');
  }
  return module.createAwsProvider({ awsProviderConfig: config.awsProviderConfig ?? '' });
}

/** Registers (or refreshes) the worker cluster named in the config, e.g. the local embedded Postgres. */
async function ensureConfiguredCluster(app: TenantManagerApp, config: TenantManagerConfig): Promise<void> {
  const wanted = config.workerCluster;
  if (!wanted) return;
  const url = new URL(wanted.url);
  const connection = {
    host: url.hostname,
    port: Number(url.port || 5432),
    admin_user: decodeURIComponent(url.username),
    admin_password: decodeURIComponent(url.password),
  };
  const existing = await findClusterByName(app.ctx, wanted.name);
  if (!existing) {
    await registerCluster(app.ctx, {
      name: wanted.name,
      ...connection,
      admin_database: url.pathname.slice(1) || 'postgres',
      ssl: urlWantsTls(url),
      capacity: wanted.capacity,
      region: wanted.region,
    });
  } else {
    await updateCluster(app.ctx, existing.id, { ...connection, capacity: wanted.capacity });
  }
}

/** Resolves port 0 to a concrete free port, so the internal base URL can be known before listening. */
function concretePort(host: string, port: number): Promise<number> {
  if (port !== 0) return Promise.resolve(port);
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.on('error', reject);
    probe.listen(0, host, () => {
      const address = probe.address();
      probe.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}

/** A Redis that stays down errors on every reconnect attempt: one line per this long is enough. */
const REDIS_ERROR_LOG_EVERY_MS = 30_000;

/** Starts both APIs from a parsed config; `close()` drains requests and releases every resource. */
export async function startTenantManager(
  config: TenantManagerConfig,
  /** Where the log goes (default stdout); tests read it. */
  logDestination?: DestinationStream,
): Promise<RunningTenantManager> {
  const logger = pino(
    {
      level: config.logLevel,
      name: 'tenant-manager',
      redact: ['req.headers.authorization', '*.password', '*.jwtSecret', '*.jwt_secret', '*.admin_password'],
    },
    logDestination,
  );
  const db = new pg.Pool({
    ...managementPoolConfig(config.databaseUrl, config.dbCaBundle),
    max: 20,
    connectionTimeoutMillis: 10_000,
  });
  // The message and code only: node-pg's error carries its client object, which pino would dump whole.
  db.on('error', (error) =>
    logger.warn(
      { err: error.message, code: (error as { code?: string }).code },
      'idle management connection failed',
    ),
  );
  const redis = config.redisUrl
    ? new Redis(config.redisUrl, { maxRetriesPerRequest: 2, enableOfflineQueue: false, lazyConnect: false })
    : null;
  let lastRedisErrorLog = Number.NEGATIVE_INFINITY;
  redis?.on('error', (error) => {
    const now = Date.now();
    if (now - lastRedisErrorLog < REDIS_ERROR_LOG_EVERY_MS) return;
    lastRedisErrorLog = now;
    logger.warn(
      { err: error.message },
      `redis error (invalidations not published; repeats within ${REDIS_ERROR_LOG_EVERY_MS / 1000} s not logged)`,
    );
  });
  if (!redis) logger.info('REDIS_URL not set: invalidations are not published');

  const release = async () => {
    redis?.disconnect();
    await db.end();
  };
  let app: TenantManagerApp;
  let internalPort = config.internalPort;
  try {
    internalPort = await concretePort(config.host, config.internalPort);
    const reachableHost = config.host === '0.0.0.0' ? '127.0.0.1' : config.host;
    const internalBaseUrl = config.internalBaseUrl ?? `http://${reachableHost}:${internalPort}`;
    app = await buildApp({
      db,
      redis,
      provider: await loadProvider(config),
      config: { ...config, internalBaseUrl },
      logger,
      metrics: createTenantManagerMetrics(db, { defaultMetrics: true }),
    });
  } catch (error) {
    await release();
    throw error;
  }
  try {
    await ensureConfiguredCluster(app, config);
    await app.publicApp.listen({ port: config.publicPort, host: config.host });
    await app.internalApp.listen({ port: internalPort, host: config.host });
  } catch (error) {
    await app.close();
    await release();
    throw error;
  }
  const url = (instance: typeof app.publicApp) => {
    const address = instance.server.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    const host = config.host === '0.0.0.0' ? '127.0.0.1' : config.host;
    return `http://${host}:${port}`;
  };
  return {
    publicUrl: url(app.publicApp),
    internalUrl: url(app.internalApp),
    app,
    async close() {
      await app.close();
      await release();
    },
  };
}
