import { fileURLToPath } from 'node:url'
import { describe, expect, inject, it } from 'vitest'
import { mutantNames, mutants, mutantTree } from '../check/mutants.js'
import { runNode } from './support/node.js'

/**
 * Every mutant of check/mutants.ts that names test files is caught by them: the files, run by
 * vitest from the mutant's edited copy of the code, fail. (The checker's mutants run in
 * test/checker.test.ts.) The copies use this run's Redis and Cluster, each test in a namespace
 * of its own.
 */

const vitest = fileURLToPath(new URL('../node_modules/vitest/vitest.mjs', import.meta.url))

/** Runs at most `n` of the calls at once: each is a vitest run of its own, and the machine has few cores. */
function limit(n: number): <T>(task: () => Promise<T>) => Promise<T> {
  let running = 0
  const waiting: (() => void)[] = []
  return async (task) => {
    if (running >= n) await new Promise<void>((resolve) => waiting.push(resolve))
    running++
    try {
      return await task()
    } finally {
      running--
      waiting.shift()?.()
    }
  }
}
const slot = limit(3)

/** Without colour codes, should the environment force them on. */
const plain = (text: string) =>
  text
    .split(String.fromCharCode(27))
    .join('')
    .replace(/\[[0-9;]*m/g, '')

describe.concurrent('mutants the test suite catches', () => {
  it.each(mutantNames().filter((name) => mutants[name]?.tests))(
    'mutant %s: its test files fail',
    async (name) => {
      const tests = mutants[name]?.tests ?? []
      const cluster = inject('cluster')
      const env: NodeJS.ProcessEnv = { ...process.env, REDIS_URL: inject('redisUrl'), NO_COLOR: '1' }
      if ('nodes' in cluster) env.REDIS_CLUSTER_URL = cluster.nodes[0]
      const { code, output } = await slot(() => runNode([vitest, 'run', '--bail=1', ...tests], mutantTree(name), env))
      const text = plain(output)
      // Failed tests, not a file that could not load: the tests ran and some caught it.
      const failed = /Tests\s+(\d+) failed/.exec(text)
      expect(code, text.slice(-3000)).not.toBe(0)
      expect(Number(failed?.[1] ?? 0), text.slice(-3000)).toBeGreaterThan(0)
    },
    180_000,
  )
})
