import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { adminQuery, bearer, ownerQuery, type TestEngine, testEngine } from './test/helpers.js';

// The platform makes a project's database read-only (default_transaction_read_only) when it is over
// its size limit. The data API must then refuse writes as Postgres does (25006 → 405, PostgREST's
// mapping) and keep serving reads, instead of forcing each write transaction read-write.

const suffix = randomBytes(4).toString('hex');
const readOnlyLogin = `ro_login_${suffix}`;
let normal: TestEngine;
let readOnly: TestEngine;

beforeAll(async () => {
  await ownerQuery(`
    CREATE TABLE ro_notes (id int PRIMARY KEY, body text NOT NULL);
    INSERT INTO ro_notes VALUES (1, 'kept');
    GRANT SELECT, INSERT, UPDATE, DELETE ON ro_notes TO service_role;
    CREATE FUNCTION ro_touch() RETURNS int LANGUAGE sql VOLATILE AS 'UPDATE ro_notes SET body = body RETURNING 1';
    GRANT EXECUTE ON FUNCTION ro_touch() TO service_role;`);
  // A login role like the data API's own, whose sessions start read-only, as the whole database's do
  // once the platform flags it (ALTER DATABASE … SET default_transaction_read_only = on).
  await adminQuery(`CREATE ROLE ${readOnlyLogin} LOGIN NOINHERIT PASSWORD 'ro-pw';
    GRANT anon, authenticated, service_role TO ${readOnlyLogin};
    ALTER ROLE ${readOnlyLogin} SET default_transaction_read_only = on`);
  const url = new URL(inject('restDbUrl'));
  url.username = readOnlyLogin;
  url.password = 'ro-pw';
  normal = testEngine();
  readOnly = testEngine({}, url.toString());
});

afterAll(async () => {
  await Promise.all([normal?.close(), readOnly?.close()]);
  await adminQuery(`DROP OWNED BY ${readOnlyLogin}; DROP ROLE IF EXISTS ${readOnlyLogin}`);
});

describe('a read-only project database', () => {
  it('refuses inserts, updates, deletes and volatile functions with 405 25006, and still answers reads', async () => {
    const service = await bearer('service_role');
    const writes = [
      readOnly.call('POST', '/ro_notes', { headers: service, body: { id: 2, body: 'new' } }),
      readOnly.call('PATCH', '/ro_notes?id=eq.1', { headers: service, body: { body: 'changed' } }),
      readOnly.call('DELETE', '/ro_notes?id=eq.1', { headers: service }),
      readOnly.call('POST', '/rpc/ro_touch', { headers: service, body: {} }),
    ];
    for (const res of await Promise.all(writes)) {
      expect(res.status, String(res.body)).toBe(405);
      expect(res.json).toMatchObject({
        code: '25006',
        message: expect.stringMatching(/read-only transaction/),
      });
    }
    const read = await readOnly.call('GET', '/ro_notes?select=id,body', { headers: service });
    expect(read.status).toBe(200);
    expect(read.json).toEqual([{ id: 1, body: 'kept' }]);
    expect(await adminQuery('SELECT id, body FROM ro_notes ORDER BY id')).toEqual([{ id: 1, body: 'kept' }]);
  });

  it('leaves a database with the usual default writable', async () => {
    const service = await bearer('service_role');
    const res = await normal.call('POST', '/ro_notes', {
      headers: { ...service, prefer: 'return=representation' },
      body: { id: 3, body: 'written' },
    });
    expect(res.status, String(res.body)).toBe(201);
    expect(res.json).toEqual([{ id: 3, body: 'written' }]);
  });
});
