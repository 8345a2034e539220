import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { admin, rest, supabaseFor } from './support/clients.js';
import { expectPostgrestError } from './support/expect.js';
import { createProjects, deleteProject, eventually, sql, type TestProject } from './support/projects.js';

// An operator changes a live project's data-API settings (PATCH /v1/projects/:ref/postgrest): exposed
// schemas, max rows, aggregates. Warm rest functions serve the change with the first request the
// gateway forwards under the new config version, without a restart; the other project is untouched.

let a: TestProject;
let b: TestProject;

const SCHEMA = `create table public.notes (id int primary key, body text);
  insert into public.notes values (1, 'one'), (2, 'two'), (3, 'three');
  create schema api;
  grant usage on schema api to anon, authenticated, service_role;
  create table api.widgets (id int primary key, name text);
  grant select on api.widgets to anon, authenticated, service_role;
  insert into api.widgets values (1, 'cog'), (2, 'gear'), (3, 'lever');`;

const settings = async (ref: string, body: object) => {
  const res = await admin('PATCH', `/v1/projects/${ref}/postgrest`, body);
  expect(res.status, res.text).toBe(200);
  return res.json() as Record<string, unknown>;
};

/** Milliseconds until `probe` holds, after the change answered: within 2 s (a function re-reads at most once a second). */
const servedWithin = (probe: () => Promise<boolean>) => eventually(probe, 2_000);

beforeAll(async () => {
  [a, b] = await createProjects('pgrst-a', 'pgrst-b');
  await Promise.all([sql(a.ref, SCHEMA), sql(b.ref, SCHEMA)]);
});

afterAll(async () => {
  await Promise.all([a && deleteProject(a.ref), b && deleteProject(b.ref)]);
});

describe('data-API settings on a live project', () => {
  it('exposes a new schema to supabase-js at once, and only on that project', async () => {
    const sa = supabaseFor(a.ref, a.publishableKey);
    const sb = supabaseFor(b.ref, b.publishableKey);
    // warm A's function and the gateways with the settings as they are
    expect((await sa.from('notes').select('id').order('id')).data).toEqual([{ id: 1 }, { id: 2 }, { id: 3 }]);
    const before = await sa.schema('api').from('widgets').select('id');
    expect(before.error?.code, JSON.stringify(before)).toBe('PGRST106');
    expect(before.status).toBe(406);

    expect(await settings(a.ref, { db_schema: 'public,api' })).toMatchObject({
      db_schema: 'public,api',
      max_rows: 1000,
      db_aggregates_enabled: false,
    });
    const elapsed = await servedWithin(async () => {
      const { data } = await sa.schema('api').from('widgets').select('id,name').order('id');
      return (
        JSON.stringify(data) ===
        JSON.stringify([
          { id: 1, name: 'cog' },
          { id: 2, name: 'gear' },
          { id: 3, name: 'lever' },
        ])
      );
    });
    console.log(`api schema served ${elapsed} ms after the PATCH answered`);
    // public is still the default schema
    expect((await sa.from('notes').select('id').eq('id', 2)).data).toEqual([{ id: 2 }]);

    // B has the same schema, not exposed
    const other = await sb.schema('api').from('widgets').select('id');
    expect(other.error?.code).toBe('PGRST106');
    expectPostgrestError(
      await rest(b.ref, 'widgets', { key: b.publishableKey, headers: { 'accept-profile': 'api' } }),
      406,
      'PGRST106',
    );
  });

  it('caps rows at max_rows at once', async () => {
    const sa = supabaseFor(a.ref, a.secretKey);
    await settings(a.ref, { max_rows: 1 });
    await servedWithin(async () => {
      const { data } = await sa.from('notes').select('id').order('id');
      return JSON.stringify(data) === JSON.stringify([{ id: 1 }]);
    });
    const widgets = await sa.schema('api').from('widgets').select('id').order('id', { ascending: false });
    expect(widgets.data).toEqual([{ id: 3 }]);
    // B keeps its default
    const sb = supabaseFor(b.ref, b.secretKey);
    expect((await sb.from('notes').select('id')).data).toHaveLength(3);
  });

  it('turns aggregate functions on and off', async () => {
    const sa = supabaseFor(a.ref, a.publishableKey);
    const off = await sa.from('notes').select('count()');
    expect([off.status, off.error?.code]).toEqual([400, 'PGRST123']);
    await settings(a.ref, { db_aggregates_enabled: true, max_rows: 1000 });
    await servedWithin(async () => {
      const { data } = await sa.from('notes').select('count()');
      return JSON.stringify(data) === JSON.stringify([{ count: 3 }]);
    });
    const grouped = await sa.schema('api').from('widgets').select('name, id.sum()').order('name');
    expect(grouped.data).toEqual([
      { name: 'cog', sum: 1 },
      { name: 'gear', sum: 2 },
      { name: 'lever', sum: 3 },
    ]);
    // B: still off
    const sb = supabaseFor(b.ref, b.publishableKey);
    expect((await sb.from('notes').select('count()')).error?.code).toBe('PGRST123');

    await settings(a.ref, { db_aggregates_enabled: false, db_schema: 'public' });
    await servedWithin(async () => (await sa.from('notes').select('count()')).error?.code === 'PGRST123');
    expect((await sa.schema('api').from('widgets').select('id')).error?.code).toBe('PGRST106');
  });

  it('refuses system schemas and unknown fields', async () => {
    for (const body of [{ db_schema: 'public,pg_catalog' }, { db_schema: 'auth' }, { db_pool: 10 }, {}]) {
      const res = await admin('PATCH', `/v1/projects/${a.ref}/postgrest`, body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.json()).toEqual({ message: expect.any(String), code: expect.any(String) });
    }
    expect((await admin('PATCH', '/v1/projects/nosuchproject/postgrest', { max_rows: 5 })).status).toBe(404);
  });
});
