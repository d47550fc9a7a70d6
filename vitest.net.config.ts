import { defineConfig } from 'vitest/config';

// The network tests (npm run test:net): real NATs built from network namespaces and nftables, so
// they need root. One file at a time (each builds its own small internet and the machine has two
// cores), in forks, with room for processes that start inside namespaces.
export default defineConfig({
  test: {
    include: ['test/net/**/*.test.ts'],
    pool: 'forks',
    fileParallelism: false,
    testTimeout: 90_000,
    hookTimeout: 60_000,
    globalSetup: ['test/net/helpers/global-setup.ts'],
  },
});
