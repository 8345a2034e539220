import { afterAll, describe, expect, it } from 'vitest';
import type { SchemaCache } from './schema-cache.js';
import { ownerQuery, type TestEngine, testEngine } from './test/helpers.js';

// Lambda mode: no LISTEN. With a check interval of 0 every request compares the catalogs'
// fingerprint, so each change below must show on the first request after it — none of them makes
// a request name something the cache lacks.
const loads: SchemaCache[] = [];
const t: TestEngine = testEngine({ schemaCheckIntervalMs: 0, onSchemaLoad: (c) => loads.push(c) });
afterAll(() => t.close());

const upsert = { prefer: 'resolution=merge-duplicates,return=representation' };

describe('schema changes without LISTEN (bounded staleness)', () => {
  it('does not reload while the catalogs are unchanged', async () => {
    await t.call('GET', '/books?select=id&limit=1');
    const before = loads.length;
    for (let i = 0; i < 5; i++) expect((await t.call('GET', '/books?select=id&limit=1')).status).toBe(200);
    expect((await t.call('POST', '/rpc/stale_missing_fn')).status).toBe(404);
    expect(loads.length - before).toBeLessThanOrEqual(1);
    const after = loads.length;
    for (let i = 0; i < 5; i++) expect((await t.call('GET', '/books?select=id&limit=1')).status).toBe(200);
    expect(loads.length).toBe(after);
  });

  it('upserts on a primary key added to a known table, writing the row once', async () => {
    await ownerQuery(`CREATE TABLE stale_pk (id int NOT NULL, note text);
      INSERT INTO stale_pk VALUES (1, 'old')`);
    expect((await t.call('GET', '/stale_pk?select=note')).json).toEqual([{ note: 'old' }]);
    await ownerQuery('ALTER TABLE stale_pk ADD PRIMARY KEY (id)');
    // A singular write: the check runs inside its explicit BEGIN … COMMIT.
    const r = await t.call('POST', '/stale_pk', {
      headers: { ...upsert, accept: 'application/vnd.pgrst.object+json' },
      body: { id: 1, note: 'new' },
    });
    expect([r.status, r.json]).toEqual([200, { id: 1, note: 'new' }]);
    expect(await ownerQuery('SELECT note FROM stale_pk')).toEqual([{ note: 'new' }]);
  });

  it('embeds through a foreign key added, turns ambiguous (PGRST201) with a second and forgets dropped ones', async () => {
    await ownerQuery(`CREATE TABLE stale_people (id int PRIMARY KEY, name text);
      CREATE TABLE stale_tasks (id int PRIMARY KEY, owner int REFERENCES stale_people, reviewer int);
      INSERT INTO stale_people VALUES (1, 'ann'); INSERT INTO stale_tasks VALUES (1, 1, 1)`);
    await ownerQuery(
      'CREATE TABLE stale_notes (id int PRIMARY KEY, author int); INSERT INTO stale_notes VALUES (1, 1)',
    );
    const none = await t.call('GET', '/stale_notes?select=id,stale_people(name)');
    expect([none.status, (none.json as { code: string }).code]).toEqual([400, 'PGRST200']);
    await ownerQuery('ALTER TABLE stale_notes ADD FOREIGN KEY (author) REFERENCES stale_people');
    expect((await t.call('GET', '/stale_notes?select=id,stale_people(name)')).json).toEqual([
      { id: 1, stale_people: { name: 'ann' } },
    ]);
    const url = '/stale_tasks?select=id,stale_people(name)';
    expect((await t.call('GET', url)).json).toEqual([{ id: 1, stale_people: { name: 'ann' } }]);
    await ownerQuery(
      'ALTER TABLE stale_tasks ADD CONSTRAINT stale_reviewer FOREIGN KEY (reviewer) REFERENCES stale_people',
    );
    const ambiguous = await t.call('GET', url);
    expect([ambiguous.status, (ambiguous.json as { code: string }).code]).toEqual([300, 'PGRST201']);
    await ownerQuery(`ALTER TABLE stale_tasks DROP CONSTRAINT stale_reviewer;
      ALTER TABLE stale_tasks DROP CONSTRAINT stale_tasks_owner_fkey`);
    const gone = await t.call('GET', url);
    expect([gone.status, (gone.json as { code: string }).code]).toEqual([400, 'PGRST200']);
  });

  it('answers with the new shape of a function dropped and recreated', async () => {
    await ownerQuery('CREATE FUNCTION stale_fn() RETURNS int LANGUAGE sql STABLE AS $$ SELECT 1 $$');
    expect((await t.call('GET', '/rpc/stale_fn')).json).toBe(1);
    await ownerQuery(`DROP FUNCTION stale_fn();
      CREATE FUNCTION stale_fn() RETURNS TABLE (n int, label text) LANGUAGE sql STABLE AS $$ SELECT 1, 'one' $$`);
    expect((await t.call('GET', '/rpc/stale_fn')).json).toEqual([{ n: 1, label: 'one' }]);
  });

  it('answers OPTIONS for a view redefined as no longer updatable', async () => {
    await ownerQuery(`CREATE TABLE stale_base (id int PRIMARY KEY, a text);
      CREATE VIEW stale_view AS SELECT id, a FROM stale_base;
      GRANT SELECT ON stale_view TO anon`);
    expect((await t.call('OPTIONS', '/stale_view')).headers.allow).toBe(
      'OPTIONS,GET,HEAD,POST,PUT,PATCH,DELETE',
    );
    await ownerQuery('CREATE OR REPLACE VIEW stale_view AS SELECT DISTINCT id, a FROM stale_base');
    expect((await t.call('OPTIONS', '/stale_view')).headers.allow).toBe('OPTIONS,GET,HEAD');
  });

  it('lists a table in the OpenAPI document once it is granted', async () => {
    await ownerQuery(
      'CREATE TABLE stale_granted (id int PRIMARY KEY); REVOKE ALL ON stale_granted FROM anon',
    );
    const paths = async () =>
      Object.keys(((await t.call('GET', '/')).json as { paths: Record<string, unknown> }).paths);
    expect(await paths()).not.toContain('/stale_granted');
    await ownerQuery('GRANT SELECT ON stale_granted TO anon');
    expect(await paths()).toContain('/stale_granted');
  });

  it('checks at most once per interval and is fresh after it', async () => {
    // Two engines, so no step depends on how long the DDL takes: a long interval proves the cache is
    // served unchecked within it, a short one (slept past) that the next request after it checks.
    const patient = testEngine({ schemaCheckIntervalMs: 600_000 });
    const slow = testEngine({ schemaCheckIntervalMs: 300 });
    await ownerQuery('CREATE FUNCTION stale_interval() RETURNS int LANGUAGE sql STABLE AS $$ SELECT 1 $$');
    expect((await patient.call('GET', '/rpc/stale_interval')).json).toBe(1);
    expect((await slow.call('GET', '/rpc/stale_interval')).json).toBe(1);
    await ownerQuery(`DROP FUNCTION stale_interval();
      CREATE FUNCTION stale_interval() RETURNS TABLE (n int) LANGUAGE sql STABLE AS $$ SELECT 1 $$`);
    // Within the interval of the load, the cache is served as it is: no check, no round trip.
    expect((await patient.call('GET', '/rpc/stale_interval')).json).toBe(1);
    await new Promise((r) => setTimeout(r, 320));
    expect((await slow.call('GET', '/rpc/stale_interval')).json).toEqual([{ n: 1 }]);
    await Promise.all([patient.close(), slow.close()]);
  });
});
