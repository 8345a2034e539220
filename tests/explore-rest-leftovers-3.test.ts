import { describe, expect, it } from 'vitest';
import { rawRest } from './support/clients.js';
import { exploreProjects } from './support/explore.js';

// PostgREST 12.2 differences left after the first two passes, raw through gateway, SigV4 and the
// Lambda emulator: raw media types (built in for nothing since PostgREST 12: a function answers
// text/plain, text/xml, octet-stream or any other type only when it returns a domain named so), raw
// bodies to a function whose parameters all have defaults, and nested array literals in filters.
// Every expected answer is PostgREST 12.2's (its source and test/spec; the commits of apps/rest
// name where).

const SCHEMA = `
create table public.docs (id int primary key, body text, data bytea, x xml, matrix int[], tags text[]);
insert into public.docs values
  (1, 'one', '\\x616263', '<a/>', '{{1,2},{3,4}}', '{a,b}'),
  (2, 'two', '\\x', '<b/>', '{{5,6}}', '{c}');
create domain public."text/plain" as text;
create domain public."text/html" as text;
create domain public."text/xml" as xml;
create domain public."application/octet-stream" as bytea;
create domain public."*/*" as bytea;
create function public.plain_text() returns text language sql as $$ select 'hi' $$;
create function public.plain_bytes() returns bytea language sql as $$ select '\\x616263'::bytea $$;
create function public.welcome() returns "text/plain" language sql as $$ select 'Welcome' $$;
create function public.welcome_twice() returns setof "text/plain" language sql as
  $$ select 'a'::"text/plain" union all select 'b' $$;
create function public.page() returns "text/html" language sql as $$ select '<h1>hi</h1>' $$;
create function public.doc_xml() returns "text/xml" language sql as $$ select '<doc/>'::xml $$;
create function public.blob() returns "application/octet-stream" language sql as $$ select '\\x616263'::bytea $$;
create function public.nothing() returns "text/plain" language sql as $$ select null $$;
create function public.any_type() returns "*/*" language sql as $$ select 'any'::bytea $$;
create function public.echo_text(text) returns "text/plain" language sql as $$ select $1 $$;
create function public.defaults(a int default 1, b text default 'x') returns text language sql as
  $$ select a || b $$;
create function public.defaults_or_text(a int default 2) returns text language sql as $$ select 'named ' || a $$;
create function public.defaults_or_text(text) returns text language sql as $$ select 'unnamed ' || $1 $$;
create function public.no_params() returns int language sql as $$ select 1 $$;
`;

const project = exploreProjects('leftovers3', SCHEMA);

/** `<method> /rest/v1/<target>` on the first project, the target as given, with its secret key. */
const raw = (target: string, options?: Parameters<typeof rawRest>[3]) =>
  rawRest(project.a.ref, project.a.secretKey, target, options);

const get = (target: string, accept: string) => raw(target, { headers: { accept } });

/** Status, Content-Type and body of an answer. */
const answer = async (res: Promise<Awaited<ReturnType<typeof raw>>>) => {
  const r = await res;
  return [r.status, r.headers['content-type'], r.text];
};

const notAvailable = (type: string) => ({
  code: 'PGRST107',
  details: null,
  hint: null,
  message: `None of these media types are available: ${type}`,
});

describe('raw media types', () => {
  it('are no built-in answer of a table or view, whatever is selected', async () => {
    for (const [select, type] of [
      ['data', 'application/octet-stream'],
      ['body', 'text/plain'],
      ['x', 'text/xml'],
    ]) {
      const r = await get(`docs?select=${select}&id=eq.1`, type!);
      expect([r.status, r.json()]).toEqual([406, notAvailable(type!)]);
    }
  });

  it('are no built-in answer of a function returning plain text or bytea', async () => {
    const text = await get('rpc/plain_text', 'text/plain');
    expect([text.status, text.json()]).toEqual([406, notAvailable('text/plain')]);
    const bytes = await get('rpc/plain_bytes', 'application/octet-stream');
    expect([bytes.status, bytes.json()]).toEqual([406, notAvailable('application/octet-stream')]);
  });

  it('answer a function returning a domain named after the media type with its value as is', async () => {
    expect(await answer(get('rpc/welcome', 'text/plain'))).toEqual([
      200,
      'text/plain; charset=utf-8',
      'Welcome',
    ]);
    expect(await answer(get('rpc/page', 'text/html'))).toEqual([200, 'text/html', '<h1>hi</h1>']);
    expect(await answer(get('rpc/doc_xml', 'text/xml'))).toEqual([200, 'text/xml; charset=utf-8', '<doc/>']);
    expect(await answer(get('rpc/blob', 'application/octet-stream'))).toEqual([
      200,
      'application/octet-stream',
      'abc',
    ]);
    // NULL is an empty body; the range is the call's.
    const none = await get('rpc/nothing', 'text/plain');
    expect([none.status, none.text, none.headers['content-range']]).toEqual([200, '', '0-0/*']);
    const welcome = await get('rpc/welcome', 'text/plain');
    expect(welcome.headers['content-range']).toBe('0-0/*');
  });

  it('take the first accepted type the function serves, else JSON as usual', async () => {
    expect(await answer(get('rpc/welcome', 'text/plain, application/json'))).toEqual([
      200,
      'text/plain; charset=utf-8',
      'Welcome',
    ]);
    expect(await answer(get('rpc/welcome', 'application/json, text/plain'))).toEqual([
      200,
      'application/json; charset=utf-8',
      '"Welcome"',
    ]);
    expect(await answer(get('rpc/welcome', '*/*'))).toEqual([
      200,
      'application/json; charset=utf-8',
      '"Welcome"',
    ]);
    const xml = await get('rpc/welcome', 'text/xml');
    expect([xml.status, xml.json()]).toEqual([406, notAvailable('text/xml')]);
    // Only one value is raw: a set of them is not (PostgREST: only non-SETOF functions).
    const twice = await get('rpc/welcome_twice', 'text/plain');
    expect([twice.status, twice.json()]).toEqual([406, notAvailable('text/plain')]);
  });

  it('answer any accepted type from a function returning the */* domain, as octet-stream', async () => {
    for (const type of ['app/bingo', 'image/boingo', '*/*', 'application/json']) {
      expect(await answer(get('rpc/any_type', type))).toEqual([200, 'application/octet-stream', 'any']);
    }
  });

  it('take a raw body to the one unnamed text parameter and answer it raw', async () => {
    const r = await raw('rpc/echo_text', {
      method: 'POST',
      headers: { 'content-type': 'text/plain', accept: 'text/plain' },
      body: 'unnamed text arg',
    });
    expect([r.status, r.headers['content-type'], r.text]).toEqual([
      200,
      'text/plain; charset=utf-8',
      'unnamed text arg',
    ]);
  });
});

describe('a raw body to a function whose parameters all have defaults', () => {
  const post = (fn: string, contentType: string) =>
    raw(`rpc/${fn}`, { method: 'POST', headers: { 'content-type': contentType }, body: 'ignored' });

  it('calls it without arguments, before an overload taking the body', async () => {
    for (const type of ['text/plain', 'text/xml', 'application/octet-stream']) {
      const r = await post('defaults', type);
      expect([type, r.status, r.json()]).toEqual([type, 200, '1x']);
    }
    const overloaded = await post('defaults_or_text', 'text/plain');
    expect([overloaded.status, overloaded.json()]).toEqual([200, 'named 2']);
  });

  it('still finds no function without parameters for it', async () => {
    const r = await post('no_params', 'text/plain');
    expect([r.status, r.json()]).toEqual([
      404,
      {
        code: 'PGRST202',
        details:
          'Searched for the function public.no_params with a single unnamed text parameter, but no matches were found in the schema cache.',
        hint: null,
        message: 'Could not find the function public.no_params in the schema cache',
      },
    ]);
  });
});

describe('nested array literals in filter values', () => {
  const ids = async (target: string) => {
    const res = await raw(target);
    expect(res.status, res.text).toBe(200);
    return (res.json() as { id: number }[]).map((r) => r.id);
  };

  it('pass the value whole to Postgres', async () => {
    expect(await ids('docs?select=id&matrix=eq.{{1,2},{3,4}}')).toEqual([1]);
    expect(await ids('docs?select=id&matrix=cs.{{5}}')).toEqual([2]);
    expect(await ids('docs?select=id&matrix=cd.{{1,2,3,4},{5,6,7,8}}&order=id')).toEqual([1, 2]);
    expect(await ids('docs?select=id&matrix=ov.{{4,5}}&order=id')).toEqual([1, 2]);
    expect(await ids('docs?select=id&matrix=not.eq.{{5,6}}')).toEqual([1]);
    expect(await ids('docs?select=id&matrix=isdistinct.{{5,6}}')).toEqual([1]);
    expect(await ids('docs?select=id&tags=cs.{"a",b}')).toEqual([1]);
  });

  it('leave a malformed one to Postgres', async () => {
    const r = await raw('docs?select=id&matrix=cs.{{1},{2,3}}');
    expect([r.status, (r.json() as { code: string }).code]).toEqual([400, '22P02']);
  });
});

describe('Content-Location of a read', () => {
  it('names the relation and its query, sorted, as PostgREST', async () => {
    const r = await raw('docs?select=id&body=eq.one&id=gt.0');
    expect([r.status, r.headers['content-location']]).toEqual([200, '/docs?body=eq.one&id=gt.0&select=id']);
  });
});
