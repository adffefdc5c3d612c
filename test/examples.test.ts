import { fileURLToPath } from 'node:url'
import { describe, expect, inject, it } from 'vitest'
import { runNode } from './support/node.js'

/** The README's runnable examples (`npm run demo`, `npm run example:*`) exit 0, in memory and on Redis; each checks its own output. */

const root = fileURLToPath(new URL('..', import.meta.url))

describe.concurrent('examples', () => {
  const { REDIS_URL: _, ...inMemory } = process.env
  it.each([
    ['examples/demo.ts', 'memory'],
    ['examples/fleets.ts', 'memory'],
    ['examples/fleets.ts', 'redis'],
    ['examples/opentelemetry.ts', 'memory'],
    ['examples/opentelemetry.ts', 'redis'],
    ['examples/prometheus.ts', 'memory'],
    ['examples/prometheus.ts', 'redis'],
  ])(
    '%s runs on %s',
    async (file, backend) => {
      const env = backend === 'memory' ? inMemory : { ...process.env, REDIS_URL: inject('redisUrl') }
      const { code, output } = await runNode(['--import', 'tsx', file], root, env)
      expect(code, output).toBe(0)
      expect(output).not.toMatch(/unexpected/)
    },
    60_000,
  )
})
