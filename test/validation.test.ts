import { describe, expect, it } from 'vitest'
import { GroupCache, type GroupCacheError, InvalidArgumentError, MAX_GROUPS, SerializationError } from '../src/index.js'
import { forEachBackend, storedEntry } from './support/backends.js'

const badNames: [string, unknown][] = [
  ['empty', ''],
  ['a number', 1],
  ['null', null],
  ['undefined', undefined],
  ['an object', { toString: () => 'k' }],
  ['a lone surrogate', 'a\uD800b'],
]
const badTtls: [string, unknown][] = [
  ['negative', -1],
  ['zero', 0],
  ['NaN', Number.NaN],
  ['fractional', 1.5],
  ['-Infinity', Number.NEGATIVE_INFINITY],
  ['a string that is no duration', 'soon'],
  ['beyond safe integers', 2 ** 60],
]

forEachBackend('bad input', (backend) => {
  /** Runs `act`, expects the given error class with its code, and that nothing was written. */
  async function refused(
    act: () => Promise<unknown>,
    type: new (...args: never[]) => GroupCacheError = InvalidArgumentError,
  ) {
    const before = await backend.dump()
    const error = await act().then(
      () => undefined,
      (failure: unknown) => failure,
    )
    expect(error).toBeInstanceOf(type)
    expect((error as GroupCacheError).code).toMatch(/^E_/)
    expect(await backend.dump()).toEqual(before)
  }

  describe.each(badNames)('a key that is %s', (_, key) => {
    it('is refused by every call that takes one', async () => {
      const cache = backend.cache()
      await cache.set('existing', 1, { groups: ['g'] })
      const k = key as string
      await refused(() => cache.get(k))
      await refused(() => cache.getMany(['ok', k]))
      await refused(() => cache.set(k, 1))
      await refused(() => cache.delete(k))
      await refused(() => cache.read(k))
      await refused(() => cache.wrap(k, {}, () => 1))
      await refused(() => cache.cached((x: number) => x, { key: () => k })(1))
    })
  })

  describe.each(badNames)('a group that is %s', (_, group) => {
    it('is refused by every call that takes groups', async () => {
      const cache = backend.cache()
      await cache.set('existing', 1, { groups: ['g'] })
      const g = group as string
      await refused(() => cache.set('k', 1, { groups: ['ok', g] }))
      await refused(() => cache.expireGroup(g))
      await refused(() => cache.expireGroups(['g', g]))
      await refused(() => cache.read('k', { groups: [g] }))
      await refused(() => cache.wrap('k', { groups: [g] }, () => 1))
      expect(await cache.get('existing')).toBe(1)
    })
  })

  it('groups that are not an array are refused', async () => {
    const cache = backend.cache()
    await refused(() => cache.set('k', 1, { groups: 'g' as never }))
    await refused(() => cache.expireGroups('g' as never))
    await refused(() => cache.getMany('k' as never))
  })

  it(`more than ${MAX_GROUPS} groups per entry are refused; exactly ${MAX_GROUPS} work`, async () => {
    const cache = backend.cache()
    const groups = Array.from({ length: MAX_GROUPS + 1 }, (_, i) => `g${i}`)
    await refused(() => cache.set('k', 1, { groups }))
    await refused(() => cache.read('k', { groups }))
    await refused(() => cache.wrap('k', { groups }, () => 1))
    expect(await cache.set('k', 1, { groups: groups.slice(1) })).toBe(true)
    await cache.expireGroup(`g${MAX_GROUPS}`)
    expect(await cache.get('k')).toBeUndefined()
  })

  it('a group listed twice counts once', async () => {
    const cache = backend.cache()
    expect(await cache.set('k', 1, { groups: ['g', 'g', 'h'] })).toBe(true)
    expect((await storedEntry(backend.raw, backend.entryKey('k')))?.groups).toEqual(['g', 'h'])
  })

  describe.each(badTtls)('a ttl that is %s', (_, ttl) => {
    it('is refused by set, wrap and cached, and by the constructor', async () => {
      const cache = backend.cache()
      const t = ttl as number
      await refused(() => cache.set('k', 1, { ttl: t }))
      await refused(() => cache.wrap('k', { ttl: t }, () => 1))
      expect(() => cache.cached(() => 1, { key: () => 'k', ttl: t })).toThrow(InvalidArgumentError)
      expect(() => backend.cache({ ttl: t })).toThrow(InvalidArgumentError)
    })
  })

  it('values the serializer cannot encode are refused with SerializationError', async () => {
    const cache = backend.cache()
    const cyclic: Record<string, unknown> = { a: 1 }
    cyclic.self = cyclic
    await refused(() => cache.set('k', 10n), SerializationError)
    await refused(() => cache.set('k', { nested: { big: 1n } }), SerializationError)
    await refused(() => cache.set('k', cyclic), SerializationError)
    await refused(() => cache.set('k', () => 1), SerializationError)
    await refused(() => cache.set('k', Symbol('s')), SerializationError)
  })

  it('a failing custom serializer is a SerializationError, and nothing is written', async () => {
    const cache = backend.cache({
      serializer: {
        serialize: () => {
          throw new Error('nope')
        },
        deserialize: (text) => text,
      },
    })
    await refused(() => cache.set('k', 'v'), SerializationError)
  })

  it('wrap reports a value it cannot encode and still returns it', async () => {
    const cache = backend.cache()
    const errors: GroupCacheError[] = []
    cache.on('error', (error) => errors.push(error))
    expect(await cache.wrap('k', {}, () => 5n)).toBe(5n)
    expect(errors.map((error) => error.code)).toEqual(['E_SERIALIZE'])
    expect(await backend.raw.exists(backend.entryKey('k'))).toBe(0)
  })

  it('a stored value the serializer cannot decode is reported, deleted and read as a miss', async () => {
    const writer = backend.cache()
    await writer.set('k', 'plain', { groups: ['g'] })
    const reader = backend.cache({
      serializer: {
        serialize: JSON.stringify,
        deserialize: () => {
          throw new Error('format changed')
        },
      },
    })
    const errors: GroupCacheError[] = []
    reader.on('error', (error) => errors.push(error))
    expect(await reader.get('k')).toBeUndefined()
    expect(errors.map((error) => error.code)).toEqual(['E_SERIALIZE'])
    expect(await backend.raw.exists(backend.entryKey('k'))).toBe(0)
  })

  it('wrap on an undecodable hit runs fn once, and fn’s own failure reaches the caller', async () => {
    const writer = backend.cache()
    await writer.set('k', 'plain')
    const reader = backend.cache({
      serializer: {
        serialize: JSON.stringify,
        deserialize: () => {
          throw new Error('format changed')
        },
      },
    })
    reader.on('error', () => {})
    let calls = 0
    const failing = () => {
      calls++
      throw new Error('database down')
    }
    await expect(reader.wrap('k', failing)).rejects.toThrow('database down')
    expect(calls).toBe(1)
    expect(await backend.raw.exists(backend.entryKey('k'))).toBe(0)
  })

  it('wrong argument types for functions and options are refused', async () => {
    const cache = backend.cache()
    await refused(() => cache.wrap('k', {}, 'not a function' as never))
    expect(() => cache.cached('nope' as never, { key: () => 'k' })).toThrow(InvalidArgumentError)
    expect(() => cache.cached(() => 1, { key: () => 'k', groups: ['g'] as never })).toThrow(InvalidArgumentError)
  })
})

describe('constructor options', () => {
  const bad: [string, Record<string, unknown>][] = [
    ['no options', undefined as never],
    ['a namespace with braces', { namespace: 'a{b}' }],
    ['a namespace with a space', { namespace: 'a b' }],
    ['an empty namespace', { namespace: '' }],
    ['a prefix with braces', { prefix: '{p}' }],
    ['a namespace with angle brackets', { namespace: 'a<b>' }],
    ['an unknown sharding', { sharding: 'slot' }],
    ['a timeout of 0', { timeout: 0 }],
    ['a negative lease', { lease: -5 }],
    ['a redis that is not a client or URL', { redis: 'localhost:6379' }],
    ['a redis object without eval', { redis: { get() {} } }],
    ['a serializer without deserialize', { serializer: { serialize: JSON.stringify } }],
  ]
  it.each(bad)('%s is refused with InvalidArgumentError', (_, options) => {
    const create = () =>
      new GroupCache(options === undefined ? (undefined as never) : ({ redis: 'memory', ...options } as never))
    expect(create).toThrow(InvalidArgumentError)
    try {
      create()
    } catch (error) {
      expect((error as GroupCacheError).code).toBe('E_INVALID_ARGUMENT')
    }
  })

  it('namespaces with letters, digits and _ . : - are accepted', async () => {
    const cache = new GroupCache({ redis: 'memory', namespace: 'App_1.v2:eu-west' })
    expect(cache.namespace).toBe('App_1.v2:eu-west')
    await cache.close()
  })
})
