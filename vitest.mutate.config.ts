import { defineConfig } from 'vitest/config'

/**
 * The tests StrykerJS runs against each of its mutants (`npm run mutate`): the behaviour files
 * that take no sleeps, on the redis and memory backends (RGC_BACKENDS), so that hundreds of
 * mutants take minutes rather than hours. The full suite, and the hand-made mutants of
 * check/mutants.ts, run in `npm test`.
 */
export default defineConfig({
  test: {
    include: ['test/{validation,values,invalidation,fills,hints,ttl,wire,deadlines,failures,isolation}.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 20_000,
    hookTimeout: 30_000,
    env: { RGC_BACKENDS: 'redis,memory' },
  },
})
