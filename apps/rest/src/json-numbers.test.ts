import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JsonNumber, jsonText, mayHoldInexactNumber } from './json-number.js';
import { parseBody } from './request-body.js';
import { adminQuery, ownerQuery, type TestEngine, testEngine } from './test/helpers.js';

// PostgREST passes the request body's JSON text to Postgres (json_to_recordset, json_to_record), so a
// number reaches a column or argument with every digit it was sent with. A JavaScript number keeps
// about 17: 2^53 + 1 became 2^53, and a long numeric was rounded, silently.
const BIG = '9007199254740993';
const NUM = '12345678901234567890.123456789012345678';

describe('JSON bodies keep numbers as written', () => {
  it('parses numbers a JavaScript number would change into JsonNumber, the rest as usual', () => {
    const body = parseBody(`{"a":${BIG},"b":[1.10,-0,1e2,2.5],"c":{"d":${NUM}},"e":"${BIG}","f":42}`) as {
      a: JsonNumber;
      b: unknown[];
      c: { d: JsonNumber };
      e: string;
      f: number;
    };
    expect(body.a).toBeInstanceOf(JsonNumber);
    expect(String(body.a)).toBe(BIG);
    expect(body.b.map(String)).toEqual(['1.10', '-0', '1e2', '2.5']);
    expect(body.b[3]).toBe(2.5);
    expect(String(body.c.d)).toBe(NUM);
    expect(body.e).toBe(BIG);
    expect(body.f).toBe(42);
    expect(jsonText(body)).toBe(`{"a":${BIG},"b":[1.10,-0,1e2,2.5],"c":{"d":${NUM}},"e":"${BIG}","f":42}`);
    expect(String(parseBody(BIG))).toBe(BIG);
    expect(() => parseBody(`{"a":0${BIG}}`)).toThrow('Empty or invalid json');
    expect(() => parseBody(`{"a":${BIG}.}`)).toThrow('Empty or invalid json');
  });
});

describe('the pre-check that lets most bodies skip the number scan', () => {
  // Sound means: every number a JavaScript number would change makes it answer true.
  const changed = (token: string) => String(Number(token)) !== token;
  const digits = (n: number, random: () => number) =>
    Array.from({ length: n }, () => Math.floor(random() * 10)).join('');

  it('answers true for every number a JavaScript number would change (random tokens, every shape)', () => {
    let seed = 42;
    const random = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    let checked = 0;
    for (let i = 0; i < 200_000; i++) {
      const intDigits = 1 + Math.floor(random() * 24);
      const int =
        intDigits === 1
          ? digits(1, random)
          : `${1 + Math.floor(random() * 9)}${digits(intDigits - 1, random)}`;
      const frac = random() < 0.6 ? `.${digits(1 + Math.floor(random() * 20), random)}` : '';
      const exp = random() < 0.1 ? `e${random() < 0.5 ? '-' : ''}${1 + Math.floor(random() * 30)}` : '';
      const token = `${random() < 0.3 ? '-' : ''}${random() < 0.3 ? '0' : int}${frac}${exp}`;
      if (changed(token)) {
        checked++;
        expect(mayHoldInexactNumber(`{"v":${token}}`), token).toBe(true);
      }
    }
    expect(checked).toBeGreaterThan(10_000);
    for (const token of ['-0', '1.0', '0.0000001', '1e2', '123456789012345678', '9007199254740993', '1E5']) {
      expect(changed(token), token).toBe(true);
      expect(mayHoldInexactNumber(`[${token}]`), token).toBe(true);
    }
  });

  it('answers false for bodies whose numbers JSON.parse keeps (most bodies), so they are parsed once', () => {
    expect(
      mayHoldInexactNumber(
        '[{"id":1,"name":"apple","price":2.25,"n":-3,"x":0.000001,"big":123456789012345}]',
      ),
    ).toBe(false);
    expect(parseBody('{"a":0.000001,"b":[1.5,-2]}')).toEqual({ a: 0.000001, b: [1.5, -2] });
  });
});

describe('numbers reach Postgres with every digit', () => {
  let t: TestEngine;
  beforeAll(async () => {
    await ownerQuery(`
      CREATE TABLE jn_keys (id bigint PRIMARY KEY);
      CREATE TABLE jn_texts (id int PRIMARY KEY, js json);
      CREATE TABLE jn_nums (id int PRIMARY KEY, big bigint, num numeric, j jsonb, t text, i int);
      CREATE FUNCTION jn_echo(n bigint, j jsonb, a numeric[]) RETURNS text LANGUAGE sql IMMUTABLE
        AS $$ SELECT n::text || ' ' || j::text || ' ' || a::text $$;
      CREATE FUNCTION jn_json(json) RETURNS text LANGUAGE sql IMMUTABLE AS $$ SELECT $1::text $$;
      CREATE FUNCTION jn_named(doc json) RETURNS text LANGUAGE sql IMMUTABLE AS $$ SELECT doc::text $$;`);
    t = testEngine();
  });
  afterAll(() => t.close());

  const stored = (id: number) =>
    adminQuery(`SELECT big::text, num::text, j::text, t FROM jn_nums WHERE id = ${id}`);

  it('POST, PATCH, PUT and a merging upsert', async () => {
    const posted = await t.call('POST', '/jn_nums', {
      body: `[{"id":1,"big":${BIG},"num":${NUM},"j":{"n":${BIG},"d":1.10},"t":${BIG}}]`,
    });
    expect(posted.status, posted.body.toString()).toBe(201);
    expect(await stored(1)).toEqual([{ big: BIG, num: NUM, j: `{"d": 1.10, "n": ${BIG}}`, t: BIG }]);
    const patched = await t.call('PATCH', '/jn_nums?id=eq.1', {
      body: `{"big":${BIG.slice(0, -1)}5,"j":[${NUM}]}`,
    });
    expect(patched.status).toBe(204);
    expect(await stored(1)).toEqual([{ big: '9007199254740995', num: NUM, j: `[${NUM}]`, t: BIG }]);
    const put = await t.call('PUT', '/jn_nums?id=eq.2', { body: `{"id":2,"num":${NUM}}` });
    expect(put.status).toBe(204);
    expect((await stored(2))[0]?.num).toBe(NUM);
    const merged = await t.call('POST', '/jn_nums', {
      headers: { prefer: 'resolution=merge-duplicates,return=representation' },
      body: `{"id":2,"big":${BIG}}`,
    });
    expect(merged.status).toBe(200);
    expect(merged.body.toString()).toBe(`[{"id":2,"big":${BIG},"num":${NUM},"j":null,"t":null,"i":null}]`);
    // missing=default goes through jsonb, which keeps the digits as well
    const defaulted = await t.call('POST', '/jn_nums?columns=id,big', {
      headers: { prefer: 'missing=default' },
      body: `[{"id":3,"big":${BIG}},{"id":4}]`,
    });
    expect(defaulted.status).toBe(201);
    expect((await stored(3))[0]?.big).toBe(BIG);
  });

  it('a json column keeps the text it was sent (spacing, key order, repeated keys), as PostgREST passes the body on', async () => {
    const doc = '{"b": 1,  "a": [1,  2.50], "b": {"x" : null}}';
    const one = await t.call('POST', '/jn_texts', { body: `{"id": 1, "js": ${doc}}` });
    expect(one.status, one.body.toString()).toBe(201);
    const bulk = await t.call('POST', '/jn_texts', {
      body: `[{"id": 2, "js": ${doc}}, {"id": 3, "js": [ ]}]`,
    });
    expect(bulk.status, bulk.body.toString()).toBe(201);
    const patched = await t.call('PATCH', '/jn_texts?id=eq.3', { body: `{"js": ${doc}}` });
    expect(patched.status).toBe(204);
    expect(await adminQuery('SELECT id, js::text FROM jn_texts ORDER BY id')).toEqual([
      { id: 1, js: doc },
      { id: 2, js: doc },
      { id: 3, js: doc },
    ]);
  });

  it("the Location of an inserted row names its key's every digit", async () => {
    const res = await t.call('POST', '/jn_keys', {
      headers: { prefer: 'return=headers-only' },
      body: `{"id":${BIG}}`,
    });
    expect(res.status).toBe(201);
    expect(res.headers.location).toBe(`/jn_keys?id=eq.${BIG}`);
  });

  it('a number Postgres would refuse for the column is refused, as PostgREST: 1.0 in an int → 22P02', async () => {
    const res = await t.call('POST', '/jn_nums', { body: '{"id":5,"i":1.0}' });
    expect(res.status).toBe(400);
    expect((res.json as { code: string }).code).toBe('22P02');
  });

  it('rpc arguments: bigint, jsonb, a numeric array and a single json parameter', async () => {
    const res = await t.call('POST', '/rpc/jn_echo', {
      body: `{"n":${BIG},"j":{"x":${NUM}},"a":[${NUM},1.10]}`,
    });
    expect(res.status, res.body.toString()).toBe(200);
    expect(res.json).toBe(`${BIG} {"x": ${NUM}} {${NUM},1.10}`);
    const single = await t.call('POST', '/rpc/jn_json', { body: `{"v":[${BIG}]}` });
    expect(single.json).toBe(`{"v":[${BIG}]}`);
    // the one json parameter gets the body's text, as PostgREST passes it
    const spaced = '{"b": 1,  "a": [ 2 ], "b": 3}';
    expect((await t.call('POST', '/rpc/jn_json', { body: spaced })).json).toBe(spaced);
    const named = await t.call('POST', '/rpc/jn_named', {
      headers: { prefer: 'params=single-object' },
      body: spaced,
    });
    expect(named.json).toBe(spaced);
  });
});
