/**
 * The platform's services (PostgreSQL, Redis, the Lambda emulator, tenant-manager, gateway) and
 * starting them in order.
 */
import { join } from 'node:path';
import { type RuntimeFactory, startLambdaEmulator } from '@supaplane/lambda-local';
import { hasRedisServer, type RunningPostgres, startPostgres, startRedis } from '@supaplane/local-services';
import pg from 'pg';
import type { LocalSecrets } from './data-dir.js';
import type { StackPorts } from './ports.js';

/** The stack's options with every default applied, and its secrets. */
export interface Settings extends StackPorts {
  readonly dataDir: string;
  readonly baseDomain: string;
  readonly redisUrl: string | undefined;
  readonly logLevel: string;
  readonly fastPostgres: boolean;
  readonly secrets: LocalSecrets;
  readonly log: (line: string) => void;
  readonly warn: (line: string) => void;
}

/** What the services started so far expose to the ones after them. */
interface Running {
  postgres?: RunningPostgres;
  managementDbUrl?: string;
  redisUrl?: string | null;
  lambdaUrl?: string;
  tenantManager?: { publicUrl: string; internalUrl: string };
  gatewayUrl?: string;
}

interface Service {
  readonly name: string;
  /** Starts the service, records what it exposes in `running`, returns how to stop it. */
  start(settings: Settings, running: Running): Promise<() => Promise<void>>;
}

/** The region the emulator signs and checks, and the local worker cluster's. */
export const LOCAL_REGION = 'local';

/** Runtime `rest`: @supaplane/rest's Lambda handler, loaded on the first cold start. */
const restRuntime: RuntimeFactory = async (environment) => {
  const { createLambdaHandler } = await import('@supaplane/rest');
  return createLambdaHandler(environment);
};

/**
 * The platform's services, in start-up order. A new service (e.g. auth) is one more entry here: it
 * reads what earlier services put in `running` and adds its own URL.
 */
const SERVICES: readonly Service[] = [
  {
    name: 'postgres',
    async start(s, running) {
      const postgres = await startPostgres({
        dataDir: join(s.dataDir, 'pg'),
        port: s.pgPort,
        ephemeral: s.fastPostgres,
      });
      running.postgres = postgres;
      await ensureDatabase(postgres.url, 'supaplane');
      running.managementDbUrl = postgres.url.replace(/\/postgres$/, '/supaplane');
      s.log(`postgres        ${postgres.host}:${postgres.port} (data in ${join(s.dataDir, 'pg')})`);
      return () => postgres.stop();
    },
  },
  {
    name: 'redis',
    async start(s, running) {
      if (s.redisUrl) {
        running.redisUrl = s.redisUrl;
        s.log(`redis           ${redactUrl(s.redisUrl)} (REDIS_URL)`);
        return async () => {};
      }
      if (!hasRedisServer()) {
        running.redisUrl = null;
        s.warn(
          'redis           none: redis-server is not on PATH and REDIS_URL is not set; the gateway runs on its in-process cache alone',
        );
        return async () => {};
      }
      // A redis-server left by a stack that was killed is stopped (it would run until reboot).
      const redis = await startRedis({ pidFile: join(s.dataDir, 'redis-server.pid') });
      running.redisUrl = redis.url;
      s.log(`redis           ${redis.url} (redis-server)`);
      return () => redis.stop();
    },
  },
  {
    name: 'lambda',
    async start(s, running) {
      const emulator = await startLambdaEmulator({
        port: s.lambdaPort,
        region: LOCAL_REGION,
        credentials: s.secrets.aws,
        controlToken: s.secrets.internalServiceToken,
        dataDir: join(s.dataDir, 'lambda'),
        runtimes: { rest: restRuntime },
        logger: consoleLogger('lambda', s),
      });
      running.lambdaUrl = emulator.url;
      s.log(`lambda emulator ${emulator.url} (function URLs ${emulator.functionUrl('<name>')})`);
      return () => emulator.close();
    },
  },
  {
    name: 'tenant-manager',
    async start(s, running) {
      const tm = await import('@supaplane/tenant-manager');
      const config = tm.loadConfig({
        TM_PUBLIC_PORT: String(s.tmPublicPort),
        TM_INTERNAL_PORT: String(s.tmInternalPort),
        TM_HOST: '127.0.0.1',
        DATABASE_URL: running.managementDbUrl,
        ADMIN_API_KEY: s.secrets.adminKey,
        INTERNAL_SERVICE_TOKEN: s.secrets.internalServiceToken,
        MASTER_KEY: s.secrets.masterKey,
        REDIS_URL: running.redisUrl ?? undefined,
        PROVIDER: 'local',
        LAMBDA_EMULATOR_URL: running.lambdaUrl,
        BASE_DOMAIN: s.baseDomain,
        PUBLIC_URL_TEMPLATE: `http://{ref}.${s.baseDomain}:${s.gatewayPort}`,
        LOG_LEVEL: s.logLevel,
      });
      const started = await tm.startTenantManager(config);
      running.tenantManager = { publicUrl: started.publicUrl, internalUrl: started.internalUrl };
      s.log(`tenant-manager  ${started.publicUrl} (internal ${started.internalUrl})`);
      return () => started.close();
    },
  },
  {
    name: 'gateway',
    async start(s, running) {
      const gw = await import('@supaplane/gateway');
      const config = gw.loadGatewayConfig({
        LOCAL_MODE: 'true',
        GATEWAY_PORT: String(s.gatewayPort),
        GATEWAY_HOST: '127.0.0.1',
        BASE_DOMAIN: s.baseDomain,
        TENANT_MANAGER_INTERNAL_URL: running.tenantManager!.internalUrl,
        INTERNAL_SERVICE_TOKEN: s.secrets.internalServiceToken,
        REDIS_URL: running.redisUrl ?? undefined,
        AWS_REGION: LOCAL_REGION,
        LOCAL_AWS_ACCESS_KEY_ID: s.secrets.aws.accessKeyId,
        LOCAL_AWS_SECRET_ACCESS_KEY: s.secrets.aws.secretAccessKey,
        LOG_LEVEL: s.logLevel,
        // Usage counts reach the operator's usage API within a second (5 s in production).
        GATEWAY_USAGE_FLUSH_MS: '1000',
      });
      const started = await gw.startGateway(config);
      // Apps address the gateway by the base domain: on the bare domain local mode routes by key.
      running.gatewayUrl = `http://${s.baseDomain}:${started.port}`;
      s.log(`gateway         ${running.gatewayUrl} (listening on ${started.url})`);
      return () => started.close();
    },
  },
];

/**
 * Starts {@link SERVICES} in order. When one fails, those already started are stopped and the error
 * names the one that failed; otherwise `stopAll` stops them in reverse order, each failure only warned
 * so the others still stop.
 */
export async function startServices(
  settings: Settings,
): Promise<{ running: Required<Running>; stopAll: () => Promise<void> }> {
  const running: Running = {};
  const stops: Array<{ name: string; stop: () => Promise<void> }> = [];
  const stopAll = async () => {
    for (const { name, stop } of stops.splice(0).reverse()) {
      try {
        await stop();
      } catch (error) {
        settings.warn(`stopping ${name} failed: ${(error as Error).message}`);
      }
    }
  };

  for (const service of SERVICES) {
    try {
      stops.push({ name: service.name, stop: await service.start(settings, running) });
    } catch (error) {
      await stopAll();
      throw new Error(`${service.name} did not start: ${(error as Error).message}`, { cause: error });
    }
  }
  // Every service has recorded what it exposes by now.
  return { running: running as Required<Running>, stopAll };
}

/** Creates database `name` when missing (PostgreSQL has no CREATE DATABASE IF NOT EXISTS). */
async function ensureDatabase(superuserUrl: string, name: string): Promise<void> {
  const client = new pg.Client({ connectionString: superuserUrl });
  await client.connect();
  try {
    const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (!rowCount) await client.query(`CREATE DATABASE "${name}"`);
  } finally {
    await client.end();
  }
}

/** The emulator's logger: one line per event on the stack's console, info lines only at info or debug. */
function consoleLogger(service: string, s: Settings) {
  const line = (obj: object, msg?: string) => `${service}: ${msg ?? ''} ${JSON.stringify(obj)}`;
  return {
    info: (obj: object, msg?: string) =>
      s.logLevel === 'info' || s.logLevel === 'debug' ? s.log(line(obj, msg)) : undefined,
    warn: (obj: object, msg?: string) => s.warn(line(obj, msg)),
    error: (obj: object, msg?: string) => s.warn(line(obj, msg)),
  };
}

/** The URL with its user and password hidden: a REDIS_URL may carry Redis's password. */
function redactUrl(url: string): string {
  return url.replace(/\/\/[^@/]*@/, '//***@');
}
