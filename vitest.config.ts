import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Dawn crashed the `forks` pool worker on device teardown; `threads` is the verified pool.
    pool: 'threads',
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
