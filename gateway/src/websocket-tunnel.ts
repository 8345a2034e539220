import { type IncomingMessage, request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { LookupFunction, Socket } from 'node:net';

/** A tunnel's WebSocket bytes (frames, not the HTTP upgrade heads), counted as they pass (usage). */
interface TunnelTraffic {
  /** Client → upstream. */
  ingressBytes: number;
  /** Upstream → client. */
  egressBytes: number;
}

interface TunnelOptions {
  /** The client's socket, already past its HTTP upgrade request. */
  readonly client: Socket;
  /** Bytes the client sent after the request head. */
  readonly head: Buffer;
  readonly upstream: { readonly protocol: string; readonly hostname: string; readonly port: number };
  readonly method: string;
  /** Path and query as sent upstream. */
  readonly path: string;
  /** The upgrade request's headers as they go upstream, a flat `[name, value, …]` list. */
  readonly headers: readonly string[];
  readonly connectTimeoutMs: number;
  /** How long the upstream may take to answer the upgrade once connected. */
  readonly responseTimeoutMs: number;
  readonly lookup?: LookupFunction;
  /** Where the relayed bytes are added up, live (the request's usage is read when the client's socket closes). */
  readonly traffic: TunnelTraffic;
  /** The upstream answered 101: its head is being relayed to the client, then the bytes both ways. */
  onUpgraded(): void;
  /**
   * The upstream declined the upgrade (any status but 101): its answer, to relay as an ordinary
   * response that ends the client's connection. No client byte has reached the upstream.
   */
  onDeclined(response: IncomingMessage): void;
  /** The upstream could not be reached or did not answer in time; nothing has been relayed yet. */
  onConnectError(error: Error): void;
}

/**
 * Sends the upgrade request upstream once it passed every gateway check and, only when the upstream
 * answers 101, relays the connection byte for byte (its 101 and all frames untouched). Any other
 * answer leaves the upstream connection in HTTP, where a raw tunnel would let the client send
 * further requests past the gateway: that answer is handed to `onDeclined` instead.
 */
export function openTunnel(options: TunnelOptions): void {
  const { client, upstream } = options;
  const https = upstream.protocol === 'https:';
  const request = (https ? httpsRequest : httpRequest)({
    host: upstream.hostname,
    port: upstream.port,
    method: options.method,
    path: options.path,
    headers: options.headers as string[],
    agent: false,
    ...(options.lookup ? { lookup: options.lookup } : {}),
  });
  let timer = setTimeout(
    () => request.destroy(new Error('upstream connect timeout')),
    options.connectTimeoutMs,
  );
  request.once('socket', (socket: Socket) => {
    socket.once(https ? 'secureConnect' : 'connect', () => {
      clearTimeout(timer);
      timer = setTimeout(
        () => request.destroy(new Error('upstream did not answer the upgrade in time')),
        options.responseTimeoutMs,
      );
    });
  });
  let answered = false;
  request.on('error', (error) => {
    clearTimeout(timer);
    if (answered) return;
    answered = true;
    options.onConnectError(error);
  });
  request.once('response', (response) => {
    clearTimeout(timer);
    answered = true;
    options.onDeclined(response);
  });
  request.once('upgrade', (response: IncomingMessage, socket: Socket, upstreamHead: Buffer) => {
    clearTimeout(timer);
    answered = true;
    options.onUpgraded();
    socket.setNoDelay(true);
    client.setNoDelay(true);
    client.write(formatResponseHead(response));
    const traffic = options.traffic;
    if (upstreamHead.length > 0) client.write(upstreamHead);
    if (options.head.length > 0) socket.write(options.head);
    traffic.egressBytes += upstreamHead.length;
    traffic.ingressBytes += options.head.length;
    socket.on('data', (chunk: Buffer) => {
      traffic.egressBytes += chunk.length;
    });
    client.on('data', (chunk: Buffer) => {
      traffic.ingressBytes += chunk.length;
    });
    pipeBothWays(client, socket);
  });
  request.end();
}

/** Relays two sockets until either closes; a peer that never closes its half is cut after a grace. */
function pipeBothWays(client: Socket, socket: Socket): void {
  socket.pipe(client);
  client.pipe(socket);
  const finish = () => setTimeout(() => teardown(), 5_000).unref();
  const teardown = () => {
    socket.destroy();
    client.destroy();
  };
  // A side that finished sending is done: close both directions gracefully.
  socket.on('end', () => {
    client.end();
    socket.end();
    finish();
  });
  client.on('end', () => {
    socket.end();
    client.end();
    finish();
  });
  socket.on('error', teardown);
  socket.on('close', teardown);
  client.on('error', teardown);
  client.on('close', teardown);
}

/** The upstream's 101 head as it arrived (status line and headers, as node parsed them). */
function formatResponseHead(response: IncomingMessage): string {
  let head = `HTTP/1.1 101 ${response.statusMessage || 'Switching Protocols'}\r\n`;
  const raw = response.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) head += `${raw[i]}: ${raw[i + 1]}\r\n`;
  return `${head}\r\n`;
}
