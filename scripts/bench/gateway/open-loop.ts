/**
 * Open-loop HTTP/1.1 load at a fixed rate, in the manner of wrk2: requests fall due every 1/rate s
 * whether or not earlier ones finished, and a request's latency counts from when it fell due, so a
 * stall anywhere (proxy, upstream or generator) is not hidden by coordinated omission.
 *
 * It writes one pre-serialized GET on raw keep-alive sockets and reads each response only as far as
 * its head and `content-length`. On this 2-vCPU machine the load generator shares the cores with the
 * upstream and the proxy under test; an undici Pool with a promise per request cost about twice the
 * CPU per request (41% of a core against 22% at 6,000 rps), and the proxies' tails measured its
 * interference as much as their own. Every path gets the same generator.
 */
import { type Socket, connect } from 'node:net';

export interface OpenLoopTarget {
  readonly port: number;
  /** Path and query. */
  readonly path: string;
  readonly headers: Record<string, string>;
}

export interface OpenLoopResult {
  /** Milliseconds from due time to the response's last byte, in completion order. */
  readonly latencies: number[];
  /** Non-200 responses. */
  readonly errors: number;
  readonly total: number;
  /** CPU seconds the generator (this process) used in the run. */
  readonly generatorCpuSeconds: number;
}

interface Connection {
  readonly socket: Socket;
  /** Due time of the request in flight. */
  due: number;
  busy: boolean;
  /** The server said `connection: close`: no request goes on this connection again. */
  closing: boolean;
  /** The response in flight has status 200. */
  ok: boolean;
  /** Bytes of the response read so far while its head is incomplete. */
  pending: Buffer | null;
  /** Bytes of the response (head and body) still to come; -1 while the head is incomplete. */
  remaining: number;
}

const HEAD_END = Buffer.from('\r\n\r\n');
const CONTENT_LENGTH = /\r\ncontent-length:[ \t]*(\d+)/i;
const CONNECTION_CLOSE = /\r\nconnection:[ \t]*close/i;

/** Runs `rate` requests per second for `seconds` on `connections` sockets to 127.0.0.1:`port`. */
export async function openLoop(
  target: OpenLoopTarget,
  rate: number,
  seconds: number,
  connections: number,
): Promise<OpenLoopResult> {
  const head = Object.entries(target.headers)
    .map(([name, value]) => `${name}: ${value}\r\n`)
    .join('');
  const request = Buffer.from(`GET ${target.path} HTTP/1.1\r\n${head}\r\n`, 'latin1');
  const total = Math.floor(rate * seconds);
  const latencies: number[] = [];
  let errors = 0;
  let finished = 0;
  const idle: Connection[] = [];
  /** Due times of requests waiting for a free connection. */
  const backlog: number[] = [];
  let allDone: () => void = () => {};
  let fail: (error: Error) => void = () => {};
  const done = new Promise<void>((resolve, reject) => {
    allDone = resolve;
    fail = reject;
  });
  done.catch(() => {}); // awaited below; a failure during the send loop must not go unhandled meanwhile
  // A run with a broken connection or response is thrown away whole, never reported on fewer requests.
  let failure: Error | null = null;
  const abort = (error: Error) => {
    failure ??= error;
    fail(failure);
  };

  const complete = (connection: Connection, ok: boolean) => {
    latencies.push(performance.now() - connection.due);
    connection.busy = false;
    if (!ok) errors++;
    if (++finished === total) allDone();
    if (connection.closing) {
      // A server that ends keep-alive after N requests (nginx: 1,000): a new connection takes over.
      connection.socket.destroy();
      open().catch(() => {});
      return;
    }
    const next = backlog.shift();
    if (next === undefined) idle.push(connection);
    else send(connection, next);
  };
  const send = (connection: Connection, due: number) => {
    connection.due = due;
    connection.busy = true;
    connection.pending = null;
    connection.remaining = -1;
    connection.socket.write(request);
  };
  const onData = (connection: Connection, chunk: Buffer) => {
    if (connection.remaining < 0) {
      const buffered = connection.pending ? Buffer.concat([connection.pending, chunk]) : chunk;
      const end = buffered.indexOf(HEAD_END);
      if (end < 0) {
        connection.pending = buffered;
        return;
      }
      const responseHead = buffered.toString('latin1', 0, end);
      const length = CONTENT_LENGTH.exec(responseHead);
      if (!length)
        return abort(new Error(`response without content-length: ${responseHead.split('\r\n')[0]}`));
      connection.closing = CONNECTION_CLOSE.test(responseHead);
      connection.ok = responseHead.startsWith('HTTP/1.1 200 ');
      connection.pending = null;
      connection.remaining = end + HEAD_END.length + Number(length[1]) - buffered.length;
    } else {
      connection.remaining -= chunk.length;
    }
    if (connection.remaining > 0) return;
    if (connection.remaining < 0) return abort(new Error('more bytes than one response'));
    complete(connection, connection.ok);
  };

  const live = new Set<Connection>();
  /** Opens a connection; once connected it takes the oldest waiting request, or waits idle. */
  const open = () =>
    new Promise<void>((resolve, reject) => {
      const socket = connect({ port: target.port, host: '127.0.0.1', noDelay: true });
      const connection: Connection = {
        socket,
        due: 0,
        busy: false,
        closing: false,
        ok: false,
        pending: null,
        remaining: -1,
      };
      live.add(connection);
      socket.once('connect', () => {
        const next = backlog.shift();
        if (next === undefined) idle.push(connection);
        else send(connection, next);
        resolve();
      });
      socket.on('error', (error) => {
        reject(error);
        abort(error);
      });
      socket.on('data', (chunk: Buffer) => {
        if (connection.busy) onData(connection, chunk);
        else abort(new Error('bytes on an idle connection'));
      });
      socket.on('close', () => {
        live.delete(connection);
        if (finished < total && !connection.closing)
          abort(new Error('the server closed a connection unasked'));
      });
    });
  await Promise.all(Array.from({ length: connections }, open));

  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  let sent = 0;
  // Every millisecond, start whatever has fallen due.
  while (sent < total && !failure) {
    const due = Math.min(total, Math.floor(((performance.now() - started) * rate) / 1000) + 1);
    for (; sent < due; sent++) {
      const at = started + (sent * 1000) / rate;
      const connection = idle.pop();
      if (connection) send(connection, at);
      else backlog.push(at);
    }
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  try {
    await done;
  } finally {
    for (const { socket } of live) socket.destroy();
  }
  const cpu = process.cpuUsage(cpuBefore);
  return { latencies, errors, total, generatorCpuSeconds: (cpu.user + cpu.system) / 1e6 };
}
