import { defineConfig } from 'vitest/config';

// Integration tests against real engines started by scripts/engines/start.sh (and a real `gpurank serve`).
// Kept apart from `npm test`: they need running servers and take longer.
export default defineConfig({
  test: {
    include: ['test/integration/**/*.integration.ts'],
    // Dawn crashed the `forks` pool worker on device teardown; `threads` is the verified pool.
    pool: 'threads',
    // One file at a time: two WebGPU runtimes and a JVM share 2 cores.
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
