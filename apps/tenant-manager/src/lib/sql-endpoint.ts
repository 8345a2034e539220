import pg from 'pg';
import type { Context } from './context.js';
import { AppError } from './errors.js';
import { connectTo, ownerRole, projectDatabase } from './project-db.js';
import { requireActiveProject, requireProjectRow, secretAad } from './projects.js';

const MAX_ROWS = 10_000;
/**
 * Bytes the database may send for one request's results. Past V8's longest string (~512 MiB) one
 * value made pg's socket handler throw an uncaught exception, which ends the process; long before
 * that, a result held whole here and again as JSON is memory the other operators' requests need.
 */
const MAX_RESULT_BYTES = 64 * 1024 * 1024;

const asText = (value: string) => value;
const defaultParser = pg.types.getTypeParser as (oid: number, format?: string) => (value: string) => unknown;
const textArray = defaultParser(1009); // text[]: each element as its text, NULL as null
/**
 * Values as Supabase's endpoint (postgres-meta) answers them: dates, times and intervals as the text
 * Postgres writes (a JS Date would drop microseconds and the session's offset, and shift `date` and
 * `timestamp` by this process's time zone), a bigint as a number while it is exact (`count(*)`), as
 * its text past that; everything else as node-postgres parses it.
 */
const SQL_ENDPOINT_PARSERS: Readonly<Record<number, (value: string) => unknown>> = {
  20: (value) => (Number.isSafeInteger(Number(value)) ? Number(value) : value),
  1082: asText, // date
  1083: asText, // time
  1114: asText, // timestamp
  1184: asText, // timestamptz
  1186: asText, // interval
  1266: asText, // timetz
  1182: textArray, // date[]
  1115: textArray, // timestamp[]
  1185: textArray, // timestamptz[]
  1187: textArray, // interval[]
};
const sqlEndpointTypes = {
  getTypeParser: ((oid: number, format = 'text') =>
    (format === 'text' && SQL_ENDPOINT_PARSERS[oid]) ||
    defaultParser(oid, format)) as typeof pg.types.getTypeParser,
};

const tooManyRows = () => new AppError(400, `result has more than ${MAX_ROWS} rows`, 'too_many_rows');
const resultTooLarge = () =>
  new AppError(
    400,
    `the result is larger than ${MAX_RESULT_BYTES / 1024 / 1024} MiB; select less (fewer rows or columns, or substrings)`,
    'result_too_large',
  );

/**
 * Runs `sql` (one or more statements) and answers the rows of the last one. Rows are kept for the
 * result set arriving now only, and a statement answering more than MAX_ROWS closes the connection at
 * once: a huge result is refused as it streams in instead of being held whole in this process. pg keeps the rows of every
 * result set when the query has a callback (which its own `query_timeout` adds), so the timeout is
 * this function's too. The bytes arriving are counted on the socket, before pg parses them: past
 * MAX_RESULT_BYTES the socket is destroyed, so no value is ever assembled whole.
 */
function lastStatementRows(
  client: pg.Client,
  sql: string,
  timeoutMs: number,
  parameters?: readonly unknown[],
): Promise<unknown[]> {
  return new Promise((resolve, reject) => {
    // With parameters (an empty list too) Postgres prepares the text: one statement only.
    const query =
      parameters === undefined
        ? new pg.Query(sql)
        : new pg.Query({ text: sql, values: [...parameters], queryMode: 'extended' } as pg.QueryConfig);
    let current: unknown = null;
    let rows: unknown[] = [];
    let failure: AppError | null = null;
    // pg's own socket (not in its types); its handler parses each chunk before this one counts it.
    const socket = (
      client as unknown as { connection: { stream: NodeJS.ReadableStream & { destroy(): void } } }
    ).connection.stream;
    let received = 0;
    const count = (chunk: Buffer) => {
      received += chunk.length;
      if (received > MAX_RESULT_BYTES) stop(resultTooLarge());
    };
    const stop = (error: AppError) => {
      failure ??= error;
      rows = [];
      socket.off('data', count);
      // end() alone would still read what the server sends until it notices.
      socket.destroy();
      void client.end().catch(() => {});
    };
    socket.on('data', count);
    const timer = setTimeout(() => stop(new AppError(400, 'query timed out', '57014')), timeoutMs);
    query.on('row', (row: unknown, result: unknown) => {
      if (failure) return;
      if (result !== current) {
        current = result;
        rows = [];
      }
      rows.push(row);
      if (rows.length > MAX_ROWS) stop(tooManyRows());
    });
    query.on('error', (error: Error) => {
      clearTimeout(timer);
      socket.off('data', count);
      reject(failure ?? error);
    });
    query.on('end', (results: pg.QueryResult | pg.QueryResult[]) => {
      clearTimeout(timer);
      socket.off('data', count);
      if (failure) return reject(failure);
      const last = Array.isArray(results) ? results[results.length - 1] : results;
      resolve(last === current ? rows : []);
    });
    client.query(query);
  });
}

interface QueryOptions {
  /** `$1`, `$2`, … bound by the database; the query is then one statement. */
  readonly parameters?: readonly unknown[];
  /**
   * One statement (so no COMMIT can end the transaction early) in a `BEGIN READ ONLY` transaction
   * that is never committed: a write fails with 25006, and whatever a statement manages to change
   * (after `SET transaction_read_only = off`, say) is rolled back with the connection.
   */
  readonly readOnly?: boolean;
}

/**
 * Runs operator SQL in the project database as the project's owner role (never the cluster master),
 * under a statement timeout. Returns the rows of the last statement. SQL errors become 400 with the
 * SQLSTATE as `code`.
 */
export function runProjectQuery(
  ctx: Context,
  ref: string,
  query: string,
  options: QueryOptions = {},
): Promise<unknown[]> {
  return withProjectOwner(ctx, ref, 'supaplane-sql-endpoint', async (client) => {
    if (options.readOnly) await client.query('BEGIN READ ONLY');
    const parameters = options.parameters ?? (options.readOnly ? [] : undefined);
    return lastStatementRows(client, query, ctx.settings.sqlStatementTimeoutMs + 2_000, parameters);
  });
}

/**
 * `work` on a session of its own in the project database as its owner role, under the SQL endpoint's
 * statement timeout; the session ends with it. A project that is not active is 409, a database that
 * cannot be reached or has no connection left 503, and an SQL error 400 with its SQLSTATE as `code`.
 */
export async function withProjectOwner<T>(
  ctx: Context,
  ref: string,
  applicationName: string,
  work: (client: pg.Client) => Promise<T>,
): Promise<T> {
  const project = requireActiveProject(await requireProjectRow(ctx.db, ref));
  const cluster = await ctx.clusters.get(project.cluster_id!);
  const client = connectTo(
    {
      ...cluster.conn,
      user: ownerRole(ref),
      password: ctx.box.open(project.owner_password_enc, secretAad.ownerPassword(project.id)),
    },
    projectDatabase(ref),
    {
      statement_timeout: ctx.settings.sqlStatementTimeoutMs,
      application_name: applicationName,
      types: sqlEndpointTypes,
    },
  );
  client.on('error', () => {});
  try {
    await client.connect();
  } catch (error) {
    const code = (error as { code?: string }).code;
    ctx.log.warn({ ref, code }, 'project database: could not connect as its owner');
    if (code === '53300') {
      throw new AppError(
        503,
        'project database connection limit reached: every connection the project may open is in use (see limits.db_connections)',
        'connection_limit_reached',
      );
    }
    throw new AppError(503, 'project database is not reachable', 'database_unreachable');
  }
  try {
    return await work(client);
  } catch (error) {
    const pgError = error as { code?: string; message?: string };
    if (error instanceof AppError) throw error;
    if (typeof pgError.code === 'string' && /^[0-9A-Z]{5}$/.test(pgError.code)) {
      throw new AppError(400, pgError.message ?? 'query failed', pgError.code);
    }
    throw error;
  } finally {
    await client.end().catch(() => {});
  }
}
