import { JsonNumber } from './json-number.js';

/** PostgREST's error body. Every failure the engine answers with has this shape. */
export interface ErrorBody {
  code: string;
  message: string;
  /** A string, or for PGRST201 the list of candidate relationships, as PostgREST sends it. */
  details: string | null | unknown[];
  hint: string | null;
}

/** An expected failure with the status PostgREST would answer; thrown inside, rendered at the edge. */
export class ApiError extends Error {
  /** Set when the schema cache may be stale: the engine reloads it once and retries. */
  cacheMiss = false;
  constructor(
    readonly status: number,
    readonly body: ErrorBody,
    readonly headers: Record<string, string> = {},
  ) {
    super(body.message);
  }
}

export const apiError = (
  status: number,
  code: string,
  message: string,
  details: string | null | unknown[] = null,
  hint: string | null = null,
  headers?: Record<string, string>,
) => new ApiError(status, { code, message, details, hint }, headers);

/** PGRST100: a malformed query string, with where parsing stopped. */
/**
 * PostgREST's PGRST100 for `text` at `pos`. `found` names what was there; by default the character
 * as Parsec shows one a string parser refused (`"x"`), or the end of input.
 */
export const parseError = (
  what: string,
  text: string,
  pos: number,
  expecting: string,
  found = pos >= text.length ? 'end of input' : JSON.stringify(text[pos]),
) => {
  return apiError(
    400,
    'PGRST100',
    `"failed to parse ${what} (${text})" (line 1, column ${pos + 1})`,
    `unexpected ${found} expecting ${expecting}`,
  );
};

/** Marks an error as caused by something the schema cache does not know (yet). */
export const cacheMiss = (error: ApiError) => {
  error.cacheMiss = true;
  return error;
};

export const tableNotFound = (schema: string, name: string, suggestion?: string) =>
  apiError(
    404,
    'PGRST205',
    `Could not find the table '${schema}.${name}' in the schema cache`,
    null,
    suggestion ? `Perhaps you meant the table '${schema}.${suggestion}'` : null,
  );

export const columnNotFound = (column: string, table: string) =>
  apiError(400, 'PGRST204', `Could not find the '${column}' column of '${table}' in the schema cache`);

interface PgErrorLike {
  code?: string;
  severity?: string;
  message?: string;
  detail?: string;
  hint?: string;
}

/** PostgREST's mapping from a Postgres SQLSTATE to an HTTP status. */
function pgErrorStatus(code: string, authenticated: boolean, message = ''): number {
  if (code === '23503' || code === '23505') return 409;
  // cardinality_violation is the server's fault (a subquery in a function or view returning two
  // rows), except pg-safeupdate's refusal of a DELETE or UPDATE without WHERE.
  if (code === '21000') return message.endsWith('requires a WHERE clause') ? 400 : 500;
  if (code === '25006') return 405;
  if (code === '42883') return 404;
  if (code === '42P01') return 404;
  if (code === '42P17') return 500;
  if (code === '42501') return authenticated ? 403 : 401;
  if (code === 'P0001') return 400;
  if (code === '53400' || code === '57014') return 500;
  if (code === '57P01') return 503;
  if (code.startsWith('PT')) {
    const status = Number(code.slice(2));
    return Number.isInteger(status) && status >= 100 && status < 600 ? status : 500;
  }
  const cls = code.slice(0, 2);
  const byClass: Record<string, number> = {
    '08': 503,
    '09': 500,
    '0L': 403,
    '0P': 403,
    '25': 500,
    '28': 403,
    '2D': 500,
    '38': 500,
    '39': 500,
    '3B': 500,
    '40': 500,
    '53': 503,
    '54': 500,
    '55': 500,
    '57': 500,
    '58': 500,
    F0: 500,
    HV: 500,
    P0: 500,
    XX: 500,
  };
  return byClass[cls] ?? 400;
}

/** Seconds a client is asked to wait when no database connection can be had (`Retry-After`). */
const CONNECTION_RETRY_AFTER = '1';

/**
 * A login Postgres refused (FATAL before any statement): its messages name the database, the role or
 * the host, none of which a client may learn. PostgREST's connection-error family (503 PGRST000) with
 * `Retry-After`, in our own words; null for any other error. 53300 (too_many_connections) is the
 * project database's CONNECTION LIMIT (or its login role's) being reached, or the whole server full.
 */
function connectionRefused(error: PgErrorLike): ApiError | null {
  const code = error.code ?? '';
  if (code !== '53300' && error.severity !== 'FATAL') return null;
  let message: string;
  let hint = 'Retry shortly; if it persists, the platform operator can tell why.';
  if (code === '53300') {
    if (/too many connections for (database|role)/i.test(error.message ?? '')) {
      message = "Too many connections: the project's database connection limit is reached";
      hint = 'Retry shortly; requests already running hold every connection the project may open.';
    } else {
      message = 'Too many connections: the database server has no free connection slots';
      hint = 'Retry shortly.';
    }
  } else if (
    code === '55000' ||
    code === '57P03' ||
    // A paused project's login roles are NOLOGIN (tenant-manager's pause), its database left open.
    (code === '28000' && /not permitted to log in/i.test(error.message ?? ''))
  ) {
    message = "The project's database is not accepting connections (it may be paused, starting or stopping)";
  } else if (code.startsWith('28') || code === '42501') {
    // 42501 as a FATAL (this function sees no other): no CONNECT on the database for the login role.
    message = "The data API could not log in to the project's database";
  } else if (code === '3D000') {
    message = "The project's database does not exist";
  } else {
    return null;
  }
  return apiError(503, 'PGRST000', message, null, hint, { 'retry-after': CONNECTION_RETRY_AFTER });
}

/** A JSON object: neither null, an array nor a number kept as written. */
export const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof JsonNumber);

/** The value of JSON text, or undefined when there is no text or it does not parse. */
export const parseJson = (text: string | undefined): unknown => {
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
};

const optionalText = (v: unknown) => v === undefined || v === null || typeof v === 'string';

/**
 * A header a client can be sent: a token name, and a value without control characters. Node
 * refuses any other, which would fail the whole response.
 */
export const sendableHeader = ([name, value]: [string, unknown]) =>
  /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name) &&
  typeof value === 'string' &&
  !/[^\t\x20-\x7e\x80-\xff]/.test(value);

/**
 * `RAISE SQLSTATE 'PGRST'`: PostgREST's way for a function to answer an error of its own making.
 * MESSAGE is the body as JSON (`code`, `message`, optional `details`, `hint`), DETAIL the response
 * as JSON (`status`, `headers`). Either one unreadable is 500 PGRST121 saying which.
 */
function raisedResponse(error: PgErrorLike): ApiError {
  const unreadable = (details: string, hint: string) =>
    apiError(500, 'PGRST121', 'Could not parse JSON in the "RAISE SQLSTATE \'PGRST\'" error', details, hint);
  const detailHint =
    "DETAIL must be a JSON object with obligatory keys: 'status', 'headers' and optional key: 'status_text'.";
  const body = parseJson(error.message);
  if (
    !isObject(body) ||
    typeof body.code !== 'string' ||
    typeof body.message !== 'string' ||
    !optionalText(body.details) ||
    !optionalText(body.hint)
  ) {
    return unreadable(
      `Invalid JSON value for MESSAGE: '${error.message ?? ''}'`,
      "MESSAGE must be a JSON object with obligatory keys: 'code', 'message' and optional keys: 'details', 'hint'.",
    );
  }
  if (error.detail === undefined) return unreadable('DETAIL is missing in the RAISE statement', detailHint);
  const response = parseJson(error.detail);
  if (
    !isObject(response) ||
    !Number.isInteger(response.status) ||
    (response.status as number) < 100 ||
    (response.status as number) > 599 ||
    !optionalText(response.status_text) ||
    !isObject(response.headers) ||
    !Object.entries(response.headers).every(sendableHeader)
  ) {
    return unreadable(`Invalid JSON value for DETAIL: '${error.detail}'`, detailHint);
  }
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(response.headers)) headers[name.toLowerCase()] = value as string;
  return new ApiError(
    response.status as number,
    {
      code: body.code,
      message: body.message,
      details: (body.details as string | undefined) ?? null,
      hint: (body.hint as string | undefined) ?? null,
    },
    headers,
  );
}

/** A Postgres error as PostgREST renders it: SQLSTATE as code, message/detail/hint verbatim. */
export function fromPgError(error: PgErrorLike, authenticated: boolean): ApiError {
  const refused = connectionRefused(error);
  if (refused) return refused;
  if (error.code === 'PGRST') return raisedResponse(error);
  const code = error.code ?? 'XX000';
  const status = pgErrorStatus(code, authenticated, error.message);
  const headers: Record<string, string> = {};
  if (status === 401) headers['www-authenticate'] = 'Bearer';
  return new ApiError(
    status,
    {
      code,
      message: error.message ?? 'database error',
      details: error.detail ?? null,
      hint: error.hint ?? null,
    },
    headers,
  );
}

/**
 * A Postgres message naming one of our aliases (`column pgrst_l1.nope does not exist`) with what
 * PostgREST's own query calls that relation (`items.nope`).
 */
export const postgrestNames = (message: string, aliases: ReadonlyMap<string, string>) =>
  message.replace(/\b(pgrst_[a-z]+\d+)\./g, (found, alias: string) => {
    const name = aliases.get(alias);
    return name === undefined ? found : `${name}.`;
  });

export const isPgError = (e: unknown): e is Required<Pick<PgErrorLike, 'code'>> & PgErrorLike =>
  typeof e === 'object' && e !== null && typeof (e as PgErrorLike).code === 'string' && 'severity' in e;
