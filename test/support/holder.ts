/**
 * One process of test/dead-holder.test.ts's fleet, forked with tsx: a GroupCache on the URL,
 * namespace, lease and timeout of its argument (JSON). It says `ready`, then on `wrap` wraps key 'k' of
 * group 'g'. Its function says `inside` and then either never resolves (`hang`: the test kills
 * the process, its lease held) or returns 'filled by the second child'. `done` carries the wrap's
 * value, whether the function ran, and when; any failure of the cache is sent as `failed`.
 */
import { GroupCache } from '../../src/index.js'

export interface HolderConfig {
  url: string
  namespace: string
  lease: number
  timeout: number
}

export type ParentMessage = { type: 'wrap'; hang: boolean }

export type HolderMessage =
  | { type: 'ready' }
  | { type: 'inside' }
  /** `at`: Date.now() when the wrap resolved (one clock for every process of the machine) */
  | { type: 'done'; value: unknown; ran: boolean; at: number }
  | { type: 'failed'; error: string }

const send = (message: HolderMessage) => {
  if (!process.send) throw new Error('test/support/holder.ts runs as a forked child (it talks over IPC)')
  process.send(message)
}

const config = JSON.parse(process.argv[2] ?? '') as HolderConfig
const cache = new GroupCache({
  redis: config.url,
  namespace: config.namespace,
  lease: config.lease,
  timeout: config.timeout,
})
cache.on('error', (error: Error) => send({ type: 'failed', error: String(error) }))
cache.on('refused', ({ key, reason }) => send({ type: 'failed', error: `the fill of ${key} was refused: ${reason}` }))
// A parent that dies leaves no holder hanging.
const orphaned = () => process.exit(1)
process.on('disconnect', orphaned)

process.on('message', async ({ hang }: ParentMessage) => {
  let ran = false
  try {
    const value = await cache.wrap('k', { groups: ['g'] }, () => {
      ran = true
      send({ type: 'inside' })
      return hang ? new Promise<never>(() => {}) : 'filled by the second child'
    })
    send({ type: 'done', value, ran, at: Date.now() })
  } catch (error) {
    send({ type: 'failed', error: String(error) })
  }
  await cache.close()
  process.off('disconnect', orphaned)
  process.disconnect()
})

send({ type: 'ready' })
