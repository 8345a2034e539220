import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { GatewayMetrics } from './metrics.js';
import type { RequestState } from './request-state.js';
import type { UsageMeter } from './usage.js';

/** The status metrics and logs give a request the client left before any answer (nginx's). */
const CLIENT_CLOSED = 499;

/**
 * Accounts for each request once, when its response closes: the request metric, the project's usage
 * (when metering is on and the request is the project's) and the request log line.
 *
 * Successful requests are logged one in `logSampleEvery` (the first one included), and so are
 * rate-limited ones, counted apart: a client hammering past its project's limit must not flood the
 * logs (the metrics count every one). Other refusals, errors and aborted requests are always
 * logged. At debug level every request is.
 */
export class RequestLog {
  private readonly okSample: OneInN;
  private readonly throttledSample: OneInN;

  constructor(
    private readonly logger: Logger,
    private readonly metrics: GatewayMetrics,
    private readonly usage: UsageMeter | null,
    private readonly logSampleEvery: number,
  ) {
    this.okSample = new OneInN(logSampleEvery);
    this.throttledSample = new OneInN(logSampleEvery);
  }

  /** `aborted`: the response did not finish (the client left, or the connection was cut). */
  closed(
    req: IncomingMessage,
    res: ServerResponse,
    state: RequestState,
    started: number,
    aborted: boolean,
  ): void {
    // Unanswered, res.statusCode is node's default 200. A tunnel's 101 went out on the socket itself.
    const status = res.headersSent || res.statusCode === 101 ? res.statusCode : CLIENT_CLOSED;
    this.metrics.request(state.prefix, status);
    if (this.usage && state.metered) {
      this.usage.record(
        state.ref!,
        state.prefix,
        // Unanswered (the client left first): no status class, not node's default 200.
        res.headersSent ? res.statusCode : 0,
        state.ingressBytes,
        state.relay ? state.relay.bytesRelayed : state.egressBytes,
        state.rateLimited,
      );
    }
    if (this.shouldLog(status, aborted)) {
      const url = req.url ?? '';
      const q = url.indexOf('?');
      this.logger.info(
        {
          reqId: state.requestId,
          method: req.method,
          path: q < 0 ? url : url.slice(0, q),
          status,
          ms: Math.round((performance.now() - started) * 100) / 100,
          ref: state.ref,
          prefix: state.prefix,
          aborted,
        },
        'request',
      );
    }
  }

  private shouldLog(status: number, aborted: boolean): boolean {
    const logger = this.logger;
    if (!logger.isLevelEnabled('info')) return false;
    if (aborted || logger.isLevelEnabled('debug') || this.logSampleEvery <= 1) return true;
    if (status >= 200 && status < 300) return this.okSample.take();
    if (status === 429) return this.throttledSample.take();
    return true;
  }
}

/** Says yes to the first call and then to one in every `n`. */
class OneInN {
  private untilNext = 0;

  constructor(private readonly n: number) {}

  take(): boolean {
    if (this.untilNext === 0) {
      this.untilNext = this.n - 1;
      return true;
    }
    this.untilNext--;
    return false;
  }
}
