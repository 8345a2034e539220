import { describe, expect, it } from 'vitest';
import { type HttpResult, rawRest } from './support/clients.js';
import { exploreProjects } from './support/explore.js';

// The tenth PostgREST 12.2 sweep, raw through the gateway: PostgREST checks no column of a read (nor
// of a write's filters and returned rows), so Postgres raises the 42703 for one a relation lacks, with
// its hint, on a statement naming every relation as QueryBuilder.hs does (the table unaliased, an
// embed `<table>_<depth>`, its join `<table>_<embed>_<depth>`, a write's or function's rows
// `pgrst_source AS "<name>"`). Postgres weighs each relation's columns by how close its name is to
// the one written, so the names decide which columns it suggests.

const SCHEMA = `
create table public.p (id int primary key, title text, name1 text, name2 text);
create table public.k (id int primary key, p_id int references public.p(id), label text);
create table public.films (id int primary key, title text);
create table public.premieres (id int primary key, film_id int not null, location text not null);
insert into public.p values (1, 'a', 'x', 'y');
insert into public.k values (1, 1, 'k');
insert into public.films values (1, 'f');
insert into public.premieres values (1, 1, 'Cannes'), (2, 1, 'Venice');
create function public.ks() returns setof public.k language sql stable as $$ select * from public.k $$;
create function public.one() returns int language sql stable as $$ select 1 $$;
create function public.premieres(public.films) returns setof public.premieres language sql stable as
  $$ select * from public.premieres where film_id = $1.id $$;
`;

const project = exploreProjects('leftovers10', SCHEMA);

/** `<method> /rest/v1/<target>` on the first project with its secret key. */
const call = (
  target: string,
  init: { method?: string; headers?: Record<string, string>; body?: string } = {},
) => rawRest(project.a.ref, project.a.secretKey, target, init);
const answer = (res: HttpResult) => [res.status, res.json()];
const missing = (message: string, hint: string | null) => [
  400,
  { code: '42703', message, details: null, hint },
];

describe("a column a relation lacks is Postgres's 42703 with Postgres's hint", () => {
  it('in the select, a filter and the order, with one or two close columns', async () => {
    const one = missing(
      'column p.titl does not exist',
      'Perhaps you meant to reference the column "p.title".',
    );
    expect(answer(await call('p?select=titl'))).toEqual(one);
    expect(answer(await call('p?titl=eq.a'))).toEqual(one);
    expect(answer(await call('p?order=titl'))).toEqual(one);
    expect(answer(await call('p?select=id&name=eq.x'))).toEqual(
      missing(
        'column p.name does not exist',
        'Perhaps you meant to reference the column "p.name1" or the column "p.name2".',
      ),
    );
  });

  it('in an embed, where Postgres also looks at the root (`k_1` is 3 edits from `p`)', async () => {
    const expected = missing(
      'column k_1.title does not exist',
      'Perhaps you meant to reference the column "p.title".',
    );
    expect(answer(await call('p?select=id,k(title)'))).toEqual(expected);
    expect(answer(await call('p?select=id,k(id)&k.title=eq.a'))).toEqual(expected);
  });

  it("in a write's returned rows and filters, and a function's rows", async () => {
    const label = (name: string) =>
      missing(
        `column ${name}.labl does not exist`,
        `Perhaps you meant to reference the column "${name}.label".`,
      );
    const posted = await call('k?select=labl', {
      method: 'POST',
      headers: { prefer: 'return=representation', 'content-type': 'application/json' },
      body: JSON.stringify({ id: 2, p_id: 1, label: 'x' }),
    });
    expect(answer(posted)).toEqual(label('k'));
    expect(answer(await call('k?labl=eq.x', { method: 'DELETE' }))).toEqual(label('k'));
    // A call selects only the select's columns (QueryBuilder.hs callPlanToQuery), where Postgres
    // raises it; a filter's column is read from all of them, by the function's name.
    expect(answer(await call('rpc/ks?select=labl'))).toEqual(label('pgrst_call'));
    expect(answer(await call('rpc/ks?labl=eq.k'))).toEqual(label('ks'));
  });
});

describe('names Postgres reads otherwise than as columns', () => {
  it('a filter on `count` is the aggregate count(row): 42803', async () => {
    expect(answer(await call('p?count=gt.1'))).toEqual([
      400,
      { code: '42803', message: 'aggregate functions are not allowed in WHERE', details: null, hint: null },
    ]);
  });

  it('a SETOF function of the row selected as a column: a row for each of its rows', async () => {
    expect(answer(await call('films?select=premieres'))).toEqual([
      200,
      [
        { premieres: { id: 1, film_id: 1, location: 'Cannes' } },
        { premieres: { id: 2, film_id: 1, location: 'Venice' } },
      ],
    ]);
  });
});

describe('more of PostgREST 12.2 (Query.hs, ApiRequest.hs, pg-safeupdate)', () => {
  it("max-affected counts a function of one value as one row (PGRST128 is PostgREST 13's)", async () => {
    const strict = (n: number) => ({ headers: { prefer: `handling=strict, max-affected=${n}` } });
    expect((await call('rpc/one', strict(1))).status).toBe(200);
    expect(answer(await call('rpc/one', strict(0)))).toEqual([
      400,
      {
        code: 'PGRST124',
        message: 'Query result exceeds max-affected preference constraint',
        details: 'The query affects 1 rows',
        hint: null,
      },
    ]);
  });

  it('a Range with no row in common with limit is 416', async () => {
    expect(answer(await call('k?limit=1', { headers: { range: '1-2' } }))).toEqual([
      416,
      {
        code: 'PGRST103',
        message: 'Requested range not satisfiable',
        details: 'Limit should be greater than or equal to zero.',
        hint: null,
      },
    ]);
  });

  it("a DELETE without filters: Postgres's 42703 before pg-safeupdate's 21000", async () => {
    const representation = { prefer: 'return=representation' };
    expect(answer(await call('k?select=labl', { method: 'DELETE', headers: representation }))).toEqual(
      missing('column k.labl does not exist', 'Perhaps you meant to reference the column "k.label".'),
    );
    expect(answer(await call('k', { method: 'DELETE' }))).toEqual([
      400,
      { code: '21000', message: 'DELETE requires a WHERE clause', details: null, hint: null },
    ]);
  });
});
