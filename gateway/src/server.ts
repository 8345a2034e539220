import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { fromNodeProviderChain } from '@aws-sdk/credential-providers';
import { Redis } from 'ioredis';
import pino, { type Logger } from 'pino';
import { Agent } from 'undici';
import { systemClock } from './clock.js';
import type { GatewayConfig } from './config.js';
import { refreshingCredentials, staticCredentials } from './credentials.js';
import { type Gateway, type GatewayOptions, buildGateway } from './gateway.js';
import { createInternalApiClient } from './internal-api.js';
import { localhostLookup } from './localhost-lookup.js';
import { type GatewayMetrics, createGatewayMetrics } from './metrics.js';
import { type UpstreamPreconnector, createUpstreamPreconnector } from './upstream-preconnect.js';

export interface RunningGateway {
  readonly url: string;
  readonly port: number;
  /** `http://host:port/metrics` when metrics have a port of their own (GATEWAY_METRICS_PORT). */
  readonly metricsUrl: string | null;
  readonly gateway: Gateway;
  /** Stops accepting, drains in-flight requests (up to the grace period), then closes pools and Redis. */
  close(): Promise<void>;
}

/**
 * One undici Agent: a keep-alive pool per upstream origin, up to 256 connections each. No
 * pipelining: a slow response would hold up every request queued behind it on its connection.
 */
function createUpstreamAgent(
  config: GatewayConfig,
  preconnector: UpstreamPreconnector = createUpstreamPreconnector(upstreamConnectOptions(config)),
): Agent {
  return new Agent({
    connections: 256,
    pipelining: 1,
    keepAliveTimeout: 30_000,
    keepAliveMaxTimeout: 120_000,
    headersTimeout: config.upstreamHeadersTimeoutMs,
    bodyTimeout: config.upstreamBodyTimeoutMs,
    connect: preconnector.connector,
  });
}

/** How upstream sockets are opened: connect timeout, and `*.localhost` names in local mode. */
function upstreamConnectOptions(config: GatewayConfig) {
  return {
    timeout: config.upstreamConnectTimeoutMs,
    ...(config.localMode ? { lookup: localhostLookup } : {}),
  };
}

function redisFactory(url: string): () => Redis {
  return () =>
    new Redis(url, {
      lazyConnect: false,
      maxRetriesPerRequest: 1,
      connectTimeout: 2_000,
      retryStrategy: (times) => Math.min(times * 50, 500),
    });
}

/** Starts a gateway from parsed config; `overrides` replace any default dependency (tests). */
export async function startGateway(
  config: GatewayConfig,
  overrides: Partial<GatewayOptions> = {},
): Promise<RunningGateway> {
  const logger: Logger = overrides.logger ?? pino({ level: config.logLevel, base: { service: 'gateway' } });
  const clock = overrides.clock ?? systemClock;
  const internalApi =
    overrides.internalApi ??
    createInternalApiClient({
      baseUrl: config.tenantManagerInternalUrl,
      token: config.internalServiceToken,
      timeoutMs: config.internalApiTimeoutMs,
    });
  // With our own Agent, a project's upstream is dialled as soon as its config is loaded.
  const preconnector = overrides.upstreamDispatcher
    ? null
    : createUpstreamPreconnector(upstreamConnectOptions(config));
  const dispatcher = overrides.upstreamDispatcher ?? createUpstreamAgent(config, preconnector!);
  const credentials =
    overrides.credentials ??
    (config.staticAwsCredentials
      ? staticCredentials(config.staticAwsCredentials)
      : refreshingCredentials(fromNodeProviderChain(), clock));
  const metrics = overrides.metrics ?? createGatewayMetrics({ defaultMetrics: true });
  const gateway = buildGateway({
    config,
    createRedis:
      overrides.createRedis !== undefined
        ? overrides.createRedis
        : config.redisUrl
          ? redisFactory(config.redisUrl)
          : null,
    internalApi,
    upstreamDispatcher: dispatcher,
    preconnect: overrides.preconnect ?? (preconnector ? preconnector.warm : null),
    clock,
    logger,
    credentials,
    metrics,
  });

  // Before the first request: the cold path's one-time costs, and a kept-alive connection to the
  // tenant-manager (its answer does not matter here; /ready reports it).
  const warmUpMs = await gateway.warmUp();
  void internalApi.ping();

  const server: Server = createServer(
    {
      // Longer than a load balancer's idle timeout (ALB: 60 s), so the gateway never closes first.
      keepAliveTimeout: 65_000,
      headersTimeout: 30_000,
      requestTimeout: 120_000,
      // Spelled out although they are node's defaults: small responses go out at once (no Nagle),
      // a request without Host is refused, and the strict HTTP parser stays on.
      noDelay: true,
      requireHostHeader: true,
      insecureHTTPParser: false,
    },
    gateway.handle,
  );
  server.on('upgrade', gateway.handleUpgrade);
  server.on('clientError', answerClientError);
  // Without a listener node answers 100 at once, before the key check or the size check.
  server.on('checkContinue', gateway.handleExpectContinue);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const displayHost = config.host === '0.0.0.0' ? '127.0.0.1' : config.host;
  const metricsServer = config.metricsPort === null ? null : await listenMetrics(metrics, config);
  const metricsUrl = metricsServer
    ? `http://${displayHost}:${(metricsServer.address() as AddressInfo).port}/metrics`
    : null;
  logger.info(
    { port, baseDomain: config.baseDomain, localMode: config.localMode, warmUpMs: Math.round(warmUpMs) },
    'gateway listening',
  );

  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      gateway.beginShutdown();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      // A scraper's connection (kept alive, or stalled mid-request) must not hold the shutdown.
      const metricsClosed = new Promise<void>((resolve) =>
        metricsServer ? metricsServer.close(() => resolve()) : resolve(),
      );
      metricsServer?.closeIdleConnections();
      const deadline = Date.now() + config.shutdownGraceMs;
      while (gateway.inFlight > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      server.closeAllConnections();
      metricsServer?.closeAllConnections();
      await gateway.close();
      await closed;
      await metricsClosed;
      preconnector?.close();
      if (!overrides.upstreamDispatcher) await dispatcher.close();
      if (!overrides.internalApi) await internalApi.close();
      logger.info('gateway stopped');
    })();
    return closing;
  };
  return { url: `http://${displayHost}:${port}`, port, metricsUrl, gateway, close };
}

/** The status node itself would answer for a request it cannot parse or did not receive in time. */
const CLIENT_ERRORS: Record<string, readonly [number, string, string]> = {
  HPE_HEADER_OVERFLOW: [431, 'Request Header Fields Too Large', 'Request headers too large'],
  HPE_CHUNK_EXTENSIONS_OVERFLOW: [413, 'Payload Too Large', 'Chunk extensions too large'],
  ERR_HTTP_REQUEST_TIMEOUT: [408, 'Request Timeout', 'The request was not received in time'],
};
const BAD_REQUEST = [400, 'Bad Request', 'Malformed HTTP request'] as const;
const URI_TOO_LONG = [414, 'URI Too Long', 'Request URI too long'] as const;

/** A request line's start: a method token, a space, then an origin or absolute form. */
const REQUEST_START = /^[A-Z]+ (?:\/|https?:)/;

/**
 * node counts the request target and the header fields against one limit and reports both as
 * HPE_HEADER_OVERFLOW. The target alone overflowed when, in the buffer being parsed, the error sits
 * on the space before `HTTP/` (node counts a target once it has ended), or when that buffer opens the
 * request and no line ended before the error (a target already over the limit at the end of a read).
 * A target that began in an earlier read and overflows at the end of a later one shows neither and
 * still reads as 431.
 */
function isRequestTargetOverflow(error: NodeJS.ErrnoException): boolean {
  const { rawPacket: raw, bytesParsed: at } = error as { rawPacket?: unknown; bytesParsed?: unknown };
  if (!Buffer.isBuffer(raw) || typeof at !== 'number') return false;
  if (raw.toString('latin1', at, at + 6) === ' HTTP/') return true;
  const lineEnd = raw.indexOf(10);
  return (lineEnd < 0 || lineEnd >= at) && REQUEST_START.test(raw.toString('latin1', 0, 16));
}

/**
 * node's own refusals (a malformed head, headers over the size limit, a request not received within
 * `requestTimeout`), answered as node would (but 414 for a request target too long, as nginx in
 * front of hosted Supabase does) with a JSON body and CORS like every other refusal,
 * so a browser app reads the status instead of a CORS failure. Which host was asked is unknown here:
 * `*` with no credentials exposes nothing but this generic message.
 */
function answerClientError(error: NodeJS.ErrnoException, socket: Duplex): void {
  // As node: only while nothing of a response went out on this connection, and never to a peer that left.
  const pending = (socket as { _httpMessage?: { headersSent: boolean } | null })._httpMessage;
  if (!socket.writable || pending?.headersSent || error.code === 'ECONNRESET') {
    socket.destroy();
    return;
  }
  const [status, reason, message] =
    error.code === 'HPE_HEADER_OVERFLOW' && isRequestTargetOverflow(error)
      ? URI_TOO_LONG
      : (CLIENT_ERRORS[error.code ?? ''] ?? BAD_REQUEST);
  const body = JSON.stringify({ message });
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\ncontent-type: application/json; charset=utf-8\r\n` +
      `content-length: ${Buffer.byteLength(body)}\r\naccess-control-allow-origin: *\r\n` +
      `connection: close\r\n\r\n${body}`,
    () => socket.destroy(),
  );
}

/** `GET /metrics` on a port of its own, answering nothing else (404 JSON, as the main port does). */
async function listenMetrics(metrics: GatewayMetrics, config: GatewayConfig): Promise<Server> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    if (path !== '/metrics' || (req.method !== 'GET' && req.method !== 'HEAD')) {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ message: 'Only GET /metrics is served on this port' }));
      return;
    }
    metrics.registry.metrics().then(
      (text) => {
        res.writeHead(200, { 'content-type': metrics.registry.contentType });
        res.end(text);
      },
      () => {
        res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ message: 'metrics could not be collected' }));
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.metricsPort ?? 0, config.host, () => resolve());
  });
  return server;
}
