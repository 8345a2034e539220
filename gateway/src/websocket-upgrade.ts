import { type IncomingMessage, ServerResponse } from 'node:http';
import type { LookupFunction, Socket } from 'node:net';
import type { Logger } from 'pino';
import { upstreamHeaders } from './client-head.js';
import type { GatewayConfig } from './config.js';
import { localhostLookup } from './localhost-lookup.js';
import type { UpstreamTarget } from './project-runtime.js';
import { type RequestState, answer, errorSummary, leadingHeaders } from './request-state.js';
import { refusals } from './responses.js';
import { type QueryPair, formatQuery } from './sigv4.js';
import type { UsageMeter } from './usage.js';
import { hostOnlyCookie, isRelayedResponseHeader } from './upstream-relay.js';
import { openTunnel } from './websocket-tunnel.js';

/**
 * HTTP upgrade (WebSocket, i.e. Realtime) requests: their client sockets, which the HTTP server no
 * longer tracks once upgraded, and the tunnel each opens once it has passed the gateway's checks.
 */
export class WebSocketUpgrades {
  /** Upgraded client sockets, cut at shutdown. */
  private readonly sockets = new Set<Socket>();
  private tunnelsOpen = 0;

  constructor(
    private readonly config: GatewayConfig,
    private readonly logger: Logger,
    private readonly usage: UsageMeter | null,
  ) {}

  /**
   * A response for an upgrade request's socket (node's `upgrade` event gives none), closed with the
   * socket once answered.
   */
  respondOn(req: IncomingMessage, socket: Socket): ServerResponse {
    const sockets = this.sockets;
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    const res = new ServerResponse(req);
    res.assignSocket(socket);
    res.shouldKeepAlive = false;
    res.once('finish', () => {
      socket.end();
      // The socket is no longer the HTTP server's to time out: a client that never closes its half
      // would hold it (and count as in flight) for ever.
      setTimeout(() => socket.destroy(), 1_000).unref();
    });
    socket.on('error', () => socket.destroy());
    return res;
  }

  /** Goes to plain in-VPC upstreams only: function URLs cannot upgrade. */
  tunnel(
    req: IncomingMessage,
    res: ServerResponse,
    state: RequestState,
    upstream: UpstreamTarget,
    path: string,
    queryPairs: QueryPair[],
    bearer: string | null,
  ): void {
    const config = this.config;
    const upgrade = state.upgrade!;
    const requestId = state.requestId;
    if (upstream.kind !== 'http') {
      answer(res, state, refusals.upgradeNotSupported, config.bodyLimitBytes);
      return;
    }
    // Another protocol (h2c above all) would hand the client a connection to the upstream on which
    // it opens any request it likes, past every check here.
    if (state.head.upgrade?.toLowerCase() !== 'websocket') {
      answer(res, state, refusals.upgradeProtocolNotSupported, config.bodyLimitBytes);
      return;
    }
    const headers = upstreamHeaders(state.head, req.socket, config.trustedProxyHops);
    if (bearer) headers.push('x-client-authorization', bearer);
    headers.push('x-request-id', requestId, 'host', upstream.host, 'connection', 'Upgrade');
    headers.push('upgrade', 'websocket');
    const queryString = formatQuery(queryPairs);
    const target = new URL(upstream.origin);
    openTunnel({
      client: upgrade.socket,
      head: upgrade.head,
      upstream: {
        protocol: target.protocol,
        hostname: target.hostname,
        port: Number(target.port) || (target.protocol === 'https:' ? 443 : 80),
      },
      method: req.method ?? 'GET',
      path: queryString ? `${upstream.basePath}${path}?${queryString}` : upstream.basePath + path,
      headers,
      traffic: state,
      connectTimeoutMs: config.upstreamConnectTimeoutMs,
      responseTimeoutMs: config.upstreamHeadersTimeoutMs,
      ...(config.localMode ? { lookup: localhostLookup as LookupFunction } : {}),
      onUpgraded: () => {
        res.statusCode = 101;
        this.tunnelsOpen++;
        // Its bytes are filed hour by hour while it is open; `record` takes the rest when it closes.
        const untrack = this.usage?.track(state.ref!, state);
        res.once('close', () => {
          this.tunnelsOpen--;
          untrack?.();
        });
      },
      onDeclined(response) {
        // An ordinary answer: relayed as such, and the client's connection ends with it.
        const relayed = leadingHeaders(state);
        const raw = response.rawHeaders;
        for (let i = 0; i < raw.length; i += 2) {
          const name = raw[i]!.toLowerCase();
          if (!isRelayedResponseHeader(name)) continue;
          relayed.push(name, name === 'set-cookie' ? hostOnlyCookie(raw[i + 1]!) : raw[i + 1]!);
        }
        res.writeHead(response.statusCode ?? 502, relayed);
        response.on('data', (chunk: Buffer) => {
          state.egressBytes += chunk.length;
        });
        response.once('error', () => res.destroy());
        response.once('aborted', () => res.destroy());
        response.pipe(res);
      },
      onConnectError: (error) => {
        this.logger.warn({ reqId: requestId, err: errorSummary(error) }, 'upstream upgrade failed');
        answer(res, state, refusals.upstreamUnreachable, config.bodyLimitBytes);
      },
    });
  }

  /** Tunnels past their 101: they count as requests in flight until they close, but never drain. */
  get openTunnels(): number {
    return this.tunnelsOpen;
  }

  /** Cuts every upgraded socket, open tunnels included. */
  closeAll(): void {
    for (const socket of this.sockets) socket.destroy();
  }
}
