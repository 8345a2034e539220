/**
 * An expected failure with the HTTP status it maps to. The library throws these for caller mistakes
 * (unknown project, bad state); everything else is a bug or an outage and becomes a hidden 500.
 */
export class AppError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
    readonly code?: string,
  ) {
    super(message);
    this.name = 'AppError';
  }
}

/** An error's message alone (what logs and stored errors carry; error objects can hold connection details). */
export const messageOf = (error: unknown): string => (error instanceof Error ? error.message : String(error));

export const badRequest = (message: string, code = 'bad_request') => new AppError(400, message, code);
export const notFound = (what = 'project') => new AppError(404, `${what} not found`, 'not_found');
export const conflict = (message: string, code = 'conflict') => new AppError(409, message, code);

// Node's socket and DNS failures, and node-pg's own when a connection drops or never comes.
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EPIPE',
]);
const PG_CONNECTION_MESSAGES =
  /^(Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error)/;

/**
 * Whether `error` says a database could not be reached (refused, dropped, timed out, shutting down,
 * out of connection slots) rather than that a statement was wrong: an outage, answered 503.
 */
export function isUnreachable(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string') {
    if (NETWORK_CODES.has(code) || code.startsWith('08') || code === '53300') return true;
    if (code === '57P01' || code === '57P02' || code === '57P03') return true;
  }
  return PG_CONNECTION_MESSAGES.test(error.message);
}

const FROM_WORKER_CLUSTER = Symbol('from a worker cluster');

/** Marks an error as a worker cluster's (not the management database's), for the 503 it becomes. */
export function fromWorkerCluster(error: unknown): never {
  throw markWorkerCluster(error);
}

/** `error` itself, marked as a worker cluster's (what {@link fromWorkerCluster} throws). */
export function markWorkerCluster(error: unknown): unknown {
  if (error instanceof Error) Object.defineProperty(error, FROM_WORKER_CLUSTER, { value: true });
  return error;
}

export const isFromWorkerCluster = (error: unknown): boolean =>
  error instanceof Error && FROM_WORKER_CLUSTER in error;
