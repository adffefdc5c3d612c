import { setTimeout as sleep } from 'node:timers/promises'
import { expect, it } from 'vitest'
import { forEachBackend } from './support/backends.js'

forEachBackend('ttl', (backend) => {
  it('an entry expires after its ttl', async () => {
    const cache = backend.cache()
    await cache.set('short', 1, { ttl: 80 })
    await cache.set('long', 2, { ttl: 60_000 })
    expect(await cache.get('short')).toBe(1)
    await sleep(160)
    expect(await cache.getMany(['short', 'long'])).toEqual([undefined, 2])
  })

  it('the cache ttl is the default; a call’s ttl overrides it; Infinity means none', async () => {
    const cache = backend.cache({ ttl: 5_000 })
    await cache.set('default', 1)
    await cache.set('own', 2, { ttl: 90_000 })
    await cache.set('none', 3, { ttl: Number.POSITIVE_INFINITY })
    const pttl = (key: string) => backend.raw.pttl(backend.entryKey(key))
    expect(await pttl('default')).toBeGreaterThan(4_000)
    expect(await pttl('default')).toBeLessThanOrEqual(5_000)
    expect(await pttl('own')).toBeGreaterThan(5_000)
    expect(await pttl('none')).toBe(-1)
  })

  it('a group version lives at least as long as every entry that snapshots it', async () => {
    const cache = backend.cache()
    await cache.set('a', 1, { groups: ['g', 'h'], ttl: 10_000 })
    await cache.set('b', 2, { groups: ['g'], ttl: 50_000 })
    await cache.set('c', 3, { groups: ['g'], ttl: 20_000 }) // shorter: must not shorten g
    const entry = (key: string) => backend.raw.pttl(backend.entryKey(key))
    const version = (group: string) => backend.raw.pttl(backend.groupKey(group))
    for (const key of ['a', 'b', 'c']) expect(await version('g')).toBeGreaterThanOrEqual(await entry(key))
    expect(await version('g')).toBeGreaterThan(40_000)
    expect(await version('h')).toBeGreaterThanOrEqual(await entry('a'))
    // no longer than the entry: under sharding 'key' the version is stamped before the entry is
    // written, so it gets a lease (5 s by default) of margin (src/spread.ts)
    expect(await version('h')).toBeLessThanOrEqual(10_000 + (backend.sharding === 'key' ? 5_000 : 0))
  })

  it('a version used by an entry without ttl has none, and keeps none', async () => {
    const cache = backend.cache()
    await cache.set('forever', 1, { groups: ['g'] })
    expect(await backend.raw.pttl(backend.groupKey('g'))).toBe(-1)
    await cache.set('brief', 2, { groups: ['g'], ttl: 1_000 })
    expect(await backend.raw.pttl(backend.groupKey('g'))).toBe(-1)
    await cache.expireGroup('g')
    expect(await backend.raw.pttl(backend.groupKey('g'))).toBe(-1)
  })

  it('a version with a ttl becomes persistent once an entry without ttl uses it', async () => {
    const cache = backend.cache()
    await cache.set('brief', 1, { groups: ['g'], ttl: 1_000 })
    expect(await backend.raw.pttl(backend.groupKey('g'))).toBeGreaterThan(0)
    await cache.set('forever', 2, { groups: ['g'] })
    expect(await backend.raw.pttl(backend.groupKey('g'))).toBe(-1)
  })

  it('expireGroup keeps a version’s ttl', async () => {
    const cache = backend.cache()
    await cache.set('a', 1, { groups: ['g'], ttl: 30_000 })
    await cache.expireGroup('g')
    expect(await backend.raw.pttl(backend.groupKey('g'))).toBeGreaterThan(20_000)
  })

  it('a miss that creates a version gives it the lease as ttl; the fill extends it', async () => {
    const cache = backend.cache({ lease: 5_000 })
    const miss = await cache.read('k', { groups: ['g'] })
    if (miss.hit) throw new Error('expected a miss')
    const created = await backend.raw.pttl(backend.groupKey('g'))
    expect(created).toBeGreaterThan(0)
    expect(created).toBeLessThanOrEqual(5_000)
    await cache.set('k', 1, { token: miss.token, ttl: 60_000 })
    expect(await backend.raw.pttl(backend.groupKey('g'))).toBeGreaterThan(50_000)
  })

  it('a delete leaves a generation key that lives as long as the lease', async () => {
    const cache = backend.cache({ lease: 5_000 })
    await cache.set('k', 1)
    await cache.delete('k')
    const tombstone = backend.keys.generation('k')
    const ttl = await backend.raw.pttl(tombstone)
    expect(ttl).toBeGreaterThan(0)
    expect(ttl).toBeLessThanOrEqual(5_000)
  })

  it('wrap stores with its own ttl, else the cache’s', async () => {
    const cache = backend.cache({ ttl: 7_000 })
    await cache.wrap('own', { ttl: 70_000 }, () => 1)
    await cache.wrap('default', {}, () => 2)
    expect(await backend.raw.pttl(backend.entryKey('own'))).toBeGreaterThan(60_000)
    const pttl = await backend.raw.pttl(backend.entryKey('default'))
    expect(pttl).toBeGreaterThan(0)
    expect(pttl).toBeLessThanOrEqual(7_000)
  })
})
