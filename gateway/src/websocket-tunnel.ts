import type { LookupFunction, Socket } from 'node:net';
import { connect as netConnect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';

export interface TunnelOptions {
  /** The client's socket, already past its HTTP upgrade request. */
  readonly client: Socket;
  /** Bytes the client sent after the request head. */
  readonly head: Buffer;
  readonly upstream: { readonly protocol: string; readonly hostname: string; readonly port: number };
  /** The upgrade request as it goes upstream: request line and headers. */
  readonly requestHead: string;
  readonly connectTimeoutMs: number;
  readonly lookup?: LookupFunction;
  /** The upstream could not be reached; nothing has been relayed yet. */
  onConnectError(error: Error): void;
}

/**
 * Relays an HTTP upgrade (WebSocket) byte for byte once the request passed every gateway check:
 * the upstream's 101 and all frames flow through untouched.
 */
export function openTunnel(options: TunnelOptions): void {
  const { client, upstream } = options;
  const connectOptions = {
    host: upstream.hostname,
    port: upstream.port,
    ...(options.lookup ? { lookup: options.lookup } : {}),
  };
  const socket =
    upstream.protocol === 'https:'
      ? tlsConnect({ ...connectOptions, servername: upstream.hostname })
      : netConnect(connectOptions);
  let connected = false;
  const timer = setTimeout(
    () => socket.destroy(new Error('upstream connect timeout')),
    options.connectTimeoutMs,
  );
  socket.once(upstream.protocol === 'https:' ? 'secureConnect' : 'connect', () => {
    connected = true;
    clearTimeout(timer);
    socket.setNoDelay(true);
    client.setNoDelay(true);
    socket.write(options.requestHead);
    if (options.head.length > 0) socket.write(options.head);
    socket.pipe(client);
    client.pipe(socket);
  });
  socket.on('error', (error) => {
    clearTimeout(timer);
    if (!connected) options.onConnectError(error);
    else client.destroy();
  });
  // When either side finishes, finish the other; a peer that never closes its half is cut after a grace.
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
  socket.on('close', teardown);
  client.on('error', teardown);
  client.on('close', teardown);
}

/** Request line and headers for the upstream, from a flat `[name, value, …]` list. */
export function formatRequestHead(method: string, path: string, headers: readonly string[]): string {
  let head = `${method} ${path} HTTP/1.1\r\n`;
  for (let i = 0; i < headers.length; i += 2) head += `${headers[i]}: ${headers[i + 1]}\r\n`;
  return `${head}\r\n`;
}
