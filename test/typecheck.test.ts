import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { expect, it } from 'vitest'

/** The whole project compiles under strict TypeScript: this is what makes test/types.test.ts's checks bite. */
it('tsc -p . finds no type error (src, tests, examples, bench, check)', async () => {
  const root = fileURLToPath(new URL('..', import.meta.url))
  const tsc = fileURLToPath(new URL('../node_modules/typescript/bin/tsc', import.meta.url))
  const { code, output } = await new Promise<{ code: number | null; output: string }>((resolve, reject) => {
    const child = spawn(process.execPath, [tsc, '-p', '.'], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] })
    let output = ''
    child.stdout.on('data', (chunk) => {
      output += chunk
    })
    child.stderr.on('data', (chunk) => {
      output += chunk
    })
    child.once('error', reject)
    child.once('close', (exit) => resolve({ code: exit, output }))
  })
  expect(output).toBe('')
  expect(code).toBe(0)
}, 120_000)
