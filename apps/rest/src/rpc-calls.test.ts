import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ownerQuery, type TestEngine, testEngine } from './test/helpers.js';

// How a call's arguments are read and its transaction set up, as PostgREST 12.2 does
// (Plan.hs findProc/callReadPlan, SchemaCache.hs, Query.hs setPgLocals/optionalRollback).

const t: TestEngine = testEngine({ statementTimeoutMs: 300, txEnd: 'commit-allow-override' });
const FORM = { 'content-type': 'application/x-www-form-urlencoded' };

beforeAll(async () => {
  await ownerQuery(`
CREATE FUNCTION rc_variadic(VARIADIC v text[] DEFAULT '{}') RETURNS text[] LANGUAGE sql IMMUTABLE AS $$ SELECT v $$;
CREATE FUNCTION rc_add(a int, b int) RETURNS int LANGUAGE sql IMMUTABLE AS $$ SELECT a + b $$;
CREATE FUNCTION rc_ovl() RETURNS int LANGUAGE sql AS $$ SELECT 1 $$;
CREATE FUNCTION rc_ovl(x int, y int) RETURNS int LANGUAGE sql AS $$ SELECT x + y $$;
CREATE FUNCTION rc_ovl(json) RETURNS json LANGUAGE sql AS $$ SELECT $1 $$;
CREATE FUNCTION rc_jj(json) RETURNS json LANGUAGE sql AS $$ SELECT $1 $$;
CREATE FUNCTION rc_jj(jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT $1 $$;
CREATE FUNCTION rc_chars(c char, b bit, cs char[]) RETURNS text LANGUAGE sql AS $$ SELECT c || ' ' || b::text || ' ' || cs::text $$;
CREATE FUNCTION rc_slow() RETURNS int LANGUAGE plpgsql SET statement_timeout = '50ms'
  AS $$ BEGIN PERFORM pg_sleep(0.5); RETURN 1; END $$;
CREATE FUNCTION rc_timeout() RETURNS text LANGUAGE sql SET statement_timeout = '2s'
  AS $$ SELECT current_setting('statement_timeout') $$;
CREATE FUNCTION rc_engine_timeout() RETURNS text LANGUAGE sql AS $$ SELECT current_setting('statement_timeout') $$;
CREATE FUNCTION rc_unnamed_int(int) RETURNS int LANGUAGE sql AS $$ SELECT $1 $$;
CREATE TABLE rc_deferred (col int UNIQUE DEFERRABLE INITIALLY DEFERRED);
CREATE FUNCTION rc_twice() RETURNS void LANGUAGE sql AS $$ INSERT INTO rc_deferred VALUES (1), (1) $$;`);
});
afterAll(() => t.close());

describe('arguments', () => {
  it('a form fills a variadic argument with its repeated keys (jsonRpcParams)', async () => {
    const r = await t.call('POST', '/rpc/rc_variadic', { headers: FORM, body: 'v=hi&v=there' });
    expect([r.status, r.json]).toEqual([200, ['hi', 'there']]);
  });

  it('columns= names the arguments: other keys dropped, a missing one NULL', async () => {
    const r = await t.call('POST', '/rpc/rc_add?columns=a,b', { body: [{ a: 1, b: 2, c: 3 }] });
    expect([r.status, r.json]).toEqual([200, 3]);
    const missing = await t.call('POST', '/rpc/rc_add?columns=a,b', { body: { a: 1, c: 3 } });
    expect([missing.status, missing.json]).toEqual([200, null]);
  });

  it('char and bit arguments are read as their varying types', async () => {
    const r = await t.call('GET', '/rpc/rc_chars?c=abc&b=101&cs={ab,cd}');
    expect([r.status, r.json]).toEqual([200, 'abc 101 {ab,cd}']);
  });
});

describe('choosing the function', () => {
  it('only a JSON body falls back to the unnamed json parameter', async () => {
    const json = await t.call('POST', '/rpc/rc_ovl', { body: { a: 1 } });
    expect([json.status, json.json]).toEqual([200, { a: 1 }]);
    const form = await t.call('POST', '/rpc/rc_ovl', { headers: FORM, body: 'a=1' });
    expect([form.status, form.json]).toMatchObject([
      404,
      {
        code: 'PGRST202',
        details:
          'Searched for the function public.rc_ovl with parameter a, but no matches were found in the schema cache.',
      },
    ]);
  });

  it('a function with an unnamed parameter other than one raw-body type is none to call', async () => {
    const r = await t.call('POST', '/rpc/rc_unnamed_int', { body: {} });
    // Not in the cache at all: no hint at its own parameter list (`rc_unnamed_int()`).
    expect([r.status, (r.json as { code: string }).code]).toEqual([404, 'PGRST202']);
    expect(String((r.json as { hint: unknown }).hint)).not.toContain('rc_unnamed_int');
  });

  it('PGRST203 names an unnamed parameter as ` => type`', async () => {
    const r = await t.call('POST', '/rpc/rc_jj', { body: { a: 1 } });
    expect([r.status, (r.json as { message: string }).message]).toEqual([
      300,
      'Could not choose the best candidate function between: public.rc_jj( => json), public.rc_jj( => jsonb)',
    ]);
  });
});

describe('the transaction of a call', () => {
  it("sets the function's statement_timeout for the call, over the role's", async () => {
    const slow = await t.call('GET', '/rpc/rc_slow');
    expect([slow.status, (slow.json as { code: string }).code]).toEqual([500, '57014']);
    expect((await t.call('GET', '/rpc/rc_timeout')).json).toBe('2s');
    // Without one of its own, anon's (the fixture's ALTER ROLE anon SET statement_timeout).
    expect((await t.call('GET', '/rpc/rc_engine_timeout')).json).toBe('3s');
  });

  it('tx=rollback still answers a deferred constraint violation', async () => {
    const r = await t.call('POST', '/rpc/rc_twice', { headers: { prefer: 'tx=rollback' } });
    expect([r.status, (r.json as { code: string }).code]).toEqual([409, '23505']);
  });
});
