import { defineProject } from 'vitest/config';

// End-to-end suites: one platform (local stack, or a deployed one from PLATFORM_* variables) for the
// whole run, started in global setup; files run one at a time against it. In `pnpm test` this project
// runs in its own group after every other project, so the stack does not compete with unit suites
// for the CPU.
export default defineProject({
  test: {
    name: 'e2e',
    globalSetup: ['./support/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 120_000,
    fileParallelism: false,
    sequence: { groupOrder: 100 },
  },
});
