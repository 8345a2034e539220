import { afterAll, describe, expect, it } from 'vitest';
import { adminQuery, ownerQuery, type TestEngine, testEngine } from './test/helpers.js';

// Prefer and Preference-Applied on every kind of request, as PostgREST 12.2 answers them
// (src/PostgREST/Response.hs actionResponse; test/spec/Feature/Query/UpdateSpec.hs, DeleteSpec.hs).

const t: TestEngine = testEngine();
afterAll(() => t.close());

describe('return=headers-only', () => {
  it('on PATCH and DELETE is 204 with the Content-Range, no body, no Content-Type and no Location', async () => {
    await t.call('POST', '/publishers', { body: { id: 7301, name: 'headers-only' } });
    const patched = await t.call('PATCH', '/publishers?id=eq.7301', {
      headers: { prefer: 'return=headers-only' },
      body: { name: 'patched' },
    });
    expect([patched.status, patched.headers, patched.body.toString()]).toEqual([
      204,
      { 'content-range': '0-0/*', 'preference-applied': 'return=headers-only' },
      '',
    ]);
    const counted = await t.call('PATCH', '/publishers?id=eq.7301', {
      headers: { prefer: 'return=headers-only, count=exact' },
      body: { name: 'patched again' },
    });
    expect([counted.status, counted.headers]).toEqual([
      204,
      { 'content-range': '0-0/1', 'preference-applied': 'return=headers-only, count=exact' },
    ]);
    const nothing = await t.call('PATCH', '/publishers?id=eq.7301', {
      headers: { prefer: 'return=headers-only' },
      body: {},
    });
    expect([nothing.status, nothing.headers, nothing.body.toString()]).toEqual([
      204,
      { 'content-range': '*/*', 'preference-applied': 'return=headers-only' },
      '',
    ]);
    const deleted = await t.call('DELETE', '/publishers?id=eq.7301', {
      headers: { prefer: 'return=headers-only, count=exact' },
    });
    expect([deleted.status, deleted.headers, deleted.body.toString()]).toEqual([
      204,
      { 'content-range': '*/1', 'preference-applied': 'return=headers-only, count=exact' },
      '',
    ]);
    expect(await adminQuery('SELECT id FROM publishers WHERE id = 7301')).toEqual([]);
  });
});

describe('an offset past the counted rows (416 PGRST103)', () => {
  const outOfBounds = (offset: number, total: number) => ({
    code: 'PGRST103',
    details: `An offset of ${offset} was requested, but there are only ${total} rows.`,
    hint: null,
    message: 'Requested range not satisfiable',
  });

  it("keeps the read's own headers: Content-Range, Content-Location, Content-Type and Preference-Applied", async () => {
    const r = await t.call('GET', '/books?select=id&offset=100', { headers: { prefer: 'count=exact' } });
    expect([r.status, r.headers, r.json]).toEqual([
      416,
      {
        'content-range': '*/6',
        'content-location': '/books?offset=100&select=id',
        'content-type': 'application/json; charset=utf-8',
        'content-profile': 'public',
        'preference-applied': 'count=exact',
      },
      outOfBounds(100, 6),
    ]);
    const ranged = await t.call('GET', '/books?select=id', {
      headers: { prefer: 'count=estimated', range: '7-9' },
    });
    expect([ranged.status, ranged.headers['content-range'], ranged.headers['preference-applied']]).toEqual([
      416,
      '*/6',
      'count=estimated',
    ]);
    expect(ranged.json).toEqual(outOfBounds(7, 6));
  });

  it('of a function: its Content-Range and Preference-Applied, no Content-Location; HEAD has no body', async () => {
    const r = await t.call('GET', '/rpc/books_by_author?author=1&offset=5', {
      headers: { prefer: 'count=exact' },
    });
    expect([r.status, r.headers, r.json]).toEqual([
      416,
      {
        'content-range': '*/2',
        'content-type': 'application/json; charset=utf-8',
        'content-profile': 'public',
        'preference-applied': 'count=exact',
      },
      outOfBounds(5, 2),
    ]);
    const head = await t.call('HEAD', '/books?select=id&offset=100', { headers: { prefer: 'count=exact' } });
    expect([head.status, head.headers['content-range'], head.body.toString()]).toEqual([416, '*/6', '']);
  });

  it('answers in the media type negotiated, as PostgREST labels it, with the error as JSON', async () => {
    const r = await t.call('GET', '/books?select=id&offset=100', {
      headers: { prefer: 'count=exact', accept: 'text/csv' },
    });
    expect([r.status, r.headers['content-type'], r.json]).toEqual([
      416,
      'text/csv; charset=utf-8',
      outOfBounds(100, 6),
    ]);
  });
});

describe('the Location of return=headers-only', () => {
  it("percent-encodes a key's value as http-types urlEncode does: all but letters, digits and -_.~ (SqlFragment.hs locationF)", async () => {
    await ownerQuery(`CREATE TABLE p_codes (code text PRIMARY KEY, label text)`);
    const r = await t.call('POST', '/p_codes', {
      headers: { prefer: 'return=headers-only' },
      body: { code: "a (b)!*'~é", label: 'x' },
    });
    expect([r.status, r.headers.location]).toEqual([201, '/p_codes?code=eq.a%20%28b%29%21%2A%27~%C3%A9']);
  });
});

describe('on_conflict naming a column the table lacks', () => {
  it("is Postgres's 42703, as PostgREST passes on_conflict on unchecked (Plan.hs mutatePlan)", async () => {
    for (const prefer of [
      'resolution=merge-duplicates',
      'resolution=ignore-duplicates,return=representation',
    ]) {
      const r = await t.call('POST', '/publishers?on_conflict=nope', {
        headers: { prefer },
        body: { id: 7302, name: 'x' },
      });
      // Postgres's hint (a close column name, or none) depends on the statement's shape: not compared.
      expect([r.status, r.json]).toMatchObject([
        400,
        { code: '42703', details: null, message: 'column "nope" does not exist' },
      ]);
    }
    expect(await adminQuery('SELECT id FROM publishers WHERE id = 7302')).toEqual([]);
  });
});
