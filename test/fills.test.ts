import { setTimeout as sleep } from 'node:timers/promises'
import { describe, expect, it, vi } from 'vitest'
import { type GroupCache, InvalidArgumentError } from '../src/index.js'
import { forEachBackend } from './support/backends.js'
import { gate, until } from './support/gate.js'

forEachBackend('race-free fills', (backend) => {
  describe('refused fills are reported', () => {
    it("a fill slower than the lease, or invalidated during it, emits 'refused' with why; its value is returned, not stored", async () => {
      const short = backend.cache({ lease: 50 })
      const cache = backend.cache()
      const refusals: unknown[] = []
      for (const each of [short, cache]) each.on('refused', (refusal) => refusals.push(refusal))
      expect(await short.wrap('slow', () => sleep(120).then(() => 'late'))).toBe('late')
      expect(await short.get('slow')).toBeUndefined()
      const fill = gate<string>()
      const during = cache.wrap('k', { groups: ['g'] }, () => fill.opened)
      await sleep(10)
      await cache.expireGroup('g')
      fill.open('before the expire')
      expect(await during).toBe('before the expire')
      expect(refusals).toEqual([
        { key: 'slow', reason: 'lease-expired' },
        { key: 'k', reason: 'group-expired' },
      ])
    })

    it('with no refused listener, a key whose fills are all refused, 3 in a row, gets one process warning per cache', async () => {
      const emitWarning = vi.spyOn(process, 'emitWarning').mockImplementation(() => {})
      try {
        const cache = backend.cache({ lease: 30 })
        const slow = () => sleep(60).then(() => 'late')
        for (let i = 0; i < 5; i++) await cache.wrap('slow', slow)
        const warnings = emitWarning.mock.calls.filter(
          ([, options]) => typeof options === 'object' && (options as { code?: string }).code === 'E_REFUSED',
        )
        expect(warnings).toHaveLength(1)
        expect(String(warnings[0]?.[0])).toMatch(/runs longer than the lease/)
        // a cache whose refusals someone listens to gives no warning
        emitWarning.mockClear()
        const listened = backend.cache({ lease: 30 })
        listened.on('refused', () => {})
        for (let i = 0; i < 5; i++) await listened.wrap('slow', slow)
        expect(emitWarning).not.toHaveBeenCalled()
      } finally {
        emitWarning.mockRestore()
      }
    })
  })
  describe('a read that names groups', () => {
    it('does not hit an entry stored under other groups: the fill replaces it, and the new group invalidates it', async () => {
      for (const [reader, writer] of [
        [backend.cache(), backend.cache()],
        [backend.cache({ hints: 0 }), backend.cache({ hints: 0 })],
      ] as const) {
        const key = `k${Math.random()}`
        expect(await writer.wrap(key, { groups: ['A'] }, () => 'under A')).toBe('under A')
        expect(await writer.wrap(key, { groups: ['A'] }, () => 'not called')).toBe('under A')
        // the deploy that moved the key to group B
        expect(await reader.wrap(key, { groups: ['B'] }, () => 'under B')).toBe('under B')
        expect(await reader.wrap(key, { groups: ['B'] }, () => 'not called')).toBe('under B')
        await writer.expireGroup('B')
        expect(await reader.get(key)).toBeUndefined()
        expect(await reader.wrap(key, { groups: ['B'] }, () => 'refilled')).toBe('refilled')
      }
    })

    it('hits an entry stored under more groups than it names, and read() answers the same', async () => {
      const cache = backend.cache()
      await cache.set('k', 'v', { groups: ['A', 'B'] })
      expect(await cache.wrap('k', { groups: ['B'] }, () => 'not called')).toBe('v')
      expect(await cache.wrap('k', () => 'not called')).toBe('v')
      expect(await cache.read('k', { groups: ['A'] })).toEqual({ hit: true, value: 'v' })
      const other = await cache.read('k', { groups: ['A', 'C'] })
      expect(other.hit).toBe(false)
      if (other.hit) return
      expect(await cache.set('k', 'under A and C', { token: other.token })).toBe(true)
      expect(await cache.get('k')).toBe('under A and C')
    })
  })
  describe('read and set with a token', () => {
    it('a miss gives a token, a set with it stores, and the next read hits', async () => {
      const cache = backend.cache()
      const miss = await cache.read('k', { groups: ['a', 'b'] })
      expect(miss.hit).toBe(false)
      if (miss.hit) return
      expect(miss.token.groups).toEqual(['a', 'b'])
      expect(await cache.set('k', 'v', { token: miss.token })).toBe(true)
      expect(await cache.read('k', { groups: ['a', 'b'] })).toEqual({ hit: true, value: 'v' })
      await cache.expireGroup('b')
      expect(await cache.get('k')).toBeUndefined()
    })

    it('read → expireGroup → set(token) is refused, stores nothing and releases the fill lease', async () => {
      const cache = backend.cache()
      const miss = await cache.read('k', { groups: ['a', 'b'] })
      if (miss.hit) throw new Error('expected a miss')
      expect(miss.leased).toBe(true)
      await cache.expireGroup('b')
      const before = await backend.dump()
      const lease = Object.keys(before).filter((key) => key === backend.keys.lease('k'))
      expect(lease).toHaveLength(1)
      expect(await cache.set('k', 'stale', { token: miss.token })).toBe(false)
      const after = await backend.dump()
      delete before[lease[0] as string]
      expect(after).toEqual(before)
      expect(await backend.raw.exists(backend.entryKey('k'))).toBe(0)
    })

    it('read → delete → set(token) is refused', async () => {
      const cache = backend.cache()
      const miss = await cache.read('k', { groups: ['a'] })
      if (miss.hit) throw new Error('expected a miss')
      expect(await cache.delete('k')).toBe(false)
      expect(await cache.set('k', 'stale', { token: miss.token })).toBe(false)
      expect(await cache.get('k')).toBeUndefined()
    })

    it('refuses when another writer stored the key since the read, and keeps that value', async () => {
      const cache = backend.cache()
      const miss = await cache.read('k', { groups: ['a'] })
      if (miss.hit) throw new Error('expected a miss')
      await cache.set('k', 'newer', { groups: ['a'] })
      expect(await cache.set('k', 'older', { token: miss.token })).toBe(false)
      expect(await cache.get('k')).toBe('newer')
    })

    it('two fills from one miss: the first stores, the second is refused', async () => {
      const cache = backend.cache()
      const miss = await cache.read('k', { groups: ['a'] })
      if (miss.hit) throw new Error('expected a miss')
      expect(await cache.set('k', 1, { token: miss.token })).toBe(true)
      expect(await cache.set('k', 2, { token: miss.token })).toBe(false)
      expect(await cache.get('k')).toBe(1)
    })

    it('the same set with the same token, run again (a resend after a dropped connection), says it stored while its entry is live', async () => {
      const cache = backend.cache()
      const miss = await cache.read('k', { groups: ['a', 'b'] })
      if (miss.hit) throw new Error('expected a miss')
      expect(await cache.set('k', { v: 1 }, { token: miss.token })).toBe(true)
      expect(await cache.set('k', { v: 1 }, { token: miss.token })).toBe(true)
      expect(await cache.set('k', { v: 2 }, { token: miss.token })).toBe(false)
      // Once a group moved, the entry is stale: nothing a set with this token stored is live.
      await cache.expireGroup('a')
      expect(await cache.set('k', { v: 1 }, { token: miss.token })).toBe(false)
      expect(await cache.get('k')).toBeUndefined()
    })

    it('a second fill of the same value from the same read is refused once a group moved after the first stored', async () => {
      const cache = backend.cache()
      const miss = await cache.read('k', { groups: ['a'] })
      if (miss.hit) throw new Error('expected a miss')
      const other = backend.cache()
      expect(await other.set('k', 'same', { token: miss.token })).toBe(true)
      await other.expireGroup('a')
      // The entry is exactly what this set would store, from the same versions: it is stale.
      expect(await cache.set('k', 'same', { token: miss.token })).toBe(false)
      expect(await cache.get('k')).toBeUndefined()
    })

    it('a fill from before a plain set of the same value is refused, though the entry is the one it would store', async () => {
      const cache = backend.cache()
      const miss = await cache.read('k', { groups: ['a'] })
      if (miss.hit) throw new Error('expected a miss')
      expect(await cache.set('k', 'same', { groups: ['a'], ttl: 60_000 })).toBe(true)
      expect(await cache.set('k', 'same', { token: miss.token })).toBe(false)
      expect(await backend.raw.pttl(backend.entryKey('k'))).toBeLessThanOrEqual(60_000)
    })

    it('refuses a token older than the lease, by its age alone: its generation and versions still match', async () => {
      const lease = 300
      const cache = backend.cache({ lease })
      await cache.set('keeper', 0, { groups: ['a'] }) // a's version has no TTL
      const early = await cache.read('early', { groups: ['a'] })
      const late = await cache.read('late', { groups: ['a'] })
      if (early.hit || late.hit) throw new Error('expected misses')
      // A miss of the same key keeps its generation alive for another lease: each one here comes
      // well within a lease of the last, and finds the generation the token holds.
      const missAgain = async (key: string, generation: string) => {
        const miss = await cache.read(key, { groups: ['a'] })
        expect(miss.hit ? 'a hit' : miss.token.generation).toBe(generation)
      }
      await sleep(lease * 0.3)
      await missAgain('early', early.token.generation)
      expect(await cache.set('early', 'in time', { token: early.token })).toBe(true)
      for (let i = 0; i < 3; i++) {
        await sleep(lease * 0.3)
        await missAgain('late', late.token.generation)
      }
      // After 1.2 leases of sleep the late token is older than the lease; its generation and a's
      // version are as it saw them.
      expect(await cache.set('late', 'too late', { token: late.token })).toBe(false)
      expect(await cache.getMany(['early', 'late'])).toEqual(['in time', undefined])
    })

    it('a token is plain data: it survives JSON and works from another cache instance', async () => {
      const reader = backend.cache()
      const writer = backend.cache()
      const miss = await reader.read('k', { groups: ['a'] })
      if (miss.hit) throw new Error('expected a miss')
      const token = JSON.parse(JSON.stringify(miss.token))
      expect(await writer.set('k', 'v', { token, groups: ['a'] })).toBe(true)
      expect(await reader.get('k')).toBe('v')
    })

    it('a token for another key, other groups, or not a token at all is refused with a typed error', async () => {
      const cache = backend.cache()
      const miss = await cache.read('k', { groups: ['a', 'b'] })
      if (miss.hit) throw new Error('expected a miss')
      const before = await backend.dump()
      await expect(cache.set('other', 'v', { token: miss.token })).rejects.toBeInstanceOf(InvalidArgumentError)
      await expect(cache.set('k', 'v', { token: miss.token, groups: ['a'] })).rejects.toMatchObject({
        code: 'E_INVALID_ARGUMENT',
      })
      const forged = { ...miss.token, versions: ['1; DEL x', '2'] }
      await expect(cache.set('k', 'v', { token: forged })).rejects.toMatchObject({ code: 'E_INVALID_ARGUMENT' })
      await expect(cache.set('k', 'v', { token: {} as never })).rejects.toMatchObject({ code: 'E_INVALID_ARGUMENT' })
      expect(await backend.dump()).toEqual(before)
      // the same groups in another order are the same groups
      expect(await cache.set('k', 'v', { token: miss.token, groups: ['b', 'a'] })).toBe(true)
    })
  })

  describe('wrap', () => {
    it('a miss runs fn once and stores its value; a hit does not run fn', async () => {
      const cache = backend.cache()
      let calls = 0
      const load = () => {
        calls++
        return { id: 1 }
      }
      expect(await cache.wrap('k', { groups: ['g'] }, load)).toEqual({ id: 1 })
      expect(await cache.wrap('k', { groups: ['g'] }, load)).toEqual({ id: 1 })
      expect(calls).toBe(1)
      await cache.expireGroup('g')
      expect(await cache.wrap('k', { groups: ['g'] }, load)).toEqual({ id: 1 })
      expect(calls).toBe(2)
    })

    it('takes its options as optional: wrap(key, fn)', async () => {
      const cache = backend.cache()
      expect(await cache.wrap('k', () => 'v')).toBe('v')
      expect(await cache.wrap('k', () => 'not called')).toBe('v')
    })

    it('concurrent callers that miss the same key share one fn call', async () => {
      const cache = backend.cache()
      const held = gate()
      let calls = 0
      const load = async () => {
        calls++
        await held.opened
        return 'v'
      }
      const callers = Array.from({ length: 10 }, () => cache.wrap('k', { groups: ['g'] }, load))
      await sleep(20)
      held.open()
      expect(await Promise.all(callers)).toEqual(Array(10).fill('v'))
      expect(calls).toBe(1)
    })

    it('an expireGroup during fn: callers get fn’s result, the next reader misses', async () => {
      const cache = backend.cache()
      const held = gate()
      let running = false
      const filling = cache.wrap('k', { groups: ['a', 'b'] }, async () => {
        running = true
        await held.opened
        return 'computed before the invalidation'
      })
      await until(() => running) // its read (and the token) done, on a loaded machine too
      await cache.expireGroup('b')
      held.open()
      expect(await filling).toBe('computed before the invalidation')
      expect(await cache.get('k')).toBeUndefined()
      expect(await backend.raw.exists(backend.entryKey('k'))).toBe(0)
    })

    it('a delete during fn: callers get fn’s result, the next reader misses', async () => {
      const cache = backend.cache()
      const held = gate()
      let running = false
      const filling = cache.wrap('k', { groups: ['a'] }, async () => {
        running = true
        await held.opened
        return 'old'
      })
      // during fn: its read (and the token) done, on a loaded machine too
      await until(() => running)
      await cache.delete('k')
      held.open()
      expect(await filling).toBe('old')
      expect(await cache.get('k')).toBeUndefined()
    })

    it.each([
      ['an invalidation', (cache: GroupCache) => cache.expireGroup('g')],
      ['a delete', (cache: GroupCache) => cache.delete('k')],
    ] as const)('a caller arriving after %s does not share a fill that began before it', async (_, invalidate) => {
      // The late caller waits for the early one's lease (held by its function, which waits for the
      // late one) to end: a short lease keeps that wait short. What it saw, if it fails:
      const cache = backend.cache({ lease: 500 })
      const seen: string[] = []
      cache.on('refused', ({ reason }) => seen.push(`refused: ${reason}`))
      cache.on('error', (error) => seen.push(`error: ${error.message}`))
      // g's version made by a store, for good: one the early read made would live a lease, and
      // end just as the late caller takes the lease over, refusing its fill (group-expired)
      await cache.set('other', 1, { groups: ['g'] })
      const held = gate()
      const rows = ['old', 'new']
      let calls = 0
      const load = async () => {
        const row = rows[calls++]
        await held.opened
        return row
      }
      const early = cache.wrap('k', { groups: ['g'] }, load)
      await until(() => calls === 1) // its read done: its fill began
      await invalidate(cache) // a writer published 'new'
      const late = cache.wrap('k', { groups: ['g'] }, load)
      await until(() => calls === 2)
      held.open()
      expect(await early).toBe('old')
      expect(await late).toBe('new')
      expect(calls).toBe(2)
      expect(await cache.get('k'), seen.join('; ')).toBe('new')
      expect(seen.filter((event) => event.startsWith('error'))).toEqual([])
    })

    it('fn throwing rejects every sharing caller and caches nothing; the next call runs fn again', async () => {
      const cache = backend.cache()
      let calls = 0
      const failing = async () => {
        calls++
        await sleep(10)
        throw new Error('database down')
      }
      const results = await Promise.allSettled([cache.wrap('k', {}, failing), cache.wrap('k', {}, failing)])
      expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected'])
      expect(calls).toBe(1)
      expect(await backend.raw.exists(backend.entryKey('k'))).toBe(0)
      expect(await cache.wrap('k', {}, () => 'recovered')).toBe('recovered')
      expect(await cache.get('k')).toBe('recovered')
    })

    it('an undefined result is returned but not stored', async () => {
      const cache = backend.cache()
      let calls = 0
      const nothing = () => {
        calls++
        return undefined
      }
      expect(await cache.wrap('k', {}, nothing)).toBeUndefined()
      expect(await cache.wrap('k', {}, nothing)).toBeUndefined()
      expect(calls).toBe(2)
      expect(await cache.wrap('n', {}, () => null)).toBeNull()
      expect(await cache.get('n')).toBeNull()
    })

    // Once the lease has passed, the delete's generation is gone too: what keeps the late caller
    // apart is that the generation its miss makes is new.
    it('a caller after a delete never joins a fill that outlived the lease, once the delete’s generation expired too', async () => {
      const cache = backend.cache({ lease: 60 })
      await cache.set('other', 0, { groups: ['g'] }) // keeps g's version alive past the lease
      let row = 1
      let running = false
      const slow = cache.wrap('k', { groups: ['g'] }, async () => {
        running = true
        const seen = row
        await sleep(250)
        return seen
      })
      await until(() => running) // its read done and its function running, on a loaded machine too
      row = 2
      await cache.delete('k')
      await sleep(120) // the delete's generation expires with the lease
      expect(await cache.wrap('k', { groups: ['g'] }, () => row)).toBe(2)
      expect(await slow).toBe(1)
    })

    it('a fill slower than the lease returns its value and stores nothing: refused by its age alone', async () => {
      const lease = 400
      const cache = backend.cache({ lease })
      await cache.set('keeper', 0, { groups: ['g'] }) // g's version has no TTL
      let filled = false
      const filling = cache
        .wrap('k', { groups: ['g'] }, async () => {
          await sleep(lease * 1.5)
          return 'slow'
        })
        .finally(() => {
          filled = true
        })
      // Misses of the same key, each well within a lease of the last, keep the generation the
      // fill's miss made alive until after its set.
      const generations = new Set<string>()
      while (!filled) {
        await sleep(lease * 0.25)
        const miss = await cache.read('k', { groups: ['g'] })
        expect(miss.hit, 'the slow fill was stored').toBe(false)
        if (!miss.hit) generations.add(miss.token.generation)
      }
      expect(await filling).toBe('slow')
      // One generation throughout, still there after the set: the set saw the one its token holds.
      expect([...generations]).toEqual([await backend.raw.get(backend.keys.generation('k'))])
      expect(await cache.get('k')).toBeUndefined()
    })
  })

  describe('cached', () => {
    it('builds keys and groups from the arguments', async () => {
      const cache = backend.cache()
      const db = new Map([
        [1, { name: 'Ada' }],
        [2, { name: 'Grace' }],
      ])
      let reads = 0
      const getUser = cache.cached(
        async (id: number) => {
          reads++
          return db.get(id) ?? null
        },
        { key: (id) => `user_${id}`, groups: (id) => [`user_group_${id}`, 'users'] },
      )
      expect(await getUser(1)).toEqual({ name: 'Ada' })
      expect(await getUser(2)).toEqual({ name: 'Grace' })
      expect(await getUser(1)).toEqual({ name: 'Ada' })
      expect(reads).toBe(2)
      expect(await cache.get('user_1')).toEqual({ name: 'Ada' })

      db.set(1, { name: 'Ada Lovelace' })
      await cache.expireGroup('user_group_1')
      expect(await getUser(1)).toEqual({ name: 'Ada Lovelace' })
      expect(await getUser(2)).toEqual({ name: 'Grace' })
      expect(reads).toBe(3)

      await cache.expireGroup('users')
      await getUser(1)
      await getUser(2)
      expect(reads).toBe(5)
    })

    it('passes every argument through and keeps `this`-free functions working', async () => {
      const cache = backend.cache()
      const add = cache.cached((a: number, b: number) => a + b, { key: (a, b) => `sum:${a}:${b}` })
      expect(await add(2, 3)).toBe(5)
      expect(await cache.get('sum:2:3')).toBe(5)
    })

    it('checks its options when it is created', () => {
      const cache = backend.cache()
      expect(() => cache.cached(() => 1, {} as never)).toThrow(InvalidArgumentError)
      expect(() => cache.cached(() => 1, { key: () => 'k', ttl: -1 })).toThrow(InvalidArgumentError)
    })
  })
})
