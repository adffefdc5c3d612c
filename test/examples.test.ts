import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { describe, expect, inject, it } from 'vitest'

/** The README's runnable examples (`npm run demo`, `npm run example:fleets`) exit 0, in memory and on Redis. */

const root = fileURLToPath(new URL('..', import.meta.url))

function run(file: string, env: NodeJS.ProcessEnv): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', file], {
      cwd: root,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let output = ''
    child.stdout.on('data', (chunk) => {
      output += chunk
    })
    child.stderr.on('data', (chunk) => {
      output += chunk
    })
    child.once('error', reject)
    child.once('close', (code) => resolve({ code, output }))
  })
}

describe.concurrent('examples', () => {
  const { REDIS_URL: _, ...inMemory } = process.env
  it.each([
    ['examples/demo.ts', 'memory'],
    ['examples/fleets.ts', 'memory'],
    ['examples/fleets.ts', 'redis'],
  ])(
    '%s runs on %s',
    async (file, backend) => {
      const env = backend === 'memory' ? inMemory : { ...process.env, REDIS_URL: inject('redisUrl') }
      const { code, output } = await run(file, env)
      expect(code, output).toBe(0)
      expect(output).not.toMatch(/unexpected/)
    },
    60_000,
  )
})
