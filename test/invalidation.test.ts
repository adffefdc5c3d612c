import { describe, expect, it } from 'vitest'
import { forEachBackend, storedEntry } from './support/backends.js'

forEachBackend('invalidation', (backend) => {
  it('misses on a key never set, hits after set', async () => {
    const cache = backend.cache()
    expect(await cache.get('user_1')).toBeUndefined()
    expect(await cache.set('user_1', { name: 'Ada' })).toBe(true)
    expect(await cache.get('user_1')).toEqual({ name: 'Ada' })
  })

  it('a value in groups [a, b] misses after expireGroup(a), after expireGroup(b) and after delete', async () => {
    const cache = backend.cache()
    const setIt = () => cache.set('k', 'v', { groups: ['a', 'b'] })

    await setIt()
    await cache.expireGroup('c')
    expect(await cache.get('k')).toBe('v')

    await cache.expireGroup('a')
    expect(await cache.get('k')).toBeUndefined()

    await setIt()
    expect(await cache.get('k')).toBe('v')
    await cache.expireGroup('b')
    expect(await cache.get('k')).toBeUndefined()

    await setIt()
    expect(await cache.delete('k')).toBe(true)
    expect(await cache.get('k')).toBeUndefined()
    expect(await cache.delete('k')).toBe(false)
  })

  it('expireGroup touches only its own group', async () => {
    const cache = backend.cache()
    await cache.set('user_1', 1, { groups: ['user_group_1', 'users'] })
    await cache.set('user_profile_1', 2, { groups: ['user_group_1'] })
    await cache.set('user_2', 3, { groups: ['user_group_2', 'users'] })
    await cache.set('plain', 4)

    await cache.expireGroup('user_group_1')
    expect(await cache.getMany(['user_1', 'user_profile_1', 'user_2', 'plain'])).toEqual([undefined, undefined, 3, 4])

    await cache.expireGroup('users')
    expect(await cache.getMany(['user_2', 'plain'])).toEqual([undefined, 4])
  })

  it('expireGroups invalidates several groups in one call', async () => {
    const cache = backend.cache()
    await cache.set('x', 1, { groups: ['gx'] })
    await cache.set('y', 2, { groups: ['gy'] })
    await cache.set('z', 3, { groups: ['gz'] })
    await cache.expireGroups(['gx', 'gy'])
    expect(await cache.getMany(['x', 'y', 'z'])).toEqual([undefined, undefined, 3])
    await cache.expireGroups([])
    expect(await cache.get('z')).toBe(3)
  })

  it('a value set again after an invalidation is a hit until the next one', async () => {
    const cache = backend.cache()
    for (let round = 0; round < 3; round++) {
      await cache.set('k', round, { groups: ['g'] })
      expect(await cache.get('k')).toBe(round)
      await cache.expireGroup('g')
      expect(await cache.get('k')).toBeUndefined()
    }
  })

  it('leaves other namespaces untouched', async () => {
    const mine = backend.cache()
    const theirs = backend.cache({ namespace: `${backend.namespace}_other` })
    await mine.set('k', 'mine', { groups: ['g'] })
    await theirs.set('k', 'theirs', { groups: ['g'] })
    const before = await backend.dump(`${backend.namespace}_other`)

    await mine.expireGroup('g')
    await mine.delete('k')
    expect(await mine.get('k')).toBeUndefined()
    expect(await theirs.get('k')).toBe('theirs')
    expect(await backend.dump(`${backend.namespace}_other`)).toEqual(before)
  })

  it('a second cache on the same backend sees the first one’s writes and invalidations', async () => {
    const app1 = backend.cache()
    const app2 = backend.cache()
    await app1.set('user_1', { v: 1 }, { groups: ['users'] })
    expect(await app2.get('user_1')).toEqual({ v: 1 })
    await app2.expireGroup('users')
    expect(await app1.get('user_1')).toBeUndefined()
  })

  it('a read that finds a stale entry deletes it', async () => {
    const cache = backend.cache()
    await cache.set('k', 'v', { groups: ['g'] })
    await cache.expireGroup('g')
    expect(await backend.raw.exists(backend.entryKey('k'))).toBe(1)
    expect(await cache.get('k')).toBeUndefined()
    expect(await backend.raw.exists(backend.entryKey('k'))).toBe(0)
  })

  describe('versions never repeat', () => {
    it('a lost group version makes its entries miss, even after the group is used again', async () => {
      const cache = backend.cache()
      await cache.set('old', 'old', { groups: ['g'] })
      await backend.raw.del(backend.groupKey('g')) // as eviction would
      expect(await cache.get('old')).toBeUndefined()

      await cache.set('old', 'old', { groups: ['g'] })
      await backend.raw.del(backend.groupKey('g'))
      await cache.set('new', 'new', { groups: ['g'] }) // creates a fresh version
      expect(await cache.get('old')).toBeUndefined()
      expect(await cache.get('new')).toBe('new')
    })

    it('expiring a group whose version was lost never brings an old snapshot back', async () => {
      const cache = backend.cache()
      // The snapshots of entries already invalidated: no version g holds may ever equal one again.
      const stale: (string | undefined)[] = []
      const versionIsNew = async () => expect(stale).not.toContain(await backend.raw.get(backend.groupKey('g')))
      for (const key of ['a', 'b', 'c']) {
        await cache.set(key, key, { groups: ['g'] })
        await versionIsNew()
        stale.push((await storedEntry(backend.raw, backend.entryKey(key)))?.versions[0])
        await cache.expireGroup('g')
        await versionIsNew()
        await backend.raw.del(backend.groupKey('g')) // as eviction would
        await cache.expireGroup('g')
        await versionIsNew()
      }
      expect(stale).not.toContain(undefined)
      // No read until now: a read deletes a stale entry, which could then no longer come back.
      expect(await cache.getMany(['a', 'b', 'c'])).toEqual([undefined, undefined, undefined])
    })

    it('a version lost between a read and its set refuses the set', async () => {
      const cache = backend.cache()
      const miss = await cache.read('k', { groups: ['g'] })
      if (miss.hit) throw new Error('expected a miss')
      await backend.raw.del(backend.groupKey('g'))
      expect(await cache.set('k', 'v', { token: miss.token })).toBe(false)
      expect(await backend.raw.exists(backend.entryKey('k'))).toBe(0)
    })

    it('a delete whose generation is then lost still refuses a fill from before it', async () => {
      const cache = backend.cache()
      for (const groups of [[], ['g']]) {
        const miss = await cache.read('k', { groups })
        if (miss.hit) throw new Error('expected a miss')
        await cache.delete('k')
        // Refused because of the delete (a refused set writes nothing, so it can be tried again).
        expect(await cache.set('k', 'from before the delete', { token: miss.token })).toBe(false)
        await backend.raw.del(backend.keys.generation('k')) // as eviction or FLUSHDB would
        expect(await cache.set('k', 'from before the delete', { token: miss.token })).toBe(false)
        // Another miss makes a new generation: it must not be the one the old token holds.
        expect((await cache.read('k', { groups })).hit).toBe(false)
        expect(await cache.set('k', 'from before the delete', { token: miss.token })).toBe(false)
        expect(await cache.get('k')).toBeUndefined()
      }
    })

    it('an expireGroup whose version is then lost still refuses the set', async () => {
      const cache = backend.cache()
      const miss = await cache.read('k', { groups: ['g'] })
      if (miss.hit) throw new Error('expected a miss')
      await cache.expireGroup('g')
      await backend.raw.del(backend.groupKey('g'))
      expect(await cache.set('k', 'v', { token: miss.token })).toBe(false)
      expect(await cache.get('k')).toBeUndefined()
    })
  })
})
