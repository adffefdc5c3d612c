import { setTimeout as sleep } from 'node:timers/promises'
import { describe, expect, it } from 'vitest'
import { type GroupCacheError, InvalidArgumentError, RefreshError } from '../src/index.js'
import { forEachBackend } from './support/backends.js'
import { gate, until } from './support/gate.js'

/**
 * Grace: a value invalidated less than `grace` ms ago is returned by `wrap` at once while one fill
 * in the fleet refreshes it; never once the refresh landed, never past grace, never after a hard
 * invalidation or a delete, never by get/getMany.
 */
forEachBackend('grace', (backend) => {
  const opts = { groups: ['users'], grace: 10_000 }

  describe('stale served, refreshed once', () => {
    it('after a soft expire: every caller gets the old value at once, one refresh runs, then the new value', async () => {
      const a = backend.cache()
      const b = backend.cache()
      expect(await a.wrap('list', opts, () => 'v1')).toBe('v1')
      await a.expireGroup('users')
      const refresh = gate<string>()
      let calls = 0
      const fn = () => {
        calls++
        return refresh.opened
      }
      // both processes, many callers: all stale, one function call in the fleet
      const callers = [...Array.from({ length: 5 }, () => a.wrap('list', opts, fn)), b.wrap('list', opts, fn)]
      expect(await Promise.all(callers)).toEqual(Array(6).fill('v1'))
      expect(await b.wrap('list', opts, fn)).toBe('v1')
      expect(calls).toBe(1)
      refresh.open('v2')
      await until(async () => (await a.get('list')) === 'v2')
      expect(await b.wrap('list', opts, fn)).toBe('v2')
      expect(calls).toBe(1)
    })

    it('get and getMany never return a stale value', async () => {
      const cache = backend.cache()
      await cache.wrap('list', opts, () => 'v1')
      await cache.set('other', 'o', { groups: ['users'], grace: 10_000 })
      await cache.expireGroup('users')
      expect(await cache.get('list')).toBeUndefined()
      expect(await cache.getMany(['list', 'other'])).toEqual([undefined, undefined])
      // and reading it strictly did not remove what grace keeps
      const refresh = gate<string>()
      expect(await cache.wrap('list', opts, () => refresh.opened)).toBe('v1')
      refresh.open('v2')
    })

    it('read with grace: a miss within grace carries the stale value beside its token, and a set with the token replaces it', async () => {
      const cache = backend.cache()
      await cache.set('list', 'v1', { groups: ['users'], grace: 10_000 })
      await cache.expireGroup('users')
      const miss = await cache.read<string>('list', { groups: ['users'], grace: 10_000 })
      expect(miss).toMatchObject({ hit: false, leased: true, stale: { value: 'v1' } })
      // without grace, or past a hard invalidation, no stale value
      const plain = await cache.read('list', { groups: ['users'] })
      expect(plain.hit === false && plain.stale).toBeUndefined()
      if (miss.hit) throw new Error('a hit')
      expect(await cache.set('list', 'v2', { token: miss.token, groups: ['users'] })).toBe(true)
      expect(await cache.read('list', { groups: ['users'], grace: 10_000 })).toEqual({ hit: true, value: 'v2' })
      await cache.set('list', 'v3', { groups: ['users'], grace: 10_000 })
      await cache.expireGroup('users', { hard: true })
      const hard = await cache.read('list', { groups: ['users'], grace: 10_000 })
      expect(hard.hit === false && hard.stale).toBeUndefined()
      await expect(cache.read('list', { grace: -1 })).rejects.toThrow(InvalidArgumentError)
    })

    it("a caller that accepts less grace than the entry's waits for a fresh value", async () => {
      const cache = backend.cache()
      await cache.wrap('list', opts, () => 'v1')
      await cache.expireGroup('users')
      expect(await cache.wrap('list', { groups: ['users'], grace: 0 }, () => 'fresh')).toBe('fresh')
    })

    it('after its TTL: the old value within grace, while one refresh runs', async () => {
      const cache = backend.cache()
      await cache.set('list', 'v1', { groups: ['users'], ttl: 100, grace: 10_000 })
      expect(await cache.get('list')).toBe('v1')
      await sleep(150)
      expect(await cache.get('list')).toBeUndefined()
      const refresh = gate<string>()
      expect(await cache.wrap('list', { ...opts, ttl: 60_000 }, () => refresh.opened)).toBe('v1')
      refresh.open('v2')
      await until(async () => (await cache.get('list')) === 'v2')
    })
  })

  describe('bound', () => {
    it('a value invalidated more than grace ago is never served', async () => {
      const cache = backend.cache()
      await cache.wrap('list', { groups: ['users'], grace: 150 }, () => 'v1')
      await cache.expireGroup('users')
      await sleep(200)
      expect(await cache.wrap('list', { groups: ['users'], grace: 150 }, () => 'v2')).toBe('v2')
    })

    it('a value past its TTL and grace is gone', async () => {
      const cache = backend.cache()
      await cache.set('list', 'v1', { ttl: 50, grace: 100 })
      await sleep(200)
      expect(await backend.raw.exists(backend.entryKey('list'))).toBe(0)
      expect(await cache.wrap('list', { grace: 100 }, () => 'v2')).toBe('v2')
    })

    it('a group moved twice since the snapshot: the first move is unknown, so the value is not served', async () => {
      const cache = backend.cache()
      await cache.wrap('list', opts, () => 'v1')
      await cache.expireGroup('users')
      await cache.expireGroup('users')
      expect(await cache.wrap('list', opts, () => 'v2')).toBe('v2')
    })

    it('the first invalidation counts: a group that moved before the TTL ended', async () => {
      const cache = backend.cache()
      // the key lives TTL + grace = 500 ms
      await cache.set('list', 'v1', { groups: ['users'], ttl: 300, grace: 200 })
      await sleep(50)
      await cache.expireGroup('users')
      await sleep(350) // moved 350 ms ago, past grace; the TTL ended only 100 ms ago
      expect(await backend.raw.exists(backend.entryKey('list'))).toBe(1)
      expect(await cache.wrap('list', { ...opts, grace: 200 }, () => 'v2')).toBe('v2')
    })
  })

  describe('hard', () => {
    it('expireGroup(g, { hard: true }): no value it invalidates is served stale', async () => {
      const cache = backend.cache()
      await cache.wrap('list', opts, () => 'v1')
      await cache.expireGroup('users', { hard: true })
      expect(await cache.wrap('list', opts, () => 'v2')).toBe('v2')
    })

    it('expireGroups(groups, { hard: true }), and a soft move after a hard one', async () => {
      const cache = backend.cache()
      await cache.wrap('list', { groups: ['users', 'prices'], grace: 10_000 }, () => 'v1')
      await cache.expireGroups(['prices'], { hard: true })
      await cache.expireGroups(['users'])
      expect(await cache.wrap('list', { groups: ['users', 'prices'], grace: 10_000 }, () => 'v2')).toBe('v2')
    })

    it('delete(key) is hard', async () => {
      const cache = backend.cache()
      await cache.wrap('list', opts, () => 'v1')
      await cache.delete('list')
      expect(await cache.wrap('list', opts, () => 'v2')).toBe('v2')
    })
  })

  describe('a failing refresh', () => {
    it('keeps serving the stale value within grace, reports to error, and backs off', async () => {
      const cache = backend.cache()
      const errors: GroupCacheError[] = []
      cache.on('error', (error) => errors.push(error))
      await cache.wrap('list', opts, () => 'v1')
      await cache.expireGroup('users')
      let calls = 0
      const failing = () => {
        calls++
        throw new Error('the database is down')
      }
      expect(await cache.wrap('list', opts, failing)).toBe('v1')
      await until(() => errors.length > 0)
      expect(errors[0]).toBeInstanceOf(RefreshError)
      expect((errors[0] as RefreshError).key).toBe('list')
      expect(((errors[0] as RefreshError).cause as Error).message).toBe('the database is down')
      // backing off: the lease is kept, so the next callers neither call it nor wait
      for (let i = 0; i < 10; i++) expect(await cache.wrap('list', opts, failing)).toBe('v1')
      expect(calls).toBe(1)
    })
  })

  describe('grace 0', () => {
    it('is the default: a soft expire invalidates as before', async () => {
      const cache = backend.cache()
      await cache.wrap('list', { groups: ['users'] }, () => 'v1')
      await cache.expireGroup('users')
      expect(await cache.wrap('list', { groups: ['users'] }, () => 'v2')).toBe('v2')
      const raw = await backend.raw.get(backend.entryKey('list'))
      expect(raw?.startsWith('~')).toBe(false)
    })

    it("the cache's grace is every call's default", async () => {
      const cache = backend.cache({ grace: 10_000 })
      await cache.wrap('list', { groups: ['users'] }, () => 'v1')
      await cache.expireGroup('users')
      const refresh = gate<string>()
      expect(await cache.wrap('list', { groups: ['users'] }, () => refresh.opened)).toBe('v1')
      refresh.open('v2')
    })
  })

  describe('bad input', () => {
    it.each([-1, Number.NaN, 1.5, 'soon', Number.POSITIVE_INFINITY])(
      'grace %s is refused before anything is written',
      async (grace) => {
        const cache = backend.cache()
        const before = await backend.dump()
        await expect(cache.set('k', 'v', { grace: grace as number })).rejects.toThrow(InvalidArgumentError)
        await expect(cache.wrap('k', { grace: grace as number }, () => 'v')).rejects.toThrow(InvalidArgumentError)
        expect(() => cache.cached(() => 'v', { key: () => 'k', grace: grace as number })).toThrow(InvalidArgumentError)
        expect(() => backend.cache({ grace: grace as number })).toThrow(InvalidArgumentError)
        expect(await backend.dump()).toEqual(before)
      },
    )

    it.each(['yes', 1, null])('hard %s is refused before anything is written', async (hard) => {
      const cache = backend.cache()
      await cache.set('k', 'v', { groups: ['g'] })
      const before = await backend.dump()
      await expect(cache.expireGroup('g', { hard: hard as unknown as boolean })).rejects.toThrow(InvalidArgumentError)
      await expect(cache.expireGroups(['g'], { hard: hard as unknown as boolean })).rejects.toThrow(
        InvalidArgumentError,
      )
      expect(await backend.dump()).toEqual(before)
    })
  })
})
