import pg from 'pg';
import { describe, expect, inject, it } from 'vitest';
import { closest, loadSchemaCache } from './schema-cache.js';
import { adminQuery, testEngine } from './test/helpers.js';

describe('closest', () => {
  it('suggests a near name, and spends no time comparing a long one with names it cannot be near', () => {
    const names = Array.from({ length: 500 }, (_, i) => `some_table_name_${i}`);
    expect(closest('some_table_nme_42', names)).toBe('some_table_name_42');
    expect(closest('bokks', ['authors', 'books'])).toBe('books');
    expect(closest('x', ['authors', 'books'])).toBeUndefined();
    // A client's 8 KB table name against a project of 500 tables took ~0.7 s of event loop.
    const started = performance.now();
    expect(closest('a'.repeat(8000), names)).toBeUndefined();
    expect(closest(`${'some_table_name_1'.repeat(3)}x`, names)).toBeUndefined();
    expect(performance.now() - started).toBeLessThan(100);
  });
});

describe('loadSchemaCache', () => {
  it("gives each relation the functions of its row, its own schema's first for a name in two schemas", async () => {
    await adminQuery(`CREATE TABLE public.sc_people (id int PRIMARY KEY, name text);
      CREATE TABLE other.sc_people (id int PRIMARY KEY, name text);
      CREATE FUNCTION public.sc_label(public.sc_people) RETURNS text LANGUAGE sql AS $$ SELECT 'public' $$;
      CREATE FUNCTION other.sc_label(public.sc_people) RETURNS text LANGUAGE sql AS $$ SELECT 'other' $$;
      CREATE FUNCTION public.sc_label(other.sc_people) RETURNS text LANGUAGE sql AS $$ SELECT 'public' $$;
      CREATE FUNCTION other.sc_label(other.sc_people) RETURNS text LANGUAGE sql AS $$ SELECT 'other' $$;
      CREATE FUNCTION public.sc_peers(other.sc_people) RETURNS SETOF public.sc_people LANGUAGE sql
        AS $$ SELECT * FROM public.sc_people $$;`);
    const pool = new pg.Pool({ connectionString: inject('restDbUrl'), max: 1 });
    try {
      const cache = await loadSchemaCache(pool, ['public', 'other']);
      const computed = (schema: string) =>
        Object.fromEntries(
          [...(cache.relations.get(`${schema}\u0000sc_people`)?.computed.values() ?? [])].map((f) => [
            f.name,
            [f.schema, f.returnRelation ? `${f.returnRelation.schema}.${f.returnRelation.name}` : f.type],
          ]),
        );
      expect(computed('public')).toEqual({ sc_label: ['public', 'text'] });
      expect(computed('other')).toEqual({
        sc_label: ['other', 'text'],
        sc_peers: ['public', 'public.sc_people'],
      });
    } finally {
      await pool.end();
      await adminQuery(`DROP FUNCTION public.sc_label(public.sc_people), other.sc_label(public.sc_people),
        public.sc_label(other.sc_people), other.sc_label(other.sc_people), public.sc_peers(other.sc_people);
        DROP TABLE public.sc_people, other.sc_people`);
    }
  });
});

describe('schema cache loader', () => {
  it('reads the time zones on the first request that names one, once, and not on a cold start', async () => {
    await adminQuery(`CREATE TABLE sc_times (at timestamptz);
      INSERT INTO sc_times VALUES ('2024-01-01T12:00:00Z'); GRANT SELECT ON sc_times TO anon`);
    const t = testEngine();
    const queries: string[] = [];
    const query = t.pool.query.bind(t.pool) as (text: string, values?: unknown[]) => Promise<pg.QueryResult>;
    (t.pool as unknown as { query: typeof query }).query = (text, values) => {
      queries.push(text);
      return query(text, values);
    };
    const zoneReads = () => queries.filter((q) => q.includes('pg_timezone_names')).length;
    try {
      expect((await t.call('GET', '/sc_times?select=at')).json).toEqual([
        { at: '2024-01-01T12:00:00+00:00' },
      ]);
      expect(zoneReads()).toBe(0);
      const tokyo = await t.call('GET', '/sc_times?select=at', {
        headers: { prefer: 'handling=strict, timezone=Asia/Tokyo' },
      });
      expect([tokyo.status, tokyo.json]).toEqual([200, [{ at: '2024-01-01T21:00:00+09:00' }]]);
      await t.engine.reloadSchema();
      const strict = await t.call('GET', '/sc_times?select=at', {
        headers: { prefer: 'handling=strict, timezone=Mars/Olympus' },
      });
      expect([strict.status, strict.json]).toMatchObject([400, { code: 'PGRST122' }]);
      const la = await t.call('GET', '/sc_times?select=at', {
        headers: { prefer: 'timezone=America/Los_Angeles' },
      });
      expect(la.json).toEqual([{ at: '2024-01-01T04:00:00-08:00' }]);
      expect(zoneReads()).toBe(1);
    } finally {
      await t.close();
      await adminQuery('DROP TABLE sc_times');
    }
  });

  it('applies a time zone named by the first request of a fresh engine', async () => {
    await adminQuery(`CREATE TABLE sc_times_first (at timestamptz);
      INSERT INTO sc_times_first VALUES ('2024-06-01T12:00:00Z'); GRANT SELECT ON sc_times_first TO anon`);
    const t = testEngine();
    try {
      const r = await t.call('GET', '/sc_times_first?select=at', {
        headers: { prefer: 'timezone=Europe/Paris' },
      });
      expect([r.json, r.headers['preference-applied']]).toEqual([
        [{ at: '2024-06-01T14:00:00+02:00' }],
        'timezone=Europe/Paris',
      ]);
    } finally {
      await t.close();
      await adminQuery('DROP TABLE sc_times_first');
    }
  });
});
