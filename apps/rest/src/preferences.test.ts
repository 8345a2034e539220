import { afterAll, describe, expect, it } from 'vitest';
import { adminQuery, type TestEngine, testEngine } from './test/helpers.js';

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
