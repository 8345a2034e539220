import pg from 'pg';
import { describe, expect, inject, it } from 'vitest';
import { closest, loadSchemaCache } from './schema-cache.js';
import { adminQuery } from './test/helpers.js';

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
