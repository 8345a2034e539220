import { apiError } from './errors.js';
import type { CountKind } from './plan-read.js';
import { readHaskellInteger } from './query-parser.js';
import type { ReturnPreference } from './plan-write.js';

/** Request headers as PostgREST reads them: tokens, Accept, Prefer. */

/**
 * `geojson`: PostgREST's `application/geo+json`, rows as a FeatureCollection through PostGIS; `raw`:
 * a function's value as is, in the media type its return domain is named after.
 */
export type Media = 'json' | 'object' | 'csv' | 'geojson' | 'raw';

export interface Preferences {
  return?: ReturnPreference;
  count?: CountKind;
  resolution?: 'merge-duplicates' | 'ignore-duplicates';
  /** `missing=null` is the default behaviour, stated. */
  missing?: 'default' | 'null';
  tx?: 'commit' | 'rollback';
  params?: 'single-object';
  handling?: 'strict' | 'lenient';
  /** `max-affected=n`: with `handling=strict`, PATCH/DELETE affecting more rows fail (PGRST124). */
  maxAffected?: number;
  /** `timezone=<tz>`: a name from `pg_timezone_names`, set for the request's transaction. */
  timezone?: string;
}

/** PostgREST `db-tx-end`. */
export type TxEnd = 'commit' | 'commit-allow-override' | 'rollback' | 'rollback-allow-override';

export function lowerCase(headers: Record<string, string | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) if (v !== undefined) out[k.toLowerCase()] = v;
  return out;
}

export function bearer(value: string | undefined): string | undefined {
  const m = value ? /^Bearer\s+(\S+)\s*$/i.exec(value) : null;
  return m?.[1];
}

/** `Authorization` carries the user's token unless it is the gateway's SigV4 signature. */
export function sigV4Free(value: string | undefined): string | undefined {
  if (!value || value.startsWith('AWS4-HMAC-SHA256')) return undefined;
  return bearer(value);
}

/**
 * The request's headers as SQL sees them in `request.headers`: those the client sent, as PostgREST
 * behind Supabase's gateway sees them. The hop from the gateway adds its own, which a project's
 * functions must not read: its SigV4 `Authorization` (naming the gateway's AWS access key), the
 * `x-amz-*` headers (its session token among them) and the platform's; the client's token, which came
 * as `X-Client-Authorization`, is `authorization` again. The Cookie header is left out too (as
 * PostgREST: it is parsed into `request.cookies`).
 */
export function sqlVisibleHeaders(headers: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name in headers) {
    if (name.startsWith('x-amz-') || PLATFORM_HEADERS.has(name)) continue;
    out[name] = headers[name]!;
  }
  const token = headers['x-client-authorization'];
  if (token !== undefined) out.authorization = token;
  else if (out.authorization?.startsWith('AWS4-HMAC-SHA256')) delete out.authorization;
  return out;
}
const PLATFORM_HEADERS = new Set(['cookie', 'x-client-authorization', 'x-supaplane-config-version']);

/** A path segment, percent-decoded; undecodable paths are PostgREST's invalid-path 404. */
export function safeDecode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw invalidPath();
  }
}

export const invalidPath = () => apiError(404, 'PGRST125', 'Invalid path specified in request URL');

export interface Negotiated {
  readonly media: Media;
  /** `application/vnd.pgrst.array+json;nulls=stripped` (or `object+json`): JSON without null fields. */
  readonly stripNulls: boolean;
  /** The Content-Type of a `raw` answer. */
  readonly contentType?: string;
}

const VND_ARRAY = new Set(['application/vnd.pgrst.array+json', 'application/vnd.pgrst.array']);
const VND_OBJECT = new Set(['application/vnd.pgrst.object+json', 'application/vnd.pgrst.object']);

const HASKELL_SPACE = /^[ \t\n\r\f\v]*/;
const DECIMAL = /^\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/;

/**
 * A quality as wai-extra reads it, with Haskell's `reads :: ReadS Double` (GHC's lexer): the number
 * the text starts with, whatever follows it — a decimal (`1e0`, not `.5` or `1.`'s dot), a `0x`/`0o`
 * integer, `Infinity` or `NaN`, after an optional `-` and inside optional parentheses; 1 when there is none.
 */
function readQuality(text: string): number {
  return readsDouble(text)?.[0] ?? 1;
}

function readsDouble(text: string): [number, string] | undefined {
  let rest = text.replace(HASKELL_SPACE, '');
  if (rest.startsWith('(')) {
    const inner = readsDouble(rest.slice(1));
    if (!inner) return undefined;
    const after = inner[1].replace(HASKELL_SPACE, '');
    return after.startsWith(')') ? [inner[0], after.slice(1)] : undefined;
  }
  let sign = 1;
  // `-` is a symbol only when no other symbol character follows it (`--1`, `-.5` are none).
  if (rest.startsWith('-') && !/^-[!#$%&*+./<=>?@\\^|~:-]/.test(rest)) {
    sign = -1;
    rest = rest.slice(1).replace(HASKELL_SPACE, '');
  }
  const based = /^0(?:([xX])([0-9a-fA-F]+)|([oO])([0-7]+))/.exec(rest);
  if (based) {
    const value = based[1] ? Number.parseInt(based[2]!, 16) : Number.parseInt(based[4]!, 8);
    return [sign * value, rest.slice(based[0].length)];
  }
  const decimal = DECIMAL.exec(rest);
  if (decimal) return [sign * Number(decimal[0]), rest.slice(decimal[0].length)];
  const word = /^[\p{L}_][\p{L}\p{N}_']*/u.exec(rest)?.[0];
  if (word === 'Infinity') return [sign * Number.POSITIVE_INFINITY, rest.slice(word.length)];
  if (word === 'NaN') return [Number.NaN, rest.slice(word.length)];
  return undefined;
}

/**
 * The types of an Accept header in the order PostgREST tries them (wai-extra's parseHttpAccept):
 * spaces dropped, by quality (the text after `;q=` up to the next `;`, read by readQuality; q=0 and
 * below are kept), then by specificity (parameters minus stars), then as sent; each without its
 * `;q=` and what follows it.
 */
function acceptOrder(accept: string): string[] {
  const items = accept.split(',').map((raw, index) => {
    const text = raw.replaceAll(' ', '');
    const at = text.indexOf(';q=');
    const type = at < 0 ? text : text.slice(0, at);
    const q = at < 0 ? 1 : readQuality(text.slice(at + 3).split(';', 1)[0]!);
    const specificity = (type.match(/;/g)?.length ?? 0) - (type.match(/\*/g)?.length ?? 0);
    return { type, q, specificity, index };
  });
  items.sort((a, b) => b.q - a.q || b.specificity - a.specificity || a.index - b.index);
  return items.map(({ type }) => type);
}

/**
 * The first type in `accept` (in PostgREST's order) that can be served. None of the raw types is
 * built in (PostgREST 12 dropped text/plain, text/xml and octet-stream answers): a function answers
 * one only as `handler`, the media type its result's domain is named after, which takes any type
 * when it is the any type (PostgREST Plan.hs negotiateContent; the vendored types come first). A range
 * other than the any-type one (`application/*`, `text/*`) is no type PostgREST serves.
 */
export function negotiate(accept: string | undefined, handler?: string): Negotiated {
  const plain = (media: Media): Negotiated => ({ media, stripNulls: false });
  // No Accept is the any type (ApiRequest.hs iAcceptMediaType); an empty one names no type at
  // all (wai's parseHttpAccept gives []).
  for (const item of accept === undefined ? ['*/*'] : acceptOrder(accept)) {
    const at = item.indexOf(';');
    const type = (at < 0 ? item : item.slice(0, at)).toLowerCase();
    const stripNulls = at >= 0 && mediaParams(item.slice(at)).get('nulls') === 'stripped';
    if (VND_ARRAY.has(type) && stripNulls) return { media: 'json', stripNulls };
    if (VND_OBJECT.has(type)) return { media: 'object', stripNulls };
    if (handler === '*/*' || (handler !== undefined && mediaKey(item) === mediaKey(handler.toLowerCase()))) {
      return { media: 'raw', stripNulls: false, contentType: contentTypeOf(handler) };
    }
    if (type === 'application/json' || type === '*/*' || VND_ARRAY.has(type)) return plain('json');
    if (type === 'text/csv') return plain('csv');
    if (type === 'application/geo+json') return plain('geojson');
  }
  throw notAcceptable(accept);
}

/** What a media type is compared by: a known one by its lower-cased essence, another as written. */
const mediaKey = (type: string) => {
  const essence = type.split(';')[0]!.toLowerCase();
  return CANONICAL[essence] ?? type;
};

/** A media type's Content-Type as PostgREST writes it: known text types with their charset. */
function contentTypeOf(type: string): string {
  const known = CANONICAL[type.split(';')[0]!.toLowerCase()];
  if (known === undefined) return type;
  if (known === '*/*' || known === 'application/octet-stream') return 'application/octet-stream';
  return `${known}; charset=utf-8`;
}

const MEDIA_PARAM = /^\s*;\s*([\p{L}\p{N}-]+)\s*=\s*(?:"([^"]*)"|([\p{L}\p{N}|-]+))/u;

/**
 * A media type's parameters (what follows its type) as PostgREST's tokenizeMediaType reads them:
 * `;key=value` pairs, names in any case, a value quoted (`nulls="stripped"`) or of letters, digits,
 * `|` and `-`; reading stops at the first that is none, and a name given twice keeps its last value.
 */
function mediaParams(rest: string): Map<string, string> {
  const params = new Map<string, string>();
  for (let m = MEDIA_PARAM.exec(rest); m; m = MEDIA_PARAM.exec(rest)) {
    params.set(m[1]!.toLowerCase(), m[2] ?? m[3]!);
    rest = rest.slice(m[0].length);
  }
  return params;
}

/** PostgREST's 406 when nothing in `Accept` can be served, naming the types as it reads them. */
export const notAcceptable = (accept: string | undefined) =>
  apiError(406, 'PGRST107', `None of these media types are available: ${acceptedAsNamed(accept ?? '')}`);

/** What PostgREST calls each known media type in its messages; others keep their own text. */
const CANONICAL: Record<string, string> = {
  'application/json': 'application/json',
  'application/geo+json': 'application/geo+json',
  'text/csv': 'text/csv',
  'text/plain': 'text/plain',
  'text/xml': 'text/xml',
  'application/openapi+json': 'application/openapi+json',
  'application/x-www-form-urlencoded': 'application/x-www-form-urlencoded',
  'application/octet-stream': 'application/octet-stream',
  '*/*': '*/*',
};

/**
 * An Accept header's types as PostgREST lists them: spaces dropped, by quality then specificity,
 * without `q`, and known types by their canonical names — `application/vnd.pgrst.plan` (explain,
 * which hosted Supabase leaves disabled: db-plan-enabled off) as `…plan+text; for="application/json"`.
 */
function acceptedAsNamed(accept: string): string {
  return acceptedTypes(accept).join(', ');
}

/** An Accept header's types as PostgREST decodes them (known ones by their canonical names), in its order. */
export function acceptedTypes(accept: string): string[] {
  return acceptOrder(accept).map((type) => nameOf(type));
}

function nameOf(type: string): string {
  const [essence = '', ...rest] = type.split(';');
  const params = new Map(
    rest.map((p) => {
      const eq = p.indexOf('=');
      return [p.slice(0, eq).toLowerCase(), p.slice(eq + 1).replace(/^"(.*)"$/, '$1')] as const;
    }),
  );
  const lower = essence.toLowerCase();
  const stripped = params.get('nulls') === 'stripped';
  if (CANONICAL[lower]) return CANONICAL[lower];
  if (VND_OBJECT.has(lower)) return `application/vnd.pgrst.object+json${stripped ? ';nulls=stripped' : ''}`;
  if (VND_ARRAY.has(lower))
    return stripped ? 'application/vnd.pgrst.array+json;nulls=stripped' : 'application/json';
  const plan = /^application\/vnd\.pgrst\.plan(\+json|\+text)?$/.exec(lower);
  if (plan) {
    const format = plan[1] === '+json' ? 'json' : 'text';
    const forType = nameOf(params.get('for') ?? 'application/json');
    const known = ['analyze', 'verbose', 'settings', 'buffers', 'wal'];
    const options = known.filter((o) => (params.get('options') ?? '').split('|').includes(o));
    return `application/vnd.pgrst.plan+${format}; for="${forType}"${options.length ? `; options=${options.join('|')}` : ''}`;
  }
  return type;
}

/** Each preference PostgREST knows, as the whole token it is sent as. */
const KNOWN_PREFERENCES = new Map<
  string,
  { [K in keyof Preferences]: [K, Preferences[K]] }[keyof Preferences]
>([
  ['resolution=merge-duplicates', ['resolution', 'merge-duplicates']],
  ['resolution=ignore-duplicates', ['resolution', 'ignore-duplicates']],
  ['return=representation', ['return', 'representation']],
  ['return=minimal', ['return', 'minimal']],
  ['return=headers-only', ['return', 'headers-only']],
  ['params=single-object', ['params', 'single-object']],
  ['count=exact', ['count', 'exact']],
  ['count=planned', ['count', 'planned']],
  ['count=estimated', ['count', 'estimated']],
  ['tx=commit', ['tx', 'commit']],
  ['tx=rollback', ['tx', 'rollback']],
  ['missing=default', ['missing', 'default']],
  ['missing=null', ['missing', 'null']],
  ['handling=strict', ['handling', 'strict']],
  ['handling=lenient', ['handling', 'lenient']],
]);

/**
 * Prefer as PostgREST 12.2 reads it (Preferences.hs fromHeaders): comma-separated tokens, each
 * stripped and matched whole (`count=exact=1`, `Count=exact` and an empty token are invalid); the
 * first token of a kind wins; `tx` is known even where the server ignores it; only the first
 * `timezone=` and the first `max-affected=` are read, the latter as an integer (else none).
 */
export function readPreferences(
  value: string | undefined,
  txEnd: TxEnd,
  timezones: ReadonlySet<string> = new Set(),
): { prefer: Preferences; invalid: string[] } {
  const prefer: Preferences = {};
  const invalid: string[] = [];
  if (!value) return { prefer, invalid };
  const tokens = value.split(',').map((part) => part.trim());
  const firstWith = (prefix: string) =>
    tokens.find((token) => token.startsWith(prefix))?.slice(prefix.length);
  const zone = firstWith('timezone=');
  const zoneAccepted = zone !== undefined && timezones.has(zone);
  if (zoneAccepted) prefer.timezone = zone;
  const affected = firstWith('max-affected=');
  // Read as PostgREST's readMaybe does (`max-affected=0x10` is 16); one past 2^53 is none here.
  const maxAffected = affected === undefined ? null : readHaskellInteger(affected);
  if (maxAffected !== null && Number.isSafeInteger(maxAffected)) prefer.maxAffected = maxAffected;
  for (const token of tokens) {
    const known = KNOWN_PREFERENCES.get(token);
    if (known) {
      const [key, val] = known;
      if (prefer[key] === undefined && (key !== 'tx' || txEnd.endsWith('allow-override')))
        (prefer as Record<string, unknown>)[key] = val;
    } else if (!token.startsWith('max-affected=') && !(zoneAccepted && token.startsWith('timezone='))) {
      invalid.push(token);
    }
  }
  if (!prefer.tx && txEnd.startsWith('rollback')) prefer.tx = 'rollback';
  return { prefer, invalid };
}

/**
 * PGRST122 when `handling=strict` came with preferences PostgREST does not know. PostgREST checks
 * this once the request is planned (Plan.hs), so a planning error answers first; the root and
 * OPTIONS, which it does not plan, never check.
 */
export function checkStrict(prefer: Preferences, invalid: readonly string[]) {
  if (prefer.handling === 'strict' && invalid.length) {
    throw apiError(
      400,
      'PGRST122',
      'Invalid preferences given with handling=strict',
      `Invalid preferences: ${invalid.join(', ')}`,
    );
  }
}

export type PreferenceKey = keyof Preferences;

/** The preferences each kind of request applies, and so reports, as PostgREST does. */
const applies = (...keys: PreferenceKey[]): ReadonlySet<PreferenceKey> => new Set(keys);
export const APPLIED_BY = {
  read: applies('count', 'tx', 'handling', 'timezone'),
  insert: applies('resolution', 'missing', 'return', 'count', 'tx', 'handling', 'timezone'),
  /** An insert without a conflict target (no primary key, no on_conflict) ignores `resolution`. */
  plainInsert: applies('missing', 'return', 'count', 'tx', 'handling', 'timezone'),
  put: applies('return', 'count', 'tx', 'handling', 'timezone'),
  update: applies('missing', 'return', 'count', 'tx', 'handling', 'timezone', 'maxAffected'),
  delete: applies('return', 'count', 'tx', 'handling', 'timezone', 'maxAffected'),
  rpc: applies('params', 'count', 'tx', 'handling', 'timezone', 'maxAffected'),
};

/**
 * `Preference-Applied`, in PostgREST's order: those of `prefer` the request `applies`;
 * `max-affected` only with handling=strict.
 */
export function appliedPreferences(prefer: Preferences, applies: ReadonlySet<PreferenceKey>): string {
  const parts: string[] = [];
  const has = (key: PreferenceKey) => applies.has(key) && prefer[key] !== undefined;
  if (has('resolution')) parts.push(`resolution=${prefer.resolution}`);
  if (has('missing')) parts.push(`missing=${prefer.missing}`);
  if (has('return')) parts.push(`return=${prefer.return}`);
  if (has('params')) parts.push(`params=${prefer.params}`);
  if (has('count')) parts.push(`count=${prefer.count}`);
  if (has('tx')) parts.push(`tx=${prefer.tx}`);
  if (has('handling')) parts.push(`handling=${prefer.handling}`);
  if (has('timezone')) parts.push(`timezone=${prefer.timezone}`);
  if (has('maxAffected') && prefer.handling === 'strict') parts.push(`max-affected=${prefer.maxAffected}`);
  return parts.join(', ');
}

/** `a=1; b=2` as `{"a": "1", "b": "2"}`: names lose leading spaces, values stay as sent, the last of a name wins. */
export function parseCookies(header: string | undefined): Record<string, string> {
  const cookies: Record<string, string> = {};
  for (const part of header?.split(';') ?? []) {
    if (!part.trim()) continue;
    const at = part.indexOf('=');
    cookies[(at < 0 ? part : part.slice(0, at)).trimStart()] = at < 0 ? '' : part.slice(at + 1);
  }
  return cookies;
}
