import { describe, expect, it } from 'vitest'
import { forEachBackend } from './support/backends.js'

/**
 * A cache reads a key it knows with one MGET of the entry and the versions of the groups it last
 * saw the entry under (its hint). The hint is only a guess: another process may have rewritten
 * the key under other groups since. These tests make that guess wrong in the one way the
 * versions alone cannot tell: the other groups' versions equal the hinted ones.
 */
forEachBackend('hints', (backend) => {
  /** Moves both groups' versions forward to one value, as two groups created in the same microsecond would hold. */
  async function collide(a: string, b: string): Promise<string> {
    const [va, vb] = await Promise.all([backend.raw.get(backend.groupKey(a)), backend.raw.get(backend.groupKey(b))])
    if (va === null || vb === null) throw new Error('both groups need a version')
    const top = (BigInt(va) > BigInt(vb) ? BigInt(va) : BigInt(vb)) + 1n
    await backend.raw.incrby(backend.groupKey(a), String(top - BigInt(va)))
    await backend.raw.incrby(backend.groupKey(b), String(top - BigInt(vb)))
    return String(top)
  }

  describe('a key rewritten under other groups whose versions equal the hinted ones', () => {
    it('misses once the group it now belongs to is expired, in the process whose hint holds the old group', async () => {
      const reader = backend.cache()
      const writer = backend.cache()
      await writer.set('k', 'under a', { groups: ['a'] })
      await writer.set('other', 'under b', { groups: ['b'] }) // gives b a version
      expect(await reader.get('k')).toBe('under a') // the reader's hint: k is in [a]
      const version = await collide('a', 'b')
      expect(await writer.set('k', 'under b', { groups: ['b'] })).toBe(true)
      expect(await backend.raw.get(backend.groupKey('a'))).toBe(version)

      await writer.expireGroup('b')
      // The reader's MGET finds a's version equal to the entry's snapshot: only the entry's
      // group names say that it is b's, and b moved.
      expect(await reader.get('k')).toBeUndefined()
      expect(await reader.getMany(['k', 'other'])).toEqual([undefined, undefined])
    })

    it('reads the rewritten entry while it is live, and learns its groups', async () => {
      const reader = backend.cache()
      const writer = backend.cache()
      await writer.set('k', 'under a', { groups: ['a'] })
      await writer.set('other', 'under b', { groups: ['b'] })
      expect(await reader.get('k')).toBe('under a')
      await collide('a', 'b')
      await writer.set('k', 'under b', { groups: ['b'] })
      expect(await reader.get('k')).toBe('under b')
      await writer.expireGroup('a') // the reader's old group: nothing to do with k any more
      expect(await reader.get('k')).toBe('under b')
      await writer.expireGroup('b')
      expect(await reader.get('k')).toBeUndefined()
    })
  })
})
