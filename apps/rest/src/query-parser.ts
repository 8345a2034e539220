import {
  describeFailure,
  FTS as FTS_OPERATORS,
  logicTreeFailure,
  orderFailure,
  type ParseFailure,
  parseOpExpr,
  QUANTIFIABLE as QUANTIFIABLE_OPERATORS,
  sourcePosition,
} from './filter-expr.js';
import { ApiError, apiError, parseError } from './errors.js';

/**
 * The pure half of the engine: PostgREST query-string syntax (select, filters, logic trees, order,
 * limit/offset) to an AST. Knows nothing about the database; names are checked later by the planner.
 */

export interface JsonStep {
  readonly arrow: '->' | '->>';
  readonly key: string | number;
}

export interface Field {
  readonly name: string;
  readonly json: readonly JsonStep[];
}

export const AGGREGATE_FUNCTIONS = ['avg', 'count', 'max', 'min', 'sum'] as const;
export type AggregateFunction = (typeof AGGREGATE_FUNCTIONS)[number];

export type SelectItem =
  | { readonly kind: 'star' }
  | { readonly kind: 'column'; readonly field: Field; readonly alias?: string; readonly cast?: string }
  | {
      /** `amount::int.sum()::text`; `count()` has no field and counts rows. */
      readonly kind: 'aggregate';
      readonly fn: AggregateFunction;
      readonly field?: Field;
      /** The cast of the values aggregated (before the function). */
      readonly inputCast?: string;
      readonly alias?: string;
      /** The cast of the result (after the function). */
      readonly cast?: string;
    }
  | {
      readonly kind: 'embed';
      readonly name: string;
      readonly alias?: string;
      readonly hint?: string;
      readonly inner: boolean;
      readonly spread: boolean;
      readonly select: readonly SelectItem[];
    };

export const FILTER_OPERATORS = [
  'eq',
  'neq',
  'gt',
  'gte',
  'lt',
  'lte',
  'like',
  'ilike',
  'match',
  'imatch',
  'is',
  'isdistinct',
  'in',
  'cs',
  'cd',
  'ov',
  'sl',
  'sr',
  'nxr',
  'nxl',
  'adj',
  'fts',
  'plfts',
  'phfts',
  'wfts',
] as const;
export type FilterOperator = (typeof FILTER_OPERATORS)[number];
const OPERATORS = new Set<string>(FILTER_OPERATORS);
const FTS = new Set(FTS_OPERATORS);
const QUANTIFIABLE = new Set(QUANTIFIABLE_OPERATORS);

export interface Filter {
  readonly kind: 'filter';
  readonly field: Field;
  readonly negate: boolean;
  readonly op: FilterOperator;
  readonly quantifier?: 'any' | 'all';
  readonly language?: string;
  /** A list for `in`, else the raw value (for a quantified operator an array literal, which Postgres reads). */
  readonly value: string | readonly string[];
}

export interface LogicTree {
  readonly kind: 'logic';
  readonly op: 'and' | 'or';
  readonly negate: boolean;
  readonly children: readonly (Filter | LogicTree)[];
}

export type Condition = Filter | LogicTree;

export interface OrderTerm {
  readonly field: Field;
  /** `order=rel(col)`: a column of a to-one related resource. */
  readonly relation?: string;
  readonly direction?: 'asc' | 'desc';
  readonly nulls?: 'first' | 'last';
}

/** Options that apply to one level of the response: the root or an embedded resource by its path. */
export interface Level {
  conditions: Condition[];
  order?: OrderTerm[];
  limit?: number;
  offset?: number;
}

export interface ParsedQuery {
  readonly select: readonly SelectItem[];
  /** Key '' is the root; 'a.b' an embedded resource path by alias or name. */
  readonly levels: Map<string, Level>;
  readonly onConflict?: readonly string[];
  readonly columns?: readonly string[];
  /** Query parameters that are not reserved and not parseable as filters: RPC GET arguments. */
  readonly rawParams: readonly (readonly [string, string])[];
  /** A `limit` or `offset` was given on some level, integer or not (PostgREST's qsRanges). */
  readonly ranged?: true;
}

class Cursor {
  pos = 0;
  constructor(
    readonly text: string,
    readonly what: string,
  ) {}
  get done() {
    return this.pos >= this.text.length;
  }
  peek(offset = 0) {
    return this.text[this.pos + offset] ?? '';
  }
  startsWith(s: string) {
    return this.text.startsWith(s, this.pos);
  }
  eat(s: string) {
    if (this.text.startsWith(s, this.pos)) {
      this.pos += s.length;
      return true;
    }
    return false;
  }
  expect(s: string) {
    if (!this.eat(s)) throw this.fail(JSON.stringify(s));
  }
  skipSpaces() {
    while (this.peek() === ' ') this.pos++;
  }
  fail(expecting: string) {
    return parseError(this.what, this.text, this.pos, expecting);
  }
}

const NAME_STOP = new Set(['.', ',', ':', '(', ')', '!', '"', '>', '&', '=']);

/** A field name: quoted (`"a b"`) or a run of characters that are not PostgREST punctuation. */
function parseName(c: Cursor, expecting = 'field name'): string {
  if (c.peek() === '"') return parseQuoted(c);
  const start = c.pos;
  while (!c.done) {
    const ch = c.peek();
    if (NAME_STOP.has(ch)) break;
    if (ch === '-' && c.peek(1) === '>') break;
    if (ch === ' ' && (c.peek(1) === ',' || c.peek(1) === ')' || c.peek(1) === '' || c.peek(1) === ' '))
      break;
    c.pos++;
  }
  const name = c.text.slice(start, c.pos).trim();
  if (!name) throw c.fail(expecting);
  return name;
}

function parseQuoted(c: Cursor): string {
  c.expect('"');
  let out = '';
  while (!c.done && c.peek() !== '"') {
    if (c.peek() === '\\' && c.pos + 1 < c.text.length) c.pos++;
    out += c.peek();
    c.pos++;
  }
  c.expect('"');
  return out;
}

function parseJsonPath(c: Cursor): JsonStep[] {
  const steps: JsonStep[] = [];
  while (c.startsWith('->')) {
    const arrow = c.eat('->>') ? '->>' : '->';
    if (arrow === '->') c.eat('->');
    // An index only before the next arrow, a cast, a dot, a comma or the end (pJsonPath): before
    // `)` or anything else, digits are a key.
    const m = /^-?\d+(?=->|::|[.,]|$)/.exec(c.text.slice(c.pos));
    if (m) {
      steps.push({ arrow, key: Number(m[0]) });
      c.pos += m[0].length;
    } else if (c.peek() === '-') {
      throw badJsonIndex(c);
    } else {
      steps.push({ arrow, key: parseName(c, 'json key') });
    }
  }
  return steps;
}

/**
 * PostgREST's error for a JSON operand that starts with `-` but is no index (pJsonPath: a key cannot
 * start with a dash): digits must follow, then the next arrow, a cast, a dot, a comma or the end.
 */
function badJsonIndex(c: Cursor): ApiError {
  const digits = /^-(\d*)/.exec(c.text.slice(c.pos))![1]!;
  const at = c.pos + 1 + digits.length;
  const ch = c.text[at];
  const expecting = digits ? 'digit, "->", "::", ".", "," or end of input' : 'digit';
  // After digits, Parsec shows the character a char parser refused as 'x'.
  return parseError(c.what, c.text, at, expecting, digits && ch !== undefined ? `'${ch}'` : undefined);
}

function parseField(c: Cursor): Field {
  const name = parseName(c);
  return { name, json: parseJsonPath(c) };
}

// ---------------------------------------------------------------- select

export function parseSelect(text: string): SelectItem[] {
  const c = new Cursor(text, 'select parameter');
  if (text.trim() === '') return [{ kind: 'star' }];
  const items = parseSelectList(c, false);
  // As PostgREST's pFieldForest, which needs no end of input: what follows the list is not read when
  // it ends in an embedded resource, or in a column followed by `)` (`select=id,name)`).
  if (!c.done && c.peek() !== ')' && items.at(-1)?.kind !== 'embed') throw c.fail('"," or end of input');
  return items;
}

function parseSelectList(c: Cursor, nested: boolean): SelectItem[] {
  const items: SelectItem[] = [];
  c.skipSpaces();
  // An empty embed (`actors()`) joins for filtering only; it adds nothing to the response.
  if (nested && c.peek() === ')') return [];
  for (;;) {
    c.skipSpaces();
    items.push(parseSelectItem(c));
    c.skipSpaces();
    if (!c.eat(',')) break;
  }
  return items;
}

function parseSelectItem(c: Cursor): SelectItem {
  if (c.eat('*')) return { kind: 'star' };
  if (c.eat('...')) {
    const embed = parseEmbedRest(c, parseName(c, 'embedded resource name'));
    if (!embed) throw c.fail('"("');
    return { ...embed, spread: true };
  }
  let alias: string | undefined;
  let name = parseName(c);
  if (c.peek() === ':' && c.peek(1) !== ':') {
    c.pos++;
    alias = name;
    c.skipSpaces();
    if (c.eat('...')) throw c.fail('field name');
    name = parseName(c);
  }
  const named = alias !== undefined ? { alias } : {};
  // As in PostgREST, `count(` opens the aggregate, never an embedded resource.
  if (name === 'count' && c.eat('(')) {
    c.expect(')');
    return { kind: 'aggregate', fn: 'count', ...named, ...parseCast(c) };
  }
  const embed = parseEmbedRest(c, name);
  if (embed) return { ...embed, ...named };
  const field = { name, json: parseJsonPath(c) };
  const { cast } = parseCast(c);
  const fn = AGGREGATE_CALL.exec(c.text.slice(c.pos))?.[1] as AggregateFunction | undefined;
  if (!fn) {
    // pFieldSelect: what follows a cast is an aggregate, else a cast of the aggregate, which
    // PostgREST reads and, with no aggregate, drops (`id::text::int` is `id::text`).
    if (cast !== undefined && !parseCast(c).cast) castEnd(c);
    return { kind: 'column', field, ...named, ...(cast !== undefined ? { cast } : {}) };
  }
  c.pos += fn.length + 3;
  return {
    kind: 'aggregate',
    fn,
    field,
    ...named,
    ...(cast !== undefined ? { inputCast: cast } : {}),
    ...parseCast(c),
  };
}

/** After a column's cast: the end of the item, else PostgREST's error there (pFieldSelect's pEnd). */
function castEnd(c: Cursor) {
  const ch = c.peek();
  if (ch === '' || ch === ',' || ch === ')') return;
  throw parseError(c.what, c.text, c.pos, 'letter, digit, ".", "::", ")", "," or end of input', `'${ch}'`);
}

const AGGREGATE_CALL = new RegExp(`^\\.(${AGGREGATE_FUNCTIONS.join('|')})\\(\\)`);

/**
 * `::type`, if there is one, as PostgREST's pIdentifier reads it: letters, digits, `_`, `$` and spaces
 * (`::double precision`), trimmed. The type goes into the SQL as it is, so, unlike PostgREST, a word
 * starting with `$` (a dollar quote in SQL) or a digit is refused.
 */
function parseCast(c: Cursor): { cast?: string } {
  if (!c.eat('::')) return {};
  const m = /^[\p{L}0-9_ $]+/u.exec(c.text.slice(c.pos));
  if (!m) throw c.fail('letter or digit');
  const cast = m[0].trim();
  if (!cast || /(?:^|\s)[$0-9]/.test(cast)) throw c.fail('a type name');
  if (CLUSTER_WIDE_TYPES.has(cast.toLowerCase())) throw c.fail('a cast type other than regrole');
  c.pos += m[0].length;
  return { cast };
}

/**
 * Types whose output reads the whole server's catalog rather than the project database's: roles are
 * shared by every project on the server, so `select=id::regrole` would name other projects' roles
 * (`_regrole` is its array type's own name).
 */
const CLUSTER_WIDE_TYPES = new Set(['regrole', '_regrole']);

/** Whether a select list, embedded resources included, uses an aggregate function. */
export const usesAggregates = (select: readonly SelectItem[]): boolean =>
  select.some((item) => item.kind === 'aggregate' || (item.kind === 'embed' && usesAggregates(item.select)));

/** PostgREST's answer with its default `db-aggregates-enabled = false`. */
export const aggregatesDisabled = () =>
  apiError(400, 'PGRST123', 'Use of aggregate functions is not allowed');

function parseEmbedRest(c: Cursor, name: string): Extract<SelectItem, { kind: 'embed' }> | undefined {
  const save = c.pos;
  let hint: string | undefined;
  let inner = false;
  while (c.eat('!')) {
    const part = parseName(c, 'embed hint');
    if (part === 'inner') inner = true;
    else if (part === 'left') inner = false;
    else hint = part;
  }
  if (!c.eat('(')) {
    if (c.pos === save) return undefined;
    // PostgREST then reads a column (pFieldSelect), which ends before the `!` (its doctest `name!hint`).
    c.pos = save;
    const expecting = `${c.text[save - 1] === '"' ? '' : 'letter, digit, "-", '}"->>", "->", "::", ".", ")", "," or end of input`;
    throw parseError(c.what, c.text, save, expecting, "'!'");
  }
  const select = parseSelectList(c, true);
  c.skipSpaces();
  c.expect(')');
  return { kind: 'embed', name, inner, spread: false, select, ...(hint !== undefined ? { hint } : {}) };
}

// ---------------------------------------------------------------- filters

/** `[not.]op[(modifier)].value`; inside a logic tree the value stops at `,` or `)`. */
function parseFilterExpr(c: Cursor, field: Field, inTree: boolean): Filter {
  let negate = false;
  if (c.eat('not.')) negate = true;
  const m = /^[a-z]+/.exec(c.text.slice(c.pos));
  const op = m?.[0];
  if (!op || !OPERATORS.has(op)) {
    if (!negate && !FILTER_OPERATORS.some((o) => c.text.startsWith(o, c.pos))) throw notOrOperator(c);
    throw c.fail('operator (eq, gt, ...)');
  }
  c.pos += op.length;
  let quantifier: 'any' | 'all' | undefined;
  let language: string | undefined;
  if (c.eat('(')) {
    const mod = /^[A-Za-z_][A-Za-z0-9_]*/.exec(c.text.slice(c.pos))?.[0];
    if (!mod) throw c.fail('modifier');
    if (FTS.has(op)) language = mod;
    else if (QUANTIFIABLE.has(op) && (mod === 'any' || mod === 'all')) quantifier = mod;
    else throw c.fail(FTS.has(op) ? 'language' : '"any" or "all"');
    c.pos += mod.length;
    c.expect(')');
  }
  c.expect('.');
  const base = { kind: 'filter' as const, field, negate, op: op as FilterOperator };
  const withMods = {
    ...base,
    ...(quantifier ? { quantifier } : {}),
    ...(language ? { language } : {}),
  };
  if (op === 'in') {
    c.expect('(');
    const values = parseList(c, ')');
    c.expect(')');
    if (!inTree && !c.done) throw c.fail('end of input');
    return { ...withMods, value: values };
  }
  let value: string;
  if (inTree) value = parseTreeValue(c);
  else {
    value = c.text.slice(c.pos);
    c.pos = c.text.length;
  }
  if (op === 'is') {
    const v = value.toLowerCase();
    if (!['null', 'true', 'false', 'unknown'].includes(v)) {
      c.pos -= value.length;
      throw c.fail('null or true or false or unknown');
    }
    value = v;
  }
  return { ...withMods, value };
}

/**
 * PostgREST's error when no operator starts a filter: Parsec tried `not.` there first, so it names
 * "not" among the expected and the first character that differs from it; `not` without its `.`
 * fails further on, at the missing delimiter.
 */
function notOrOperator(c: Cursor): ApiError {
  if (c.text.startsWith('not', c.pos)) {
    c.pos += 3;
    return c.fail('delimiter (.)');
  }
  let differs = c.pos;
  while (differs - c.pos < 3 && c.text[differs] === 'not'[differs - c.pos]) differs++;
  const found = differs >= c.text.length ? 'end of input' : JSON.stringify(c.text[differs]);
  return parseError(c.what, c.text, c.pos, '"not" or operator (eq, gt, ...)', found);
}

/** Comma-separated values, each quoted (`"a,b"`) or bare. */
function parseList(c: Cursor, close: string): string[] {
  const values: string[] = [];
  if (c.peek() === close) return values;
  for (;;) {
    const start = c.pos;
    const quoted = quotedListValue(c, close);
    if (quoted !== undefined) values.push(quoted);
    else {
      c.pos = start;
      while (!c.done && c.peek() !== ',' && c.peek() !== close) c.pos++;
      values.push(c.text.slice(start, c.pos));
    }
    if (!c.eat(',')) break;
  }
  return values;
}

/**
 * A quoted list value, if the element is one: spaces around it are not part of it (`("a", "b")`).
 * As in PostgREST, quotes that do not close the element (`("a"b)`, `("ab)`) are no quoting: the
 * element is then read bare, quotes included.
 */
function quotedListValue(c: Cursor, close: string): string | undefined {
  c.skipSpaces();
  if (c.peek() !== '"') return undefined;
  let value: string;
  try {
    value = parseQuoted(c);
  } catch {
    return undefined;
  }
  c.skipSpaces();
  return c.peek() === ',' || c.peek() === close ? value : undefined;
}

/**
 * A value in a logic tree, as PostgREST's pLogicSingleVal reads it: a quoted value when its closing
 * quote ends the element (else the quotes are part of a bare value), an array literal `{…}` with no
 * brace inside, or everything up to the next `,` or `)`.
 */
function parseTreeValue(c: Cursor): string {
  const start = c.pos;
  if (c.peek() === '"') {
    try {
      const quoted = parseQuoted(c);
      if (c.done || c.peek() === ',' || c.peek() === ')') return quoted;
    } catch {}
    c.pos = start;
  }
  const array = /^\{[^{}]*\}/.exec(c.text.slice(start));
  if (array) {
    c.pos += array[0].length;
    return array[0];
  }
  while (!c.done && c.peek() !== ',' && c.peek() !== ')') c.pos++;
  return c.text.slice(start, c.pos);
}

/**
 * PostgREST's PGRST100 for `text` its grammar refuses: the line and column of the failure in `parsed`
 * (the text as its parser read it), and what it expected there.
 */
function grammarError(what: string, text: string, failure: ParseFailure, parsed = text): ApiError {
  const { line, column } = sourcePosition(parsed, failure.pos);
  return apiError(
    400,
    'PGRST100',
    `"failed to parse ${what} (${text})" (line ${line}, column ${column})`,
    describeFailure(failure),
  );
}

/** A filter's value, as PostgREST 12 reads it (`filter-expr.ts`), with its PGRST100 when it is none. */
export function parseFilter(field: Field, value: string): Filter {
  const parsed = parseOpExpr(value);
  if (!parsed.ok) {
    throw grammarError('filter', value, parsed.err);
  }
  const e = parsed.expr;
  const base = { kind: 'filter' as const, field, negate: e.negate, op: e.op as FilterOperator };
  // One empty element is the empty list (SqlFragment.hs: `[""] -> = ANY('{}')`).
  if (e.kind === 'in') return { ...base, value: e.list.length === 1 && e.list[0] === '' ? [] : e.list };
  if (e.kind === 'is') return { ...base, value: e.value };
  return {
    ...base,
    ...(e.language !== undefined ? { language: e.language } : {}),
    ...(e.quantifier ? { quantifier: e.quantifier } : {}),
    value: e.value,
  };
}

/**
 * How deep `and(or(...))` may nest. The tree is parsed and rendered recursively, and Postgres
 * evaluates it recursively too; far below where either runs out of stack, far above hand-written.
 */
const MAX_LOGIC_TREE_DEPTH = 500;

export function parseLogicTree(op: 'and' | 'or', negate: boolean, text: string): LogicTree {
  const c = new Cursor(text, 'logic tree');
  try {
    // What follows the tree is not read, as PostgREST's pLogicTree needs no end of input.
    return parseTreeBody(c, op, negate, 1);
  } catch (error) {
    // PostgREST's own error where it has one: it parses `op` and the value together (pLogicTree
    // over "or(…)"), so its columns count the operator too.
    if (!(error instanceof ApiError) || String(error.body.details).startsWith('logic trees nest'))
      throw error;
    const prefixed = `${negate ? 'not.' : ''}${op}${text}`;
    let failure: ReturnType<typeof logicTreeFailure>;
    try {
      failure = logicTreeFailure(prefixed);
    } catch {
      throw error; // a stack the model could not descend: our own answer stands
    }
    if (!failure) throw error;
    throw grammarError('logic tree', text, failure, prefixed);
  }
}

function parseTreeBody(c: Cursor, op: 'and' | 'or', negate: boolean, depth: number): LogicTree {
  if (depth > MAX_LOGIC_TREE_DEPTH) {
    throw apiError(
      400,
      'PGRST100',
      `"failed to parse logic tree (${c.text})" (line 1, column ${c.pos + 1})`,
      `logic trees nest at most ${MAX_LOGIC_TREE_DEPTH} levels deep`,
    );
  }
  c.skipSpaces();
  c.expect('(');
  const children: Condition[] = [];
  for (;;) {
    c.skipSpaces();
    let neg = false;
    const save = c.pos;
    if (c.eat('not.')) neg = true;
    // As PostgREST, spaces may surround the parts of a tree: `and ( a.eq.1 , b.eq.2 )`.
    const nested = /^(and|or) *\(/.exec(c.text.slice(c.pos))?.[1] as 'and' | 'or' | undefined;
    if (nested) {
      c.pos += nested.length;
      children.push(parseTreeBody(c, nested, neg, depth + 1));
    } else {
      c.pos = save;
      const field = parseField(c);
      c.expect('.');
      children.push(parseFilterExpr(c, field, true));
    }
    c.skipSpaces();
    if (!c.eat(',')) break;
  }
  c.expect(')');
  return { kind: 'logic', op, negate, children };
}

// ---------------------------------------------------------------- order

export function parseOrder(text: string): OrderTerm[] {
  try {
    return parseOrderTerms(text);
  } catch (error) {
    // PostgREST's own position and expectations, where its grammar fails too.
    const failure = error instanceof ApiError ? orderFailure(text) : undefined;
    if (!failure) throw error;
    throw grammarError('order', text, failure);
  }
}

function parseOrderTerms(text: string): OrderTerm[] {
  const c = new Cursor(text, 'order');
  const terms: OrderTerm[] = [];
  for (;;) {
    c.skipSpaces();
    let field = parseField(c);
    let relation: string | undefined;
    if (!field.json.length && c.eat('(')) {
      relation = field.name;
      field = parseField(c);
      c.expect(')');
    }
    let direction: 'asc' | 'desc' | undefined;
    let nulls: 'first' | 'last' | undefined;
    while (c.eat('.')) {
      const word = /^[a-z]+/.exec(c.text.slice(c.pos))?.[0] ?? '';
      if (!direction && !nulls && (word === 'asc' || word === 'desc')) direction = word;
      else if (!nulls && (word === 'nullsfirst' || word === 'nullslast'))
        nulls = word === 'nullsfirst' ? 'first' : 'last';
      else throw c.fail('"asc", "desc", "nullsfirst" or "nullslast"');
      c.pos += word.length;
    }
    terms.push({
      field,
      ...(relation ? { relation } : {}),
      ...(direction ? { direction } : {}),
      ...(nulls ? { nulls } : {}),
    });
    if (!c.eat(',')) break;
  }
  if (!c.done) throw c.fail('"," or end of input');
  return terms;
}

// ---------------------------------------------------------------- columns, on_conflict

/** `a, "b c"`: column names, plain or quoted (supabase-js quotes those of `columns`). */
function parseColumns(text: string, what: string): string[] {
  const c = new Cursor(text, what);
  const names: string[] = [];
  do {
    c.skipSpaces();
    names.push(parseName(c, 'field name (* or [a..z0..9_$])'));
    c.skipSpaces();
  } while (c.eat(','));
  if (!c.done) throw c.fail('"," or end of input');
  return names;
}

// ---------------------------------------------------------------- whole query string

/**
 * A query string's parameters as PostgREST reads them (http-types): separated by `&` or `;`, `+` is a
 * space, a `%` that starts no escape is itself, keys may repeat, and a key without `=` has no value,
 * so it is no parameter at all. A form body (`keepBare`, read whole as parseSimpleQuery does) keeps
 * such a key with the empty value, an empty piece (`a=1&&b=2`, but not one after a last separator)
 * as the empty key, and loses one leading `?`.
 */
export function decodeQueryString(raw: string, keepBare = false): [string, string][] {
  const out: [string, string][] = [];
  if (keepBare && raw.startsWith('?')) raw = raw.slice(1);
  if (!raw) return out;
  const parts = raw.split(SEPARATORS);
  if (parts.at(-1) === '') parts.pop();
  for (const part of parts) {
    if (!part && !keepBare) continue;
    const eq = part.indexOf('=');
    if (eq < 0 && !keepBare) continue;
    const k = eq < 0 ? part : part.slice(0, eq);
    const v = eq < 0 ? '' : part.slice(eq + 1);
    out.push([decode(k), decode(v)]);
  }
  return out;
}

const LONE_PERCENT = /%(?![0-9A-Fa-f]{2})/g;
const SEPARATORS = /[&;]/;
const COMMITTED_FILTER = /^(?:not|in|is)\./;

function decode(s: string): string {
  const spaced = s.replaceAll('+', ' ').replace(LONE_PERCENT, '%25');
  try {
    return decodeURIComponent(spaced);
  } catch {
    throw apiError(
      400,
      'PGRST100',
      `"failed to parse query string (${s})" (line 1, column 1)`,
      'percent-encoded bytes that are no UTF-8',
    );
  }
}

/** What Haskell's `isSpace` takes: the ASCII and Latin-1 spaces and Unicode's space separators. */
const HS_SPACES = '\\t\\n\\v\\f\\r \\u00a0\\u1680\\u2000-\\u200a\\u202f\\u205f\\u3000';
const HS_SPACE = `[${HS_SPACES}]*`;
/** `read :: Integer`'s number: hex (`0x`/`0X`), octal (`0o`/`0O`) or decimal, no fraction, no exponent. */
const HS_NUMBER = /^(0[xX][0-9a-fA-F]+|0[oO][0-7]+|\d+)/;
const HS_OPEN = new RegExp(`^\\(${HS_SPACE}`);
const HS_MINUS = new RegExp(`^-${HS_SPACE}(?=[0-9])`);
const HS_CLOSE = new RegExp(`^${HS_SPACE}\\)`);
const HS_TRIM = new RegExp(`^${HS_SPACE}|${HS_SPACE}$`, 'g');

/**
 * An integer as Haskell's `readMaybe` reads one (PostgREST's `limit`, `offset` and `max-affected`):
 * decimal, `0x10`/`0o17`, a `-` before it (spaces between allowed, no `+`), in any number of
 * parentheses, spaces around each part; null for anything else (`1.0`, `1e3`, `+3`, `0b1`).
 */
export function readHaskellInteger(text: string): number | null {
  let rest = text.replace(HS_TRIM, '');
  let depth = 0;
  for (let m = HS_OPEN.exec(rest); m; m = HS_OPEN.exec(rest)) {
    rest = rest.slice(m[0].length);
    depth++;
  }
  const minus = HS_MINUS.exec(rest);
  if (minus) rest = rest.slice(minus[0].length);
  const number = HS_NUMBER.exec(rest);
  if (!number) return null;
  rest = rest.slice(number[0].length);
  for (; depth > 0; depth--) {
    const m = HS_CLOSE.exec(rest);
    if (!m) return null;
    rest = rest.slice(m[0].length);
  }
  if (rest) return null;
  // JavaScript reads the same three forms (`0x10`, `0o17`, decimal) as numeric strings.
  const value = Number(number[1]);
  return minus && value ? -value : value;
}

/** The `limit` and `offset` given for one level: a number, or null for one that is none. */
interface GivenRange {
  limit?: number | null;
  offset?: number | null;
}

/**
 * Sets a level's limit and offset as PostgREST 12 combines them (QueryParams.hs ranges): the rows
 * from offset o through o + l - 1, a limit that is none counting as 0 once an offset is given. An
 * embedded level sends them to Postgres as they are (a negative one is its 2201W/2201X); the root's
 * is cut to the rows that exist (ApiRequest.hs getRanges): ending at row -1 it is `limit=0`, ending
 * before its start a 416, so a negative offset alone is a no-op and with a limit eats into it.
 */
function applyRange(level: Level, given: GivenRange, root: boolean) {
  let lower = given.offset ?? 0;
  const limit = given.limit === null && given.offset !== undefined ? 0 : given.limit;
  const upper = limit == null ? Infinity : lower + limit - 1;
  if (root && upper === -1) lower = 0;
  else if (root && (upper < lower || upper < 0)) {
    throw apiError(
      416,
      'PGRST103',
      'Requested range not satisfiable',
      'Limit should be greater than or equal to zero.',
    );
  } else if (root) lower = Math.max(lower, 0);
  if (Number.isFinite(upper)) level.limit = upper - lower + 1;
  if (given.offset != null) level.offset = lower;
}

const unquote = (part: string) => part.replace(/^"(.*)"$/, '$1');

function splitPath(key: string): string[] {
  const parts: string[] = [];
  let current = '';
  let quoted = false;
  for (let i = 0; i < key.length; i++) {
    const ch = key[i]!;
    if (ch === '"') quoted = !quoted;
    if (ch === '.' && !quoted) {
      parts.push(current);
      current = '';
    } else current += ch;
  }
  parts.push(current);
  return parts;
}

const emptyLevel = (): Level => ({ conditions: [] });

/**
 * Parses a whole query string. `rpcArgNames` lists parameters that are function arguments (GET
 * /rpc), which are then passed through in `rawParams` instead of being read as filters.
 */
export function parseQuery(rawQuery: string, rpcArgNames?: ReadonlySet<string>): ParsedQuery {
  const levels = new Map<string, Level>();
  const level = (path: string) => {
    const l = levels.get(path) ?? emptyLevel();
    levels.set(path, l);
    return l;
  };
  level('');
  let select: SelectItem[] | undefined;
  let onConflict: string[] | undefined;
  let columns: string[] | undefined;
  const rawParams: [string, string][] = [];
  const ranges = new Map<string, GivenRange>();
  let ranged = false;
  // As PostgREST 12: the first select, on_conflict and columns are read (L.lookup), later ones not
  // even parsed; every order is parsed but a level keeps its first (foldr), and its last limit and
  // offset (HashMap.fromList).
  for (const [key, value] of decodeQueryString(rawQuery)) {
    if (key === 'select') {
      select ??= parseSelect(value);
      continue;
    }
    if (key === 'on_conflict') {
      onConflict ??= parseColumns(value, 'on_conflict parameter');
      continue;
    }
    if (key === 'columns') {
      columns ??= parseColumns(value, 'columns parameter');
      continue;
    }
    const parts = splitPath(key);
    const last = parts[parts.length - 1]!;
    const beforeLast = parts[parts.length - 2];
    // The embedded resource a key names, its parts quoted or not (pTreePath, pLogicPath).
    const levelPath = (end: number) => parts.slice(0, end).map(unquote).join('.');
    // Reserved, as in PostgREST 12, for GET /rpc too: an argument named limit, order… is not
    // given by the query string (only by a POST body).
    if (last === 'order' || last === 'limit' || last === 'offset') {
      const l = level(levelPath(-1));
      if (last === 'order') {
        const order = parseOrder(value);
        l.order ??= order;
      } else {
        const path = levelPath(-1);
        const given = ranges.get(path) ?? {};
        // The last of a level's limits (offsets) counts (HashMap.fromList).
        given[last] = readHaskellInteger(value);
        ranged = true;
        ranges.set(path, given);
      }
      continue;
    }
    if (last === 'or' || last === 'and') {
      const negate = beforeLast === 'not';
      const path = levelPath(negate ? -2 : -1);
      level(path).conditions.push(parseLogicTree(last, negate, value));
      continue;
    }
    const c = new Cursor(parts.length > 1 ? last : key, 'filter');
    const field = parseField(c);
    if (!c.done) {
      // Not a filter key: for GET /rpc an argument the function lacks (PGRST202 later), else a 400.
      if (!rpcArgNames) throw c.fail('"->", "->>" or end of input');
      rawParams.push([key, value]);
      continue;
    }
    const path = parts.slice(0, -1).map(unquote);
    let filter: Filter;
    try {
      filter = parseFilter(field, value);
    } catch (error) {
      // For GET /rpc, as in PostgREST, a value that is no filter makes an argument: one the
      // function lacks is PGRST202 (`?a=1&b=2&c=3`), not a filter syntax error. A value that does
      // parse as a filter is one, even under an argument's name (`?b=eq.2`); one that began as
      // `not.`, `in.` or `is.` had to, as PostgREST's parser does not go back from there.
      if (!rpcArgNames || COMMITTED_FILTER.test(value) || (parts.length > 1 && !rpcArgNames.has(key)))
        throw error;
      rawParams.push([key, value]);
      continue;
    }
    // `rel=is.null` / `rel=not.is.null` on an embedded resource is decided by the planner.
    level(path.join('.')).conditions.push(filter);
  }
  for (const [path, given] of ranges) applyRange(level(path), given, path === '');
  return {
    select: select ?? [{ kind: 'star' }],
    levels,
    rawParams,
    ...(ranged ? { ranged: true as const } : {}),
    ...(onConflict ? { onConflict } : {}),
    ...(columns ? { columns } : {}),
  };
}
