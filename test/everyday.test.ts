import { describe, expect, it } from 'vitest'
import { InvalidArgumentError, TimeoutError } from '../src/index.js'
import { forEachBackend } from './support/backends.js'

/** The everyday calls beside get, set and wrap: has, setMany, deleteMany, clear, and durations as strings. */
forEachBackend('everyday calls', (backend) => {
  describe('has', () => {
    it('is true for a live entry (null included), false for a missing, stale or deleted one', async () => {
      const cache = backend.cache()
      await cache.set('k', 'v', { groups: ['g'] })
      await cache.set('nothing', null)
      expect(await cache.has('k')).toBe(true)
      expect(await cache.has('nothing')).toBe(true)
      expect(await cache.has('missing')).toBe(false)
      await cache.expireGroup('g')
      expect(await cache.has('k')).toBe(false)
      await cache.delete('nothing')
      expect(await cache.has('nothing')).toBe(false)
      await expect(cache.has('')).rejects.toThrow(InvalidArgumentError)
    })
  })

  describe('setMany', () => {
    it('stores every entry, each with its own groups and TTL', async () => {
      const cache = backend.cache()
      await cache.setMany([
        { key: 'a', value: 1, groups: ['g'] },
        { key: 'b', value: { x: 2 }, groups: ['h'], ttl: '1h' },
        { key: 'c', value: null },
      ])
      expect(await cache.getMany(['a', 'b', 'c'])).toEqual([1, { x: 2 }, null])
      expect(await backend.raw.pttl(backend.entryKey('b'))).toBeGreaterThan(3_500_000)
      await cache.expireGroup('g')
      expect(await cache.getMany(['a', 'b'])).toEqual([undefined, { x: 2 }])
    })

    it('validates every entry before sending any: one bad entry writes nothing', async () => {
      const cache = backend.cache()
      const bad: unknown[] = [
        [
          { key: 'a', value: 1 },
          { key: '', value: 2 },
        ],
        [
          { key: 'a', value: 1 },
          { key: 'b', value: undefined },
        ],
        [
          { key: 'a', value: 1 },
          { key: 'b', value: 2, ttl: -1 },
        ],
        [{ key: 'a', value: 1 }, null],
        'not an array',
      ]
      for (const entries of bad) {
        await expect(cache.setMany(entries as never)).rejects.toThrow(InvalidArgumentError)
      }
      await expect(cache.setMany([{ key: 'a', value: new Date() }])).rejects.toThrow(/a Date/)
      expect(await backend.dump()).toEqual({})
    })
  })

  describe('deleteMany', () => {
    it('deletes every key at once and says how many live entries it removed; fills from before are refused', async () => {
      const cache = backend.cache()
      await cache.setMany([
        { key: 'a', value: 1 },
        { key: 'b', value: 2 },
        { key: 'c', value: 3 },
      ])
      const miss = await cache.read('d')
      if (miss.hit) throw new Error('expected a miss')
      expect(await cache.deleteMany(['a', 'b', 'a', 'd', 'missing'])).toBe(2)
      expect(await cache.getMany(['a', 'b', 'c'])).toEqual([undefined, undefined, 3])
      expect(await cache.set('d', 'stale', { token: miss.token })).toBe(false)
      expect(await cache.deleteMany([])).toBe(0)
      await expect(cache.deleteMany(['x', ''])).rejects.toThrow(InvalidArgumentError)
    })
  })

  describe('clear', () => {
    it('deletes every key of the namespace and only those; a fill from before is refused', async () => {
      const cache = backend.cache()
      const other = backend.cache({ namespace: `${backend.namespace}x` })
      await cache.set('a', 1, { groups: ['g'] })
      await cache.wrap('b', { groups: ['h'] }, () => 2)
      await other.set('a', 'theirs', { groups: ['g'] })
      const miss = await cache.read('c', { groups: ['g'] })
      if (miss.hit) throw new Error('expected a miss')
      expect(await cache.clear()).toBeGreaterThan(3)
      expect(await backend.dump()).toEqual({})
      expect(await other.get('a')).toBe('theirs')
      expect(await cache.get('a')).toBeUndefined()
      expect(await cache.set('c', 'stale', { token: miss.token })).toBe(false)
      // and the cache works on as before
      expect(await cache.wrap('a', { groups: ['g'] }, () => 'again')).toBe('again')
      expect(await cache.get('a')).toBe('again')
    })
  })

  describe("a call's own timeout", () => {
    it("ends a call on a Redis that does not answer long before the cache's timeout: reads fail open, writes reject", async () => {
      // the cache's own timeout is far past the test's: only the call's can end these calls
      const { cache, outage } = backend.failingCache({ timeout: 60_000 })
      const errors: unknown[] = []
      cache.on('error', (error) => errors.push(error))
      await cache.set('k', 'v', { groups: ['g'] })
      outage.start('hang')
      expect(await cache.get('k', { timeout: 50 })).toBeUndefined()
      expect(await cache.getMany(['k', 'l'], { timeout: '50ms' })).toEqual([undefined, undefined])
      expect(await cache.has('k', { timeout: 50 })).toBe(false)
      expect(await cache.wrap('k', { groups: ['g'], timeout: 50 }, () => 'computed')).toBe('computed')
      await expect(cache.set('k', 'w', { timeout: 50 })).rejects.toThrow(TimeoutError)
      await expect(cache.expireGroup('g', { timeout: 50 })).rejects.toThrow(TimeoutError)
      await expect(cache.delete('k', { timeout: 50 })).rejects.toThrow(TimeoutError)
      await expect(cache.read('k', { timeout: 50 })).rejects.toThrow(TimeoutError)
      expect(outage.failed).toBeGreaterThan(0)
      outage.end()
      expect(errors.length).toBeGreaterThan(0)
      expect(await cache.get('k', { timeout: Number.POSITIVE_INFINITY })).toBe('v')
    })

    it.each([-1, 0, 1.5, 'soon', null])('timeout %s is refused before anything is written', async (timeout) => {
      const cache = backend.cache()
      const bad = { timeout: timeout as number }
      await expect(cache.get('k', bad)).rejects.toThrow(InvalidArgumentError)
      await expect(cache.set('k', 1, bad)).rejects.toThrow(InvalidArgumentError)
      await expect(cache.wrap('k', bad, () => 1)).rejects.toThrow(InvalidArgumentError)
      await expect(cache.expireGroup('g', bad)).rejects.toThrow(InvalidArgumentError)
      await expect(cache.deleteMany(['k'], bad)).rejects.toThrow(InvalidArgumentError)
      expect(await backend.dump()).toEqual({})
    })
  })

  describe('durations as strings', () => {
    it("ttl and grace take '200ms', '30s', '5m', '1h', '2d' wherever they take ms", async () => {
      const cache = backend.cache({ ttl: '5m', grace: '10s' })
      await cache.set('a', 1)
      const ttl = await backend.raw.pttl(backend.entryKey('a'))
      expect(ttl).toBeGreaterThan(300_000) // 5 min + 10 s of grace
      expect(ttl).toBeLessThanOrEqual(310_000)
      await cache.set('b', 2, { ttl: '2d', grace: 0 })
      expect(await backend.raw.pttl(backend.entryKey('b'))).toBeGreaterThan(2 * 86_400_000 - 60_000)
      expect(await cache.wrap('c', { ttl: '200ms', grace: 0 }, () => 3)).toBe(3)
      expect(await backend.raw.pttl(backend.entryKey('c'))).toBeLessThanOrEqual(200)
    })

    it.each(['soon', '1.5ms', '-1s', '', '0s'])('ttl %j is refused before anything is written', async (ttl) => {
      const cache = backend.cache()
      await expect(cache.set('a', 1, { ttl })).rejects.toThrow(InvalidArgumentError)
      await expect(cache.wrap('a', { ttl }, () => 1)).rejects.toThrow(InvalidArgumentError)
      expect(() => backend.cache({ ttl })).toThrow(InvalidArgumentError)
      expect(await backend.dump()).toEqual({})
    })
  })
})
