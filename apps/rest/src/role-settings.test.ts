import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { adminQuery, bearer, ownerQuery, type TestEngine, testEngine } from './test/helpers.js';

// Roles of their own: the API roles are shared by every test file of the run.
let t: TestEngine;

beforeAll(async () => {
  const [row] = await adminQuery<{ db: string }>('SELECT current_database() AS db');
  await adminQuery(`
    CREATE ROLE rs_timed NOLOGIN;
    CREATE ROLE rs_plain NOLOGIN;
    GRANT rs_timed, rs_plain TO authenticator_test;
    GRANT USAGE ON SCHEMA public TO rs_timed, rs_plain;
    ALTER ROLE rs_timed SET statement_timeout = '1h';
    ALTER ROLE rs_timed IN DATABASE "${row!.db}" SET statement_timeout = '300ms';
    ALTER ROLE rs_timed SET work_mem = '1234kB';
    ALTER ROLE rs_timed SET lc_messages = 'C';
    ALTER ROLE rs_timed SET default_transaction_isolation = 'serializable';`);
  await ownerQuery(`
    CREATE FUNCTION rs_setting(name text) RETURNS text LANGUAGE sql STABLE AS $$ SELECT current_setting(name) $$;
    GRANT EXECUTE ON FUNCTION rs_setting(text), sleep_ms(int) TO rs_timed, rs_plain;
    CREATE TABLE rs_levels (level text);
    CREATE FUNCTION rs_isolation_rr() RETURNS text LANGUAGE sql STABLE
      SET default_transaction_isolation = 'repeatable read' AS $$ SELECT current_setting('transaction_isolation') $$;
    CREATE FUNCTION rs_isolation_write() RETURNS text LANGUAGE sql VOLATILE
      AS $$ INSERT INTO rs_levels VALUES (current_setting('transaction_isolation')) RETURNING level $$;
    CREATE VIEW rs_isolation AS SELECT current_setting('transaction_isolation') AS level;
    GRANT SELECT ON rs_isolation TO rs_timed, rs_plain;
    GRANT SELECT, INSERT ON rs_levels TO rs_timed, rs_plain;
    GRANT EXECUTE ON FUNCTION rs_isolation_rr(), rs_isolation_write() TO rs_timed, rs_plain;`);
  // The engine's own timeout is longer than the role's database setting and shorter than its global one.
  t = testEngine({ statementTimeoutMs: 1000, schemaCheckIntervalMs: 0 });
});
afterAll(() => t.close());

const setting = async (role: string, name: string) =>
  (await t.call('GET', `/rpc/rs_setting?name=${name}`, { headers: await bearer(role) })).json;

describe("the impersonated role's settings", () => {
  it("apply in the request's transaction, the database's over the global ones, over the engine's timeout", async () => {
    expect(await setting('rs_timed', 'statement_timeout')).toBe('300ms');
    expect(await setting('rs_timed', 'work_mem')).toBe('1234kB');
    const slow = await t.call('POST', '/rpc/sleep_ms', {
      headers: await bearer('rs_timed'),
      body: { ms: 600 },
    });
    expect(slow.status).toBe(500);
    expect(slow.json).toEqual({
      code: '57014',
      details: null,
      hint: null,
      message: 'canceling statement due to statement timeout',
    });
    // As in PostgREST, default_transaction_isolation is not a setting it applies as one.
    expect(await setting('rs_timed', 'default_transaction_isolation')).toBe('read committed');
  });

  it("a role's default_transaction_isolation is the level its requests' transactions begin with; a function's SET wins (PostgREST 12 planIsoLvl)", async () => {
    const level = async (role: string, method: string, path: string, body?: unknown) => {
      const res = await t.call(method, path, {
        headers: { ...(await bearer(role)), prefer: 'return=representation' },
        ...(body !== undefined ? { body } : {}),
      });
      expect(res.status, res.body.toString()).toBeLessThan(300);
      return res.json;
    };
    expect(await level('rs_timed', 'GET', '/rs_isolation')).toEqual([{ level: 'serializable' }]);
    expect(await level('rs_timed', 'GET', '/rpc/rs_setting?name=transaction_isolation')).toBe('serializable');
    expect(await level('rs_timed', 'POST', '/rpc/rs_isolation_write')).toBe('serializable');
    expect(await level('rs_timed', 'POST', '/rs_levels?select=level', { level: 'x' })).toEqual([
      { level: 'x' },
    ]);
    expect(await level('rs_timed', 'GET', '/rpc/rs_isolation_rr')).toBe('repeatable read');
    expect(await level('rs_plain', 'GET', '/rpc/rs_isolation_rr')).toBe('repeatable read');
    expect(await level('rs_plain', 'GET', '/rs_isolation')).toEqual([{ level: 'read committed' }]);
    expect(await level('rs_plain', 'POST', '/rpc/rs_isolation_write')).toBe('read committed');
  });

  it('begins at read committed when the role or function asks for nothing higher, whatever the session default (hasql BEGIN ISOLATION LEVEL)', async () => {
    // PostgREST 12 begins every transaction with an explicit level (Query.hs planIsoLvl, read
    // committed by default) and a function's own SET wins even when it is read committed.
    await ownerQuery(`
      CREATE FUNCTION rs_isolation_rc() RETURNS text LANGUAGE sql STABLE
        SET default_transaction_isolation = 'read committed' AS $$ SELECT current_setting('transaction_isolation') $$;
      GRANT EXECUTE ON FUNCTION rs_isolation_rc() TO rs_timed, rs_plain;`);
    const rc = await t.call('GET', '/rpc/rs_isolation_rc', { headers: await bearer('rs_timed') });
    expect([rc.status, rc.json]).toEqual([200, 'read committed']);
    // A login role (or database) whose sessions default to serializable.
    await adminQuery(`
      CREATE ROLE rs_login LOGIN NOINHERIT PASSWORD 'rs-login-password';
      GRANT rs_plain, rs_timed TO rs_login;
      ALTER ROLE rs_login SET default_transaction_isolation = 'serializable';`);
    const url = new URL(inject('restDbUrl'));
    url.username = 'rs_login';
    url.password = 'rs-login-password';
    const serializable = testEngine({}, url.toString());
    try {
      const get = async (role: string, path: string) =>
        (await serializable.call('GET', path, { headers: await bearer(role) })).json;
      expect(await get('rs_plain', '/rs_isolation')).toEqual([{ level: 'read committed' }]);
      expect(await get('rs_plain', '/rpc/rs_setting?name=transaction_isolation')).toBe('read committed');
      const write = await serializable.call('POST', '/rpc/rs_isolation_write', {
        headers: await bearer('rs_plain'),
      });
      expect(write.json).toBe('read committed');
      expect(await get('rs_timed', '/rs_isolation')).toEqual([{ level: 'serializable' }]);
      expect(await get('rs_plain', '/rpc/rs_isolation_rr')).toBe('repeatable read');
    } finally {
      await serializable.close();
    }
  });

  it('leave other roles with the engine timeout, and do not outlive the request', async () => {
    expect(await setting('rs_plain', 'statement_timeout')).toBe('1s');
    expect(await setting('rs_plain', 'work_mem')).not.toBe('1234kB');
    const fast = await t.call('POST', '/rpc/sleep_ms', {
      headers: await bearer('rs_plain'),
      body: { ms: 600 },
    });
    expect(fast.status).toBe(200);
  });

  it('are read again after ALTER ROLE … SET, as the catalogs changed', async () => {
    expect(await setting('rs_plain', 'work_mem')).not.toBe('2345kB');
    await adminQuery(`ALTER ROLE rs_plain SET work_mem = '2345kB'`);
    expect(await setting('rs_plain', 'work_mem')).toBe('2345kB');
  });

  it("are read again on NOTIFY pgrst, 'reload config', as PostgREST re-reads them", async () => {
    // With LISTEN the fingerprint check is off: the notification is what tells.
    const l = testEngine({ listenForReload: true });
    const read = async () =>
      (await l.call('GET', '/rpc/rs_setting?name=work_mem', { headers: await bearer('rs_plain') })).json;
    await read();
    await new Promise((r) => setTimeout(r, 200));
    await adminQuery(`ALTER ROLE rs_plain SET work_mem = '3456kB'`);
    expect(await read()).not.toBe('3456kB');
    await adminQuery(`NOTIFY pgrst, 'reload config'`);
    let seen: unknown;
    for (let i = 0; i < 50 && seen !== '3456kB'; i++) {
      await new Promise((r) => setTimeout(r, 20));
      seen = await read();
    }
    expect(seen).toBe('3456kB');
    await l.close();
  });
});
