import { defineConfig } from 'vitest/config';

// One `vitest run` at the root runs every package's suite; each package keeps its own config
// (timeouts, global setup) in its own vitest.config.ts.
export default defineConfig({
  test: {
    projects: ['packages/*', 'apps/*', 'gateway', 'infra', 'tests'],
  },
});
