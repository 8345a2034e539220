import { apiError, isObject } from './errors.js';
import { columnSet } from './plan-context.js';
import {
  limitWithoutOrder,
  planDelete,
  planInsert,
  planUpdate,
  type ReturnPreference,
  type WritePlan,
} from './plan-write.js';
import { type Condition, type ParsedQuery, parseQuery } from './query-parser.js';
import { JsonNumber, jsonText, parseJsonExact } from './json-number.js';
import { bodyFormat, bodyRows, holdsRows, invalidBody, parseBody } from './request-body.js';
import {
  planContext,
  planningFailed,
  type RequestContext,
  type RestResponse,
  settlePlan,
} from './request-context.js';
import { APPLIED_BY, appliedPreferences, type PreferenceKey } from './request-headers.js';
import { JSON_TYPE, maxAffectedExceeded, renderRows, resultRow, singularError } from './response.js';
import type { Relation } from './schema-cache.js';
import { transaction } from './transaction.js';

/** POST, PUT, PATCH and DELETE on a table or view. */

export async function write(ctx: RequestContext, relation: Relation): Promise<RestResponse> {
  const { method, prefer } = ctx;
  const query = writeQuery(parseQuery(ctx.request.rawQuery), method);
  const plan = planContext(ctx, query);
  const ret: ReturnPreference = prefer.return ?? 'minimal';
  // Only an insert answers headers-only with a Location; a PUT, PATCH or DELETE answers it as
  // minimal: 204 without a body (PostgREST Response.hs, UpdateSpec "return=headers-only").
  const bodyless = ret !== 'representation';
  const written: ReturnPreference = bodyless ? 'minimal' : ret;
  // As PostgREST, a DELETE's body (and so its Content-Type) is never read.
  const format = method === 'DELETE' ? 'json' : bodyFormat(ctx.headers['content-type']);
  // As in PostgREST, PATCH takes the first row of a list (JSON array or CSV).
  const firstRow = (v: unknown, empty: unknown) => (Array.isArray(v) ? (v.length ? v[0] : empty) : v);
  // The JSON text sent, passed on as PostgREST does where the body is used whole: a json column
  // then keeps it as written, and a large body is not serialised again.
  const text = format === 'json' ? ctx.request.body?.toString() : undefined;
  // `columns=` names the columns of a JSON body only: a CSV or form body's keys are its columns, as
  // PostgREST reads those itself (ApiRequest.hs getPayload: ProcessedJSON's keys win).
  const named = format === 'json' ? query.columns : undefined;
  /** The body as sent, decoded once: parsed from `text` when there is one. */
  let decoded: { value: unknown } | undefined;
  const parsedBody = () => {
    decoded ??= { value: parseBody(text ?? ctx.request.body, format) };
    return decoded.value;
  };
  /**
   * With `columns=` PostgREST hands a JSON body to Postgres unread (ApiRequest.hs getPayload: RawJSON)
   * for json_to_record(set) to read: one that is no object or list of objects, or no JSON at all, is
   * Postgres's error (22P02, 22023) rather than a PGRST102. Its text then, else undefined.
   */
  const unreadByUs = (): string | undefined => {
    if (!named) return undefined;
    try {
      const value = parsedBody();
      if (holdsRows(value)) return undefined;
    } catch {}
    return text ?? '';
  };
  /** The rows' JSON as sent, for the insert to read (an object is the one row of a list). */
  const rowsText = (rows: readonly unknown[], body: unknown) =>
    text !== undefined && rows.length ? { rowsText: rows === body ? text : `[${text}]` } : {};
  let writePlan: WritePlan;
  let status: number;
  /** The preferences the write applies (Preference-Applied). */
  let applies: ReadonlySet<PreferenceKey>;
  // Errors PostgREST meets only in the database wait behind a 406 or PGRST122 (settlePlan).
  try {
    if (method === 'POST') {
      const unread = unreadByUs();
      const body = unread === undefined ? parsedBody() : [];
      // Without `columns=` every row must have the first one's keys, missing=default or not: they are
      // the columns (PostgREST ApiRequest.hs getPayload checks them before any preference is read).
      const rows = bodyRows(body, !named);
      const columns = named ?? Object.keys(rows[0] ?? {});
      // Without a conflict target (no primary key, no on_conflict) PostgREST ignores the resolution.
      const onConflict = query.onConflict ?? relation.pk;
      const upsert =
        prefer.resolution && onConflict.length
          ? { onConflict, ignore: prefer.resolution === 'ignore-duplicates' }
          : undefined;
      writePlan = planInsert(plan, relation, {
        rows,
        ...(unread === undefined ? rowsText(rows, body) : { rowsText: unread }),
        columns,
        missingDefault: prefer.missing === 'default',
        ret,
        ...(upsert ? { upsert } : {}),
      });
      status = 201;
      applies = query.onConflict || relation.pk.length ? APPLIED_BY.insert : APPLIED_BY.plainInsert;
    } else if (method === 'PUT') {
      // As PostgREST 12: limit/offset are refused first, then the body is read, then the filters;
      // every row of the body whose key passes the filters is upserted, and exactly one must be.
      checkPutRange(query);
      const body = parsedBody();
      const rows = bodyRows(body, true);
      const columns = Object.keys(rows[0] ?? {});
      writePlan = planInsert(plan, relation, {
        rows,
        ...rowsText(rows, body),
        columns,
        missingDefault: false,
        ret: written,
        upsert: { onConflict: relation.pk, ignore: false },
        put: putFilters(query, relation),
      });
      status = bodyless ? 204 : 201;
      applies = APPLIED_BY.put;
    } else if (method === 'PATCH') {
      const unread = unreadByUs();
      const parsed = unread === undefined ? parsedBody() : null;
      let body: unknown;
      // With `columns=` an empty list is no row to set from (null), as PostgREST's UPDATE … FROM
      // json_to_recordset('[]') finds none.
      if (named) body = firstRow(parsed, null);
      else {
        // As a POST's (payloadAttributes): objects of one set of keys; a scalar is no change at all.
        body = bodyRows(parsed, true)[0] ?? {};
      }
      if (body !== null && !isObject(body)) throw invalidBody();
      const columns = named ?? Object.keys(body ?? {});
      if (!columns.length) {
        // Nothing to set: PostgREST answers as for an update of no row (its 'SELECT … WHERE false').
        settlePlan(ctx, true);
        if (ctx.media === 'object') throw singularError(0);
        const counted = prefer.count === 'exact' || prefer.count === 'estimated';
        const applied = appliedPreferences(prefer, APPLIED_BY.update);
        return {
          status: bodyless ? 204 : 200,
          headers: {
            'content-range': `*/${counted ? 0 : '*'}`,
            ...(bodyless ? {} : { 'content-type': JSON_TYPE }),
            ...(!bodyless && ctx.contentProfile ? { 'content-profile': ctx.contentProfile } : {}),
            ...(applied ? { 'preference-applied': applied } : {}),
          },
          body: bodyless ? '' : '[]',
        };
      }
      const bodyText = unread ?? (parsed === body ? text : undefined);
      writePlan = planUpdate(plan, relation, body, columns, written, bodyText, prefer.missing === 'default');
      status = bodyless ? 204 : 200;
      applies = APPLIED_BY.update;
    } else {
      writePlan = planDelete(plan, relation, written);
      status = bodyless ? 204 : 200;
      applies = APPLIED_BY.delete;
    }
  } catch (error) {
    planningFailed(ctx, true, error);
  }
  settlePlan(ctx, true);
  // `max-affected` (honoured with handling=strict, for PATCH and DELETE) and a singular response
  // are checked before COMMIT; otherwise the write commits at Sync.
  const filtered = method === 'PATCH' || method === 'DELETE';
  const maxAffected = filtered && prefer.handling === 'strict' ? prefer.maxAffected : undefined;
  // A limited PATCH/DELETE never changes more rows than its limit (a view's key may repeat).
  const limit = filtered ? query.levels.get('')?.limit : undefined;
  // A PUT that did not write exactly one row is undone (PostgREST's failPut).
  const checkPut = (n: number) => {
    if (method === 'PUT' && n !== 1) {
      throw apiError(400, 'PGRST115', 'Payload values do not match URL in primary key column(s)');
    }
  };
  // In PostgREST's order (Query.hs actionQuery): a PUT's one row, a singular answer, max-affected,
  // a limit's rows.
  const checkAffected = (n: number) => {
    checkPut(n);
    if (ctx.media === 'object' && n !== 1) throw singularError(n);
    if (maxAffected !== undefined && n > maxAffected) throw maxAffectedExceeded(n);
    if (limit !== undefined && n > limit) {
      throw apiError(
        400,
        'PGRST110',
        'The maximum number of rows allowed to change was surpassed',
        `Results contain ${n} rows changed but the maximum number allowed is ${limit}`,
      );
    }
  };
  const tx = {
    applies,
    readOnly: false,
    explicit: ctx.media === 'object' || maxAffected !== undefined || limit !== undefined || method === 'PUT',
    statements: [writePlan.statement],
  };
  // An upsert that merged into existing rows only is 200, as in PostgREST (PUT with return=minimal
  // stays 204).
  const upsertStatus = (inserted: number | undefined) => (inserted === 0 && status === 201 ? 200 : status);
  // Content-Range as PostgREST sends it for writes: the range of changed rows for PATCH only, a
  // total with count=exact|estimated, none for PUT.
  const rangeHeader = (n: number): Record<string, string> => {
    if (method === 'PUT') return {};
    const range = method === 'PATCH' && n > 0 ? `0-${n - 1}` : '*';
    const counted = prefer.count === 'exact' || prefer.count === 'estimated';
    return { 'content-range': `${range}/${counted ? n : '*'}` };
  };
  return transaction(ctx, tx, async (results) => {
    if (writePlan.refused) throw writePlan.refused;
    if (!writePlan.returning) {
      // A counting upsert yields one row (affected, inserted).
      const { rows, rowCount } = results[0]!;
      const affected = writePlan.countsInserted ? Number(rows[0]?.[0] ?? 0) : rowCount;
      status = upsertStatus(writePlan.countsInserted ? Number(rows[0]?.[1] ?? 0) : undefined);
      checkAffected(affected);
      return { status, headers: rangeHeader(affected), body: '' };
    }
    const row = resultRow(results[0]!);
    checkAffected(row.n);
    // `inserted` follows total, n, body and the two RESPONSE_GUCS.
    status = upsertStatus(writePlan.countsInserted ? Number(results[0]!.rows[0]?.[5] ?? 0) : undefined);
    if (ret === 'headers-only') {
      if (ctx.media === 'object' && row.n !== 1) throw singularError(row.n);
      // As PostgREST: a Location for exactly one row, its key read with every digit.
      const first = (parseJsonExact(row.body) as Record<string, unknown>[])[0];
      const headers = rangeHeader(row.n);
      if (first && row.n === 1 && relation.pk.length) {
        const q = locationKeys(relation, query).map((c) => {
          const value = first[c];
          // json_each_text's text of the value: a string unquoted, an object or array as JSON.
          const text =
            typeof value === 'object' && !(value instanceof JsonNumber) ? jsonText(value) : String(value);
          const filter = value === null ? 'is.null' : `eq.${text}`;
          return `${urlEncode(c)}=${urlEncode(filter)}`;
        });
        headers.location = `/${encodeURIComponent(relation.name)}?${q.join('&')}`;
      }
      return { status, headers, body: '' };
    }
    const response = renderRows(ctx, row, 0, undefined, 'write');
    const { 'content-range': _, ...headers } = response.headers;
    return {
      ...response,
      status: response.status === 200 ? status : response.status,
      headers: { ...headers, ...rangeHeader(row.n) },
    };
  });
}

/**
 * The key columns of a Location in PostgREST 12.2's order (SqlFragment.hs locationF reads them from
 * the written row): the relation's column order when the select has a `*` (the row is all columns),
 * else by name, as its RETURNING list is a set of names (Plan.hs inferColsEmbedNeeds).
 */
function locationKeys(relation: Relation, query: ParsedQuery): string[] {
  if (query.select.some((item) => item.kind === 'star')) {
    return [...relation.columns.keys()].filter((c) => relation.pk.includes(c));
  }
  return columnSet(relation.pk);
}

/**
 * A Location's key or value as PostgREST writes it (http-types urlEncode for a query): letters,
 * digits and `-_.~` as they are, every other UTF-8 byte as `%XX` (encodeURIComponent keeps `!'()*`).
 */
const urlEncode = (text: string) =>
  encodeURIComponent(text).replace(/[!'()*]/g, (ch) => `%${ch.charCodeAt(0).toString(16).toUpperCase()}`);

/**
 * A write's query as PostgREST 12.2 plans it (ApiRequest.hs getRanges, Plan.hs addRanges): a PATCH or
 * DELETE given a `limit` or `offset` on any level, integer or not, and no `order` on any is PGRST109;
 * an embedded resource's limit and offset are never applied to the rows a write returns.
 */
function writeQuery(query: ParsedQuery, method: string): ParsedQuery {
  const levels = [...query.levels.values()];
  if ((method === 'PATCH' || method === 'DELETE') && query.ranged && !levels.some((l) => l.order)) {
    throw limitWithoutOrder();
  }
  for (const [path, level] of query.levels) {
    if (path === '') continue;
    delete level.limit;
    delete level.offset;
  }
  return query;
}

function checkPutRange(query: ParsedQuery) {
  const root = query.levels.get('')!;
  if (root.limit !== undefined || root.offset !== undefined) {
    throw apiError(400, 'PGRST114', 'limit/offset querystring parameters are not allowed for PUT');
  }
}

/** The root filters of a PUT, which must be `eq`s on all of the primary key's columns and nothing else. */
function putFilters(query: ParsedQuery, relation: Relation): Condition[] {
  const filters = query.levels.get('')!.conditions;
  const columns = new Set<string>();
  let onlyEq = true;
  for (const c of filters) {
    if (c.kind !== 'filter' || c.op !== 'eq' || c.negate || c.field.json.length || c.quantifier)
      onlyEq = false;
    else columns.add(c.field.name);
  }
  // As PostgREST (Plan.hs mutatePlan): the filtered names, embedded ones too, are the key's.
  const embedded = [...query.levels].some(([path, level]) => path !== '' && level.conditions.length);
  const ok =
    onlyEq &&
    !embedded &&
    relation.pk.length > 0 &&
    columns.size === relation.pk.length &&
    relation.pk.every((c) => columns.has(c));
  if (!ok) {
    throw apiError(
      405,
      'PGRST105',
      "Filters must include all and only primary key columns with 'eq' operators",
    );
  }
  return [...filters];
}
