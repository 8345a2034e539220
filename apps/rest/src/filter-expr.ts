/**
 * A filter's value (`[not.]op[(modifier)].value`) read as PostgREST 12 reads it: its `pOpExpr`
 * over Parsec, whose error (the furthest position any alternative reached, what was found there and
 * what was expected) is PGRST100's message and details. The few Parsec combinators it needs are
 * modelled here with Parsec's four outcomes (consumed or empty, ok or error) and its error merging.
 */

/** Parsec's message kinds, in its order: the first `unexpected` shown is the first of its kind. */
const SYS_UNEXPECT = 0;
const UNEXPECT = 1;
const EXPECT = 2;

interface Message {
  readonly kind: number;
  readonly text: string;
}

export interface ParseFailure {
  /** 0-based position of the error. */
  readonly pos: number;
  readonly messages: readonly Message[];
}

type Reply<T> =
  | {
      readonly ok: true;
      readonly value: T;
      readonly pos: number;
      readonly consumed: boolean;
      readonly err: ParseFailure;
    }
  | { readonly ok: false; readonly consumed: boolean; readonly err: ParseFailure };

/** Over the value's characters (code points, as Haskell's String). */
type Parser<T> = (input: readonly string[], pos: number) => Reply<T>;

const unknown = (pos: number): ParseFailure => ({ pos, messages: [] });

/** Parsec's mergeError: a meaningful error over an empty one, else the furthest, else both. */
function merge(a: ParseFailure, b: ParseFailure): ParseFailure {
  if (!b.messages.length && a.messages.length) return a;
  if (!a.messages.length && b.messages.length) return b;
  if (a.pos === b.pos) return { pos: a.pos, messages: [...a.messages, ...b.messages] };
  return a.pos > b.pos ? a : b;
}

/** Haskell's `show` of a string, as Parsec quotes what it found and expected. */
function show(s: string): string {
  let out = '"';
  for (const ch of s) {
    const code = ch.codePointAt(0)!;
    if (ch === '"' || ch === '\\') out += `\\${ch}`;
    else if (code >= 0x20 && code < 0x7f) out += ch;
    else if (ch === '\n') out += '\\n';
    else if (ch === '\t') out += '\\t';
    else out += `\\${code}`;
  }
  return `${out}"`;
}

const pure =
  <T>(value: T): Parser<T> =>
  (_, pos) => ({ ok: true, value, pos, consumed: false, err: unknown(pos) });

function satisfy(test: (ch: string) => boolean): Parser<string> {
  return (input, pos) => {
    const ch = input[pos];
    if (ch === undefined)
      return { ok: false, consumed: false, err: { pos, messages: [{ kind: SYS_UNEXPECT, text: '' }] } };
    if (test(ch)) return { ok: true, value: ch, pos: pos + 1, consumed: true, err: unknown(pos + 1) };
    return { ok: false, consumed: false, err: { pos, messages: [{ kind: SYS_UNEXPECT, text: show(ch) }] } };
  };
}

/** `p <?> name`: an error of p that consumed nothing expects `name` instead. */
function label<T>(p: Parser<T>, name: string): Parser<T> {
  const relabel = (err: ParseFailure): ParseFailure => ({
    pos: err.pos,
    messages: [{ kind: EXPECT, text: name }, ...err.messages.filter((m) => m.kind !== EXPECT)],
  });
  return (input, pos) => {
    const r = p(input, pos);
    if (r.consumed) return r;
    if (!r.ok) return { ...r, err: relabel(r.err) };
    return r.err.messages.length ? { ...r, err: relabel(r.err) } : r;
  };
}

const char = (c: string) =>
  label(
    satisfy((ch) => ch === c),
    show(c),
  );
const oneOf = (chars: string) => satisfy((ch) => chars.includes(ch));
const noneOf = (chars: string) => satisfy((ch) => !chars.includes(ch));
const anyChar = satisfy(() => true);

/** Parsec's `string`: a mismatch is reported where the string began, naming the character found. */
function string(s: string): Parser<string> {
  return (input, pos) => {
    for (let i = 0; i < s.length; i++) {
      const ch = input[pos + i];
      if (ch !== s[i]) {
        const err = {
          pos,
          messages: [
            { kind: EXPECT, text: show(s) },
            { kind: SYS_UNEXPECT, text: ch === undefined ? '' : show(ch) },
          ],
        };
        return { ok: false, consumed: i > 0, err };
      }
    }
    return { ok: true, value: s, pos: pos + s.length, consumed: s.length > 0, err: unknown(pos + s.length) };
  };
}

/** `try p`: a failure of p consumes nothing. */
const attempt =
  <T>(p: Parser<T>): Parser<T> =>
  (input, pos) => {
    const r = p(input, pos);
    return r.ok ? r : { ...r, consumed: false };
  };

/** `p <|> q <|> …`: the next is tried only when the previous failed without consuming. */
function alt<T>(...ps: Parser<T>[]): Parser<T> {
  return (input, pos) => {
    let err: ParseFailure | undefined;
    let last: Reply<T> | undefined;
    for (const p of ps) {
      const r = p(input, pos);
      if (r.consumed) return r;
      last = err ? { ...r, err: merge(err, r.err) } : r;
      if (r.ok) return last;
      err = last.err;
    }
    return last!;
  };
}

/** `p >>= f`, with Parsec's carrying of an empty success's error into what follows. */
function bind<A, B>(p: Parser<A>, f: (a: A) => Parser<B>): Parser<B> {
  return (input, pos) => {
    const r = p(input, pos);
    if (!r.ok) return r;
    const next = f(r.value)(input, r.pos);
    if (next.consumed) return next;
    const err = r.err.messages.length ? merge(r.err, next.err) : next.err;
    return { ...next, consumed: r.consumed, err };
  };
}

const then = <A, B>(p: Parser<A>, q: Parser<B>): Parser<B> => bind(p, () => q);
const before = <A, B>(p: Parser<A>, q: Parser<B>): Parser<A> => bind(p, (a) => bind(q, () => pure(a)));
const map = <A, B>(p: Parser<A>, f: (a: A) => B): Parser<B> => bind(p, (a) => pure(f(a)));

function many<T>(p: Parser<T>): Parser<T[]> {
  return (input, pos) => {
    const values: T[] = [];
    let at = pos;
    for (;;) {
      const r = p(input, at);
      if (!r.ok) {
        if (r.consumed) return r;
        return { ok: true, value: values, pos: at, consumed: at > pos, err: r.err };
      }
      values.push(r.value);
      at = r.pos;
    }
  };
}

const many1 = <T>(p: Parser<T>): Parser<T[]> => bind(p, (x) => map(many(p), (xs) => [x, ...xs]));
const sepBy1 = <T>(p: Parser<T>, sep: Parser<unknown>): Parser<T[]> =>
  bind(p, (x) => map(many(then(sep, p)), (xs) => [x, ...xs]));
const optionMaybe = <T>(p: Parser<T>): Parser<T | undefined> => alt<T | undefined>(p, pure(undefined));
const between = <T>(open: Parser<unknown>, close: Parser<unknown>, p: Parser<T>) =>
  then(open, before(p, close));

/** `notFollowedBy p`: fails (with what p read) where p would succeed. */
function notFollowedBy(p: Parser<string>): Parser<undefined> {
  return (input, pos) => {
    const r = attempt(p)(input, pos);
    if (r.ok) {
      return {
        ok: false,
        consumed: false,
        err: { pos: r.pos, messages: [{ kind: UNEXPECT, text: `'${r.value}'` }] },
      };
    }
    return { ok: true, value: undefined, pos, consumed: false, err: r.err };
  };
}

// ---------------------------------------------------------------- PostgREST's grammar

export type OpExpr =
  | { readonly kind: 'in'; readonly negate: boolean; readonly op: 'in'; readonly list: string[] }
  | { readonly kind: 'is'; readonly negate: boolean; readonly op: 'is'; readonly value: string }
  | {
      readonly kind: 'op';
      readonly negate: boolean;
      readonly op: string;
      readonly value: string;
      readonly quantifier?: 'any' | 'all';
      readonly language?: string;
    };

const ws = many(oneOf(' \t'));
const lexeme = <T>(p: Parser<T>) => then(ws, before(p, ws));
const delimiter = label(char('.'), 'delimiter (.)');
const singleVal = map(many(anyChar), (cs) => cs.join(''));

const quotedValue = map(
  between(char('"'), char('"'), many(alt(noneOf('\\"'), then(char('\\'), anyChar)))),
  (cs) => cs.join(''),
);
const listElement = alt(
  attempt(before(quotedValue, notFollowedBy(noneOf(',)')))),
  map(many(noneOf(',)')), (cs) => cs.join('')),
);
const listVal = then(lexeme(char('(')), before(sepBy1(listElement, char(',')), lexeme(char(')'))));

const ciString = (s: string): Parser<string> =>
  [...s].reduce<Parser<string>>(
    (acc, c) => bind(acc, (done) => map(alt(char(c), char(c.toUpperCase())), (x) => done + x)),
    pure(''),
  );
const triVal = label(
  alt(...['null', 'unknown', 'true', 'false'].map((w) => attempt(map(ciString(w), () => w)))),
  'null or trilean value (unknown, true, false)',
);

const letter = label(
  satisfy((ch) => /\p{L}/u.test(ch)),
  'letter',
);
const digit = label(
  satisfy((ch) => ch >= '0' && ch <= '9'),
  'digit',
);
const identifier = map(many1(alt(letter, digit, oneOf('_ $'))), (cs) => cs.join('').trim());

const words = (ws: string[], name: string) => label(alt(...ws.map((w) => attempt(string(w)))), name);
const SIMPLE = ['neq', 'cs', 'cd', 'ov', 'sl', 'sr', 'nxr', 'nxl', 'adj'];
/** Operators that take `(any)`/`(all)`; longer names first, as the grammar tries them in order. */
export const QUANTIFIABLE = ['eq', 'gte', 'gt', 'lte', 'lt', 'like', 'ilike', 'match', 'imatch'];
/** Full-text operators, which take a `(language)`. */
export const FTS = ['fts', 'plfts', 'phfts', 'wfts'];

function operation(negate: boolean, sval: Parser<string>): Parser<OpExpr> {
  const inList = then(
    attempt(then(string('in'), delimiter)),
    map(listVal, (list): OpExpr => ({ kind: 'in', negate, op: 'in', list })),
  );
  const is = then(
    attempt(then(string('is'), delimiter)),
    map(triVal, (value): OpExpr => ({ kind: 'is', negate, op: 'is', value })),
  );
  const isDistinct = then(
    attempt(then(string('isdistinct'), delimiter)),
    map(sval, (value): OpExpr => ({ kind: 'op', negate, op: 'isdistinct', value })),
  );
  const fts = bind(alt(...FTS.map((w) => attempt(string(w)))), (op) =>
    bind(optionMaybe(attempt(between(char('('), char(')'), identifier))), (language) =>
      then(
        delimiter,
        map(
          sval,
          (value): OpExpr => ({
            kind: 'op',
            negate,
            op,
            value,
            ...(language !== undefined ? { language } : {}),
          }),
        ),
      ),
    ),
  );
  const simple = bind(words(SIMPLE, 'unknown single value operator'), (op) =>
    then(
      delimiter,
      map(sval, (value): OpExpr => ({ kind: 'op', negate, op, value })),
    ),
  );
  const quantified = bind(words(QUANTIFIABLE, 'unknown single value operator'), (op) =>
    bind(
      optionMaybe(
        attempt(
          between(
            char('('),
            char(')'),
            alt<'any' | 'all'>(
              attempt(map(string('any'), () => 'any' as const)),
              map(string('all'), () => 'all' as const),
            ),
          ),
        ),
      ),
      (quantifier) =>
        then(
          delimiter,
          map(
            sval,
            (value): OpExpr => ({ kind: 'op', negate, op, value, ...(quantifier ? { quantifier } : {}) }),
          ),
        ),
    ),
  );
  return label(
    alt(inList, is, isDistinct, attempt(fts), attempt(simple), attempt(quantified)),
    'operator (eq, gt, ...)',
  );
}

/** `pOpExpr pSVal`: `not.` or not, then the operation, its value read by `sval` (pSVal). */
function opExprWith(sval: Parser<string>): Parser<OpExpr> {
  const operations = [operation(false, sval), operation(true, sval)] as const;
  const not = alt(
    attempt(
      then(
        string('not'),
        map(delimiter, () => true),
      ),
    ),
    pure(false),
  );
  return bind(not, (negate) => operations[negate ? 1 : 0]);
}

const opExpr = opExprWith(singleVal);

// ---------------------------------------------------------------- logic trees (pLogicTree)

const lookAhead =
  <T>(p: Parser<T>): Parser<T> =>
  (input, pos) => {
    const r = p(input, pos);
    return r.ok ? { ok: true, value: r.value, pos, consumed: false, err: unknown(pos) } : r;
  };
/** Parsec's `eof`: its `anyToken` does not advance, so the error is where the character is. */
const eof: Parser<undefined> = (input, pos) => {
  const ch = input[pos];
  if (ch === undefined) return { ok: true, value: undefined, pos, consumed: false, err: unknown(pos) };
  const messages = [
    { kind: UNEXPECT, text: `'${ch}'` },
    { kind: EXPECT, text: 'end of input' },
  ];
  return { ok: false, consumed: false, err: { pos, messages } };
};
const option = <T>(fallback: T, p: Parser<T>): Parser<T> => alt(p, pure(fallback));
const join = (p: Parser<string[]>) => map(p, (cs) => cs.join(''));

const dash = map(attempt(then(char('-'), notFollowedBy(char('>')))), () => '-');
const sepByDash = (p: Parser<string>) => map(sepBy1(p, dash), (parts) => parts.join('-'));
const fieldName = label(alt(quotedValue, sepByDash(identifier)), 'field name (* or [a..z0..9_$])');
const jsonKeyName = label(
  alt(quotedValue, sepByDash(map(many1(noneOf('(-:.,>)')), (cs) => cs.join('').trim()))),
  'any non reserved character different from: .,>()',
);
const jsonEnd = alt(
  ...['->', '::', '.', ','].map((s) => attempt(map(lookAhead(string(s)), () => undefined))),
  attempt(eof),
);
const jsonIndex = bind(option('+', char('-')), (sign) =>
  before(
    map(many1(digit), (ds) => sign + ds.join('')),
    jsonEnd,
  ),
);
const jsonOperation = then(
  alt(attempt(string('->>')), attempt(string('->'))),
  alt<string>(attempt(jsonIndex), attempt(jsonKeyName)),
);
const field = lexeme(then(fieldName, option<string[]>([], many(jsonOperation))));

const pgArray = then(string('{'), then(many(noneOf('{}')), string('}')));
const logicSingleVal = alt(
  attempt(before(quotedValue, notFollowedBy(noneOf(',)')))),
  attempt(pgArray),
  join(many(noneOf(',)'))),
);
const logicFilter = then(before(field, delimiter), opExprWith(logicSingleVal));
const negation = label(
  alt(
    attempt(
      then(
        string('not'),
        map(delimiter, () => true),
      ),
    ),
    pure(false),
  ),
  'negation operator (not)',
);
const logicOp = label(alt(attempt(string('and')), string('or')), 'logic operator (and, or)');

const logicTree: Parser<unknown> = (input, pos) =>
  alt<unknown>(
    attempt(logicFilter),
    then(
      negation,
      then(logicOp, then(lexeme(char('(')), before(sepBy1(logicTree, lexeme(char(','))), lexeme(char(')'))))),
    ),
  )(input, pos);

/**
 * Where PostgREST 12's pLogicTree fails on `op` (`or`, `not.and`…) followed by the parameter's
 * value, as it parses them together; undefined when it reads them (what follows is not read).
 */
export function logicTreeFailure(text: string): ParseFailure | undefined {
  const r = logicTree(Array.from(text), 0);
  return r.ok ? undefined : r.err;
}

// ---------------------------------------------------------------- order (pOrder)

const orderEnd = alt(attempt(map(lookAhead(char(',')), () => undefined)), attempt(eof));
const afterDelimiter = (w: string) => attempt(then(delimiter, string(w)));
const orderDirection = alt(afterDelimiter('asc'), afterDelimiter('desc'));
const orderNulls = alt(afterDelimiter('nullsfirst'), afterDelimiter('nullslast'));
const orderRest = then(
  optionMaybe(orderDirection),
  alt<unknown>(then(optionMaybe(orderNulls), orderEnd), orderEnd),
);
const orderTerm = lexeme(
  alt<unknown>(
    attempt(then(fieldName, then(between(char('('), char(')'), field), orderRest))),
    then(field, orderRest),
  ),
);
const order = sepBy1(orderTerm, char(','));

/** Where PostgREST 12's pOrder fails on an `order` value; undefined when it reads one. */
export function orderFailure(text: string): ParseFailure | undefined {
  const r = order(Array.from(text), 0);
  return r.ok ? undefined : r.err;
}

/** Parsec's showErrorMessages, as PostgREST joins it into one line. */
export function describeFailure(err: ParseFailure): string {
  const sorted = [...err.messages].sort((a, b) => a.kind - b.kind);
  const sys = sorted.filter((m) => m.kind === SYS_UNEXPECT);
  const unexpected = sorted.filter((m) => m.kind === UNEXPECT);
  const expected = sorted.filter((m) => m.kind === EXPECT);
  const clean = (texts: string[]) => [...new Set(texts.filter(Boolean))];
  const orList = (texts: string[]) =>
    texts.length <= 1 ? (texts[0] ?? '') : `${texts.slice(0, -1).join(', ')} or ${texts.at(-1)}`;
  const many = (prefix: string, ms: Message[]) => {
    const texts = clean(ms.map((m) => m.text));
    return texts.length ? `${prefix} ${orList(texts)}` : '';
  };
  const first = sys[0]?.text;
  const parts = [
    unexpected.length || !sys.length ? '' : `unexpected ${first ? first : 'end of input'}`,
    many('unexpected', unexpected),
    many('expecting', expected),
  ];
  const shown = clean(parts);
  return shown.length ? shown.join(' ') : 'unknown parse error';
}

type OpExprResult = { ok: true; expr: OpExpr } | { ok: false; err: ParseFailure };

/**
 * The filter's value as PostgREST reads it (what follows a complete operation is ignored), or where it
 * fails. The shapes nearly every request sends are read directly, to the same result the grammar
 * gives (filter-expr.test.ts compares the two over generated values): the grammar's combinators cost
 * about 10 µs for `eq.42`, five times the rest of parsing a query. Everything else, and every error
 * with its message, goes through the grammar.
 */
export function parseOpExpr(text: string): OpExprResult {
  const op = DIRECT_OP.exec(text);
  if (op) {
    const negate = op[1] !== undefined;
    const name = op[2]!;
    if (DIRECT_SINGLE_VALUE.has(name)) {
      return { ok: true, expr: { kind: 'op', negate, op: name, value: text.slice(op[0].length) } };
    }
    const list = name === 'in' ? DIRECT_IN_LIST.exec(text.slice(op[0].length)) : null;
    if (list) return { ok: true, expr: { kind: 'in', negate, op: 'in', list: list[1]!.split(',') } };
  }
  return parseOpExprByGrammar(text);
}

/** `[not.]op.` with a lower-case operator name. */
const DIRECT_OP = /^(not\.)?([a-z]+)\./;
/** Operators whose value is the rest of the text as it is, when no `(any)`/`(all)` follows them. */
const DIRECT_SINGLE_VALUE = new Set([...SIMPLE, ...QUANTIFIABLE, 'isdistinct']);
/** A list with nothing the grammar reads specially: no quote, no space after `(`, nothing after `)`. */
const DIRECT_IN_LIST = /^\((?![\s])([^",)]*(?:,[^",)]*)*)\)$/;

/** parseOpExpr by the grammar alone (the reference the direct reading is tested against). */
export function parseOpExprByGrammar(text: string): OpExprResult {
  const r = opExpr(Array.from(text), 0);
  return r.ok ? { ok: true, expr: r.value } : { ok: false, err: r.err };
}

/** Parsec's position of the `pos`th character: a tab moves to the next multiple of 8, a newline starts a line. */
export function sourcePosition(text: string, pos: number): { line: number; column: number } {
  let line = 1;
  let column = 1;
  for (const ch of Array.from(text).slice(0, pos)) {
    if (ch === '\n') {
      line++;
      column = 1;
    } else if (ch === '\t') column += 8 - ((column - 1) % 8);
    else column++;
  }
  return { line, column };
}
