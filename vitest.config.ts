import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 20_000,
    hookTimeout: 20_000,
    // Socket tests bind port 0 on loopback, so files can run side by side safely.
    pool: 'forks',
  },
});
