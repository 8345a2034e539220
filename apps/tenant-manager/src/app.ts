import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import underPressure from '@fastify/under-pressure';
import Fastify, {
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
} from 'fastify';
import type { Redis } from 'ioredis';
import type pg from 'pg';
import { pino, type Logger as PinoLogger } from 'pino';
import { ClusterPools } from './lib/cluster-pools.js';
import { type Clock, type Context, type Faults, systemClock } from './lib/context.js';
import { createSecretBox, safeEqual } from './lib/crypto.js';
import { createFunctionTokens, type FunctionTokens } from './lib/function-tokens.js';
import { createRedisInvalidator, noopInvalidator } from './lib/invalidation.js';
import { createTenantManagerMetrics, type TenantManagerMetrics } from './lib/metrics.js';
import { migrate } from './lib/migrations.js';
import { ClusterDeleter, type ClusterDeleterOptions } from './lib/cluster-deletion.js';
import { SizeLimitEnforcer, type SizeLimitEnforcerOptions } from './lib/db-size-limits.js';
import { Provisioner, type ProvisionerOptions } from './lib/provisioning.js';
import { findProjectRow, projectRowById } from './lib/projects.js';
import { type ReconcileSummary, reconcileRestFunctions } from './lib/rest-functions.js';
import { answerRouterError, installErrorHandling, Overloaded, validationMessage } from './http/errors.js';
import { takesNoBody } from './http/schemas.js';
import { requestValidators } from './http/validators.js';
import { clusterRoutes } from './http/routes/clusters.js';
import { usageRoutes } from './http/routes/usage.js';
import { organizationRoutes } from './http/routes/organizations.js';
import { internalRoutes } from './http/routes/internal.js';
import { projectCredentialRoutes } from './http/routes/project-credentials.js';
import { projectDatabaseRoutes } from './http/routes/project-database.js';
import { projectRoutes } from './http/routes/projects.js';
import type { Provider } from './providers/types.js';
import { DEFAULT_ORGANIZATION, type Organization } from './lib/organizations.js';

interface AppConfig {
  readonly adminApiKey: string;
  readonly internalServiceToken: string;
  readonly masterKey: Buffer;
  /** `{ref}` is replaced: e.g. `https://{ref}.supaplane.example` or `http://{ref}.localhost:8000`. */
  readonly publicUrlTemplate: string;
  /** Base URL rest functions use to reach the internal API. */
  readonly internalBaseUrl: string;
  readonly sqlStatementTimeoutMs?: number;
  readonly provisionWaitMs?: number;
  readonly provisionConcurrency?: number;
  /** Spare template copies kept per active cluster (default 2). */
  readonly spareDatabases?: number;
  /** Default 1 MiB. */
  readonly bodyLimit?: number;
  /**
   * The public API sheds requests (503 `overloaded`) while its event loop runs more than this far
   * behind (default 2000 ms; 0 never sheds).
   */
  readonly maxEventLoopDelayMs?: number;
  /** PEM CA bundle for worker clusters with `ssl: true` (DB_CA_BUNDLE_FILE); default Node's trust store. */
  readonly dbCaBundle?: string | null;
  /** `CONNECTION LIMIT` of a new project's database unless its create says otherwise (default 60). */
  readonly projectDbConnectionLimit?: number;
  /** Request rate of a new project unless its create says otherwise (default none). */
  readonly projectRateLimit?: { readonly requestsPerSecond: number; readonly burst: number } | null;
  /** Database size limit (MiB) of a new project unless its create says otherwise (default none). */
  readonly projectDbSizeLimitMb?: number | null;
  /** Time between database size rounds (default 60 s; 0: none, see {@link SizeLimitEnforcer}). */
  readonly dbSizeCheckIntervalMs?: number;
  /** The platform's one organization (default `supaplane`, named `Supaplane`). */
  readonly organization?: Organization;
}

export interface BuildAppOptions {
  /** Management database. Owned by the caller (not closed by `close()`). */
  readonly db: pg.Pool;
  /** Publishes invalidations when set. Owned by the caller. */
  readonly redis?: Redis | null;
  readonly provider: Provider;
  readonly config: AppConfig;
  readonly clock?: Clock;
  readonly logger?: PinoLogger;
  readonly faults?: Faults;
  readonly provisioning?: Pick<
    ProvisionerOptions,
    'maxAttempts' | 'backoffMs' | 'maxBackoffMs' | 'spareDatabases' | 'transitionAttempts'
  >;
  /** Retry timing of deleting provider-created clusters. */
  readonly clusterDeletion?: ClusterDeleterOptions;
  /** Database size rounds; `intervalMs` here wins over `config.dbSizeCheckIntervalMs`. */
  readonly sizeLimits?: SizeLimitEnforcerOptions;
  /** Resume unfinished provisioning at start (default true). */
  readonly resume?: boolean;
  /** Re-ensure every ACTIVE_HEALTHY project's rest function in the background at start (default true). */
  readonly reconcileFunctions?: boolean;
  /** Prometheus metrics (served at the internal port's /metrics); default: a registry of this app's own. */
  readonly metrics?: TenantManagerMetrics;
}

interface PublicRoute {
  readonly method: string;
  /** Fastify's pattern, e.g. `/v1/projects/:ref`. */
  readonly url: string;
  readonly documented: boolean;
}

export interface TenantManagerApp {
  /** Operator API: /v1/*, /docs, /health, /ready. */
  readonly publicApp: HttpApp;
  /** Every route of the public app as registered (`documented`: in the OpenAPI document). */
  readonly publicRoutes: readonly PublicRoute[];
  /** Gateway and rest-function API: /internal/v1/*, /health. */
  readonly internalApp: HttpApp;
  readonly ctx: Context;
  readonly provisioner: Provisioner;
  readonly clusterDeleter: ClusterDeleter;
  /** Makes project databases past their size limit read-only (`checkNow()` runs a round). */
  readonly sizeLimits: SizeLimitEnforcer;
  /** The start-up function reconciliation (null when disabled or failed as a whole); never rejects. */
  readonly functionsReconciled: Promise<ReconcileSummary | null>;
  close(): Promise<void>;
}

const ONE_MIB = 1024 * 1024;

type HttpApp = ReturnType<typeof baseServer>;

const bearerToken = (request: FastifyRequest) => {
  const header = request.headers.authorization ?? '';
  return header.startsWith('Bearer ') ? header.slice(7) : '';
};

const unauthorized = (reply: FastifyReply, realm: string) =>
  reply
    .status(401)
    .header('www-authenticate', `Bearer realm="${realm}"`)
    .send({ message: `missing or invalid ${realm} bearer token`, code: 'unauthorized' });

function bearerGuard(expected: string, realm: string) {
  return async (request: FastifyRequest, reply: FastifyReply) => {
    const token = bearerToken(request);
    if (!token || !safeEqual(token, expected)) return unauthorized(reply, realm);
  };
}

const REST_CONFIG_ROUTE = '/internal/v1/projects/:ref/rest-config';

/**
 * The internal API: the service token opens every route; a rest function's own token (`sfn_…`)
 * opens only `GET` of its own project's rest-config (403 anywhere else, 401 when forged or when its
 * project is gone).
 */
function internalGuard(db: pg.Pool, serviceToken: string, functionTokens: FunctionTokens) {
  return async (request: FastifyRequest, reply: FastifyReply) => {
    const token = bearerToken(request);
    if (!token) return unauthorized(reply, 'internal');
    if (safeEqual(token, serviceToken)) return;
    // Checked against the live project holding the ref: a removed project's token opens nothing,
    // not even a new project that took its ref.
    const tokenRef = functionTokens.refOf(token);
    const project = tokenRef === null ? null : await findProjectRow(db, tokenRef);
    if (!project || !functionTokens.verify(token, project.ref, project.id)) {
      return unauthorized(reply, 'internal');
    }
    const ref = project.ref;
    const params = request.params as { ref?: string } | undefined;
    if (request.method === 'GET' && request.routeOptions.url === REST_CONFIG_ROUTE && params?.ref === ref)
      return;
    return reply
      .status(403)
      .send({ message: "a function token only reads its own project's rest-config", code: 'forbidden' });
  };
}

const PROJECT_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * A project's uuid where its ref goes (`/v1/projects/{uuid}/…`): the API's `id` is the ref now, as
 * Supabase's, but older versions answered the uuid, which clients (Supabase's MCP server among them)
 * may still hold and pass. It is read as the ref of that live project, unless a live project has that
 * very ref (refs resolve first, as every route resolves them).
 */
function projectIdAsRef(db: pg.Pool) {
  return async (request: FastifyRequest) => {
    const params = request.params as { ref?: string } | undefined;
    if (!params?.ref || !PROJECT_ID.test(params.ref) || (await findProjectRow(db, params.ref))) return;
    const project = await projectRowById(db, params.ref);
    // A removed project's id names nothing, not the project that took its ref since.
    if (project && project.status !== 'REMOVED') params.ref = project.ref;
  };
}

/** Every answered request by method, route pattern (`unmatched` for 404s without a route) and status. */
function countRequests(app: HttpApp, name: 'public' | 'internal', metrics: TenantManagerMetrics): void {
  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched';
    metrics.request(name, request.method, route, reply.statusCode, reply.elapsedTime / 1000);
  });
}

function baseServer(logger: PinoLogger, bodyLimit: number) {
  const app = Fastify({
    loggerInstance: logger as FastifyBaseLogger,
    bodyLimit,
    schemaErrorFormatter: validationMessage,
    // Longer than the ALB's 60 s idle timeout (infra ALB_IDLE_TIMEOUT_SECONDS): a server that closes an
    // idle connection first races the ALB reusing it, which answers the operator 502.
    connectionTimeout: 70_000,
    requestTimeout: 60_000,
    keepAliveTimeout: 65_000,
    return503OnClosing: true,
    // `/v1/projects/` is `/v1/projects`, as Supabase's API (Express) routes it.
    routerOptions: { ignoreTrailingSlash: true },
    frameworkErrors: answerRouterError,
  }).withTypeProvider<TypeBoxTypeProvider>();
  app.setValidatorCompiler(requestValidators());
  acceptEmptyJsonBodies(app);
  return app;
}

/**
 * Fastify's JSON parser, except that an empty body is no body on a route that may go without one
 * (no body schema, or an optional body): `curl -H 'content-type: application/json' -X POST …/pause`
 * and HTTP libraries that always send the header are served (as Supabase's API serves them), while a
 * route whose body is required still answers 400 `invalid_json`.
 */
function acceptEmptyJsonBodies(app: FastifyInstance) {
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    if (body === '' && takesNoBody(request.routeOptions.schema?.body)) return done(null, undefined);
    parseJson(request, body as string, done);
  });
}

/**
 * Builds both HTTP apps around one library context. Applies migrations, then (unless `resume` is
 * false) resumes unfinished provisioning. Nothing listens yet: tests drive the apps with `inject()`.
 */
export async function buildApp(options: BuildAppOptions): Promise<TenantManagerApp> {
  const { config } = options;
  const log = options.logger ?? pino({ level: 'silent' });
  const clock = options.clock ?? systemClock;
  const box = createSecretBox(config.masterKey);
  const functionTokens = createFunctionTokens(config.masterKey);
  // pg.Pool listens for `error` on its idle clients only: a connection cut while a request holds it
  // between two queries (a failover during an AWS call, say) would be emitted to nobody and end the
  // process. With this listener the query running then, or the next one, fails instead.
  options.db.on('connect', (client) => client.on('error', ignoreDroppedConnection));
  await migrate(options.db);
  const metrics = options.metrics ?? createTenantManagerMetrics(options.db);

  const ctx: Context = {
    db: options.db,
    box,
    clock,
    log,
    provider: options.provider,
    invalidator: options.redis ? createRedisInvalidator(options.redis, clock, log, metrics) : noopInvalidator,
    clusters: new ClusterPools(options.db, box, config.dbCaBundle ?? null),
    functionTokens,
    metrics,
    faults: options.faults,
    settings: {
      publicUrlTemplate: config.publicUrlTemplate,
      internalBaseUrl: config.internalBaseUrl,
      internalServiceToken: config.internalServiceToken,
      sqlStatementTimeoutMs: config.sqlStatementTimeoutMs ?? 8_000,
      dbCaBundle: config.dbCaBundle ?? null,
      defaultLimits: {
        db_connections: config.projectDbConnectionLimit ?? 60,
        requests_per_second: config.projectRateLimit?.requestsPerSecond ?? null,
        burst: config.projectRateLimit?.burst ?? null,
        db_size_mb: config.projectDbSizeLimitMb ?? null,
      },
      organization: config.organization ?? DEFAULT_ORGANIZATION,
    },
  };
  const provisioner = new Provisioner(ctx, {
    spareDatabases: config.spareDatabases,
    ...options.provisioning,
    concurrency: config.provisionConcurrency ?? 4,
    faults: options.faults,
  });
  const clusterDeleter = new ClusterDeleter(ctx, options.clusterDeletion);
  const sizeLimits = new SizeLimitEnforcer(ctx, {
    intervalMs: config.dbSizeCheckIntervalMs,
    ...options.sizeLimits,
  });
  const bodyLimit = config.bodyLimit ?? ONE_MIB;

  const ready = async (_request: FastifyRequest, reply: FastifyReply) => {
    try {
      await options.db.query('SELECT 1');
      return { status: 'ready' };
    } catch {
      return reply.status(503).send({ message: 'management database unavailable', code: 'not_ready' });
    }
  };

  const publicApp = baseServer(log, bodyLimit);
  const publicRoutes: PublicRoute[] = [];
  publicApp.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) {
      if (method !== 'HEAD') publicRoutes.push({ method, url: route.url, documented: !route.schema?.hide });
    }
  });
  installErrorHandling(publicApp);
  countRequests(publicApp, 'public', metrics);
  await publicApp.register(underPressure, {
    maxEventLoopDelay: config.maxEventLoopDelayMs ?? 2_000,
    exposeStatusRoute: false,
    retryAfter: 5,
    // Shed in the API's own shape (its default is a bare error, which reached clients as a 500 body).
    customError: Overloaded,
  });
  await publicApp.register(swagger, {
    openapi: {
      info: {
        title: 'Supaplane tenant-manager',
        version: '1.0.0',
        description: 'Operator API (Management API shapes)',
      },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
    },
  });
  await publicApp.register(swaggerUi, { routePrefix: '/docs' });
  publicApp.get('/health', { schema: { hide: true } }, async () => ({ status: 'ok' }));
  publicApp.get('/ready', { schema: { hide: true } }, ready);
  await publicApp.register(async (v1) => {
    v1.addHook('onRequest', bearerGuard(config.adminApiKey, 'admin'));
    v1.addHook('preValidation', projectIdAsRef(options.db));
    await v1.register(projectRoutes, {
      ctx,
      provisioner,
      sizeLimits,
      provisionWaitMs: config.provisionWaitMs ?? 3_000,
    });
    await v1.register(projectCredentialRoutes, { ctx });
    await v1.register(projectDatabaseRoutes, { ctx });
    await v1.register(clusterRoutes, { ctx, provisioner, clusterDeleter });
    await v1.register(usageRoutes, { ctx, redis: options.redis ?? null });
    await v1.register(organizationRoutes, { ctx });
  });

  const internalApp = baseServer(log, bodyLimit);
  installErrorHandling(internalApp);
  countRequests(internalApp, 'internal', metrics);
  internalApp.get('/health', async () => ({ status: 'ok' }));
  internalApp.get('/ready', ready);
  // Prometheus scrapes the internal port, which is never routed publicly (as /health, no token).
  internalApp.get('/metrics', async (_request, reply) =>
    reply.header('content-type', metrics.registry.contentType).send(await metrics.registry.metrics()),
  );
  await internalApp.register(async (internal) => {
    internal.addHook('onRequest', internalGuard(options.db, config.internalServiceToken, functionTokens));
    await internal.register(internalRoutes, { ctx });
  });

  await Promise.all([publicApp.ready(), internalApp.ready()]);
  if (options.resume !== false) {
    const resumed = await provisioner.resumeAll();
    if (resumed > 0) log.info({ resumed }, 'resuming unfinished projects');
    const deleting = await clusterDeleter.resumeAll();
    if (deleting > 0) log.info({ deleting }, 'resuming worker cluster deletions');
  }
  sizeLimits.start();
  // In the background: start-up never waits on the function provider.
  const stopReconcile = new AbortController();
  const functionsReconciled =
    options.reconcileFunctions === false
      ? Promise.resolve(null)
      : reconcileRestFunctions(ctx, {
          concurrency: Math.min(4, config.provisionConcurrency ?? 4),
          signal: stopReconcile.signal,
        }).then(
          (summary) => {
            log.info(
              { checked: summary.checked, updated: summary.updated, failed: summary.failed },
              'rest functions reconciled',
            );
            return summary;
          },
          (error: Error) => {
            log.warn({ err: error.message }, 'rest function reconciliation failed');
            return null;
          },
        );

  return {
    publicApp,
    publicRoutes,
    internalApp,
    ctx,
    provisioner,
    clusterDeleter,
    sizeLimits,
    functionsReconciled,
    async close() {
      stopReconcile.abort();
      await Promise.all([publicApp.close(), internalApp.close(), functionsReconciled]);
      await Promise.all([provisioner.close(), clusterDeleter.close(), sizeLimits.close()]);
      await ctx.clusters.closeAll();
      ctx.invalidator.close();
    },
  };
}

/** See buildApp: the failure reaches the client's next query; the pool's own listener logs idle ones. */
const ignoreDroppedConnection = () => {};
