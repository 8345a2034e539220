import { afterAll, describe, expect, inject, it } from 'vitest';
import { adminQuery, bearer, ownerQuery, type TestEngine, testEngine } from './test/helpers.js';

const t: TestEngine = testEngine({ statementTimeoutMs: 300 });
afterAll(() => t.close());

describe('rpc', () => {
  it('calls scalar functions by GET (query args) and POST (JSON args)', async () => {
    const get = await t.call('GET', '/rpc/add?a=1&b=2');
    expect(get.status).toBe(200);
    expect(get.body).toBe('3');
    const post = await t.call('POST', '/rest/v1/rpc/add', { body: { a: 40, b: 2 } });
    expect(post.json).toBe(42);
    const echo = await t.call('POST', '/rpc/echo', { body: { nested: [1, { x: 'y' }] } });
    expect(echo.json).toEqual({ nested: [1, { x: 'y' }] });
    const single = await t.call('POST', '/rpc/first_author?select=name');
    expect(single.json).toEqual({ name: 'Ursula' });
  });

  it('reads a JSON object or array argument as Postgres reads JSON into the type (json_to_record, as PostgREST)', async () => {
    await ownerQuery(`
      CREATE TYPE rpc_pt AS (x int, y int);
      CREATE TYPE rpc_mood AS ENUM ('sad', 'ok');
      CREATE FUNCTION rpc_pt_sum(p rpc_pt) RETURNS int LANGUAGE sql IMMUTABLE AS $$ SELECT p.x + p.y $$;
      CREATE FUNCTION rpc_pts_sum(ps rpc_pt[], moods rpc_mood[]) RETURNS text LANGUAGE sql IMMUTABLE
        AS $$ SELECT sum(x + y)::text || ' ' || moods::text FROM unnest(ps) $$;
      CREATE FUNCTION rpc_nested(grid int[], tags text[], docs jsonb[]) RETURNS text LANGUAGE sql IMMUTABLE
        AS $$ SELECT grid::text || ' ' || tags::text || ' ' || docs::text $$;`);
    const one = await t.call('POST', '/rpc/rpc_pt_sum', { body: { p: { x: 1, y: 2 } } });
    expect(one.status, one.body.toString()).toBe(200);
    expect(one.json).toBe(3);
    const many = await t.call('POST', '/rpc/rpc_pts_sum', {
      body: { ps: [{ x: 1, y: 2 }, null, { x: 3, y: 4 }], moods: ['ok', 'sad'] },
    });
    expect(many.status, many.body.toString()).toBe(200);
    expect(many.json).toBe('10 {ok,sad}');
    const nested = await t.call('POST', '/rpc/rpc_nested', {
      body: {
        grid: [
          [1, 2],
          [3, null],
        ],
        tags: ['a,b', 'c "d"'],
        docs: [{ k: [1] }, 'str'],
      },
    });
    expect(nested.status, nested.body.toString()).toBe(200);
    expect(nested.json).toBe('{{1,2},{3,NULL}} {"a,b","c \\"d\\""} {"{\\"k\\": [1]}","\\"str\\""}');
    // a string is still the type's own text form
    const text = await t.call('GET', '/rpc/rpc_pt_sum?p=(5,6)');
    expect(text.json).toBe(11);
  });

  it('passes a named json argument as the text sent, as PostgREST (json_to_record over the body)', async () => {
    await ownerQuery(`
      CREATE OR REPLACE FUNCTION rpc_json_as_is(doc json, n int DEFAULT 0) RETURNS json LANGUAGE sql IMMUTABLE
        AS $$ SELECT doc $$;`);
    // Key order, a repeated key, spacing and a number's digits are the json type's own text.
    const doc = '{"z": 1,  "2": 2.50, "z": [1e2, {"b":1,"a":2}]}';
    const r = await t.call('POST', '/rpc/rpc_json_as_is', { body: `{"n": 1, "doc": ${doc}}` });
    expect([r.status, r.body.toString()]).toEqual([200, doc]);
    // A repeated argument key is read as Postgres reads it (the last one).
    const twice = await t.call('POST', '/rpc/rpc_json_as_is', { body: '{"doc": [1], "doc": [2.0]}' });
    expect(twice.body.toString()).toBe('[2.0]');
  });

  it('reads a list body as PostgREST 12: the first object gives the arguments, and the objects must share their keys', async () => {
    // RpcSpec "only takes the first object in case of array of objects payload".
    const first = await t.call('POST', '/rpc/add', {
      body: [
        { a: 1, b: 2 },
        { a: 4, b: 6 },
      ],
    });
    expect([first.status, first.json]).toEqual([200, 3]);
    await ownerQuery(`
      CREATE OR REPLACE FUNCTION rpc_json_as_is(doc json, n int DEFAULT 0) RETURNS json LANGUAGE sql IMMUTABLE
        AS $$ SELECT doc $$;`);
    const doc = '{"z": 1, "z": 2}';
    const named = await t.call('POST', '/rpc/rpc_json_as_is', { body: `[{"doc": ${doc}}, {"doc": null}]` });
    expect([named.status, named.body.toString()]).toEqual([200, doc]);
    // ApiRequest payloadAttributes: objects of other keys, or no objects, are refused before any call.
    for (const body of ['[{"a": 1, "b": 2}, {"a": 4}]', '[1, 2]']) {
      const refused = await t.call('POST', '/rpc/echo', { body });
      expect([body, refused.status, refused.json]).toEqual([
        body,
        400,
        { code: 'PGRST102', message: 'All object keys must match', details: null, hint: null },
      ]);
    }
    // Any other JSON value is an empty list: no arguments, and [] for a single json parameter.
    const scalar = await t.call('POST', '/rpc/add', { body: '123' });
    expect([scalar.status, (scalar.json as { message: string }).message]).toEqual([
      404,
      'Could not find the function public.add without parameters in the schema cache',
    ]);
    const noArgs = await t.call('POST', '/rpc/first_author?select=name', { body: '"text"' });
    expect([noArgs.status, noArgs.json]).toEqual([200, { name: 'Ursula' }]);
    const asList = await t.call('POST', '/rpc/echo', { body: 'true' });
    expect([asList.status, asList.json]).toEqual([200, []]);
    // A function of one unnamed json parameter still gets the whole list.
    const whole = await t.call('POST', '/rpc/echo', { body: '[{"x": 1}, {"x": 2}]' });
    expect([whole.status, whole.body.toString()]).toEqual([200, '[{"x": 1}, {"x": 2}]']);
  });

  it('answers a scalar NULL as JSON null, and as an empty body under its media type', async () => {
    await ownerQuery(
      `CREATE DOMAIN "text/html" AS text;
       CREATE FUNCTION nothing_here() RETURNS "text/html" LANGUAGE sql STABLE AS $$ SELECT NULL $$`,
    );
    const json = await t.call('POST', '/rpc/nothing_here');
    expect(json.status).toBe(200);
    expect(json.body).toBe('null');
    const raw = await t.call('POST', '/rpc/nothing_here', { headers: { accept: 'text/html' } });
    expect([raw.status, raw.headers['content-type'], raw.body]).toEqual([200, 'text/html', '']);
  });

  it('applies select, filters, order and limit to set-returning functions, and embeds from them', async () => {
    const r = await t.call('POST', '/rpc/books_by_author?select=id,title&order=id.desc&limit=1', {
      body: { author: 1 },
    });
    expect(r.json).toEqual([{ id: 2, title: 'The Left Hand of Darkness' }]);
    const table = await t.call('GET', '/rpc/author_stats?book_count=gte.2&order=author_id', {
      headers: { prefer: 'count=exact' },
    });
    expect(table.json).toEqual(
      await adminQuery(
        'SELECT author_id, book_count::int FROM author_stats() WHERE book_count >= 2 ORDER BY author_id',
      ),
    );
    expect(table.headers['content-range']).toBe('0-2/3');
    const scalars = await t.call('GET', '/rpc/titles_like?pattern=%25the%25');
    expect(scalars.json).toEqual(['Parable of the Sower', 'The Left Hand of Darkness']);
    const embedded = await t.call('GET', '/rpc/books_by_author?author=2&select=title,publishers(name)');
    expect(embedded.json).toEqual([
      { title: 'Kindred', publishers: { name: 'Orbit' } },
      { title: 'Parable of the Sower', publishers: { name: 'Orbit' } },
    ]);
  });

  it('answers rows of named columns for one OUT, INOUT or TABLE column, as PostgREST', async () => {
    await ownerQuery(`CREATE FUNCTION one_column_ids() RETURNS TABLE (id int) LANGUAGE sql STABLE AS
        $$ SELECT * FROM generate_series(1, 3) $$;
      CREATE FUNCTION one_out(a int, OUT doubled int) LANGUAGE sql IMMUTABLE AS $$ SELECT a * 2 $$;
      CREATE FUNCTION one_inout(INOUT n int) LANGUAGE sql IMMUTABLE AS $$ SELECT n + 1 $$;`);
    const table = await t.call('GET', '/rpc/one_column_ids?id=gt.1&order=id.desc');
    expect([table.status, table.json]).toEqual([200, [{ id: 3 }, { id: 2 }]]);
    expect((await t.call('POST', '/rpc/one_out', { body: { a: 2 } })).json).toEqual({ doubled: 4 });
    expect((await t.call('GET', '/rpc/one_inout?n=1')).json).toEqual({ n: 2 });
  });

  it('answers with the status and headers a function sets in response.status and response.headers', async () => {
    await ownerQuery(`CREATE FUNCTION created_with(status text, headers text) RETURNS int LANGUAGE plpgsql AS $$
        BEGIN
          PERFORM set_config('response.status', status, true);
          PERFORM set_config('response.headers', headers, true);
          RETURN 1;
        END $$;
      CREATE FUNCTION redirect_void() RETURNS void LANGUAGE sql AS
        $$ SELECT set_config('response.headers', '[{"Location": "/elsewhere"}]', true),
                  set_config('response.status', '303', true) $$;`);
    const created = await t.call('POST', '/rpc/created_with', {
      body: { status: '201', headers: '[{"Cache-Control": "max-age=60"}, {"Content-Type": "text/x-one"}]' },
    });
    expect(created.status).toBe(201);
    expect(created.headers).toMatchObject({ 'cache-control': 'max-age=60', 'content-type': 'text/x-one' });
    expect(created.body).toBe('1');
    const redirect = await t.call('POST', '/rpc/redirect_void');
    expect([redirect.status, redirect.headers.location]).toEqual([303, '/elsewhere']);
    // Unset, nothing changes; invalid settings are PostgREST's 500s.
    expect((await t.call('POST', '/rpc/created_with', { body: { status: '', headers: '' } })).status).toBe(
      200,
    );
    const badStatus = await t.call('POST', '/rpc/created_with', { body: { status: 'teapot', headers: '' } });
    expect([badStatus.status, (badStatus.json as { code: string }).code]).toEqual([500, 'PGRST112']);
    const badHeaders = await t.call('POST', '/rpc/created_with', {
      body: { status: '', headers: '{"a": 1}' },
    });
    expect([badHeaders.status, (badHeaders.json as { code: string }).code]).toEqual([500, 'PGRST111']);
    // A header a client cannot be sent (a line break, here to inject a header) is no valid setting.
    const unsendable = await t.call('POST', '/rpc/created_with', {
      body: { status: '', headers: '[{"X-Split": "a\\r\\nX-Injected: 1"}]' },
    });
    expect([unsendable.status, (unsendable.json as { code: string }).code]).toEqual([500, 'PGRST111']);
    expect(unsendable.headers['x-injected']).toBeUndefined();
    // The settings are the transaction's own: the next call on the same connection is unaffected.
    expect((await t.call('GET', '/rpc/add?a=1&b=2')).status).toBe(200);
  });

  it('passes the whole body to the one json parameter with Prefer: params=single-object', async () => {
    // Only a function of one json/jsonb parameter takes it (RpcSpec 'should fail with 404 when no
    // json arg is found with prefer single object'), and a JSON scalar is an empty list there too.
    const text = await t.call('POST', '/rpc/titles_like', {
      headers: { prefer: 'params=single-object' },
      body: '"%Kin%"',
    });
    expect([text.status, text.json]).toEqual([
      404,
      {
        code: 'PGRST202',
        message: 'Could not find the function public.titles_like in the schema cache',
        details:
          'Searched for the function public.titles_like with a single json/jsonb parameter, but no matches were found in the schema cache.',
        hint: null,
      },
    ]);
    const scalar = await t.call('POST', '/rpc/echo', {
      headers: { prefer: 'params=single-object' },
      body: '"%Kin%"',
    });
    expect([scalar.status, scalar.json]).toEqual([200, []]);
    // By GET the query's arguments are that object, as strings (RpcSpec "works with GET").
    const get = await t.call('GET', '/rpc/echo?p1=1&p2=text', {
      headers: { prefer: 'params=single-object' },
    });
    expect([get.status, get.json]).toEqual([200, { p1: '1', p2: 'text' }]);
    // Any body goes as sent to the json parameter (PostgREST callReadPlan: payRaw), CSV as its rows.
    const post = (type: string, body: string) =>
      t.call('POST', '/rpc/echo', {
        headers: { prefer: 'params=single-object', 'content-type': type },
        body,
      });
    expect((await post('text/plain', '{"k":[1]}')).json).toEqual({ k: [1] });
    expect((await post('application/octet-stream', '[2]')).json).toEqual([2]);
    expect((await post('text/xml', 'nope')).json).toMatchObject({ code: '22P02' });
    expect((await post('text/csv', 'a\nx\n')).json).toEqual([{ a: 'x' }]);
    const head = await t.call('HEAD', '/rpc/author_stats');
    expect(head.status).toBe(200);
    expect(head.body).toBe('');
  });

  it('answers a function returning the any-type domain raw for any Accept, and without one', async () => {
    // PostgREST 12.2: no Accept is */* (ApiRequest.hs iAcceptMediaType), which the domain's handler takes.
    await ownerQuery(`CREATE DOMAIN "*/*" AS bytea;
      CREATE FUNCTION any_type() RETURNS "*/*" LANGUAGE sql AS $$ SELECT 'any'::bytea $$`);
    const accepts: Record<string, string>[] = [{}, { accept: 'app/bingo' }, { accept: 'application/json' }];
    for (const headers of accepts) {
      const r = await t.call('GET', '/rpc/any_type', { headers });
      expect([r.status, r.headers['content-type'], r.body.toString()]).toEqual([
        200,
        'application/octet-stream',
        'any',
      ]);
    }
    // Vendored types are never a function's own.
    const object = await t.call('GET', '/rpc/any_type', {
      headers: { accept: 'application/vnd.pgrst.object+json' },
    });
    expect(object.headers['content-type']).toBe('application/vnd.pgrst.object+json; charset=utf-8');
    // One value is one row: filtered out, it is no single object (PostgREST Query.hs failNotSingular).
    const none = await t.call('GET', '/rpc/add?a=1&b=2&pgrst_scalar=eq.0', {
      headers: { accept: 'application/vnd.pgrst.object+json' },
    });
    expect([none.status, (none.json as { code: string }).code]).toEqual([406, 'PGRST116']);
  });

  it('takes raw text, xml and bytea bodies for a single unnamed parameter, and answers them raw when asked', async () => {
    // PostgREST 12 answers raw only in the media type a function's result domain is named after.
    await ownerQuery(`CREATE DOMAIN "text/plain" AS text; CREATE DOMAIN "text/xml" AS xml;
      CREATE DOMAIN "application/octet-stream" AS bytea;
      CREATE FUNCTION plain_tick(text) RETURNS text LANGUAGE sql IMMUTABLE AS $$ SELECT $1 || ' ✓' $$;
      CREATE FUNCTION tick(text) RETURNS "text/plain" LANGUAGE sql IMMUTABLE AS $$ SELECT $1 || ' ✓' $$;
      CREATE FUNCTION byte_sum(bytea) RETURNS int LANGUAGE sql IMMUTABLE AS
        $$ SELECT coalesce(sum(get_byte($1, i)), 0)::int FROM generate_series(0, length($1) - 1) AS i $$;
      CREATE FUNCTION reversed(bytea) RETURNS "application/octet-stream" LANGUAGE sql IMMUTABLE AS
        $$ SELECT coalesce(string_agg(substring($1 FROM i FOR 1), '' ORDER BY i DESC), ''::bytea)
           FROM generate_series(1, length($1)) AS i $$;
      CREATE FUNCTION root_name(xml) RETURNS "text/xml" LANGUAGE sql IMMUTABLE AS
        $$ SELECT xmlelement(name got, (xpath('name(/*)', $1))[1]) $$;`);
    const text = await t.call('POST', '/rpc/tick', {
      headers: { 'content-type': 'text/plain; charset=utf-8' },
      body: 'héllo, (world)!',
    });
    expect(text.status).toBe(200);
    expect(text.json).toBe('héllo, (world)! ✓');
    const rawText = await t.call('POST', '/rpc/tick', {
      headers: { 'content-type': 'text/plain', accept: 'text/plain' },
      body: 'plain',
    });
    expect(rawText.headers['content-type']).toBe('text/plain; charset=utf-8');
    expect(rawText.body).toBe('plain ✓');
    // A plain text result has no raw answer (PostgREST 12 dropped the built-in ones).
    const plainText = await t.call('POST', '/rpc/plain_tick', {
      headers: { 'content-type': 'text/plain', accept: 'text/plain' },
      body: 'plain',
    });
    expect([plainText.status, (plainText.json as { code: string }).code]).toEqual([406, 'PGRST107']);

    // Every byte value, including ones that are not UTF-8, reaches the function unchanged.
    const bytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    const sum = await t.call('POST', '/rpc/byte_sum', {
      headers: { 'content-type': 'application/octet-stream' },
      body: bytes,
    });
    expect(sum.json).toBe((255 * 256) / 2);
    const back = await t.call('POST', '/rpc/reversed', {
      headers: { 'content-type': 'application/octet-stream', accept: 'application/octet-stream' },
      body: bytes,
    });
    expect(back.status).toBe(200);
    expect(back.headers['content-type']).toBe('application/octet-stream');
    expect(Buffer.isBuffer(back.body)).toBe(true);
    expect(back.body).toEqual(Buffer.from(bytes).reverse());
    const empty = await t.call('POST', '/rpc/byte_sum', {
      headers: { 'content-type': 'application/octet-stream' },
    });
    expect(empty.json).toBe(0);

    const xml = await t.call('POST', '/rpc/root_name', {
      headers: { 'content-type': 'text/xml', accept: 'text/xml' },
      body: '<library><book/></library>',
    });
    expect(xml.status).toBe(200);
    expect(xml.headers['content-type']).toBe('text/xml; charset=utf-8');
    expect(xml.body).toBe('<got>library</got>');
    // PostgREST 12 knows text/xml only (MediaType.hs decodeMediaType): application/xml is another type.
    const appXmlBody = await t.call('POST', '/rpc/root_name', {
      headers: { 'content-type': 'application/xml' },
      body: '<library/>',
    });
    expect([appXmlBody.status, appXmlBody.json]).toEqual([
      400,
      {
        code: 'PGRST102',
        message: 'Content-Type not acceptable: application/xml',
        details: null,
        hint: null,
      },
    ]);
    const appXmlResult = await t.call('POST', '/rpc/root_name', {
      headers: { 'content-type': 'text/xml', accept: 'application/xml' },
      body: '<library/>',
    });
    expect([appXmlResult.status, (appXmlResult.json as { message: string }).message]).toEqual([
      406,
      'None of these media types are available: application/xml',
    ]);
  });

  it('refuses request and response media types it cannot serve', async () => {
    const refusedBodies = [
      // Tables take JSON, CSV and form bodies only: PostgREST's 400 naming the type.
      ['/authors', 'text/plain', '{"name":"x"}', 400, 'PGRST102', 'Content-Type not acceptable: text/plain'],
      [
        '/rpc/add',
        'application/x-custom',
        '{"a":1,"b":2}',
        400,
        'PGRST102',
        'Content-Type not acceptable: application/x-custom',
      ],
      // A raw body needs a function whose one unnamed parameter has the matching type.
      [
        '/rpc/add',
        'text/plain',
        '1',
        404,
        'PGRST202',
        'Could not find the function public.add in the schema cache',
      ],
    ] as const;
    for (const [url, type, body, status, code, message] of refusedBodies) {
      const r = await t.call('POST', url, { headers: { 'content-type': type }, body });
      expect({ status: r.status, json: r.json }).toMatchObject({ status, json: { code, message } });
    }
    // Raw results exist only for scalar text, xml and bytea functions, never for tables.
    const notText = await t.call('GET', '/rpc/add?a=1&b=2', { headers: { accept: 'text/plain' } });
    expect(notText.status).toBe(406);
    expect(notText.json).toMatchObject({
      code: 'PGRST107',
      message: 'None of these media types are available: text/plain',
    });
    const tableRaw = await t.call('GET', '/authors', { headers: { accept: 'application/octet-stream' } });
    expect(tableRaw.status).toBe(406);
    // Nothing was written by the refused insert.
    expect(await adminQuery(`SELECT count(*)::int AS n FROM authors WHERE name = 'x'`)).toEqual([{ n: 0 }]);
  });

  it('refuses an Accept or Content-Type that is present but empty, as PostgREST 12', async () => {
    // wai's parseHttpAccept reads an empty Accept as no type at all: nothing can be served (406).
    for (const url of ['/authors', '/rpc/add?a=1&b=2', '/']) {
      const r = await t.call('GET', url, { headers: { accept: '' } });
      expect([url, r.status, r.json]).toEqual([
        url,
        406,
        { code: 'PGRST107', message: 'None of these media types are available: ', details: null, hint: null },
      ]);
    }
    // An empty Content-Type is no media type (MTOther ""), unlike an absent one (JSON).
    for (const [method, url] of [
      ['POST', '/authors'],
      ['PATCH', '/authors?name=eq.empty-ct'],
      ['PUT', '/authors?id=eq.9001'],
      ['POST', '/rpc/add'],
    ] as const) {
      const r = await t.call(method, url, {
        headers: { 'content-type': '' },
        body: url.includes('rpc') ? { a: 1, b: 2 } : { id: 9001, name: 'empty-ct' },
      });
      expect([method, url, r.status, r.json]).toEqual([
        method,
        url,
        400,
        { code: 'PGRST102', message: 'Content-Type not acceptable: ', details: null, hint: null },
      ]);
    }
    expect(await adminQuery(`SELECT count(*)::int AS n FROM authors WHERE name = 'empty-ct'`)).toEqual([
      { n: 0 },
    ]);
    // A type PostgREST does not know is named as sent, parameters and case included; what follows
    // the type and subtype is not read.
    const custom = await t.call('POST', '/authors', {
      headers: { 'content-type': 'Application/X-Custom; a=1' },
      body: { name: 'x' },
    });
    expect(custom.json).toMatchObject({ message: 'Content-Type not acceptable: Application/X-Custom; a=1' });
    const trailing = await t.call('POST', '/rpc/add', {
      headers: { 'content-type': 'application/json garbage' },
      body: { a: 1, b: 2 },
    });
    expect([trailing.status, trailing.json]).toEqual([200, 3]);
    // Where no body is read, an empty Content-Type does not matter.
    const del = await t.call('DELETE', '/authors?name=eq.empty-ct', { headers: { 'content-type': '' } });
    expect(del.status).toBe(204);
  });

  it('answers a void function 204 with the Content-Range of its one row, as PostgREST 12', async () => {
    // Response.hs DbCallResult: a void result is 204 with the range header of the call's one row.
    await ownerQuery(`CREATE FUNCTION rpc_nothing() RETURNS void LANGUAGE sql STABLE AS $$ SELECT 1 $$;`);
    const plain = await t.call('POST', '/rpc/rpc_nothing');
    expect([plain.status, plain.headers['content-range'], plain.headers['content-type']]).toEqual([
      204,
      '0-0/*',
      undefined,
    ]);
    const counted = await t.call('GET', '/rpc/rpc_nothing', { headers: { prefer: 'count=exact' } });
    expect([counted.status, counted.headers['content-range']]).toEqual([204, '0-0/1']);
  });

  it('runs volatile functions only by POST; GET is read-only (405)', async () => {
    await ownerQuery(`CREATE TABLE rpc_counters (id int PRIMARY KEY, n int NOT NULL);
      INSERT INTO rpc_counters VALUES (1, 0);
      CREATE FUNCTION bump(counter int, step int DEFAULT 1) RETURNS void LANGUAGE sql VOLATILE AS
        $$ UPDATE rpc_counters SET n = n + step WHERE id = counter $$;`);
    const get = await t.call('GET', '/rpc/bump?counter=1');
    expect(get.status).toBe(405);
    expect(get.json).toMatchObject({
      code: '25006',
      message: 'cannot execute UPDATE in a read-only transaction',
    });
    const post = await t.call('POST', '/rpc/bump', { body: { counter: 1 } });
    expect(post.status).toBe(204);
    const withDefault = await t.call('POST', '/rpc/bump', { body: { counter: 1, step: 5 } });
    expect(withDefault.status).toBe(204);
    expect(await adminQuery('SELECT n FROM rpc_counters WHERE id = 1')).toEqual([{ n: 6 }]);
  });

  it.each(['exact', 'estimated'])(
    'runs a volatile function once when its rows are also counted (Prefer: count=%s)',
    async (count) => {
      const calls = `rpc_${count}_calls`;
      await ownerQuery(`CREATE TABLE ${calls} (kind text NOT NULL);
        GRANT INSERT, SELECT ON ${calls} TO anon;
        CREATE FUNCTION log_${count}_scalar() RETURNS SETOF int LANGUAGE sql VOLATILE AS
          $$ INSERT INTO ${calls} VALUES ('scalar') RETURNING 7 $$;
        CREATE FUNCTION log_${count}_rows() RETURNS TABLE (a int, b int) LANGUAGE sql VOLATILE AS
          $$ INSERT INTO ${calls} VALUES ('rows') RETURNING 1, 2 $$;`);
      const counted = { headers: { prefer: `count=${count}` } };
      const scalar = await t.call('POST', `/rpc/log_${count}_scalar?pgrst_scalar=eq.7`, counted);
      expect([scalar.json, scalar.headers['content-range']]).toEqual([[7], '0-0/1']);
      const rows = await t.call('POST', `/rpc/log_${count}_rows?select=b`, counted);
      expect([rows.json, rows.headers['content-range']]).toEqual([[{ b: 2 }], '0-0/1']);
      expect(
        await adminQuery(`SELECT kind, count(*)::int AS n FROM ${calls} GROUP BY kind ORDER BY kind`),
      ).toEqual([
        { kind: 'rows', n: 1 },
        { kind: 'scalar', n: 1 },
      ]);
    },
  );

  it("keeps the database's statement_timeout when the engine is given none", async () => {
    const url = new URL(inject('restDbUrl'));
    url.searchParams.set('options', '-c statement_timeout=800');
    const defaults = testEngine({ statementTimeoutMs: undefined }, url.toString());
    try {
      // service_role: anon and authenticated have statement timeouts of their own, which win.
      const slow = await defaults.call('POST', '/rpc/sleep_ms', {
        headers: await bearer('service_role'),
        body: { ms: 3000 },
      });
      expect(slow.status).toBe(500);
      expect(slow.json).toMatchObject({ code: '57014' });
    } finally {
      await defaults.close();
    }
  });

  it('fails an argument it cannot send without holding its pooled connection forever', async () => {
    await ownerQuery(
      `CREATE FUNCTION count_items(items int[]) RETURNS int LANGUAGE sql STABLE AS $$ SELECT cardinality(items) $$`,
    );
    // Deep enough to overflow the stack while the array literal is built.
    const deep = `{"items": ${'['.repeat(20_000)}${']'.repeat(20_000)}}`;
    const hung = new Promise<'hung'>((resolve) => setTimeout(() => resolve('hung'), 5_000).unref());
    for (const prefer of ['count=planned', 'count=exact']) {
      const r = await Promise.race([
        t.call('POST', '/rpc/count_items', { headers: { prefer }, body: deep }),
        hung,
      ]);
      expect(r === 'hung' ? r : r.status, prefer).toBe(500);
    }
    expect(t.pool.totalCount - t.pool.idleCount).toBe(0);
    const ok = await t.call('POST', '/rpc/count_items', { body: { items: [1, 2, 3] } });
    expect(ok.json).toBe(3);
  });

  it("answers a RAISE SQLSTATE 'PGRST' with the body, status and headers it gives, as PostgREST", async () => {
    await ownerQuery(`CREATE FUNCTION raise_pgrst(message text, detail text) RETURNS int LANGUAGE plpgsql AS $$
        BEGIN
          IF detail IS NULL THEN RAISE SQLSTATE 'PGRST' USING MESSAGE = message; END IF;
          RAISE SQLSTATE 'PGRST' USING MESSAGE = message, DETAIL = detail;
        END $$`);
    const paid = await t.call('POST', '/rpc/raise_pgrst', {
      body: {
        message: '{"code":"123","message":"Payment Required","details":"Quota exceeded","hint":"Upgrade"}',
        detail: '{"status":402,"headers":{"X-Powered-By":"Nerd Rage"}}',
      },
    });
    expect(paid.status).toBe(402);
    expect(paid.headers['x-powered-by']).toBe('Nerd Rage');
    expect(paid.headers['content-type']).toMatch(/^application\/json/);
    expect(paid.json).toEqual({
      code: '123',
      message: 'Payment Required',
      details: 'Quota exceeded',
      hint: 'Upgrade',
    });
    // A 401 of the function's own carries only the headers it names.
    const unauthorized = await t.call('POST', '/rpc/raise_pgrst', {
      body: { message: '{"code":"A1","message":"Log in"}', detail: '{"status":401,"headers":{}}' },
    });
    expect([unauthorized.status, unauthorized.json]).toEqual([
      401,
      { code: 'A1', message: 'Log in', details: null, hint: null },
    ]);
    expect(unauthorized.headers['www-authenticate']).toBeUndefined();
    const cases: [string, string | null, string][] = [
      ['not json', '{"status":400,"headers":{}}', "Invalid JSON value for MESSAGE: 'not json'"],
      [
        '{"message":"no code"}',
        '{"status":400,"headers":{}}',
        `Invalid JSON value for MESSAGE: '{"message":"no code"}'`,
      ],
      ['{"code":"1","message":"m"}', null, 'DETAIL is missing in the RAISE statement'],
      ['{"code":"1","message":"m"}', '{"status":400}', `Invalid JSON value for DETAIL: '{"status":400}'`],
      [
        '{"code":"1","message":"m"}',
        '{"status":4000,"headers":{}}',
        `Invalid JSON value for DETAIL: '{"status":4000,"headers":{}}'`,
      ],
      [
        '{"code":"1","message":"m"}',
        '{"status":400,"headers":{"X-Split":"a\\r\\nX-Injected: 1"}}',
        `Invalid JSON value for DETAIL: '{"status":400,"headers":{"X-Split":"a\\r\\nX-Injected: 1"}}'`,
      ],
    ];
    for (const [message, detail, details] of cases) {
      const r = await t.call('POST', '/rpc/raise_pgrst', { body: { message, detail } });
      expect([r.status, r.json], message).toMatchObject([500, { code: 'PGRST121', details }]);
      expect(r.headers['x-injected']).toBeUndefined();
    }
  });

  it('never reads limit, offset, order, and, or, select, columns or on_conflict as arguments by GET, as PostgREST 12', async () => {
    // PostgREST 12.2 QueryParams.parse: a key ending in order/limit/offset/and/or, or named
    // select/columns/on_conflict, is reserved; only the other filter-less keys are arguments.
    await ownerQuery(`
      CREATE FUNCTION rpc_upto("limit" int DEFAULT 3, "offset" int DEFAULT 0) RETURNS SETOF int
        LANGUAGE sql STABLE AS $$ SELECT generate_series(1 + "offset", "limit" + "offset") $$;
      CREATE FUNCTION rpc_need_limit("limit" int) RETURNS int LANGUAGE sql STABLE AS $$ SELECT "limit" $$;`);
    // limit=5 limits the three rows of the default call; offset=1 skips one of them.
    const limited = await t.call('GET', '/rpc/rpc_upto?limit=5');
    expect([limited.status, limited.json]).toEqual([200, [1, 2, 3]]);
    const offset = await t.call('GET', '/rpc/rpc_upto?offset=1');
    expect([offset.status, offset.json]).toEqual([200, [2, 3]]);
    const required = await t.call('GET', '/rpc/rpc_need_limit?limit=1');
    expect(required.status).toBe(404);
    expect(required.json).toMatchObject({
      code: 'PGRST202',
      message: 'Could not find the function public.rpc_need_limit without parameters in the schema cache',
    });
    // By POST the body's keys are the arguments, whatever their names.
    const post = await t.call('POST', '/rpc/rpc_need_limit', { body: { limit: 7 } });
    expect([post.status, post.json]).toEqual([200, 7]);
  });

  it('maps raise, unknown functions, wrong arguments and statement timeouts', async () => {
    const raised = await t.call('POST', '/rpc/fail_with', { body: { msg: 'boom' } });
    expect(raised.status).toBe(400);
    expect(raised.json).toEqual({ code: 'P0001', message: 'boom', details: null, hint: null });
    // 21000 is the function's fault (500), unless it is pg-safeupdate refusing a write without WHERE.
    await ownerQuery(`CREATE FUNCTION two_rows_as_one() RETURNS int LANGUAGE sql STABLE AS
        $$ SELECT (SELECT id FROM books) $$;
      CREATE FUNCTION safeupdate_refusal() RETURNS void LANGUAGE plpgsql AS
        $$ BEGIN RAISE SQLSTATE '21000' USING MESSAGE = 'DELETE requires a WHERE clause'; END $$`);
    const cardinality = await t.call('GET', '/rpc/two_rows_as_one');
    expect([cardinality.status, (cardinality.json as { code: string }).code]).toEqual([500, '21000']);
    expect((await t.call('POST', '/rpc/safeupdate_refusal')).status).toBe(400);
    const unknown = await t.call('POST', '/rpc/ad', { body: { a: 1 } });
    expect(unknown.status).toBe(404);
    expect(unknown.json).toEqual({
      code: 'PGRST202',
      message: 'Could not find the function public.ad(a) in the schema cache',
      details:
        'Searched for the function public.ad with parameter a or with a single unnamed json/jsonb parameter, but no matches were found in the schema cache.',
      hint: 'Perhaps you meant to call the function public.add',
    });
    const wrongArgs = await t.call('POST', '/rpc/add', { body: { a: 1, c: 2 } });
    expect(wrongArgs.status).toBe(404);
    // The function exists: the hint names its closest parameter list, as PostgREST's.
    expect(wrongArgs.json).toEqual({
      code: 'PGRST202',
      message: 'Could not find the function public.add(a, c) in the schema cache',
      details:
        'Searched for the function public.add with parameters a, c or with a single unnamed json/jsonb parameter, but no matches were found in the schema cache.',
      hint: 'Perhaps you meant to call the function public.add(a, b)',
    });
    // By GET no body could go to a json parameter; under params=single-object only that is looked for.
    const getUnknown = await t.call('GET', '/rpc/ad?a=1');
    expect(getUnknown.json).toMatchObject({
      details:
        'Searched for the function public.ad with parameter a, but no matches were found in the schema cache.',
    });
    const singleObject = await t.call('POST', '/rpc/add', {
      headers: { prefer: 'params=single-object' },
      body: { a: 1, b: 2 },
    });
    expect(singleObject.json).toEqual({
      code: 'PGRST202',
      message: 'Could not find the function public.add in the schema cache',
      details:
        'Searched for the function public.add with a single json/jsonb parameter, but no matches were found in the schema cache.',
      hint: null,
    });
    // By GET, a parameter whose value is no filter is an argument too, unknown here.
    const extraGetArg = await t.call('GET', '/rpc/add?a=1&b=2&c=3');
    expect(extraGetArg.status).toBe(404);
    expect(extraGetArg.json).toMatchObject({
      code: 'PGRST202',
      message: 'Could not find the function public.add(a, b, c) in the schema cache',
    });
    const noArgs = await t.call('GET', '/rpc/add');
    expect(noArgs.json).toMatchObject({
      message: 'Could not find the function public.add without parameters in the schema cache',
    });
    const slow = await t.call('POST', '/rpc/sleep_ms', {
      headers: await bearer('service_role'),
      body: { ms: 2000 },
    });
    expect(slow.status).toBe(500);
    expect(slow.json).toMatchObject({
      code: '57014',
      message: 'canceling statement due to statement timeout',
    });
  });
});
