import { defineProject } from 'vitest/config';

export default defineProject({
  test: {
    name: 'tenant-manager',
    globalSetup: ['./test/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Files share one Postgres; each uses its own management database, so they may run in parallel,
    // but the machine has 2 cores.
    maxWorkers: 2,
  },
});
