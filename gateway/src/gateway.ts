import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { type ApiKeyType, hashApiKey, parseApiKey, verifyApiKey } from '@supaplane/keys';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Dispatcher } from 'undici';
import { ApiKeyChecks } from './api-key-check.js';
import { isBrowserRequest, readClientCredentials } from './api-key-source.js';
import { clientAddress, readClientHead } from './client-head.js';
import type { Clock } from './clock.js';
import type { GatewayConfig } from './config.js';
import type { CredentialsSource } from './credentials.js';
import type { InternalApi } from './internal-api.js';
import type { GatewayMetrics } from './metrics.js';
import { MintedTokenCache } from './minted-tokens.js';
import { matchHost } from './project-host.js';
import { ProjectRuntime, serviceForPath } from './project-runtime.js';
import { ProjectRateLimiter } from './rate-limit.js';
import type { ApiKeyRecord, ProjectRecord } from './records.js';
import { createRegistryCaches } from './registry-caches.js';
import { RequestLog } from './request-log.js';
import {
  type RequestState,
  type Upgrade,
  answer,
  answerPreflight,
  applyLeadingHeaders,
  errorSummary,
} from './request-state.js';
import { type Refusal, jwtRefusal, refusals, sendJson } from './responses.js';
import { type QueryPair, createSigV4Signer, parseQuery } from './sigv4.js';
import type { CacheLookup, TieredCache } from './tiered-cache.js';
import { UsageMeter } from './usage.js';
import { createUpstreamAllowlist } from './upstream-allowlist.js';
import { JWKS_PATH, UpstreamForwarder } from './upstream-forward.js';
import { warmUpColdPath } from './warm-up.js';
import { WebSocketUpgrades } from './websocket-upgrade.js';

export interface GatewayOptions {
  readonly config: GatewayConfig;
  /** Makes a Redis connection (called twice: commands and subscriber); `null` runs on L1 alone. */
  readonly createRedis: (() => Redis) | null;
  readonly internalApi: InternalApi;
  /** Keep-alive pools per upstream origin (an undici Agent). */
  readonly upstreamDispatcher: Dispatcher;
  /**
   * Opens a connection to an upstream origin ahead of its first request (see upstream-preconnect.ts);
   * called with a project's allowed `rest` origin whenever its config is loaded. Null: no pre-connect.
   */
  readonly preconnect?: ((origin: string) => void) | null;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly credentials: CredentialsSource;
  readonly metrics: GatewayMetrics;
}

interface ReadyReport {
  readonly ok: boolean;
  readonly tenantManager: 'ok' | 'down';
  readonly redis: 'ok' | 'down' | 'disabled';
}

export interface Gateway {
  /** The request listener for a node:http server. */
  handle(req: IncomingMessage, res: ServerResponse): void;
  /** The `upgrade` listener for a node:http server (WebSockets to plain HTTP upstreams). */
  handleUpgrade(req: IncomingMessage, socket: Socket, head: Buffer): void;
  /**
   * The `checkContinue` listener for a node:http server (`Expect: 100-continue`): the same as `handle`,
   * with the 100 sent only when the body is about to be read, so a refused request never asks for it.
   */
  handleExpectContinue(req: IncomingMessage, res: ServerResponse): void;
  ready(): Promise<ReadyReport>;
  /** Runs the cold path's one-time work on made-up data (warm-up.ts); resolves with the milliseconds taken. */
  warmUp(): Promise<number>;
  /**
   * Requests currently being answered. An open WebSocket tunnel is not one: it never ends by itself,
   * so a shutdown drains the HTTP requests and then cuts the tunnels (`close`) without waiting for them.
   */
  readonly inFlight: number;
  /** Refuse new requests from now on (graceful shutdown). */
  beginShutdown(): void;
  /** Cuts open WebSocket tunnels and closes Redis; the caller owns the dispatcher and the internal API client. */
  close(): Promise<void>;
  readonly projects: TieredCache<ProjectRecord, ProjectRuntime>;
  readonly keys: TieredCache<ApiKeyRecord, ApiKeyRecord>;
}

const OPEN_AUTH_PATHS = new Set(['/auth/v1/verify', '/auth/v1/callback', '/auth/v1/authorize', JWKS_PATH]);
/** Only the characters RFC 3986 allows in a path go upstream. */
const SAFE_PATH = /^\/[A-Za-z0-9\-._~!$&'()*+,;=:@%/]*$/;
/**
 * Dot segments (encoded too), empty segments and broken escapes: an upstream that normalises them
 * could serve another path than the one the gateway routed.
 */
const BAD_PATH = /(^|\/)(\.|%2e){1,2}(\/|$)|\/\/|%(?![0-9a-f]{2})/i;
/** A client's own X-Request-Id is kept only when it is this tame: it goes into logs and upstream. */
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** The gateway's request path: host → key → project → token → SigV4 → upstream → relay. */
export function buildGateway(options: GatewayOptions): Gateway {
  const { config, clock, logger, metrics } = options;
  const signer = createSigV4Signer();
  const isAllowedUpstream = createUpstreamAllowlist(config.upstreamHostAllowlist);
  const mintedTokens = new MintedTokenCache(config.cache.maxEntries);

  const rateLimiter = new ProjectRateLimiter();
  // Bounds on lookups of what this instance has not cached (config.ts): per instance, so never
  // divided among instances like the projects' own limits. Two limiters: the many buckets of clients
  // sending unknown keys must never push out (and so refill) the registry's one bucket.
  const newKeyBudget = new ProjectRateLimiter();
  const lookupBudget = new ProjectRateLimiter();
  const perSecond = (rate: number) => ({ requestsPerSecond: rate, burst: 2 * rate });

  const { projects, keys, redis } = createRegistryCaches({
    ...options,
    isAllowedUpstream,
    rateLimiter,
    lookupBudget,
    registryBudget: perSecond(config.registryLookupsPerSecond),
  });
  const keyChecks = new ApiKeyChecks(
    config.cache.maxEntries,
    keys,
    newKeyBudget,
    perSecond(config.newKeysPerProjectPerSecond),
    clock,
  );
  // Per-project usage for the operator (tenant-manager's usage API): counted here, stored in Redis.
  const usage =
    redis && config.usageFlushMs > 0
      ? new UsageMeter({
          sink: (hour, counts) => redis.addUsage(hour, counts),
          clock,
          flushEveryMs: config.usageFlushMs,
        })
      : null;

  const requestLog = new RequestLog(logger, metrics, usage, config.logSampleEvery);
  const upgrades = new WebSocketUpgrades(config, logger, usage);
  const forwarder = new UpstreamForwarder({
    config,
    clock,
    logger,
    metrics,
    credentials: options.credentials,
    dispatcher: options.upstreamDispatcher,
    signer,
    upgrades,
  });

  let inFlight = 0;
  let shuttingDown = false;

  function handle(
    req: IncomingMessage,
    res: ServerResponse,
    upgrade: Upgrade | null = null,
    expectsContinue = false,
  ): void {
    const started = performance.now();
    const head = readClientHead(req.rawHeaders);
    const header = head['x-request-id'];
    const requestId = header !== undefined && REQUEST_ID.test(header) ? header : randomUUID();
    // Response headers of the gateway's own go out with the head (see `leadingHeaders`), so a
    // relayed response is written in one `writeHead` with no `setHeader` before it.
    const state: RequestState = {
      prefix: 'none',
      ref: null,
      relay: null,
      upgrade,
      requestId,
      cors: false,
      head,
      metered: false,
      rateLimited: false,
      ingressBytes: 0,
      egressBytes: 0,
      expectsContinue,
    };
    inFlight++;
    res.on('close', () => {
      inFlight--;
      const aborted = !res.writableFinished;
      if (aborted) state.relay?.cancel();
      requestLog.closed(req, res, state, started, aborted);
    });
    if (shuttingDown) {
      res.setHeader('connection', 'close');
      // The CORS headers `route` would give this host, so a browser app can read the 503.
      const host = matchHost(head.host, config.baseDomain).kind;
      state.cors = host === 'project' || (host === 'base' && config.localMode);
      reply(res, state, refusals.shuttingDown);
      return;
    }
    route(req, res, state).catch((error: unknown) => {
      logger.error({ reqId: requestId, err: errorSummary(error) }, 'gateway error');
      if (!res.headersSent) reply(res, state, refusals.internal);
      else res.destroy();
    });
  }

  async function route(req: IncomingMessage, res: ServerResponse, state: RequestState) {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    const head = state.head;
    const host = matchHost(head.host, config.baseDomain);

    if (host.kind !== 'project') {
      if (host.kind === 'invalid') return reply(res, state, refusals.badHost);
      if (path === '/health' || path === '/ready' || (path === '/metrics' && config.metricsPort === null)) {
        return operations(path, res, state);
      }
      if (host.kind === 'other' || !config.localMode) return reply(res, state, refusals.unknownHost);
    }

    state.cors = true;
    const service = serviceForPath(path);
    state.prefix = service ?? 'other';
    if (req.method === 'OPTIONS' && head['access-control-request-method'] !== undefined) {
      return answerPreflight(res, state);
    }
    if (!service) return reply(res, state, refusals.noRoute);
    if (!SAFE_PATH.test(path) || BAD_PATH.test(path)) return reply(res, state, refusals.badPath);

    let queryApiKey: string | null = null;
    const query = parseQuery(
      q < 0 ? '' : url.slice(q + 1),
      (key, value) => {
        if (key !== 'apikey') return false;
        queryApiKey ??= value;
        return true;
      },
      service === 'rest',
    );
    if (!query.ok) return reply(res, state, refusals.badQuery);

    const client = readClientCredentials(head, queryApiKey);
    const apiKey = client.apiKey;
    if (!apiKey) {
      if (host.kind === 'project' && OPEN_AUTH_PATHS.has(path)) {
        return forwardOpen(req, res, state, host.ref, path, query.pairs);
      }
      return reply(res, state, refusals.noApiKey);
    }
    if (client.conflictingKeys) return reply(res, state, refusals.conflictingApiKeys);

    // Resolve the project and the key record; the checksum is checked before any lookup.
    let ref: string;
    let keyType: ApiKeyType;
    let keyLookup: CacheLookup<ApiKeyRecord>;
    let projectLookup: CacheLookup<ProjectRuntime>;
    if (host.kind === 'project') {
      ref = host.ref;
      const checked = keyChecks.forRef(apiKey, ref);
      if (!checked) return reply(res, state, refusals.invalidApiKey);
      keyType = checked.type;
      const hash = checked.hash;
      const freshKey = keys.fresh(hash);
      if (!freshKey) {
        const client = clientAddress(head, req.socket, config.trustedProxyHops);
        const waitMs = keyChecks.newKeyWait(ref, hash, client);
        if (waitMs > 0) return reply(res, state, refusals.tooManyNewKeys(waitMs));
      }
      const freshProject = projects.fresh(ref);
      if (freshKey && freshProject) {
        keyLookup = { ok: true, value: freshKey.value };
        projectLookup = { ok: true, value: freshProject.value };
      } else {
        [keyLookup, projectLookup] = await Promise.all([
          freshKey ? { ok: true as const, value: freshKey.value } : keys.get(hash),
          freshProject ? { ok: true as const, value: freshProject.value } : projects.get(ref),
        ]);
      }
    } else {
      // Local mode on the bare domain: the key names its project.
      const parsed = parseApiKey(apiKey);
      if (!parsed.ok) return reply(res, state, refusals.invalidApiKey);
      keyType = parsed.key.type;
      keyLookup = await keys.get(hashApiKey(apiKey));
      if (!keyLookup.ok) return reply(res, state, refusals.lookupUnavailable);
      if (!keyLookup.value || !verifyApiKey(apiKey, keyLookup.value.ref).ok) {
        return reply(res, state, refusals.invalidApiKey);
      }
      ref = keyLookup.value.ref;
      projectLookup = await projects.get(ref);
    }
    state.ref = ref;

    const project = servingProject(projectLookup);
    if (!(project instanceof ProjectRuntime)) return reply(res, state, project);
    if (!keyLookup.ok) return reply(res, state, refusals.lookupUnavailable);
    const key = keyLookup.value;
    if (!key || key.status !== 'active' || key.ref !== ref || key.type !== keyType) {
      return reply(res, state, refusals.invalidApiKey);
    }
    // Counted for the project only with one of its live keys: anyone can make up a key whose
    // checksum passes for any ref, and its refusals (before any rate limit) are not the project's use.
    state.metered = true;
    if (keyType === 'secret' && isBrowserRequest(head)) return reply(res, state, refusals.secretKeyInBrowser);
    const throttled = overRateLimit(project, state);
    if (throttled) return reply(res, state, throttled);

    // The token the upstream sees: the user's (verified, unchanged) or one minted for the key's role,
    // as the `X-Client-Authorization` value.
    let bearer: string;
    if (client.authorizationError)
      return reply(res, state, jwtRefusal('PGRST301', client.authorizationError));
    if (client.userToken) {
      const outcome = project.verifyUserToken(client.userToken, Math.floor(clock.now() / 1000));
      const verified = 'then' in outcome ? await outcome : outcome;
      if (!verified.ok) return reply(res, state, jwtRefusal(verified.error.code, verified.error.message));
      bearer = `Bearer ${client.userToken}`;
    } else {
      if (!project.jwtSecret) return reply(res, state, refusals.projectUnavailable('NO_JWT_SECRET'));
      bearer = mintedTokens.bearerFor(ref, key.role, project.jwtSecret, clock.now());
    }

    // The whole schema of every exposed table and function: as on hosted Supabase, secret keys only
    // (after the token: a bad one is a 401 wherever it is sent).
    if (keyType !== 'secret' && service === 'rest' && (path === '/rest/v1/' || path === '/rest/v1')) {
      return reply(res, state, refusals.openApiNeedsSecretKey);
    }
    return forwarder.forward(req, res, state, project, service, path, query.pairs, bearer);
  }

  /** Auth's browser-facing redirects (email links, OAuth) carry no key, as in Supabase's Kong setup. */
  async function forwardOpen(
    req: IncomingMessage,
    res: ServerResponse,
    state: RequestState,
    ref: string,
    path: string,
    queryPairs: QueryPair[],
  ): Promise<void> {
    state.ref = ref;
    const project = servingProject(await projects.get(ref));
    if (!(project instanceof ProjectRuntime)) return reply(res, state, project);
    state.metered = true;
    // Keyless, yet each one reaches the project's auth function: the project's limit applies.
    const throttled = overRateLimit(project, state);
    if (throttled) return reply(res, state, throttled);
    return forwarder.forward(req, res, state, project, 'auth', path, queryPairs, null);
  }

  /** The 429 for a request past its project's rate limit, or null when it may pass (or there is none). */
  function overRateLimit(project: ProjectRuntime, state: RequestState): Refusal | null {
    const rateLimit = project.rateLimit;
    if (!rateLimit) return null;
    const waitMs = rateLimiter.take(project.ref, rateLimit, clock.now());
    if (waitMs <= 0) return null;
    state.rateLimited = true;
    return refusals.rateLimited(rateLimit.requestsPerSecond, waitMs);
  }

  async function operations(path: string, res: ServerResponse, state: RequestState): Promise<void> {
    applyLeadingHeaders(res, state);
    if (path === '/health') return sendJson(res, { status: 200, body: { status: 'ok' } });
    if (path === '/ready') {
      const report = await ready();
      return sendJson(res, { status: report.ok ? 200 : 503, body: { ...report } });
    }
    const text = await metrics.registry.metrics();
    res.setHeader('content-type', metrics.registry.contentType);
    res.end(text);
  }

  /**
   * The check in flight, which every /ready arriving meanwhile shares: anyone reaching the bare
   * address may ask, and each check takes one of the tenant-manager connections lookups wait for.
   */
  let readyCheck: Promise<ReadyReport> | null = null;
  function ready(): Promise<ReadyReport> {
    readyCheck ??= checkReady().finally(() => {
      readyCheck = null;
    });
    return readyCheck;
  }

  async function checkReady(): Promise<ReadyReport> {
    const [tenantManager, redisUp] = await Promise.all([
      options.internalApi.ping(),
      redis ? redis.ping() : Promise.resolve(null),
    ]);
    return {
      ok: tenantManager,
      tenantManager: tenantManager ? 'ok' : 'down',
      redis: redisUp === null ? 'disabled' : redisUp ? 'ok' : 'down',
    };
  }

  function reply(res: ServerResponse, state: RequestState, refusal: Refusal): void {
    answer(res, state, refusal, config.bodyLimitBytes);
  }

  return {
    handle,
    handleUpgrade: (req, socket, head) => handle(req, upgrades.respondOn(req, socket), { socket, head }),
    handleExpectContinue: (req, res) => handle(req, res, null, true),
    ready,
    warmUp: () =>
      warmUpColdPath({
        signer,
        isAllowedUpstream,
        region: config.awsRegion,
        requireHttps: !config.localMode,
      }),
    get inFlight() {
      return inFlight - upgrades.openTunnels;
    },
    beginShutdown() {
      shuttingDown = true;
    },
    async close() {
      upgrades.closeAll();
      await usage?.close();
      await redis?.close();
    },
    projects,
    keys,
  };
}

/** The looked-up project when it can serve requests, else the refusal saying why not. */
function servingProject(lookup: CacheLookup<ProjectRuntime>): ProjectRuntime | Refusal {
  if (!lookup.ok) return refusals.lookupUnavailable;
  const project = lookup.value;
  if (!project || project.status === 'REMOVED') return refusals.projectNotFound;
  if (project.status === 'ACTIVE_HEALTHY') return project;
  // A paused project is `PAUSED` in the internal record; `INACTIVE` is Supabase's name for it, which
  // a tenant-manager may send (and cached records may hold) either way: both are refused as paused.
  if (project.status === 'PAUSED' || project.status === 'INACTIVE' || project.status === 'PAUSING') {
    return refusals.projectPaused;
  }
  return refusals.projectUnavailable(project.status);
}
