import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    globalSetup: ['test/helpers/global-setup.ts'],
    // Child processes, not worker threads: the native Kafka client aborts inside worker threads.
    pool: 'forks',
    // One file at a time: every integration file starts gateways and shares one real broker on 2 cores.
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // The JSON result is what .ci/run counts for its closing 'N passed, N failed' line.
    reporters: ['default', 'json'],
    outputFile: { json: 'test/artifacts/vitest-results.json' },
  },
});
