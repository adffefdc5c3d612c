import { expect, it } from 'vitest'
import { GroupCache, InvalidArgumentError, SerializationError } from '../src/index.js'
import { forEachBackend } from './support/backends.js'

/**
 * "Not found", cached: with `notFoundTtl`, a `wrap` or `cached` function that returns undefined is
 * remembered for that long, under the call's groups, and read back as undefined without calling
 * the function. Without it, undefined is returned and nothing is stored.
 */
forEachBackend('caching "not found"', (backend) => {
  it('remembers an undefined result for notFoundTtl, then calls the function again', async () => {
    const cache = backend.cache()
    let calls = 0
    const load = () => {
      calls++
      return undefined
    }
    expect(await cache.wrap('k', { notFoundTtl: '1h' }, load)).toBeUndefined()
    expect(await cache.wrap('k', { notFoundTtl: '1h' }, load)).toBeUndefined()
    expect(calls).toBe(1)
    const ttl = await backend.raw.pttl(backend.entryKey('k'))
    expect(ttl).toBeGreaterThan(3_500_000)
    expect(ttl).toBeLessThanOrEqual(3_600_000)
    // get and getMany read it as undefined, has as no value, read as a hit that found nothing
    expect(await cache.get('k')).toBeUndefined()
    expect(await cache.getMany(['k'])).toEqual([undefined])
    expect(await cache.has('k')).toBe(false)
    expect(await cache.read('k')).toEqual({ hit: true, value: undefined, notFound: true })
    // once it ends, the function runs again
    await backend.raw.pexpire(backend.entryKey('k'), 1)
    await new Promise((resolve) => setTimeout(resolve, 10))
    expect(await cache.wrap('k', { notFoundTtl: '1h' }, () => 'found')).toBe('found')
  })

  it('without notFoundTtl, undefined is returned and nothing is stored', async () => {
    const cache = backend.cache()
    let calls = 0
    const load = () => {
      calls++
      return undefined
    }
    await cache.wrap('k', load)
    await cache.wrap('k', load)
    expect(calls).toBe(2)
    expect(await backend.raw.exists(backend.entryKey('k'))).toBe(0)
  })

  it("is stored under the call's groups and forgotten when one is expired or the key deleted", async () => {
    const cache = backend.cache({ notFoundTtl: 60_000 })
    let calls = 0
    const load = () => {
      calls++
      return undefined
    }
    await cache.wrap('k', { groups: ['g'] }, load)
    await cache.wrap('k', { groups: ['g'] }, load)
    expect(calls).toBe(1)
    await cache.expireGroup('g')
    await cache.wrap('k', { groups: ['g'] }, load)
    expect(calls).toBe(2)
    await cache.delete('k')
    expect(await cache.wrap('k', { groups: ['g'] }, () => 42)).toBe(42)
    // a found value is stored with the value's TTL, not notFoundTtl
    expect(await backend.raw.pttl(backend.entryKey('k'))).toBe(-1)
  })

  it('cached takes notFoundTtl too, and the cache-wide default is overridden per call', async () => {
    const cache = backend.cache({ notFoundTtl: '1h' })
    let calls = 0
    const find = cache.cached(
      async (id: number): Promise<{ id: number } | undefined> => {
        calls++
        return id > 100 ? undefined : { id }
      },
      { key: (id) => `row_${id}`, notFoundTtl: 1000 },
    )
    expect(await find(101)).toBeUndefined()
    expect(await find(101)).toBeUndefined()
    expect(calls).toBe(1)
    expect(await backend.raw.pttl(backend.entryKey('row_101'))).toBeLessThanOrEqual(1000)
  })

  it('a fill refused meanwhile stores no "not found" either (it is a fill like any other)', async () => {
    const cache = backend.cache()
    const refused: string[] = []
    cache.on('refused', ({ reason }) => refused.push(reason))
    await cache.wrap('k', { groups: ['g'], notFoundTtl: 60_000 }, async () => {
      await cache.expireGroup('g')
      return undefined
    })
    expect(refused).toEqual(['group-expired'])
    expect(await backend.raw.exists(backend.entryKey('k'))).toBe(0)
  })

  it('a bad notFoundTtl is refused before anything is sent', async () => {
    const cache = backend.cache()
    for (const bad of [0, -5, 1.5, 'soon', '', null]) {
      await expect(cache.wrap('k', { notFoundTtl: bad as never }, () => undefined)).rejects.toThrow(
        InvalidArgumentError,
      )
      expect(() => cache.cached(async () => undefined, { key: () => 'k', notFoundTtl: bad as never })).toThrow(
        InvalidArgumentError,
      )
      expect(() => new GroupCache({ redis: 'memory', notFoundTtl: bad as never })).toThrow(InvalidArgumentError)
    }
    expect(await backend.dump()).toEqual({})
  })

  it('a serializer may not write the empty string, which stands for "not found"', async () => {
    const cache = backend.cache({ serializer: { serialize: () => '', deserialize: (text) => text } })
    await expect(cache.set('k', 'v')).rejects.toThrow(SerializationError)
    expect(await backend.dump()).toEqual({})
  })
})
