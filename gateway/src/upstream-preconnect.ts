import type { Socket } from 'node:net';
import { buildConnector } from 'undici';

/**
 * Opens an upstream connection ahead of the first request, through undici's own `connect` option.
 *
 * undici has no pre-connect API (nodejs/undici#317: a pool connects only when a request is queued),
 * and a throw-away request (`HEAD`/`OPTIONS`) would invoke the project's function. Instead the
 * Agent's connector is this one: `warm(origin)` opens a socket with undici's own connector (same
 * connect timeout, lookup, TLS session cache, no-delay and keep-alive settings) and parks it; when
 * the pool next asks for a connection to that origin it gets the parked socket (or joins the
 * connect still under way) instead of dialling again. Nothing is sent on the socket until undici
 * writes a real request on it.
 *
 * `warm` does nothing when the origin already has a live connection or a parked/pending one, so
 * reloading a config (refresh-ahead) never opens sockets the pool does not need. A parked socket
 * nobody claims is closed after `parkedIdleMs` (1 s by default: it is meant for the request already
 * on its way, and an idle socket parked longer than the upstream's keep-alive timeout — node's is
 * 5 s — could be closed by the server just as undici writes on it).
 */
export interface UpstreamPreconnector {
  /** undici's `connect` option for the Agent. */
  readonly connector: buildConnector.connector;
  /** Opens one connection to `origin` (`http(s)://host[:port]`) unless it has one already. */
  warm(origin: string): void;
  /** Live sockets handed to undici plus parked ones, for `origin` (tests, metrics). */
  connections(origin: string): number;
  close(): void;
}

type ConnectCallback = buildConnector.Callback;

interface Parked {
  socket: Socket | null;
  error: Error | null;
  waiters: ConnectCallback[];
  timer: NodeJS.Timeout | null;
  onIdleClose: (() => void) | null;
}

const DEFAULT_PORTS: Record<string, string> = { 'http:': '80', 'https:': '443' };

export function createUpstreamPreconnector(
  connectOptions: buildConnector.BuildOptions,
  parkedIdleMs = 1_000,
): UpstreamPreconnector {
  const connect = buildConnector(connectOptions);
  const parked = new Map<string, Parked>();
  const live = new Map<string, number>();
  let closed = false;

  const keyOf = (protocol: string, hostname: string, port: string | number | undefined) =>
    `${protocol}//${hostname}:${port || DEFAULT_PORTS[protocol] || ''}`;

  function track(key: string, socket: Socket): void {
    live.set(key, (live.get(key) ?? 0) + 1);
    socket.once('close', () => {
      const left = (live.get(key) ?? 1) - 1;
      if (left > 0) live.set(key, left);
      else live.delete(key);
    });
  }

  function unpark(key: string, entry: Parked): void {
    if (parked.get(key) === entry) parked.delete(key);
    if (entry.timer) clearTimeout(entry.timer);
    if (entry.socket && entry.onIdleClose) {
      entry.socket.off('close', entry.onIdleClose);
      entry.socket.off('error', ignore);
    }
  }

  const connector: buildConnector.connector = (options, callback) => {
    const key = keyOf(options.protocol, options.hostname, options.port);
    const entry = parked.get(key);
    if (entry && !entry.error && !entry.socket?.destroyed && !entry.socket?.readableEnded) {
      if (entry.socket) {
        // Parked and connected: hand it over (asynchronously, as a real connect would).
        unpark(key, entry);
        const socket = entry.socket;
        track(key, socket);
        process.nextTick(callback, null, socket);
        return;
      }
      // The warm connect is still under way: wait for it rather than dialling a second one.
      entry.waiters.push(callback);
      return;
    }
    connect(options, (...args) => {
      if (args[0] === null) track(key, args[1]);
      callback(...args);
    });
  };

  function warm(origin: string): void {
    if (closed) return;
    let url: URL;
    try {
      url = new URL(origin);
    } catch {
      return;
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return;
    const key = keyOf(url.protocol, url.hostname, url.port);
    if (parked.has(key) || (live.get(key) ?? 0) > 0) return;
    const entry: Parked = { socket: null, error: null, waiters: [], timer: null, onIdleClose: null };
    parked.set(key, entry);
    connect(optionsFor(url), (error, socket) => {
      const waiter = entry.waiters.shift();
      if (error !== null) {
        unpark(key, entry);
        entry.error = error;
        // A request that joined this connect gets the failure a connect of its own would have had.
        if (waiter) waiter(entry.error, null);
        for (const other of entry.waiters.splice(0)) other(entry.error, null);
        return;
      }
      const connected = socket;
      if (waiter) {
        unpark(key, entry);
        track(key, connected);
        waiter(null, connected);
        // More than one request joined: the others connect on their own, as they would have.
        for (const other of entry.waiters.splice(0)) connector(optionsFor(url), other);
        return;
      }
      if (closed || parked.get(key) !== entry) {
        connected.destroy();
        return;
      }
      entry.socket = connected;
      entry.onIdleClose = () => unpark(key, entry);
      connected.on('error', ignore);
      connected.once('close', entry.onIdleClose);
      entry.timer = setTimeout(() => {
        unpark(key, entry);
        connected.destroy();
      }, parkedIdleMs);
      entry.timer.unref();
    });
  }

  return {
    connector,
    warm,
    connections: (origin) => {
      const url = new URL(origin);
      const key = keyOf(url.protocol, url.hostname, url.port);
      return (live.get(key) ?? 0) + (parked.get(key)?.socket ? 1 : 0);
    },
    close() {
      closed = true;
      for (const [key, entry] of parked) {
        unpark(key, entry);
        entry.socket?.destroy();
      }
    },
  };
}

function optionsFor(url: URL): buildConnector.Options {
  return {
    protocol: url.protocol,
    hostname: url.hostname,
    host: url.host,
    port: url.port || DEFAULT_PORTS[url.protocol]!,
  };
}

function ignore(): void {}
