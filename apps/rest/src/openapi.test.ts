import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, ownerQuery, type TestEngine, testEngine } from './test/helpers.js';

let t: TestEngine;
beforeAll(async () => {
  await ownerQuery(`
    CREATE TABLE oa_hidden (id int PRIMARY KEY);
    REVOKE ALL ON oa_hidden FROM anon;
    CREATE TABLE "constructor" (id int PRIMARY KEY);
    REVOKE ALL ON "constructor" FROM anon;
    CREATE TABLE oa_readonly (id int PRIMARY KEY, label varchar(20) NOT NULL, n numeric, flags boolean[]);
    REVOKE INSERT, UPDATE, DELETE ON oa_readonly FROM anon;
    CREATE FUNCTION oa_private() RETURNS int LANGUAGE sql AS $$ SELECT 1 $$;
    REVOKE EXECUTE ON FUNCTION oa_private() FROM PUBLIC, anon;
    CREATE TABLE oa_documented (id int PRIMARY KEY, state text NOT NULL DEFAULT 'it''s new', n int DEFAULT 3,
      ok boolean DEFAULT false, at timestamptz DEFAULT now());
    COMMENT ON TABLE oa_documented IS E'Documented things\nWith a longer description.';
    COMMENT ON COLUMN oa_documented.id IS 'The id';`);
  t = testEngine();
});
afterAll(() => t.close());

interface Doc {
  swagger: string;
  paths: Record<string, Record<string, { parameters?: unknown[] }>>;
  definitions: Record<string, { required: string[]; properties: Record<string, Record<string, unknown>> }>;
  parameters: Record<string, unknown>;
}

describe('OpenAPI root', () => {
  it('describes tables, views and functions with types, required columns and PK/FK notes', async () => {
    const r = await t.call('GET', '/', { headers: { accept: 'application/openapi+json' } });
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toBe('application/openapi+json; charset=utf-8');
    const doc = r.json as Doc;
    expect(doc.swagger).toBe('2.0');
    expect(Object.keys(doc.paths['/books']!).sort()).toEqual(['delete', 'get', 'patch', 'post']);
    expect(doc.paths['/rpc/add']).toMatchObject({
      get: {
        parameters: [{ name: 'a', in: 'query', required: true, type: 'integer', format: 'integer' }, {}],
      },
      post: { parameters: [{ in: 'body', schema: { required: ['a', 'b'], type: 'object' } }, {}] },
    });
    expect(doc.paths['/book_titles']).toBeDefined();
    const books = doc.definitions.books!;
    // As PostgREST 12.2 (Response/OpenAPI.hs makeTableDef, makeProperty, parseDefault): every NOT
    // NULL column is required, defaults or not; a default is shown only when its text is JSON.
    expect(books.required).toEqual(['id', 'title', 'tags']);
    expect(books.properties.id).toEqual({
      description: 'Note:\nThis is a Primary Key.<pk/>',
      format: 'integer',
      type: 'integer',
    });
    expect(books.properties.author_id).toEqual({
      description: "Note:\nThis is a Foreign Key to `authors.id`.<fk table='authors' column='id'/>",
      format: 'integer',
      type: 'integer',
    });
    expect(books.properties.tags).toEqual({
      type: 'array',
      format: 'text[]',
      items: { type: 'string' },
    });
    expect(books.properties.price).toEqual({ format: 'numeric', type: 'number' });
    expect(doc.definitions.book_titles!.properties.id!.description).toContain('<pk/>');
    expect(doc.parameters['rowFilter.books.title']).toMatchObject({ name: 'title', in: 'query' });
  });

  it('carries comments and defaults', async () => {
    const doc = (await t.call('GET', '/')).json as Doc;
    const def = doc.definitions.oa_documented as unknown as {
      description: string;
      properties: Record<string, Record<string, unknown>>;
    };
    expect(def.description).toBe('Documented things\nWith a longer description.');
    expect(def.properties.id!.description).toBe('The id\n\nNote:\nThis is a Primary Key.<pk/>');
    // parseDefault drops the quotes around a string's literal, not the doubling of one inside it.
    expect(def.properties.state!.default).toBe("it''s new");
    expect(def.properties.n!.default).toBe(3);
    expect(def.properties.ok!.default).toBe(false);
    expect(def.properties.at!.default).toBe('now()');
    expect(doc.paths['/oa_documented']!.get).toMatchObject({
      summary: 'Documented things',
      description: 'With a longer description.',
    });
  });

  it('shows only what the current role may use, per role', async () => {
    const anon = (await t.call('GET', '/')).json as Doc;
    expect(anon.paths['/oa_hidden']).toBeUndefined();
    expect(anon.paths['/constructor']).toBeUndefined();
    expect(Object.hasOwn(anon.definitions, 'constructor')).toBe(false);
    expect(anon.paths['/secrets']).toBeUndefined();
    expect(anon.paths['/rpc/oa_private']).toBeUndefined();
    // A table that takes writes has every operation whatever the role may do (makePathItem).
    expect(Object.keys(anon.paths['/oa_readonly']!)).toEqual(['get', 'post', 'delete', 'patch']);
    expect(anon.definitions.oa_readonly!.properties.label).toEqual({
      format: 'character varying',
      maxLength: 20,
      type: 'string',
    });
    const service = (await t.call('GET', '/', { headers: await bearer('service_role') })).json as Doc;
    expect(service.paths['/oa_hidden']).toBeDefined();
    expect(service.paths['/rpc/oa_private']).toBeDefined();
    const other = (await t.call('GET', '/', { headers: { 'accept-profile': 'other' } })).json as Doc;
    expect(Object.keys(other.paths)).toEqual(['/', '/items']);
  });

  it('is recomputed after a schema reload and refuses other media types', async () => {
    const before = (await t.call('GET', '/')).json as Doc;
    expect(before.paths['/oa_later']).toBeUndefined();
    await ownerQuery('CREATE TABLE oa_later (id int PRIMARY KEY)');
    await t.engine.reloadSchema();
    const after = (await t.call('GET', '/')).json as Doc;
    expect(after.paths['/oa_later']).toBeDefined();
    const csv = await t.call('GET', '/', { headers: { accept: 'text/csv' } });
    expect(csv.status).toBe(406);
    expect(csv.json).toMatchObject({ code: 'PGRST107' });
    // As PostgREST 12 (Plan.hs inspectPlan): one of openapi+json, json or */* as it decodes them;
    // `application/*` is no type it knows, an array+json without nulls=stripped is JSON.
    const range = await t.call('GET', '/', { headers: { accept: 'application/*' } });
    expect([range.status, (range.json as { message: string }).message]).toEqual([
      406,
      'None of these media types are available: application/*',
    ]);
    const array = await t.call('GET', '/', {
      headers: { accept: 'text/csv, application/vnd.pgrst.array+json' },
    });
    expect(array.status).toBe(200);
  });
});
