import { type RunningPostgres, startPostgres } from '@supaplane/local-services';
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Superuser URL of the one PostgreSQL 16 shared by this run (management dbs and worker cluster). */
    pgUrl: string;
  }
}

let server: RunningPostgres | undefined;

export async function setup(project: TestProject) {
  server = await startPostgres({ ephemeral: true });
  project.provide('pgUrl', server.url);
}

export async function teardown() {
  await server?.stop();
}
