import { configDefaults, defineProject } from 'vitest/config';

export default defineProject({
  test: {
    name: 'gateway',
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // gateway/.baseline holds an older build for same-run benchmark comparisons (scripts/bench/gateway).
    exclude: [...configDefaults.exclude, '.baseline/**'],
  },
});
