import { defineProject } from 'vitest/config';

export default defineProject({ test: { name: 'lambda-local', testTimeout: 20_000 } });
