import { apiError, cacheMiss, isObject } from './errors.js';
import { JsonNumber, jsonText } from './json-number.js';
import type { Column, Routine, SchemaCache } from './schema-cache.js';
import { closest, editDistance, qualifiedKey } from './schema-cache.js';
import {
  checkUnusedLevels,
  columnSet,
  type PlanContext,
  selectNamingUnknown,
  type Source,
} from './plan-context.js';
import { type CountKind, planRead, RESPONSE_GUCS, type Range, type ReadPlan } from './plan-read.js';
import { ident, qualified, type Statement } from './sql.js';

/** Functions: which one a request calls (PGRST202/203), its call, and its result read like a relation's rows. */

/**
 * Picks the function a request calls, as PostgREST 12 does: by the set of argument names (every
 * required argument given, every given name an argument), else a single unnamed json/jsonb
 * argument for a POST body. More than one match is ambiguous (PGRST203), none is PGRST202.
 */
export function findRoutine(
  cache: SchemaCache,
  schema: string,
  name: string,
  argNames: readonly string[],
  singleObject: boolean,
  post = true,
): { routine: Routine; singleParam: boolean } {
  const candidates = cache.routines.get(qualifiedKey(schema, name)) ?? [];
  const given = new Set(argNames);
  const isJson = (type: string) => type === 'json' || type === 'jsonb';
  const pick = (found: Routine[], singleParam: boolean) => {
    if (found.length === 1) return { routine: found[0]!, singleParam };
    if (found.length > 1) throw ambiguous(found);
    return undefined;
  };
  if (singleObject) {
    const chosen = pick(
      candidates.filter((r) => r.args.length === 1 && isJson(r.args[0]!.type)),
      true,
    );
    if (chosen) return chosen;
  } else {
    const byName = candidates.filter(
      (r) =>
        r.args.every((a) => a.name !== '') &&
        argNames.every((n) => r.args.some((a) => a.name === n)) &&
        r.args.every((a) => a.hasDefault || given.has(a.name)),
    );
    const chosen =
      pick(byName, false) ??
      (post
        ? pick(
            candidates.filter(
              (r) => r.args.length === 1 && r.args[0]!.name === '' && isJson(r.args[0]!.type),
            ),
            true,
          )
        : undefined);
    if (chosen) return chosen;
  }
  const qualifiedName = `${schema}.${name}`;
  const sorted = [...argNames].sort();
  const list = sorted.join(', ');
  // PostgREST's wording: the parameters given (none, one, several), and the single-json fallback
  // only where a POST could have used it; under params=single-object only that.
  const withGiven = argNames.length
    ? ` with parameter${argNames.length > 1 ? 's' : ''} ${list}`
    : ' without parameters';
  const searched = singleObject
    ? ' with a single json/jsonb parameter'
    : `${withGiven}${post ? ' or with a single unnamed json/jsonb parameter' : ''}`;
  let hint: string | null = null;
  if (!singleObject) {
    // A function of that name with other parameters: the closest parameter list, as PostgREST.
    const allNames = [...cache.routines.values()]
      .flat()
      .filter((r) => r.schema === schema)
      .map((r) => r.name);
    const suggestion = candidates.length ? closestParameters(sorted, candidates) : closest(name, allNames);
    if (suggestion)
      hint = `Perhaps you meant to call the function ${schema}.${candidates.length ? name : ''}${suggestion}`;
  }
  throw cacheMiss(
    apiError(
      404,
      'PGRST202',
      singleObject
        ? `Could not find the function ${qualifiedName} in the schema cache`
        : argNames.length
          ? `Could not find the function ${qualifiedName}(${list}) in the schema cache`
          : `Could not find the function ${qualifiedName} without parameters in the schema cache`,
      `Searched for the function ${qualifiedName}${searched}, but no matches were found in the schema cache.`,
      hint,
    ),
  );
}

/**
 * The parameter list of `candidates` most like the given one, compared as PostgREST's hint does
 * (each list as text, `(a, b)` with names sorted): similarity is 1 - edit distance / longer
 * length, and at least a third.
 */
function closestParameters(given: readonly string[], candidates: readonly Routine[]): string | undefined {
  const text = (names: readonly string[]) => `(${[...names].sort().join(', ')})`;
  const target = text(given);
  let best: string | undefined;
  let bestScore = 0.33;
  for (const r of candidates) {
    const option = text(r.args.map((a) => a.name));
    const longer = Math.max(option.length, target.length);
    // Not worth comparing texts so different in length that they cannot score.
    if (Math.abs(option.length - target.length) > longer * (1 - bestScore)) continue;
    const score = 1 - editDistance(target, option) / longer;
    if (score >= bestScore && option !== best) {
      best = option;
      bestScore = score;
    }
  }
  return best;
}

/**
 * The function a raw body goes to, as PostgREST 12.2 picks it (Plan.hs findProc: a raw body has no
 * keys): one whose parameters all have defaults, called without arguments (or, when its one
 * parameter is unnamed, with the body), else one whose one parameter is unnamed and of `type`
 * (`text`, `xml`, `bytea`) with the body.
 */
export function findRawRoutine(
  cache: SchemaCache,
  schema: string,
  name: string,
  type: string,
): { routine: Routine; singleParam: boolean; noArguments?: true } {
  const candidates = cache.routines.get(qualifiedKey(schema, name)) ?? [];
  const defaulted = candidates.filter((r) => r.args.length > 0 && r.args.every((a) => a.hasDefault));
  if (defaulted.length > 1) throw ambiguous(defaulted);
  const only = defaulted[0];
  if (only) {
    return only.args.length === 1 && only.args[0]!.name === ''
      ? { routine: only, singleParam: true }
      : { routine: only, singleParam: false, noArguments: true };
  }
  const found = candidates.filter(
    (r) => r.args.length === 1 && r.args[0]!.name === '' && r.args[0]!.type === type,
  );
  if (found.length === 1) return { routine: found[0]!, singleParam: true };
  if (found.length > 1) throw ambiguous(found);
  throw cacheMiss(
    apiError(
      404,
      'PGRST202',
      `Could not find the function ${schema}.${name} in the schema cache`,
      `Searched for the function ${schema}.${name} with a single unnamed ${type} parameter, but no matches were found in the schema cache.`,
    ),
  );
}

function ambiguous(routines: readonly Routine[]) {
  const signature = (r: Routine) =>
    `${r.schema}.${r.name}(${r.args.map((a) => `${a.name} => ${a.type}`).join(', ')})`;
  return apiError(
    300,
    'PGRST203',
    `Could not choose the best candidate function between: ${routines.map(signature).join(', ')}`,
    null,
    'Try renaming the parameters or the function itself in the database so function overloading can be resolved',
  );
}

/** A JSON argument value as the text Postgres parses for the argument's type. */
function argValue(value: unknown, type: string): unknown {
  if (value === null || value === undefined) return null;
  // A raw `application/octet-stream` body stays bytes (sent as bytea hex, see toParam).
  if (Buffer.isBuffer(value)) return value;
  if (type === 'json' || type === 'jsonb') return jsonText(value);
  if (value instanceof JsonNumber) return value.text;
  if (Array.isArray(value) && type.endsWith('[]')) return value;
  if (typeof value === 'object') return jsonText(value);
  return String(value);
}

/**
 * Argument types read as their varying form, as PostgREST casts them (SchemaCache.hs): a `char` or
 * `bit` argument takes the whole value rather than its first character or bit.
 */
const VARYING: Readonly<Record<string, string>> = {
  character: 'character varying',
  'character[]': 'character varying[]',
  bit: 'bit varying',
  'bit[]': 'bit varying[]',
};

/** An object inside an argument's JSON value (a composite, an array of them, nested JSON). */
const holdsObject = (value: unknown): boolean =>
  Array.isArray(value) ? value.some(holdsObject) : isObject(value) && !Buffer.isBuffer(value);

/**
 * An argument as SQL. A JSON value holding objects (a composite, an array of composites, jsonb[]),
 * or a number or boolean for an array (`expected JSON array`), is read by Postgres into the
 * argument's type as PostgREST reads every argument (json_to_record); anything else is sent as the
 * text the type parses (a string for an array is an array literal, `"{1,2}"`).
 */
function argSql(ctx: PlanContext, name: string, value: unknown, argType: string): string {
  const type = VARYING[argType] ?? argType;
  const scalarForArray =
    type.endsWith('[]') && value !== null && typeof value !== 'string' && !Array.isArray(value);
  if ((type !== 'json' && type !== 'jsonb' && holdsObject(value)) || scalarForArray) {
    // Under the argument's own name: Postgres's hints name the key (`See the value of key "a".`).
    const json = ctx.params.add(jsonText({ [name]: value }));
    const column = ident(name);
    return `(SELECT pgrst_arg.${column} FROM json_to_record(${json}::json) AS pgrst_arg(${column} ${type}))`;
  }
  return `${ctx.params.add(argValue(value, type))}::${type}`;
}

export function routineCall(
  ctx: PlanContext,
  routine: Routine,
  args: Record<string, unknown> | undefined,
  singleParamBody: unknown,
  singleParam: boolean,
  /** The JSON body's text: a single json or jsonb parameter, or a named json one, gets it as sent, as in PostgREST. */
  bodyText?: string,
  /** Every argument is read from `bodyText` (a `columns=` body that is no rows, for Postgres to refuse). */
  unread = false,
): string {
  const fn = qualified(routine.schema, routine.name);
  if (singleParam) {
    const arg = routine.args[0]!;
    const json = arg.type === 'json' || arg.type === 'jsonb';
    const value = ctx.params.add(
      json && bodyText !== undefined ? bodyText : argValue(singleParamBody, arg.type),
    );
    return arg.name ? `${fn}(${ident(arg.name)} := ${value}::${arg.type})` : `${fn}(${value}::${arg.type})`;
  }
  const parts: string[] = [];
  // As PostgREST reads every argument (json_to_record over the body): a `json` one keeps the text
  // sent (key order, repeated keys, spacing, digits), which a parsed value would not.
  let body: string | undefined;
  for (const arg of routine.args) {
    if (!args || !Object.hasOwn(args, arg.name)) continue;
    if (bodyText !== undefined && ((arg.type === 'json' && !arg.variadic) || unread)) {
      body ??= ctx.params.add(bodyText);
      const name = ident(arg.name);
      // A list body's first object gives the arguments (json_to_recordset … LIMIT 1, as PostgREST,
      // which reads anything but an object as a list).
      const list = !/^[ \t\n\r]*\{/.test(bodyText);
      const type = unread ? (VARYING[arg.type] ?? arg.type) : 'json';
      const read = `(SELECT pgrst_body.${name} FROM ${list ? 'json_to_recordset' : 'json_to_record'}(${body}::json) AS pgrst_body(${name} ${type})${list ? ' LIMIT 1' : ''})`;
      parts.push(`${arg.variadic ? 'VARIADIC ' : ''}${name} := ${read}`);
      continue;
    }
    // A variadic argument of a query or form is the list of its values (see callArguments); of a
    // JSON or CSV body, the key's value as it is, read like any array argument (CallPlan.hs: only
    // jsonRpcParams makes lists).
    const sql = `${ident(arg.name)} := ${argSql(ctx, arg.name, args[arg.name], arg.type)}`;
    parts.push(arg.variadic ? `VARIADIC ${sql}` : sql);
  }
  return `${fn}(${parts.join(', ')})`;
}

/** The one column of a scalar function's result, named as PostgREST names it for clients to filter on. */
const SCALAR_COLUMN = 'pgrst_scalar';

function scalarSource(routine: Routine): Source {
  const column: Column = {
    name: SCALAR_COLUMN,
    type: routine.returnType,
    nullable: true,
    hasDefault: false,
    generated: false,
  };
  // Named after the function: an unknown column is `column <function>.<name> does not exist`.
  return { schema: routine.schema, name: routine.name, columns: new Map([[SCALAR_COLUMN, column]]) };
}

/**
 * The body from the rows left after filters: a JSON array for a SETOF function; for one value the
 * value, JSON `null` when it is NULL or filtered out, as in PostgREST; under a raw media type its
 * text (`bytea` as hex), empty then. With `nulls=stripped`, the values' null fields go, at any
 * depth, as PostgREST strips a scalar's (SqlFragment.hs asJsonF: json_strip_nulls of the agg).
 */
function scalarBody(routine: Routine, raw: boolean, strip: boolean): string {
  const value = `pgrst_row.${SCALAR_COLUMN}`;
  if (raw) {
    const text = routine.media?.binary ? `encode(${value}, 'hex')` : `${value}::text`;
    return `coalesce(string_agg(${text}, ''), '')`;
  }
  const values = strip ? `json_strip_nulls(json_agg(${value}))` : `json_agg(${value})`;
  return routine.setof ? `coalesce(${values}, '[]'::json)::text` : `coalesce((${values}->0)::text, 'null')`;
}

export interface RpcPlan {
  readonly statement: Statement;
  /** `rows`: array body (json_agg); `object`: a single composite; `scalar`/`void` as named. */
  readonly shape: 'rows' | 'object' | 'scalar' | 'void';
  readonly planned?: Statement;
  readonly exact?: Statement;
}

export function planRpc(
  ctx: PlanContext,
  routine: Routine,
  call: string,
  range: Range,
  count: CountKind | undefined,
  /** The scalar result as its own text (`bytea` as hex) instead of JSON: its media type was asked for. */
  raw = false,
): RpcPlan {
  if (routine.returns === 'void') {
    checkUnusedLevels(ctx);
    // A fixed result type keeps the prepared statement valid if the function is redefined.
    const sql = `SELECT NULL::bigint AS total, 0 AS n, '' AS body, ${RESPONSE_GUCS} FROM ${call} AS pgrst_void`;
    return { statement: { sql, params: ctx.params.values }, shape: 'void' };
  }
  if (routine.returns === 'scalar') {
    // As in PostgREST, the result is a relation with the one column `pgrst_scalar`, so filters,
    // order, paging, counts and select work on it like on any other read.
    const plan = planRead(ctx, scalarSource(routine), 'pgrst_call', range, count, {
      call: `SELECT ${call} AS ${SCALAR_COLUMN}`,
      jsonBody: scalarBody(routine, raw, ctx.stripNulls === true),
    });
    // CSV is rows under the `pgrst_scalar` header, for one value as for a set of them.
    return rpcRead(plan, routine.setof || ctx.csv || ctx.geojson ? 'rows' : 'scalar');
  }
  const returned = routine.returnRelation
    ? ctx.cache.relations.get(qualifiedKey(routine.returnRelation.schema, routine.returnRelation.name))
    : undefined;
  const source: Source = {
    schema: routine.schema,
    name: routine.name,
    columns: routine.columns,
    ...(returned ? { relation: returned } : {}),
  };
  const columns = callColumns(ctx, source);
  const plan = planRead(ctx, source, 'pgrst_call', range, count, {
    call: `SELECT ${columns} FROM ${call} AS pgrst_call`,
  });
  return rpcRead(plan, routine.setof ? 'rows' : 'object');
}

/**
 * What the call's rows select: all columns, unless the select names one the function lacks. As
 * PostgREST 12.2 selects only the select's columns from the call (QueryBuilder.hs callPlanToQuery,
 * Plan.hs inferColsEmbedNeeds, when it has no `*`), Postgres then raises its 42703 there, with its
 * hint: `column pgrst_call.nope does not exist`. They are sorted as PostgREST sorts them, every
 * other column among them, so that a name Postgres reads as a function of the row still finds the
 * columns the rest of the statement reads. (`count` is our own `count(row)`.)
 */
function callColumns(ctx: PlanContext, source: Source): string {
  const names = selectNamingUnknown(ctx.query.select, source);
  if (!names) return '*';
  return columnSet([...names, ...source.columns.keys()])
    .map((n) => `pgrst_call.${ident(n)}`)
    .join(', ');
}

const rpcRead = (plan: ReadPlan, shape: RpcPlan['shape']): RpcPlan => ({
  statement: plan,
  shape,
  ...(plan.planned ? { planned: plan.planned } : {}),
  ...(plan.exact ? { exact: plan.exact } : {}),
});
