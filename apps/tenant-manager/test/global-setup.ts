import { type RunningPostgres, startPostgres } from '@supaplane/local-services';
import type { TestProject } from 'vitest/node';

import './provided.js';

let server: RunningPostgres | undefined;

export async function setup(project: TestProject) {
  server = await startPostgres({ ephemeral: true });
  project.provide('pgUrl', server.url);
}

export async function teardown() {
  await server?.stop();
}
