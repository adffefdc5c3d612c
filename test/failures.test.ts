import { expect, it, vi } from 'vitest'
import { type GroupCache, GroupCacheError, RedisError, TimeoutError } from '../src/index.js'
import { type FailureMode, forEachBackend } from './support/backends.js'

/**
 * Guarantee 6 (reads fail open, invalidations never fail silently) on every backend: a cache
 * whose Redis fails on demand (Backend.failingCache), where test/faults.test.ts needs a server
 * of its own to kill or pause and so covers standalone Redis only.
 */

/** Short, so that a hanging call ends soon: the cache's own timer is what ends it. */
const TIMEOUT = 150

const MODES: readonly { mode: FailureMode; type: typeof RedisError | typeof TimeoutError; code: string }[] = [
  { mode: 'drop', type: RedisError, code: 'E_REDIS' },
  { mode: 'hang', type: TimeoutError, code: 'E_TIMEOUT' },
]

function collectErrors(cache: GroupCache): unknown[] {
  const errors: unknown[] = []
  cache.on('error', (error) => errors.push(error))
  return errors
}

forEachBackend('Redis failing', (backend) => {
  for (const { mode, type, code } of MODES) {
    /** `call` must reject with the typed error this failure makes. */
    const expectTyped = async (what: string, call: Promise<unknown>) => {
      const error = await call.then(
        (value) => ({ resolved: value }),
        (error: unknown) => error,
      )
      expect(error, `${what} must reject`).toBeInstanceOf(type)
      expect((error as GroupCacheError).code, what).toBe(code)
    }

    it(`${mode}: reads fail open with ${code}, writes reject with it, and all works again after`, async () => {
      const { cache, outage } = backend.failingCache({ timeout: TIMEOUT })
      const errors = collectErrors(cache)
      // 'known' is hinted in this cache (read by MGET), 'unknown' is not (read by the get script).
      await cache.set('known', 'K', { groups: ['g'] })
      await backend.cache().set('unknown', 'U', { groups: ['g'] })
      const fn = vi.fn(() => 'computed')
      const load = vi.fn((id: number) => `user ${id}`)
      const getUser = cache.cached(load, { key: (id) => `user_${id}`, groups: (id) => [`user_group_${id}`] })

      outage.start(mode)
      expect(await cache.get('known')).toBeUndefined()
      expect(await cache.get('unknown')).toBeUndefined()
      expect(await cache.getMany(['known', 'unknown'])).toEqual([undefined, undefined])
      expect(await cache.wrap('known', { groups: ['g'] }, fn)).toBe('computed')
      expect(await getUser(1)).toBe('user 1')
      expect([fn.mock.calls.length, load.mock.calls.length]).toEqual([1, 1])
      // One report per read that failed open, each typed.
      expect(errors).toHaveLength(5)
      for (const error of errors) {
        expect(error).toBeInstanceOf(GroupCacheError)
        expect(error).toBeInstanceOf(type)
        expect((error as GroupCacheError).code).toBe(code)
      }

      await expectTyped('read', cache.read('known', { groups: ['g'] }))
      await expectTyped('set', cache.set('other', 'O', { groups: ['g'] }))
      await expectTyped('delete', cache.delete('known'))
      await expectTyped('expireGroup', cache.expireGroup('g'))
      await expectTyped('expireGroups', cache.expireGroups(['g', 'h']))
      expect(outage.failed).toBeGreaterThanOrEqual(10)
      outage.end()

      // Nothing the failed calls would have written is there: not the set, not the fills.
      expect(await cache.getMany(['known', 'unknown', 'other', 'user_1'])).toEqual(['K', 'U', undefined, undefined])
      expect(await cache.wrap('known', { groups: ['g'] }, fn)).toBe('K')
      expect(await getUser(1)).toBe('user 1')
      expect(await getUser(1)).toBe('user 1')
      expect(load).toHaveBeenCalledTimes(2) // once while failing, once to fill; then a hit
      expect(await cache.set('other', 'O', { groups: ['g'] })).toBe(true)
      expect(await cache.read('other', { groups: ['g'] })).toEqual({ hit: true, value: 'O' })
      await cache.expireGroup('g')
      expect(await cache.getMany(['known', 'unknown', 'other'])).toEqual([undefined, undefined, undefined])
      expect(errors).toHaveLength(5)
    })

    it(`${mode}: an invalidation that rejected did not run; retried after the failure, it invalidates`, async () => {
      const { cache, outage } = backend.failingCache({ timeout: TIMEOUT })
      const reader = backend.cache()
      await cache.set('a', 'A', { groups: ['g'] })
      await cache.set('b', 'B', { groups: ['h'] })
      await cache.set('c', 'C')

      outage.start(mode)
      await expectTyped('expireGroup', cache.expireGroup('g'))
      await expectTyped('expireGroups', cache.expireGroups(['g', 'h']))
      await expectTyped('delete', cache.delete('c'))
      outage.end()

      // The failure kept the commands from Redis: the rejections told the truth, nothing moved.
      expect(await reader.getMany(['a', 'b', 'c'])).toEqual(['A', 'B', 'C'])
      expect(await backend.raw.exists(backend.entryKey('c'))).toBe(1)
      // The caller, told, retries: now the values go, for every reader.
      await cache.expireGroups(['g', 'h'])
      expect(await cache.delete('c')).toBe(true)
      expect(await reader.getMany(['a', 'b', 'c'])).toEqual([undefined, undefined, undefined])
      expect(await cache.getMany(['a', 'b', 'c'])).toEqual([undefined, undefined, undefined])
    })
  }
})
