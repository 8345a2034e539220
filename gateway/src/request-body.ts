import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ClientHead } from './client-head.js';

/** A request body read whole, or why it was not. */
type BodyResult = Buffer | 'too-large' | 'aborted';

export const EMPTY_BODY = Buffer.alloc(0);

/**
 * The body of a request that declares one (`content-length` or `transfer-encoding`), up to `limit`
 * bytes; `continueTo` is the response to send `100 Continue` on when the client waits for it.
 */
export function readBody(
  req: IncomingMessage,
  head: ClientHead,
  limit: number,
  continueTo: ServerResponse | null,
): Promise<BodyResult> {
  const declared = head['content-length'];
  if (declared !== undefined && Number(declared) > limit) return Promise.resolve('too-large');
  continueTo?.writeContinue();
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.off('data', onData);
        chunks.length = 0;
        resolve('too-large');
        return;
      }
      chunks.push(chunk);
    };
    req.on('data', onData);
    req.once('end', () => resolve(size > limit ? 'too-large' : Buffer.concat(chunks, size)));
    req.once('aborted', () => resolve('aborted'));
    req.once('error', () => resolve('aborted'));
  });
}

/** How long a refused request's body is read and dropped at most, once answered (see discardUnreadBody). */
const DISCARD_MS = 10_000;

/**
 * A request answered before its body was read (a refusal, a 413): node would read and drop the rest
 * of the body, however large, as long as the client sends it — a made-up key and an endless chunked
 * body cost a client nothing and the gateway a core. Closing at once is no better: a client that
 * reads only after sending (many do) gets a reset instead of the answer. So the rest is dropped while
 * it is at most `budget` more bytes (twice the body limit: whatever a client that sent a little too
 * much still has to send) and arrives within DISCARD_MS; past either bound the connection
 * is cut, by which time the answer has long been on the wire. A body that ends in time leaves the
 * connection open for the next request.
 */
export function discardUnreadBody(req: IncomingMessage, res: ServerResponse, budget: number): void {
  let left = budget;
  const cut = () => {
    clearTimeout(timer);
    req.off('data', onData);
    // Only once the answer was handed to the socket, so cutting never drops it.
    if (res.writableFinished) req.socket.destroy();
    else res.once('finish', () => req.socket.destroy());
  };
  const onData = (chunk: Buffer) => {
    left -= chunk.length;
    if (left < 0) cut();
  };
  const timer = setTimeout(cut, DISCARD_MS);
  timer.unref();
  req.on('data', onData);
  req.once('end', () => clearTimeout(timer));
  req.once('close', () => clearTimeout(timer));
  req.resume();
}
