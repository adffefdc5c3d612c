import { expect, it } from 'vitest'
import type { CacheStats } from '../src/index.js'
import { forEachBackend } from './support/backends.js'
import { gate, until } from './support/gate.js'

const ZERO: CacheStats = {
  hits: 0,
  misses: 0,
  staleHits: 0,
  nearHits: 0,
  fills: 0,
  refusedFills: 0,
  leaseWaits: 0,
  invalidations: 0,
  errors: 0,
}

/** `cache.stats()`: what a cache counted since it was made, exact for a scripted sequence of calls. */
forEachBackend('stats', (backend) => {
  it('counts every read as a hit or a miss, and the fills, refused fills and invalidations, exactly', async () => {
    const cache = backend.cache()
    cache.on('refused', () => {})
    expect(cache.stats()).toEqual(ZERO)
    await cache.get('a') // miss
    await cache.set('a', 1, { groups: ['g'] })
    await cache.get('a') // hit (the groups known: an MGET)
    await cache.has('a') // hit
    await cache.getMany(['a', 'b', 'c']) // hit, miss, miss
    await cache.wrap('a', { groups: ['g'] }, () => 2) // hit
    await cache.wrap('b', { groups: ['g'] }, () => 'B') // miss, fill
    await cache.expireGroup('g') // invalidation
    await cache.get('a') // miss (stale)
    const miss = await cache.read('c', { groups: ['g'] }) // miss
    if (miss.hit) throw new Error('expected a miss')
    await cache.expireGroup('g') // invalidation
    expect(await cache.set('c', 'C', { token: miss.token })).toBe(false) // refused
    await cache.delete('b') // invalidation
    await cache.deleteMany(['a', 'b']) // invalidation
    expect(cache.stats()).toEqual({ ...ZERO, hits: 4, misses: 6, fills: 1, refusedFills: 1, invalidations: 4 })
  })

  it('a stale value served within grace is a stale hit, and its refresh a fill', async () => {
    const cache = backend.cache({ grace: 60_000 })
    await cache.wrap('k', { groups: ['g'] }, () => 'old') // miss, fill
    await cache.expireGroup('g') // soft
    expect(await cache.wrap('k', { groups: ['g'] }, () => 'new')).toBe('old') // stale hit, refresh
    await until(async () => (await cache.get('k')) === 'new') // misses while refreshing, then a hit
    const stats = cache.stats()
    expect(stats).toMatchObject({ staleHits: 1, fills: 2, invalidations: 1 })
    expect(stats.hits + stats.misses + stats.staleHits).toBeGreaterThanOrEqual(3)
  })

  it("a wrap that waits for another process's fill counts a miss and a lease wait, no fill", async () => {
    const holder = backend.cache()
    const waiter = backend.cache()
    await holder.get('warm')
    await waiter.get('warm')
    const fill = gate<string>()
    const held = holder.wrap('k', { groups: ['g'] }, () => fill.opened)
    await until(async () => (await backend.raw.exists(backend.keys.lease('k'))) === 1)
    const waiting = waiter.wrap('k', { groups: ['g'] }, () => 'the waiter filled')
    await until(() => waiter.stats().leaseWaits === 1)
    fill.open('the holder filled')
    expect(await held).toBe('the holder filled')
    expect(await waiting).toBe('the holder filled')
    expect(waiter.stats()).toEqual({ ...ZERO, misses: 2, leaseWaits: 1 }) // its warm-up, then the wrap
    expect(holder.stats()).toEqual({ ...ZERO, misses: 2, fills: 1 })
  })

  it('a read that fails open is a miss and an error; its function still runs (a fill)', async () => {
    const { cache, outage } = backend.failingCache()
    cache.on('error', () => {})
    await cache.get('warm') // a miss while Redis answers
    outage.start('drop')
    expect(await cache.get('k')).toBeUndefined()
    expect(await cache.getMany(['k', 'l'])).toEqual([undefined, undefined])
    expect(await cache.wrap('k', () => 'computed')).toBe('computed')
    outage.end()
    expect(outage.failed).toBeGreaterThan(0)
    expect(cache.stats()).toEqual({ ...ZERO, misses: 5, fills: 1, errors: 3 })
  })

  // (the [acl] backend's user has the cache's commands only, not the near cache's)
  if (backend.name === 'redis' && backend.kind !== 'acl')
    it("a near-cache hit is a hit, and one of the near cache's", async () => {
      const cache = backend.cache({ nearCache: { maxEntries: 10 } })
      await until(() => cache.nearCacheStats()?.inSync === true)
      await cache.set('k', 'v', { groups: ['g'] })
      expect(await cache.get('k')).toBe('v') // from Redis; the near cache then holds it
      await until(() => cache.nearCacheStats()?.held === 1)
      expect(await cache.get('k')).toBe('v') // from memory
      expect(cache.stats()).toEqual({ ...ZERO, hits: 2, nearHits: 1 })
    })
})
