import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { GroupCache, type GroupCacheOptions } from '../src/index.js'
import { randomNamespace } from './support/backends.js'
import { until } from './support/gate.js'
import { type RedisSentinel, startSentinel } from './support/sentinel.js'

/**
 * Sentinel: a primary with two replicas and three Sentinels of this file's own (the behaviour
 * suite's [sentinel] backend runs every other test through Sentinels too). The cache takes an
 * ioredis `Redis` with `sentinels`; here the primary is killed with kill -9, the Sentinels
 * promote a replica, and the cache, its near cache and `waitForReplicas` follow.
 */

let sentinel: RedisSentinel
const opened: { close(): Promise<void> }[] = []
const clients: Redis[] = []

beforeAll(async () => {
  sentinel = await startSentinel()
}, 60_000)

afterAll(async () => {
  await Promise.all(opened.splice(0).map((closable) => closable.close()))
  for (const client of clients) client.disconnect()
  await sentinel?.stop()
})

/** A cache on a Redis reached through the Sentinels, on a client of its own. */
function cache(namespace: string, options: Partial<GroupCacheOptions> = {}): GroupCache {
  const client = new Redis({ sentinels: [...sentinel.sentinels], name: sentinel.name, maxRetriesPerRequest: 1 })
  client.on('error', () => {})
  clients.push(client)
  const opened_ = new GroupCache({ redis: client, namespace, ...options })
  opened_.on('error', () => {})
  opened.push(opened_)
  return opened_
}

/** Retries `call` until it resolves: right after a failover, calls fail until the client found the new primary. */
async function eventually<T>(call: () => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await call()
    } catch (error) {
      if (attempt > 100) throw error
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
  }
}

describe('a Redis behind Sentinels', () => {
  it('kill -9 of the primary: the Sentinels promote a replica, and the caches follow it; an invalidation WAITed for survives the failover', async () => {
    const ns = randomNamespace()
    const writer = cache(ns, { waitForReplicas: { replicas: 2, timeout: 1000 } })
    const reader = cache(ns)
    await writer.set('k', 'before', { groups: ['g'] })
    await writer.set('other', 'kept', { groups: ['h'] })
    expect(await reader.get('k')).toBe('before')
    // acknowledged by both replicas before it resolves: whichever is promoted has it
    await writer.expireGroup('g')
    const old = await sentinel.primary()
    await sentinel.killPrimary()
    expect(await sentinel.primary()).not.toBe(old)
    // the old primary's values and invalidations are on the new one: nothing stale, nothing lost
    expect(await eventually(async () => (await reader.getMany(['k', 'other'])).join())).toBe(',kept')
    // and the caches write to the new primary
    await eventually(() => writer.set('k', 'after', { groups: ['g'] }))
    expect(await reader.get('k')).toBe('after')
    await eventually(() => writer.expireGroup('g'))
    expect(await reader.get('k')).toBeUndefined()
  }, 90_000)

  it('a strict near cache on a Sentinel client: after a failover it serves nothing it held from the old primary', async () => {
    const ns = randomNamespace()
    const near = cache(ns, { nearCache: { maxEntries: 100 } })
    const fleet = cache(ns)
    await fleet.set('k', 'held', { groups: ['g'] })
    await until(async () => {
      await near.get('k')
      return (near.nearCacheStats()?.hits ?? 0) > 0
    })
    await sentinel.killPrimary()
    // an invalidation on the new primary, which the near cache's old connections never saw
    await eventually(() => fleet.expireGroup('g'))
    expect(await near.get('k')).toBeUndefined()
    // it syncs with the new primary and serves from memory again
    await eventually(() => fleet.set('k', 'new', { groups: ['g'] }))
    await until(async () => {
      const value = await near.get('k')
      return value === 'new' && near.nearCacheStats()?.inSync === true
    })
  }, 90_000)
})
