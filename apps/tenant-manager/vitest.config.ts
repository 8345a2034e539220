import { defineProject } from 'vitest/config';

export default defineProject({
  test: {
    name: 'tenant-manager',
    // One PostgreSQL 16 for the whole run; each file uses its own management database on it.
    globalSetup: ['./test/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
