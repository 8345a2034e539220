import { defineProject } from 'vitest/config';

export default defineProject({
  test: {
    name: 'infra',
    include: ['test/**/*.test.ts'],
    // CDK synthesis of the whole stack takes seconds on a shared 2-core machine.
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
