import { fileURLToPath } from 'node:url'
import { expect, it } from 'vitest'
import { runNode } from './support/node.js'

/** The whole project compiles under strict TypeScript: this is what makes test/types.ts's checks bite. */
it('tsc -p . finds no type error (src, tests, examples, bench, check)', async () => {
  const root = fileURLToPath(new URL('..', import.meta.url))
  const tsc = fileURLToPath(new URL('../node_modules/typescript/bin/tsc', import.meta.url))
  const { code, output } = await runNode([tsc, '-p', '.'], root)
  expect(output).toBe('')
  expect(code).toBe(0)
}, 120_000)
