import { configDefaults, defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The network tests need root and run on their own: npm run test:net (vitest.net.config.ts).
    exclude: [...configDefaults.exclude, 'test/net/**'],
    testTimeout: 20_000,
    hookTimeout: 20_000,
    // Socket tests bind port 0 on loopback, so files can run side by side safely.
    pool: 'forks',
  },
});
