import { describe, expect, it } from 'vitest';
import { rawRest } from './support/clients.js';
import { exploreProjects } from './support/explore.js';

// The sixth PostgREST 12.2 sweep: the grammar of reads (select, filters, logic trees, order, limit and
// offset on embeds), raw through gateway, SigV4 and the Lambda emulator. Expected answers are
// PostgREST v12.2's (src/PostgREST/ApiRequest/QueryParams.hs with its doctests, Query/SqlFragment.hs,
// test/spec; named per test) or Postgres's own.

const SCHEMA = `
create table public.parents (id int primary key, name text);
create table public.items (id int primary key, name text, "my col" text, "select" text, "order" int, data jsonb,
  js json, tags text[], during int4range, tsv tsvector, flag boolean, parent_id int references public.parents(id));
create table public.children (id int primary key, parent_id int references public.parents(id), name text, rank int, data jsonb);
insert into public.parents values (1, 'p1'), (2, 'p2'), (3, null), (5, '');
insert into public.items values
 (1, 'a,b', 'x', 's1', 3, '{"a":1,"arr":[10,20,30],"k-1":"dash","k 2":"space"}', '{"a":1}', '{a,b}', '[1,5)',
  to_tsvector('english', 'the quick brown foxes'), true, 1),
 (2, 'c(d)', 'y', 's2', 1, '{"a":2,"arr":[]}', '{"a":2}', '{c}', '[5,10)', to_tsvector('english', 'lazy dogs jump'), false, 2),
 (3, 'e"f', null, null, null, '{"a":"3"}', null, '{}', null, null, null, null),
 (4, 'g\\h', 'z', 's4', 2, null, null, null, 'empty', to_tsvector('simple', 'the foxes'), true, 1);
insert into public.children values (1, 1, 'c1', 2, '{"x":1}'), (2, 1, 'c2', 1, '{"x":2}'), (3, 2, 'c3', null, null),
  (4, 2, 'c4', 5, '{"x":3}');
`;

const project = exploreProjects('leftovers6', SCHEMA);

/** GET /rest/v1/<target> on the first project, the target as given, with its secret key. */
const get = (target: string) => rawRest(project.a.ref, project.a.secretKey, target);
/** The `id`s of a JSON list answer, in order. */
const ids = (res: { json: () => unknown }) => (res.json() as { id: number }[]).map((r) => r.id);
/** A field of a JSON error answer. */
const field = (res: { json: () => unknown }, name: 'code' | 'message' | 'details') =>
  (res.json() as Record<string, unknown>)[name];
/** Each query's ids, for a table of cases. */
const idsOf = async (targets: string[]) =>
  Promise.all(targets.map(async (t) => [t, ids(await get(t))] as const));
/** A PGRST100 answer as PostgREST words it: what failed to parse, where, and why. */
const pgrst100 = (what: string, text: string, column: number, details: string) => ({
  code: 'PGRST100',
  message: `"failed to parse ${what} (${text})" (line 1, column ${column})`,
  details,
  hint: null,
});

describe('select', () => {
  it('casts and aliases on columns and JSON paths, * with extra columns, quoted and reserved names (QuerySpec)', async () => {
    const one = async (select: string) =>
      (await get(`items?id=eq.1&select=${encodeURIComponent(select)}`)).json();
    expect(await one('id::text,x:data->a::int,data->>a::int,alias:"my col",select,order')).toEqual([
      { id: '1', x: 1, a: 1, alias: 'x', select: 's1', order: 3 },
    ]);
    // pIdentifier takes spaces: an unquoted name with a space is that column.
    expect(await one('my col, name ')).toEqual([{ 'my col': 'x', name: 'a,b' }]);
    // A JSON path is named by its last key; indexes as PostgREST's JIdx, negative from the end.
    expect(await one('data->arr->0,last:data->arr->>-1,data->"k-1",data->>"k 2",data->k-1')).toEqual([
      { arr: 10, last: '30', 'k-1': 'dash', 'k 2': 'space' },
    ]);
    // Digits are an index only before "->", "::", ".", "," or the end (pJsonPath): as the last field
    // of an embed, before `)`, `0` is the text key '0', null on an array and named by that key.
    const embedded = await get(
      'parents?id=eq.1&select=id,a:items(data->arr->0),b:items(data->arr->0,id)&a.order=id&b.order=id',
    );
    expect(embedded.json()).toEqual([
      {
        id: 1,
        a: [{ 0: null }, { 0: null }],
        b: [
          { arr: 10, id: 1 },
          { arr: null, id: 4 },
        ],
      },
    ]);
    // The same column twice is two keys of the same name (Postgres's json_agg keeps both).
    const twice = await get('items?id=eq.2&select=id,id,parent_id');
    expect(twice.text).toBe('[{"id":2,"id":2,"parent_id":2}]');
    const starPlus = (await get('items?id=eq.2&select=*,extra:name')).json() as Record<string, unknown>[];
    expect([Object.keys(starPlus[0]!).length, starPlus[0]!.extra]).toEqual([13, 'c(d)']);
  });

  it('a cast is an identifier: spaces inside it, no brackets (QueryParams.hs pIdentifier)', async () => {
    const one = async (select: string) => {
      const res = await get(`items?id=eq.1&select=${encodeURIComponent(select)}`);
      return [res.status, res.json()];
    };
    expect(await one('id::double precision,name:: character varying ')).toEqual([
      200,
      [{ id: 1, name: 'a,b' }],
    ]);
    expect(await one('id::text[]')).toEqual([
      400,
      pgrst100(
        'select parameter',
        'id::text[]',
        9,
        'unexpected \'[\' expecting letter, digit, ".", "::", ")", "," or end of input',
      ),
    ]);
    // pFieldSelect: a second cast is the aggregate's, applied only when there is an aggregate.
    expect(await one('id::text::int')).toEqual([200, [{ id: '1' }]]);
    // Its doctest: `name::` expects a letter or digit.
    expect(await one('id::')).toEqual([
      400,
      pgrst100('select parameter', 'id::', 5, 'unexpected end of input expecting letter or digit'),
    ]);
    expect(await one('id::fakecolumntype')).toEqual([
      400,
      { code: '42704', message: 'type "fakecolumntype" does not exist', details: null, hint: null },
    ]);
  });

  it('what follows a list ending at a ")" or in an embed is not read, nor what follows a logic tree (no eof in QueryParams.hs)', async () => {
    const answers = await Promise.all(
      [
        'items?id=eq.1&select=id,name)ignored',
        'items?id=eq.1&select=id,parents(name)ignored',
        'items?select=id&order=id&or=(id.eq.1,id.eq.2))ignored',
      ].map(async (t) => {
        const res = await get(encodeURI(t));
        return [res.status, res.json()];
      }),
    );
    expect(answers).toEqual([
      [200, [{ id: 1, name: 'a,b' }]],
      [200, [{ id: 1, parents: { name: 'p1' } }]],
      [200, [{ id: 1 }, { id: 2 }]],
    ]);
  });

  it('a hint with no "(" after it: PostgREST reads a column there, which ends at the "!" (pFieldSelect doctest)', async () => {
    const res = await get('items?select=id,name!hint');
    expect([res.status, res.json()]).toEqual([
      400,
      pgrst100(
        'select parameter',
        'id,name!hint',
        8,
        'unexpected \'!\' expecting letter, digit, "-", "->>", "->", "::", ".", ")", "," or end of input',
      ),
    ]);
  });

  it('a JSON index with a sign must be digits up to the next arrow, cast, dot or comma (pJsonPath doctest)', async () => {
    const res = await get('items?select=id,data->>-78xy');
    expect([res.status, res.json()]).toEqual([
      400,
      pgrst100(
        'select parameter',
        'id,data->>-78xy',
        14,
        'unexpected \'x\' expecting digit, "->", "::", ".", "," or end of input',
      ),
    ]);
  });
});

describe('filters', () => {
  it('is: null, true, false and unknown in any case; nothing else; what follows is not read (pTriVal)', async () => {
    expect(
      await idsOf(
        ['null', 'NULL', 'true', 'TRUE', 'false', 'unknown', 'Unknown', 'nullx'].map(
          (v) => `items?select=id&order=id&flag=is.${v}`,
        ),
      ),
    ).toEqual([
      ['items?select=id&order=id&flag=is.null', [3]],
      ['items?select=id&order=id&flag=is.NULL', [3]],
      ['items?select=id&order=id&flag=is.true', [1, 4]],
      ['items?select=id&order=id&flag=is.TRUE', [1, 4]],
      ['items?select=id&order=id&flag=is.false', [2]],
      ['items?select=id&order=id&flag=is.unknown', [3]],
      ['items?select=id&order=id&flag=is.Unknown', [3]],
      ['items?select=id&order=id&flag=is.nullx', [3]],
    ]);
    const notNull = await get('items?flag=is.not_null');
    expect([notNull.status, notNull.json()]).toEqual([
      400,
      pgrst100(
        'filter',
        'is.not_null',
        5,
        'unexpected "o" expecting null or trilean value (unknown, true, false)',
      ),
    ]);
    expect(
      await idsOf(
        ['flag=isdistinct.true', 'flag=not.isdistinct.true', 'flag=not.is.true'].map(
          (f) => `items?select=id&order=id&${f}`,
        ),
      ),
    ).toEqual([
      ['items?select=id&order=id&flag=isdistinct.true', [2, 3]],
      ['items?select=id&order=id&flag=not.isdistinct.true', [1, 4]],
      ['items?select=id&order=id&flag=not.is.true', [2, 3]],
    ]);
  });

  it('like, ilike, match, imatch and quantifiers, with not. (SqlFragment.hs pgFmtFilter)', async () => {
    const cases = [
      'name=like.*b',
      'name=like.%25b',
      'name=ilike.*D*',
      'name=like.a_b',
      'name=not.like.*b',
      'name=match.^c',
      'name=imatch.^C',
      'name=not.imatch.^C',
      'id=eq(any).{1,3}',
      'id=gt(all).{1,2}',
      'name=like(all).{*,*b}',
      'name=not.like(any).{a*,c*}',
    ];
    expect((await idsOf(cases.map((f) => `items?select=id&order=id&${f}`))).map(([, v]) => v)).toEqual([
      [1],
      [1],
      [2],
      [1],
      [2, 3, 4],
      [2],
      [2],
      [1, 3, 4],
      [1, 3],
      [3, 4],
      [1],
      [3, 4],
    ]);
    // The value goes whole to Postgres as an array literal: a list in parentheses is none.
    const paren = await get('items?id=eq(any).(1,2)');
    expect([paren.status, field(paren, 'code')]).toEqual([400, '22P02']);
  });

  it('in: quoted values with commas, parentheses, quotes and backslashes; ("") and () are empty (pListVal)', async () => {
    const cases = [
      'name=in.("a,b","c(d)")',
      'name=in.("e\\"f")',
      'name=in.("g\\\\h")',
      'name=not.in.("a,b")',
      'id=in.(1,2)ignored',
    ];
    expect(
      (await idsOf(cases.map((f) => `items?select=id&order=id&${encodeURI(f)}`))).map(([, v]) => v),
    ).toEqual([[1, 2], [3], [4], [2, 3, 4], [1, 2]]);
    expect(
      (
        await idsOf(
          ['in.("")', 'in.()', 'in.("",p1)'].map((f) => `parents?select=id&order=id&name=${encodeURI(f)}`),
        )
      ).map(([, v]) => v),
    ).toEqual([[], [], [1, 5]]);
  });

  it('fts, plfts, phfts and wfts with and without a language; on text too (pFts)', async () => {
    const cases = [
      'tsv=fts.fox',
      'tsv=fts(simple).foxes',
      'tsv=fts( english ).fox',
      'tsv=plfts.quick foxes',
      'tsv=phfts(english).brown quick',
      'tsv=wfts.fox -lazy',
      'tsv=not.fts.fox',
    ];
    expect(
      (await idsOf(cases.map((f) => `items?select=id&order=id&${encodeURI(f)}`))).map(([, v]) => v),
    ).toEqual([[1], [4], [1], [1], [], [1], [2, 4]]);
    const unknown = await get('items?tsv=fts(nolang).fox');
    expect([unknown.status, field(unknown, 'code')]).toEqual([400, '42704']);
  });

  it('range and array operators; () is no array literal (Postgres)', async () => {
    const cases = [
      'during=cs.[2,3]',
      'during=cd.[0,7)',
      'during=ov.(4,6)',
      'during=sl.[6,7)',
      'during=sr.[0,1)',
      'during=nxr.[0,5)',
      'during=nxl.[5,6)',
      'during=adj.[10,12)',
      'during=not.adj.[10,12)',
      'during=eq.empty',
      'tags=cs.{}',
      'tags=cd.{a,b,c}',
      'tags=ov.{a,c}',
      'tags=not.cs.{a}',
      'data=cs.{"a":1}',
    ];
    expect(
      (await idsOf(cases.map((f) => `items?select=id&order=id&${encodeURI(f)}`))).map(([, v]) => v),
    ).toEqual([
      [1],
      [1, 4],
      [2],
      [1],
      [1, 2],
      [1],
      [2],
      [2],
      [1, 4],
      [4],
      [1, 2, 3],
      [1, 2, 3],
      [1, 2],
      [2, 3],
      [1],
    ]);
    const parens = await get('items?tags=ov.(a,c)');
    expect([parens.status, field(parens, 'message')]).toEqual([400, 'malformed array literal: "(a,c)"']);
  });

  it('on JSON paths, on embedded resources and in logic trees with both (QueryParams.hs pLogicTree)', async () => {
    const items = [
      'data->arr->0=eq.10',
      'data->arr->>-1=eq.30',
      'data->>a=in.(1,3)',
      'data->a=in.(1,3)',
      'data->a=gt.1',
      'or=(data->>a.eq.2,data->a.eq.1)',
      'and=(data->>a.eq.2,or(id.eq.1,id.eq.2))',
      'not.and=(id.gt.1,id.lt.4)',
      'or=(id.eq.1,not.and(id.gt.1,flag.is.false))',
      'or=(name.in.("a,b","c(d)"),tags.cs.{a,b})',
      'or=(tsv.fts(english).fox,data->arr->0.eq.10)',
    ];
    expect(
      (await idsOf(items.map((f) => `items?select=id&order=id&${encodeURI(f)}`))).map(([, v]) => v),
    ).toEqual([[1], [1], [1, 3], [1], [2], [1, 2], [2], [1, 4], [1, 3, 4], [1, 2], [1]]);
    const embedded = async (q: string) =>
      (await get(`parents?select=id,children(id)&order=id&children.order=id&${encodeURI(q)}`)).json();
    expect(await embedded('children.data->>x=eq.2&id=lt.3')).toEqual([
      { id: 1, children: [{ id: 2 }] },
      { id: 2, children: [] },
    ]);
    expect(await embedded('children.not.or=(rank.gt.1,data->>x.eq.3)&id=lt.3')).toEqual([
      { id: 1, children: [{ id: 2 }] },
      { id: 2, children: [] },
    ]);
    expect(await embedded('or=(children.not.is.null,id.eq.3)')).toEqual([
      { id: 1, children: [{ id: 1 }, { id: 2 }] },
      { id: 2, children: [{ id: 3 }, { id: 4 }] },
      { id: 3, children: [] },
    ]);
  });

  it('an unknown column is Postgres 42703, named as in PostgREST’s own query; an operator the type lacks 404 42883 (Error.hs pgErrorStatus)', async () => {
    const answers = await Promise.all(
      [
        'items?nope=eq.1',
        'items?or=(nope.eq.1)',
        'parents?select=id,children(id)&children.nope=eq.2',
        'parents?select=id,kids:children(id,parents(nope))',
        'items?select=id,parents(name)&order=parents(nope)',
        'items?js=gt.1',
      ].map(async (t) => {
        const res = await get(t);
        return [res.status, res.json()];
      }),
    );
    // Postgres's hint names the relation's one column within two edits of `nope` (`name`), as it
    // does for PostgREST's own SQL, which leaves every unknown column to Postgres.
    const missing = (relation: string) => [
      400,
      {
        code: '42703',
        message: `column ${relation}.nope does not exist`,
        details: null,
        hint: `Perhaps you meant to reference the column "${relation}.name".`,
      },
    ];
    expect(answers).toEqual([
      missing('items'),
      missing('items'),
      // PostgREST's query reads an embed as <table>_<depth>, a to-one embed's join as
      // <table>_<embed>_<depth> (Plan.hs addRels, QueryBuilder.hs getJoin).
      missing('children_1'),
      missing('parents_2'),
      missing('items_parents_1'),
      [
        404,
        {
          code: '42883',
          message: 'operator does not exist: json > unknown',
          details: null,
          hint: 'No operator matches the given name and argument types. You might need to add explicit type casts.',
        },
      ],
    ]);
  });
});

describe('order', () => {
  it('several keys, nulls first or last, JSON paths, quoted and reserved names, a to-one embed (QueryParams.hs pOrder)', async () => {
    const cases = [
      'order=flag.desc,id.asc',
      'order=flag.nullsfirst,id',
      'order=flag.desc.nullslast,id',
      'order=data->>a.desc',
      'order=data->a.asc.nullsfirst',
      'order="my col".desc',
      'order=order.desc,id',
      'order=parents(name).desc,id',
    ];
    expect(
      (await idsOf(cases.map((f) => `items?select=id,parents(name)&${encodeURI(f)}`))).map(([, v]) => v),
    ).toEqual([
      [3, 1, 4, 2],
      [3, 2, 1, 4],
      [1, 4, 2, 3],
      [4, 3, 2, 1],
      [4, 3, 1, 2],
      [3, 4, 2, 1],
      [3, 1, 4, 2],
      [3, 2, 1, 4],
    ]);
    const unknown = await get('items?order=nope');
    expect([unknown.status, field(unknown, 'message')]).toEqual([400, 'column items.nope does not exist']);
  });

  it('malformed terms: the position and expectations of pOrder (its doctests)', async () => {
    const cases: [string, number, string][] = [
      ['id.ac', 4, 'unexpected "c" expecting "asc", "desc", "nullsfirst" or "nullslast"'],
      ['id.descc', 8, 'unexpected \'c\' expecting delimiter (.), "," or end of input'],
      ['id.nulsfist', 4, 'unexpected "n" expecting "asc", "desc", "nullsfirst" or "nullslast"'],
      ['id.nullslasttt', 13, 'unexpected \'t\' expecting "," or end of input'],
      ['id.asc.nlsfst', 8, 'unexpected "l" expecting "nullsfirst" or "nullslast"'],
      ['id.asc.nullslasttt', 17, 'unexpected \'t\' expecting "," or end of input'],
      ['id.asc.smth34', 8, 'unexpected "s" expecting "nullsfirst" or "nullslast"'],
      [
        'parents(name,id)',
        8,
        'unexpected \'(\' expecting letter, digit, "-", "->>", "->", delimiter (.), "," or end of input',
      ],
      ['id.nullsfirst.desc', 14, 'unexpected \'.\' expecting "," or end of input'],
    ];
    for (const [order, column, details] of cases) {
      const res = await get(`items?order=${encodeURIComponent(order)}`);
      expect([order, res.status, res.json()]).toEqual([
        order,
        400,
        pgrst100('order', order, column, details),
      ]);
    }
  });
});

describe('limit and offset on embedded resources', () => {
  it('embed.limit, embed.offset and embed.order page each parent’s rows (RangeSpec)', async () => {
    const res = await get(
      'parents?select=id,children(id,rank)&id=lt.3&order=id&children.order=rank.desc.nullslast&children.limit=1&children.offset=1',
    );
    expect(res.json()).toEqual([
      { id: 1, children: [{ id: 2, rank: 1 }] },
      { id: 2, children: [{ id: 3, rank: null }] },
    ]);
  });

  it('the embed of an order, limit, offset or logic key may be quoted (QueryParams.hs pTreePath, pLogicPath)', async () => {
    const res = await get(
      encodeURI(
        'parents?select=id,kids:children(id,rank)&id=lt.3&order=id&"kids".order=id.desc&"kids".limit=1&"kids".or=(rank.is.null,rank.gt.1)',
      ),
    );
    expect([res.status, res.json()]).toEqual([
      200,
      [
        { id: 1, kids: [{ id: 1, rank: 2 }] },
        { id: 2, kids: [{ id: 4, rank: 5 }] },
      ],
    ]);
  });

  it('a limit or offset that is no integer is ignored; a negative offset is a no-op at the top (RangeSpec)', async () => {
    expect(
      (
        await idsOf(
          ['limit=abc', 'limit=1.5', 'limit=%2B1', 'limit=%201', 'offset=-1'].map(
            (q) => `parents?select=id&order=id&${q}`,
          ),
        )
      ).map(([, v]) => v),
    ).toEqual([[1, 2, 3, 5], [1, 2, 3, 5], [1, 2, 3, 5], [1], [1, 2, 3, 5]]);
    const negative = await get('parents?limit=-1');
    expect([negative.status, field(negative, 'details')]).toEqual([
      416,
      'Limit should be greater than or equal to zero.',
    ]);
  });

  it('with a limit, a negative offset at the top eats into it: rows o … o+l-1 from row 0 (QueryParams.hs ranges)', async () => {
    const answers = await Promise.all(
      ['limit=3&offset=-1', 'limit=1&offset=-1', 'limit=1&offset=-2'].map(async (q) => {
        const res = await get(`parents?select=id&order=id&${q}`);
        return [q, res.status, res.status === 200 ? ids(res) : field(res, 'code')];
      }),
    );
    expect(answers).toEqual([
      ['limit=3&offset=-1', 200, [1, 2]],
      ['limit=1&offset=-1', 200, []],
      ['limit=1&offset=-2', 416, 'PGRST103'],
    ]);
  });

  it('a negative limit or offset on an embed reaches Postgres, which refuses it (SqlFragment.hs limitOffsetF)', async () => {
    const answers = await Promise.all(
      ['children.offset=-1', 'children.limit=-1'].map(async (q) => {
        const res = await get(`parents?select=id,children(id)&${q}`);
        return [res.status, res.json()];
      }),
    );
    expect(answers).toEqual([
      [400, { code: '2201X', message: 'OFFSET must not be negative', details: null, hint: null }],
      [400, { code: '2201W', message: 'LIMIT must not be negative', details: null, hint: null }],
    ]);
  });
});

project.secondProjectUntouched('select id, name from public.parents order by id', [
  { id: 1, name: 'p1' },
  { id: 2, name: 'p2' },
  { id: 3, name: null },
  { id: 5, name: '' },
]);
