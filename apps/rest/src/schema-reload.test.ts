import { afterAll, describe, expect, it } from 'vitest';
import type { SchemaCache } from './schema-cache.js';
import { ownerQuery, type TestEngine, testEngine } from './test/helpers.js';

const loads: SchemaCache[] = [];
const t: TestEngine = testEngine({ onSchemaLoad: (c) => loads.push(c) });
afterAll(() => t.close());

describe('schema cache reload', () => {
  it('serves a table created by SQL on the very next request, with one shared reload', async () => {
    expect((await t.call('GET', '/books?select=id&limit=1')).status).toBe(200);
    await ownerQuery(
      'CREATE TABLE reload_fresh (id int PRIMARY KEY, note text); INSERT INTO reload_fresh VALUES (1, $$hi$$)',
    );
    const before = loads.length;
    const results = await Promise.all(
      Array.from({ length: 8 }, () => t.call('GET', '/reload_fresh?select=note')),
    );
    for (const r of results) expect(r.json).toEqual([{ note: 'hi' }]);
    expect(loads.length - before).toBeLessThanOrEqual(2);
  });

  it('serves new columns and functions immediately and forgets dropped tables with PGRST205', async () => {
    await ownerQuery('CREATE TABLE reload_drop (id int PRIMARY KEY)');
    expect((await t.call('GET', '/reload_drop')).status).toBe(200);
    await ownerQuery('ALTER TABLE reload_drop ADD COLUMN label text');
    expect((await t.call('GET', '/reload_drop?select=label')).status).toBe(200);
    await ownerQuery('CREATE FUNCTION reload_fn(x int) RETURNS int LANGUAGE sql AS $$ SELECT x * 2 $$');
    expect((await t.call('GET', '/rpc/reload_fn?x=21')).json).toBe(42);
    await ownerQuery('DROP TABLE reload_drop');
    const gone = await t.call('GET', '/reload_drop');
    expect(gone.status).toBe(404);
    expect(gone.json).toMatchObject({
      code: 'PGRST205',
      message: "Could not find the table 'public.reload_drop' in the schema cache",
    });
  });

  it('calls a function redefined VOLATILE since the cache was loaded in a writable transaction', async () => {
    await ownerQuery(`CREATE TABLE reload_notes (note text);
      CREATE FUNCTION reload_add_note(note text) RETURNS int LANGUAGE sql STABLE AS
        $$ INSERT INTO reload_notes VALUES (note) RETURNING 1 $$;`);
    // Postgres refuses the write inside a STABLE function itself.
    const stable = await t.call('POST', '/rpc/reload_add_note', { body: { note: 'a' } });
    expect([stable.status, (stable.json as { code: string }).code]).toEqual([400, '0A000']);
    await ownerQuery(`CREATE OR REPLACE FUNCTION reload_add_note(note text) RETURNS int LANGUAGE sql VOLATILE AS
        $$ INSERT INTO reload_notes VALUES (note) RETURNING 1 $$;`);
    const volatile = await t.call('POST', '/rpc/reload_add_note', { body: { note: 'b' } });
    expect([volatile.status, volatile.json]).toEqual([200, 1]);
    expect(await ownerQuery('SELECT note FROM reload_notes')).toEqual([{ note: 'b' }]);
  });

  it('bounds miss-triggered reloads under a flood of requests for missing tables', async () => {
    const before = loads.length;
    const started = performance.now();
    for (let i = 0; i < 10; i++) {
      const batch = await Promise.all(
        Array.from({ length: 5 }, (_, j) => t.call('GET', `/missing_${i}_${j}`)),
      );
      for (const r of batch) expect(r.status).toBe(404);
    }
    const elapsed = performance.now() - started;
    expect(loads.length - before).toBeLessThanOrEqual(Math.ceil(elapsed / 50) + 1);
    expect(loads.length - before).toBeLessThan(50);
  });

  it('keeps prepared statements correct when a table is recreated with another shape', async () => {
    await ownerQuery('CREATE TABLE reload_shape (id int); INSERT INTO reload_shape VALUES (1)');
    for (let i = 0; i < 3; i++) expect((await t.call('GET', '/reload_shape')).json).toEqual([{ id: 1 }]);
    await ownerQuery(
      `DROP TABLE reload_shape; CREATE TABLE reload_shape (label text); INSERT INTO reload_shape VALUES ('x')`,
    );
    expect((await t.call('GET', '/reload_shape')).json).toEqual([{ label: 'x' }]);
    expect((await t.call('GET', '/reload_shape?label=eq.x')).json).toEqual([{ label: 'x' }]);
  });

  it('reloads on NOTIFY pgrst from the DDL event trigger without waiting for a miss', async () => {
    const listening: SchemaCache[] = [];
    const l = testEngine({ listenForReload: true, onSchemaLoad: (c) => listening.push(c) });
    await l.call('GET', '/books?limit=1');
    await new Promise((r) => setTimeout(r, 200));
    const count = listening.length;
    await ownerQuery('CREATE TABLE reload_notified (id int)');
    for (let i = 0; i < 50 && listening.length === count; i++) await new Promise((r) => setTimeout(r, 20));
    expect(listening.length).toBeGreaterThan(count);
    const last = listening[listening.length - 1]!;
    expect([...last.relations.values()].some((r) => r.name === 'reload_notified')).toBe(true);
    await l.close();
  });
});
