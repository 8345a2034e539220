import type { SupabaseClient } from '@supabase/supabase-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { supabaseFor } from './clients.js';
import { createProjects, deleteProject, sql, type TestProject } from './projects.js';

export interface ExploreProjects {
  /** The project the suite works on. */
  readonly a: TestProject;
  /** The second tenant, with the same schema, that nothing may touch. */
  readonly b: TestProject;
  /** supabase-js on `a` with its secret key (service_role). */
  readonly service: SupabaseClient;
  /**
   * Registers, where it is called (at the end of the file, so it runs last), the test that `query` on
   * the second project still answers `rows`.
   */
  secondProjectUntouched(query: string, rows: Record<string, unknown>[]): void;
}

/**
 * The explore suites' fixture: two projects with `schema` on both, created before the file's tests and
 * deleted after them. Its fields are there once the file's beforeAll has run.
 */
export function exploreProjects(label: string, schema: string): ExploreProjects {
  let projects: { a: TestProject; b: TestProject; service: SupabaseClient } | undefined;
  const ready = () => {
    if (!projects) throw new Error('the explore projects are created in beforeAll');
    return projects;
  };
  beforeAll(async () => {
    const [a, b] = await createProjects(`${label}-a`, `${label}-b`);
    projects = { a, b, service: supabaseFor(a.ref, a.secretKey) };
    await Promise.all([sql(a.ref, schema), sql(b.ref, schema)]);
  });
  afterAll(async () => {
    if (projects) await Promise.all([deleteProject(projects.a.ref), deleteProject(projects.b.ref)]);
  });
  return {
    get a() {
      return ready().a;
    },
    get b() {
      return ready().b;
    },
    get service() {
      return ready().service;
    },
    secondProjectUntouched(query, rows) {
      describe('the second project', () => {
        it('is untouched by everything done to the first', async () => {
          expect(await sql(ready().b.ref, query)).toEqual(rows);
        });
      });
    },
  };
}
