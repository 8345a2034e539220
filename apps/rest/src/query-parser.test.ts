import { describe, expect, it } from 'vitest';
import { ApiError } from './errors.js';
import {
  decodeQueryString,
  parseFilter,
  parseLogicTree,
  parseOrder,
  parseQuery,
  parseSelect,
} from './query-parser.js';

const field = (name: string) => ({ name, json: [] });

function parseErrorOf(fn: () => unknown) {
  try {
    fn();
  } catch (error) {
    if (error instanceof ApiError) return { status: error.status, ...error.body };
    throw error;
  }
  throw new Error('expected a parse error');
}

describe('select', () => {
  it('parses aggregate functions: count(), on a column, with casts of input and result, aliased', () => {
    expect(
      parseSelect(
        'count(),n:count()::text,amount.sum(),total:amount::int.avg()::text,data->>x::numeric.max()',
      ),
    ).toEqual([
      { kind: 'aggregate', fn: 'count' },
      { kind: 'aggregate', fn: 'count', alias: 'n', cast: 'text' },
      { kind: 'aggregate', fn: 'sum', field: field('amount') },
      {
        kind: 'aggregate',
        fn: 'avg',
        field: field('amount'),
        alias: 'total',
        inputCast: 'int',
        cast: 'text',
      },
      {
        kind: 'aggregate',
        fn: 'max',
        field: { name: 'data', json: [{ arrow: '->>', key: 'x' }] },
        inputCast: 'numeric',
      },
    ]);
    // As in PostgREST, `count(` never opens an embedded resource, and only the five functions exist.
    for (const select of ['count(*)', 'amount.median()', 'amount.summary()', 'amount.sum', '*.sum()']) {
      expect(
        parseErrorOf(() => parseSelect(select)),
        select,
      ).toMatchObject({ code: 'PGRST100' });
    }
  });

  it('parses columns, aliases, casts, JSON paths, embeds with hints, !inner and spreads', () => {
    expect(parseSelect('id,name:title,price::text,isbn:meta->stats->>isbn,meta->0')).toEqual([
      { kind: 'column', field: field('id') },
      { kind: 'column', field: field('title'), alias: 'name' },
      { kind: 'column', field: field('price'), cast: 'text' },
      {
        kind: 'column',
        field: {
          name: 'meta',
          json: [
            { arrow: '->', key: 'stats' },
            { arrow: '->>', key: 'isbn' },
          ],
        },
        alias: 'isbn',
      },
      { kind: 'column', field: { name: 'meta', json: [{ arrow: '->', key: 0 }] } },
    ]);
    expect(parseSelect('*,writer:authors!author_id!inner(name),...publishers(p:name),genres()')).toEqual([
      { kind: 'star' },
      {
        kind: 'embed',
        name: 'authors',
        alias: 'writer',
        hint: 'author_id',
        inner: true,
        spread: false,
        select: [{ kind: 'column', field: field('name') }],
      },
      {
        kind: 'embed',
        name: 'publishers',
        inner: false,
        spread: true,
        select: [{ kind: 'column', field: field('name'), alias: 'p' }],
      },
      { kind: 'embed', name: 'genres', inner: false, spread: false, select: [] },
    ]);
    expect(parseSelect('"my col",other-name')).toEqual([
      { kind: 'column', field: field('my col') },
      { kind: 'column', field: field('other-name') },
    ]);
  });

  it('reads a cast as pIdentifier does: words with spaces, trimmed; a second cast without an aggregate is dropped', () => {
    expect(parseSelect('a::double precision,b:: character varying ,c::text::int')).toEqual([
      { kind: 'column', field: field('a'), cast: 'double precision' },
      { kind: 'column', field: field('b'), cast: 'character varying' },
      { kind: 'column', field: field('c'), cast: 'text' },
    ]);
    expect(parseErrorOf(() => parseSelect('id::text[]'))).toMatchObject({
      message: '"failed to parse select parameter (id::text[])" (line 1, column 9)',
      details: 'unexpected \'[\' expecting letter, digit, ".", "::", ")", "," or end of input',
    });
    expect(parseErrorOf(() => parseSelect('name::'))).toMatchObject({
      details: 'unexpected end of input expecting letter or digit',
    });
    // The type is SQL text: no word of it may open a dollar quote.
    for (const select of ['a::$$x', 'a::text $$', 'a::int 1$$']) {
      expect(
        parseErrorOf(() => parseSelect(select)),
        select,
      ).toMatchObject({ code: 'PGRST100' });
    }
  });

  it('reads a JSON operand starting with a dash as an index or fails, as pJsonPath (its doctests)', () => {
    expect(parseSelect('data->>-1,data->-2::int')).toEqual([
      { kind: 'column', field: { name: 'data', json: [{ arrow: '->>', key: -1 }] } },
      { kind: 'column', field: { name: 'data', json: [{ arrow: '->', key: -2 }] }, cast: 'int' },
    ]);
    expect(parseErrorOf(() => parseSelect('data->>-78xy'))).toMatchObject({
      message: '"failed to parse select parameter (data->>-78xy)" (line 1, column 11)',
      details: 'unexpected \'x\' expecting digit, "->", "::", ".", "," or end of input',
    });
    expect(parseErrorOf(() => parseSelect('data->>-xy-4'))).toMatchObject({
      message: '"failed to parse select parameter (data->>-xy-4)" (line 1, column 9)',
      details: 'unexpected "x" expecting digit',
    });
  });

  it('reads digits as an index only before "->", "::", ".", "," or the end, else as a text key (pJsonPath)', () => {
    // PostgREST 12.2 QueryParams.hs pJsonOperand: its pEnd has no ")", so the last field of an embed
    // or of a related order reads `0` as the key '0'.
    const path = (key: string | number) => ({ name: 'data', json: [{ arrow: '->', key }] });
    expect(parseSelect('a(data->0),b(data->0,id),data->0a,data->0-a')).toMatchObject([
      { kind: 'embed', name: 'a', select: [{ kind: 'column', field: path('0') }] },
      { kind: 'embed', name: 'b', select: [{ kind: 'column', field: path(0) }, { kind: 'column' }] },
      { kind: 'column', field: path('0a') },
      { kind: 'column', field: path('0-a') },
    ]);
    expect(parseOrder('a(data->0).desc,data->0.desc')).toMatchObject([
      { relation: 'a', field: path('0'), direction: 'desc' },
      { field: path(0), direction: 'desc' },
    ]);
    // A key may not start with a dash, so a negative one there is no index and fails.
    expect(parseErrorOf(() => parseSelect('a(data->-1)'))).toMatchObject({
      message: '"failed to parse select parameter (a(data->-1))" (line 1, column 11)',
      details: 'unexpected \')\' expecting digit, "->", "::", ".", "," or end of input',
    });
  });

  it('reports where parsing failed', () => {
    expect(parseErrorOf(() => parseSelect('id,'))).toEqual({
      status: 400,
      code: 'PGRST100',
      message: '"failed to parse select parameter (id,)" (line 1, column 4)',
      details: 'unexpected end of input expecting field name',
      hint: null,
    });
    expect(parseErrorOf(() => parseSelect('id::;x'))).toMatchObject({
      message: '"failed to parse select parameter (id::;x)" (line 1, column 5)',
    });
    expect(parseErrorOf(() => parseSelect('a(b'))).toMatchObject({
      details: 'unexpected end of input expecting ")"',
    });
    // Its doctest: with no `(` after the hint, PostgREST reads a column, which ends before the `!`.
    expect(parseErrorOf(() => parseSelect('name!hint'))).toMatchObject({
      message: '"failed to parse select parameter (name!hint)" (line 1, column 5)',
      details:
        'unexpected \'!\' expecting letter, digit, "-", "->>", "->", "::", ".", ")", "," or end of input',
    });
  });

  it('does not read what follows a list ending at a `)` or in an embed, as pFieldForest (no end of input)', () => {
    expect(parseSelect('id,name)x;y')).toEqual([
      { kind: 'column', field: field('id') },
      { kind: 'column', field: field('name') },
    ]);
    expect(parseSelect('a(b)junk')).toEqual([
      {
        kind: 'embed',
        name: 'a',
        inner: false,
        spread: false,
        select: [{ kind: 'column', field: field('b') }],
      },
    ]);
    expect(parseErrorOf(() => parseSelect('*x'))).toMatchObject({ code: 'PGRST100' });
    expect(parseLogicTree('or', false, '(a.eq.1))junk')).toMatchObject({ kind: 'logic', op: 'or' });
  });
});

describe('filters and logic trees', () => {
  it('parses operators, negation, lists with quotes, is values, languages and quantifiers', () => {
    expect(parseFilter(field('a'), 'not.in.(1,"x,y","q\\"uote")')).toEqual({
      kind: 'filter',
      field: field('a'),
      negate: true,
      op: 'in',
      value: ['1', 'x,y', 'q"uote'],
    });
    expect(parseFilter(field('a'), 'is.NULL')).toMatchObject({ op: 'is', value: 'null' });
    expect(parseFilter(field('a'), 'fts(english).fat & rat')).toMatchObject({
      op: 'fts',
      language: 'english',
      value: 'fat & rat',
    });
    // A quantified value is the array literal as sent, for Postgres to read (PostgREST pgFmtFilter
    // OpQuant): `(any).apple` is Postgres's malformed literal, not a parse error.
    expect(parseFilter(field('a'), 'like(any).{a*,"b c"}')).toMatchObject({
      op: 'like',
      quantifier: 'any',
      value: '{a*,"b c"}',
    });
    expect(parseFilter(field('a'), 'eq(all).apple')).toMatchObject({ quantifier: 'all', value: 'apple' });
    expect(parseLogicTree('or', false, '(a.gt(any).{1,2},b.eq(all).x)')).toMatchObject({
      children: [
        { quantifier: 'any', value: '{1,2}' },
        { quantifier: 'all', value: 'x' },
      ],
    });
    expect(parseErrorOf(() => parseLogicTree('or', false, '(a.neq(any).{1,2})'))).toMatchObject({
      code: 'PGRST100',
    });
    expect(parseFilter(field('a'), 'eq.a.b,c)')).toMatchObject({ value: 'a.b,c)' });
    expect(parseErrorOf(() => parseFilter(field('a'), 'is.maybe'))).toMatchObject({
      code: 'PGRST100',
      message: '"failed to parse filter (is.maybe)" (line 1, column 4)',
    });
    expect(parseErrorOf(() => parseFilter(field('a'), 'not.between.1'))).toMatchObject({
      message: '"failed to parse filter (not.between.1)" (line 1, column 5)',
      details: 'unexpected "b" expecting operator (eq, gt, ...)',
    });
  });

  it('names "not" among the expected when no operator starts the value, as PostgREST 12 (Parsec)', () => {
    const failure = (value: string) => {
      const { message, details } = parseErrorOf(() => parseFilter(field('a'), value)) as Record<
        string,
        unknown
      >;
      return [message, details];
    };
    const notOrOperator = 'expecting "not" or operator (eq, gt, ...)';
    // QuerySpec "fails if an operator is not given"; the doctests of pRequestFilter.
    expect(failure('0')).toEqual([
      '"failed to parse filter (0)" (line 1, column 1)',
      `unexpected "0" ${notOrOperator}`,
    ]);
    expect(failure('val')).toEqual([
      '"failed to parse filter (val)" (line 1, column 1)',
      `unexpected "v" ${notOrOperator}`,
    ]);
    // The character named is the first that differs from "not".
    expect(failure('noop.0')).toEqual([
      '"failed to parse filter (noop.0)" (line 1, column 1)',
      `unexpected "o" ${notOrOperator}`,
    ]);
    expect(failure('between.1')[1]).toBe(`unexpected "b" ${notOrOperator}`);
    expect(failure('')).toEqual([
      '"failed to parse filter ()" (line 1, column 1)',
      `unexpected end of input ${notOrOperator}`,
    ]);
    expect(failure('no')[1]).toBe(`unexpected end of input ${notOrOperator}`);
    // "not" read, then no delimiter.
    expect(failure('nothing.1')).toEqual([
      '"failed to parse filter (nothing.1)" (line 1, column 4)',
      'unexpected "h" expecting delimiter (.)',
    ]);
  });

  it('reports a malformed filter where Parsec does: the furthest any operator got, and what it expected there', () => {
    // PostgREST 12 QueryParams pOpExpr: every operator is tried; "eq" read in "eqx" fails at the x.
    const failure = (value: string) => {
      const { message, details } = parseErrorOf(() => parseFilter(field('a'), value)) as Record<
        string,
        unknown
      >;
      return [message, details];
    };
    expect(failure('eqx.1')).toEqual([
      '"failed to parse filter (eqx.1)" (line 1, column 3)',
      'unexpected "x" expecting operator (eq, gt, ...)',
    ]);
    expect(failure('eq')).toEqual([
      '"failed to parse filter (eq)" (line 1, column 3)',
      'unexpected end of input expecting operator (eq, gt, ...)',
    ]);
    expect(failure('in.(1,2')).toEqual([
      '"failed to parse filter (in.(1,2)" (line 1, column 8)',
      'unexpected end of input expecting "," or ")"',
    ]);
    expect(failure('not.xx.1')).toEqual([
      '"failed to parse filter (not.xx.1)" (line 1, column 5)',
      'unexpected "x" expecting operator (eq, gt, ...)',
    ]);
    // Parsec's string names the first character that differs, at the string's start.
    expect(failure('not.ixx.1')[1]).toBe('unexpected "x" expecting operator (eq, gt, ...)');
    expect(failure('is.x')).toEqual([
      '"failed to parse filter (is.x)" (line 1, column 4)',
      'unexpected "x" expecting null or trilean value (unknown, true, false)',
    ]);
    expect(failure('is.not_null')[0]).toBe('"failed to parse filter (is.not_null)" (line 1, column 5)');
    expect(failure('in.1')[1]).toBe('unexpected "1" expecting "("');
    // A tab moves Parsec's column to the next multiple of 8.
    expect(failure('in.(\t1,2')[0]).toBe('"failed to parse filter (in.(\t1,2)" (line 1, column 12)');
  });

  it('ignores what follows a complete operation, as PostgREST 12 (no end of input is required)', () => {
    expect(parseFilter(field('a'), 'in.(1,2)x')).toMatchObject({ op: 'in', value: ['1', '2'] });
    // One empty element is the empty list, as PostgREST renders it.
    expect(parseFilter(field('a'), 'in.()')).toMatchObject({ op: 'in', value: [] });
    expect(parseFilter(field('a'), 'is.NuLlx')).toMatchObject({ op: 'is', value: 'null' });
    expect(parseFilter(field('a'), 'not.eq.1')).toMatchObject({ op: 'eq', negate: true, value: '1' });
  });

  it('parses nested and negated trees with quoted and array values', () => {
    expect(parseLogicTree('or', false, '(a.eq.1,not.and(b.cs.{x,y},c.eq."p,q)"),d->>k.is.null)')).toEqual({
      kind: 'logic',
      op: 'or',
      negate: false,
      children: [
        { kind: 'filter', field: field('a'), negate: false, op: 'eq', value: '1' },
        {
          kind: 'logic',
          op: 'and',
          negate: true,
          children: [
            { kind: 'filter', field: field('b'), negate: false, op: 'cs', value: '{x,y}' },
            { kind: 'filter', field: field('c'), negate: false, op: 'eq', value: 'p,q)' },
          ],
        },
        {
          kind: 'filter',
          field: { name: 'd', json: [{ arrow: '->>', key: 'k' }] },
          negate: false,
          op: 'is',
          value: 'null',
        },
      ],
    });
    // PostgREST parses the operator and the value together ("or(a.eq.1"): its columns count "or".
    expect(parseErrorOf(() => parseLogicTree('or', false, '(a.eq.1'))).toMatchObject({
      message: '"failed to parse logic tree ((a.eq.1)" (line 1, column 10)',
      details: 'unexpected end of input expecting "," or ")"',
    });
  });

  it('reports a malformed logic tree as PostgREST 12 does (Parsec over pLogicTree)', () => {
    // AndOrParamsSpec "cannot have zero conditions".
    expect(parseErrorOf(() => parseLogicTree('or', false, '()'))).toEqual({
      status: 400,
      code: 'PGRST100',
      message: '"failed to parse logic tree (())" (line 1, column 4)',
      details:
        'unexpected ")" expecting field name (* or [a..z0..9_$]), negation operator (not) or logic operator (and, or)',
      hint: null,
    });
    expect(parseErrorOf(() => parseLogicTree('and', false, '(a.eqx.1,b.eq.2)'))).toMatchObject({
      message: '"failed to parse logic tree ((a.eqx.1,b.eq.2))" (line 1, column 9)',
      details: 'unexpected "x" expecting operator (eq, gt, ...)',
    });
    // As outside trees, 12.2 has no is.not_null.
    expect(parseErrorOf(() => parseLogicTree('or', false, '(a.is.not_null)'))).toMatchObject({
      message: '"failed to parse logic tree ((a.is.not_null))" (line 1, column 10)',
      details: 'unexpected "o" expecting null or trilean value (unknown, true, false)',
    });
    expect(parseErrorOf(() => parseLogicTree('or', true, '(a.eq.1,)'))).toMatchObject({
      message: '"failed to parse logic tree ((a.eq.1,))" (line 1, column 15)',
    });
  });

  it('allows spaces around the parts of a tree and around quoted list values, as PostgREST', () => {
    // A bare value ends at "," or ")" (its trailing spaces are its own, as in PostgREST).
    const spaced = parseLogicTree(
      'and',
      false,
      '( and ( a.in.( 1, "x" ) , b.eq.3) , not.or ( c.eq.2, d.eq.4) )',
    );
    const tight = parseLogicTree('and', false, '(and(a.in.( 1,x),b.eq.3),not.or(c.eq.2,d.eq.4))');
    expect(spaced).toEqual(tight);
  });

  it('reads a quoted list value that does not end at "," or ")" as a bare value, as PostgREST', () => {
    expect(parseFilter(field('a'), 'in.("a"b)')).toMatchObject({ value: ['"a"b'] });
    expect(parseFilter(field('a'), 'in.("a"b,"c")')).toMatchObject({ value: ['"a"b', 'c'] });
    expect(parseFilter(field('a'), 'in.("ab)')).toMatchObject({ value: ['"ab'] });
    // So in a logic tree (pLogicSingleVal), where an array literal holds no brace and `[` is no
    // bracket: `[1,2]` is two elements, the second no filter.
    const values = (text: string) =>
      parseLogicTree('or', false, text).children.map((f) => (f.kind === 'filter' ? f.value : f));
    expect(values('(a.eq."a b"x,b.eq."c")')).toEqual(['"a b"x', 'c']);
    expect(values('(a.eq."ab,b.eq.2)')).toEqual(['"ab', '2']);
    expect(values('(a.eq."x" ,b.cs.{1,2})')).toEqual(['"x" ', '{1,2}']);
    for (const tree of ['(a.cs.[1,2])', '(a.eq(any).{{1},{2}})']) {
      expect(parseErrorOf(() => parseLogicTree('or', false, tree))).toMatchObject({ code: 'PGRST100' });
    }
  });
});

describe('order and whole query strings', () => {
  it('parses order terms', () => {
    expect(parseOrder('a.desc.nullslast,b,c->x.asc')).toEqual([
      { field: field('a'), direction: 'desc', nulls: 'last' },
      { field: field('b') },
      { field: { name: 'c', json: [{ arrow: '->', key: 'x' }] }, direction: 'asc' },
    ]);
    expect(parseErrorOf(() => parseOrder('a.sideways'))).toMatchObject({ code: 'PGRST100' });
  });

  it('reports a malformed order where Parsec does (the doctests of QueryParams.hs pOrder)', () => {
    const cases: [string, number, string][] = [
      ['id.ac', 4, 'unexpected "c" expecting "asc", "desc", "nullsfirst" or "nullslast"'],
      ['id.descc', 8, 'unexpected \'c\' expecting delimiter (.), "," or end of input'],
      ['id.nullslasttt', 13, 'unexpected \'t\' expecting "," or end of input'],
      ['id.asc.smth34', 8, 'unexpected "s" expecting "nullsfirst" or "nullslast"'],
      ['id.nullsfirst.desc', 14, 'unexpected \'.\' expecting "," or end of input'],
      [
        'clients(name,id)',
        8,
        'unexpected \'(\' expecting letter, digit, "-", "->>", "->", delimiter (.), "," or end of input',
      ],
      ['id,', 4, 'unexpected end of input expecting field name (* or [a..z0..9_$])'],
    ];
    for (const [order, column, details] of cases) {
      expect(parseErrorOf(() => parseOrder(order))).toEqual({
        status: 400,
        code: 'PGRST100',
        message: `"failed to parse order (${order})" (line 1, column ${column})`,
        details,
        hint: null,
      });
    }
  });

  it('splits levels for embedded resources, decodes + and %XX, keeps RPC arguments apart', () => {
    const q = parseQuery(
      'select=*,books(*)&books.order=id.desc&books.limit=2&books.not.or=(id.eq.1)&title=eq.a+b%2Cc&limit=5&offset=10',
    );
    expect(q.levels.get('')).toEqual({
      conditions: [{ kind: 'filter', field: field('title'), negate: false, op: 'eq', value: 'a b,c' }],
      limit: 5,
      offset: 10,
    });
    expect(q.levels.get('books')).toMatchObject({
      order: [{ field: field('id'), direction: 'desc' }],
      limit: 2,
    });
    expect(q.levels.get('books')?.conditions[0]).toMatchObject({ kind: 'logic', op: 'or', negate: true });
    const rpc = parseQuery('a=1&b=x&total=gt.3', new Set(['a', 'b']));
    expect(rpc.rawParams).toEqual([
      ['a', '1'],
      ['b', 'x'],
    ]);
    expect(rpc.levels.get('')?.conditions).toHaveLength(1);
    expect(parseErrorOf(() => parseQuery('limit=-1'))).toMatchObject({
      code: 'PGRST103',
      details: 'Limit should be greater than or equal to zero.',
    });
    // Escapes of bytes that are no UTF-8 cannot be read (PostgREST's decodeUtf8 fails on them too).
    expect(parseErrorOf(() => parseQuery('a=eq.%FF'))).toMatchObject({ code: 'PGRST100' });
  });

  it('reads a limit or offset that is no integer as no bound, a limit as 0 once an offset is given (QueryParams.hs ranges)', () => {
    const root = (query: string) => parseQuery(query).levels.get('');
    expect(root('limit=abc')).toEqual({ conditions: [] });
    expect(root('offset=1e2')).toEqual({ conditions: [] });
    expect(root('limit=2&limit=x')).toEqual({ conditions: [] });
    expect(root('limit=2&offset=x')).toEqual({ conditions: [], limit: 2 });
    expect(root('limit=+3+&offset=%201')).toEqual({ conditions: [], limit: 3, offset: 1 });
    // unionWith … fromMaybe 0: rows 0 … -1 are limit=0, rows 2 … 1 none at all (416); an embed
    // takes them as they are.
    expect(root('limit=abc&offset=x')).toEqual({ conditions: [], limit: 0 });
    expect(root('limit=1.5&offset=0')).toEqual({ conditions: [], limit: 0, offset: 0 });
    expect(() => parseQuery('limit=x&offset=2')).toThrow(
      expect.objectContaining({ status: 416, body: expect.objectContaining({ code: 'PGRST103' }) }),
    );
    expect(parseQuery('books.limit=x&books.offset=2').levels.get('books')).toEqual({
      conditions: [],
      limit: 0,
      offset: 2,
    });
  });

  it('reads the embedded resource of an order, limit, offset or logic key quoted or not (pTreePath, pLogicPath)', () => {
    const levels = parseQuery(
      '"my kids".order=id&"my kids".limit=1&"my kids".offset=2&"my kids".not.or=(a.eq.1)',
    ).levels;
    expect(levels.get('my kids')).toMatchObject({ order: [{ field: field('id') }], limit: 1, offset: 2 });
    expect(levels.get('my kids')?.conditions).toMatchObject([{ kind: 'logic', op: 'or', negate: true }]);
  });

  it('sends an embed’s negative limit or offset on to Postgres, and answers the root’s as PostgREST', () => {
    const level = (query: string, path: string) => parseQuery(query).levels.get(path);
    expect(level('books.limit=-1&books.offset=-2', 'books')).toEqual({
      conditions: [],
      limit: -1,
      offset: -2,
    });
    expect(level('limit=3&offset=-1', '')).toEqual({ conditions: [], limit: 2, offset: 0 });
    expect(level('limit=1&offset=-1', '')).toEqual({ conditions: [], limit: 0, offset: 0 });
    // Checked once the whole query string is read: a malformed select is the error first.
    expect(() => parseQuery('limit=-1&select=a(')).toThrow(expect.objectContaining({ status: 400 }));
    expect(() => parseQuery('limit=0&offset=5')).toThrow(expect.objectContaining({ status: 416 }));
  });

  it('decodes the query string as http-types does for PostgREST: `%` starting no escape is itself, a key without `=` is no parameter', () => {
    expect(decodeQueryString('a=100%&b=%zz%41&c=%4')).toEqual([
      ['a', '100%'],
      ['b', '%zzA'],
      ['c', '%4'],
    ]);
    expect(decodeQueryString('select=id&name&order=id&&x=')).toEqual([
      ['select', 'id'],
      ['order', 'id'],
      ['x', ''],
    ]);
    // A form body keeps them, as the empty value (parseSimpleQuery).
    expect(decodeQueryString('a&b=1', true)).toEqual([
      ['a', ''],
      ['b', '1'],
    ]);
    // `;` separates parameters as `&` does (http-types' queryStringSeparators); `%3B` is a value's.
    expect(decodeQueryString('select=id;id=eq.1&name=eq.a%3Bb')).toEqual([
      ['select', 'id'],
      ['id', 'eq.1'],
      ['name', 'eq.a;b'],
    ]);
    expect(decodeQueryString('id=71&name=a;note=b', true)).toEqual([
      ['id', '71'],
      ['name', 'a'],
      ['note', 'b'],
    ]);
    const q = parseQuery('select&name&id');
    expect(q.select).toEqual([{ kind: 'star' }]);
    expect(q.levels.get('')).toEqual({ conditions: [] });
  });

  it('takes the first select, on_conflict, columns and order of a level, as PostgREST 12 (L.lookup, foldr)', () => {
    const q = parseQuery(
      'select=id&select=name&on_conflict=a&on_conflict=b&columns=x&columns=y&order=id.desc&order=id.asc&books.order=n&books.order=m',
    );
    expect(q.select).toEqual(parseSelect('id'));
    expect([q.onConflict, q.columns]).toEqual([['a'], ['x']]);
    expect(q.levels.get('')?.order).toEqual(parseOrder('id.desc'));
    expect(q.levels.get('books')?.order).toEqual(parseOrder('n'));
    // A later select is not even read; every order is (a malformed one fails).
    expect(parseQuery('select=id&select=(').select).toEqual(parseSelect('id'));
    expect(parseErrorOf(() => parseQuery('order=id&order=id.up'))).toMatchObject({ code: 'PGRST100' });
    // The last limit and offset of a level win (HashMap.fromList).
    expect(parseQuery('limit=1&limit=2&offset=3&offset=4').levels.get('')).toMatchObject({
      limit: 2,
      offset: 4,
    });
  });

  it('reads a GET /rpc parameter as PostgREST 12: a value that parses as a filter is one, even under an argument name', () => {
    const args = new Set(['a', 'b']);
    const q = parseQuery('a=1&b=eq.2&c=x', args);
    expect(q.rawParams).toEqual([
      ['a', '1'],
      ['c', 'x'],
    ]);
    expect(q.levels.get('')?.conditions).toEqual([parseFilter(field('b'), 'eq.2')]);
    // Once `not.`, `in.` or `is.` is read the value must be a filter (Parsec does not backtrack).
    for (const value of ['not.x', 'in.x', 'is.maybe']) {
      expect(parseErrorOf(() => parseQuery(`a=${value}`, args))).toMatchObject({ code: 'PGRST100' });
    }
    // Other values are arguments, whatever they start with.
    expect(parseQuery('a=eqx&b=like&c=no.1', args).rawParams).toEqual([
      ['a', 'eqx'],
      ['b', 'like'],
      ['c', 'no.1'],
    ]);
  });

  it('reads columns and on_conflict as lists of plain or quoted names, as PostgREST', () => {
    // supabase-js quotes every name of columns=; on_conflict is whatever the app wrote.
    const q = parseQuery('columns=%22id%22,%22my%20col%22,%22a,b%22&on_conflict=%22email%22,%20org_id');
    expect([q.columns, q.onConflict]).toEqual([
      ['id', 'my col', 'a,b'],
      ['email', 'org_id'],
    ]);
    expect(parseErrorOf(() => parseQuery('on_conflict='))).toMatchObject({
      status: 400,
      code: 'PGRST100',
      message: '"failed to parse on_conflict parameter ()" (line 1, column 1)',
    });
    expect(parseErrorOf(() => parseQuery('columns=a,b)'))).toMatchObject({ code: 'PGRST100' });
  });
});
