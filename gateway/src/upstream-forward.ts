import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { Dispatcher } from 'undici';
import { upstreamHeaders } from './client-head.js';
import type { Clock } from './clock.js';
import type { GatewayConfig } from './config.js';
import type { CredentialsSource } from './credentials.js';
import type { GatewayMetrics } from './metrics.js';
import type { ProjectRuntime, ServiceName } from './project-runtime.js';
import { EMPTY_BODY, readBody } from './request-body.js';
import {
  type RequestState,
  answer,
  applyLeadingHeaders,
  errorSummary,
  leadingHeaders,
} from './request-state.js';
import { refusals, sendJson } from './responses.js';
import { EMPTY_PAYLOAD_SHA256, type QueryPair, type SigV4Signer, formatQuery, sha256Hex } from './sigv4.js';
import { type RelayObserver, UpstreamRelay } from './upstream-relay.js';
import type { WebSocketUpgrades } from './websocket-upgrade.js';

/**
 * Where hosted Supabase publishes a project's public signing keys (supabase-js `auth.getClaims()` reads
 * it to verify asymmetric tokens). Keyless, like auth's redirects; with no auth service configured the
 * gateway answers it from the project's cached config.
 */
export const JWKS_PATH = '/auth/v1/.well-known/jwks.json';
/** The members of a public JWK (EC and RSA): nothing else of a key record ever goes out. */
const PUBLIC_JWK_MEMBERS = ['kty', 'crv', 'x', 'y', 'n', 'e', 'kid', 'alg', 'use', 'key_ops'];
const PUBLIC_KEY_TYPES = new Set(['EC', 'RSA', 'OKP']);
const BODYLESS = new Set(['GET', 'HEAD', 'OPTIONS', 'DELETE']);
/**
 * Tells the rest function which version of the project's config the gateway acted on: a function
 * holding an older one re-reads its own (new schemas, max rows, JWT secret) before serving.
 */
const CONFIG_VERSION_HEADER = 'x-supaplane-config-version';

interface UpstreamForwarderOptions {
  readonly config: GatewayConfig;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly metrics: GatewayMetrics;
  readonly credentials: CredentialsSource;
  /** Keep-alive pools per upstream origin (an undici Agent). */
  readonly dispatcher: Dispatcher;
  readonly signer: SigV4Signer;
  /** Where an upgrade request goes once its upstream is known. */
  readonly upgrades: WebSocketUpgrades;
}

/** Sends a request that passed every check to its project's upstream and relays the answer. */
export class UpstreamForwarder {
  private readonly config: GatewayConfig;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly credentials: CredentialsSource;
  private readonly dispatcher: Dispatcher;
  private readonly signer: SigV4Signer;
  private readonly upgrades: WebSocketUpgrades;
  /** One observer for every relay: the request context lives on the relay itself. */
  private readonly relayObserver: RelayObserver;

  constructor(options: UpstreamForwarderOptions) {
    this.config = options.config;
    this.clock = options.clock;
    this.logger = options.logger;
    this.credentials = options.credentials;
    this.dispatcher = options.dispatcher;
    this.signer = options.signer;
    this.upgrades = options.upgrades;
    const { metrics, logger } = options;
    this.relayObserver = {
      responded: (relay, status, seconds) => metrics.upstreamLatency(relay.service, status, seconds),
      failed(relay, error, timedOut, seconds) {
        metrics.upstreamLatency(relay.service, timedOut ? 504 : 502, seconds);
        logger.warn(
          { reqId: relay.requestId, ref: relay.ref, service: relay.service, err: errorSummary(error) },
          'upstream request failed',
        );
      },
    };
  }

  /** Body, headers, SigV4 and dispatch to the project's upstream for `service`. */
  async forward(
    req: IncomingMessage,
    res: ServerResponse,
    state: RequestState,
    project: ProjectRuntime,
    service: ServiceName,
    path: string,
    queryPairs: QueryPair[],
    bearer: string | null,
  ): Promise<void> {
    const config = this.config;
    const requestId = state.requestId;
    const ref = project.ref;
    const upstream = project.upstreams.get(service);
    if (!upstream) {
      if (path === JWKS_PATH && (req.method === 'GET' || req.method === 'HEAD'))
        return answerJwks(res, state, project);
      return answer(res, state, refusals.serviceNotConfigured(service), config.bodyLimitBytes);
    }
    if (upstream.kind === 'disallowed') {
      this.logger.error(
        { reqId: requestId, ref, upstreamHost: upstream.host },
        'upstream host is not on the allowlist',
      );
      return answer(res, state, refusals.upstreamNotAllowed, config.bodyLimitBytes);
    }

    if (state.upgrade) {
      return this.upgrades.tunnel(req, res, state, upstream, path, queryPairs, bearer);
    }

    // No body declared: nothing to wait for (most reads), so no promise either.
    const method = req.method ?? 'GET';
    const head = state.head;
    const hasBody = head['content-length'] !== undefined || head['transfer-encoding'] !== undefined;
    const body = hasBody
      ? await readBody(req, head, config.bodyLimitBytes, state.expectsContinue ? res : null)
      : EMPTY_BODY;
    if (body === 'aborted') return;
    if (body === 'too-large') {
      return answer(res, state, refusals.payloadTooLarge(config.bodyLimitBytes), config.bodyLimitBytes);
    }
    state.ingressBytes = body.length;

    // A flat [name, value, …] list: undici takes it as is, with no object to build and walk.
    const headers = upstreamHeaders(head, req.socket, config.trustedProxyHops);
    if (bearer) headers.push('x-client-authorization', bearer);
    headers.push('x-request-id', requestId, 'host', upstream.host);
    if (service === 'rest') headers.push(CONFIG_VERSION_HEADER, project.configVersion);
    if (body.length > 0 || !BODYLESS.has(method)) headers.push('content-length', String(body.length));
    const upstreamPath = upstream.basePath + path;
    const queryString = formatQuery(queryPairs);
    if (upstream.kind === 'lambda-url') {
      const credentials = this.credentials.current();
      const signed = this.signer.sign({
        method,
        host: upstream.host,
        path: upstreamPath,
        query: queryPairs,
        payloadHash: body.length > 0 ? sha256Hex(body) : EMPTY_PAYLOAD_SHA256,
        region: upstream.region,
        service: 'lambda',
        credentials: 'then' in credentials ? await credentials : credentials,
        date: new Date(this.clock.now()),
      });
      headers.push(
        'authorization',
        signed.authorization,
        'x-amz-date',
        signed['x-amz-date'],
        'x-amz-content-sha256',
        signed['x-amz-content-sha256'],
      );
      const sessionToken = signed['x-amz-security-token'];
      if (sessionToken) headers.push('x-amz-security-token', sessionToken);
    }

    const relay = new UpstreamRelay(res, this.relayObserver, leadingHeaders(state), service, ref, requestId);
    state.relay = relay;
    this.dispatcher.dispatch(
      {
        origin: upstream.origin,
        path: queryString ? `${upstreamPath}?${queryString}` : upstreamPath,
        method: method as Dispatcher.HttpMethod,
        headers,
        body: body.length > 0 ? body : null,
        headersTimeout: config.upstreamHeadersTimeoutMs,
        bodyTimeout: config.upstreamBodyTimeoutMs,
      },
      relay,
    );
  }
}

/**
 * The project's public signing keys (none when it has only HS256 keys), as auth would serve them:
 * asymmetric keys' public members only. The record's `sharedKeys` are never read here, and a shared
 * (`oct`) key found in `jwks` is dropped whole.
 */
function answerJwks(res: ServerResponse, state: RequestState, project: ProjectRuntime): void {
  const keys = (project.record.jwks?.keys ?? [])
    .filter((key) => PUBLIC_KEY_TYPES.has(key.kty as string))
    .map((key) =>
      Object.fromEntries(PUBLIC_JWK_MEMBERS.filter((m) => key[m] !== undefined).map((m) => [m, key[m]])),
    );
  applyLeadingHeaders(res, state);
  // Short: a rotated or revoked key reaches verifiers within a minute (auth-js keeps its own copy too).
  res.setHeader('cache-control', 'public, max-age=60');
  sendJson(res, { status: 200, body: { keys } });
}
