import calculateSlot from 'cluster-key-slot'
import { expect, it } from 'vitest'
import { InvalidArgumentError, SerializationError } from '../src/index.js'
import { forEachBackend } from './support/backends.js'

/** `inner` under `depth` levels of objects. */
function nested(depth: number, inner: unknown): object {
  let value = inner as object
  for (let i = 0; i < depth; i++) value = { level: value }
  return value
}

/** [1, <a hole>, 3]: an array of length 3 with no element at 1. */
function holed(): unknown[] {
  const list = [1]
  list[2] = 3
  return list
}

/** An object that holds itself. */
function cyclic(): object {
  const value: Record<string, unknown> = { a: 1 }
  value.self = [value]
  return value
}

forEachBackend('values and names', (backend) => {
  const values: [string, unknown][] = [
    ['null', null],
    ['false', false],
    ['true', true],
    ['zero', 0],
    ['negative float', -12.5],
    ['empty string', ''],
    ['empty object', {}],
    ['empty array', []],
    ['nested', { a: [1, { b: [null, 'x', { c: true }] }], d: { e: { f: 'g' } } }],
    ['unicode', { text: 'Grüße, 世界, 😀, עברית', '🔑': 'ключ' }],
    ['json-looking string', '{"a":1}'],
    ['1 MiB string', 'x'.repeat(1 << 20)],
    ['1 MiB object', { blob: 'é'.repeat(1 << 19) }],
  ]

  it.each(values)('%s round-trips', async (_, value) => {
    const cache = backend.cache()
    expect(await cache.set('k', value as {} | null, { groups: ['g'] })).toBe(true)
    expect(await cache.get('k')).toEqual(value)
    expect(await cache.wrap('k', { groups: ['g'] }, () => 'not called')).toEqual(value)
  })

  it.each([
    ['a Date', new Date(0), /a Date would read back as a string/],
    ['a Date in an object', { at: new Date(0) }, /a Date would read back as a string \(at "at"\)/],
    ['a Map', new Map([[1, 2]]), /a Map would read back as \{\}/],
    ['a Set in an array', [new Set([1])], /a Set would read back as \{\}/],
    ['a RegExp', /x/, /a RegExp/],
    ['a Buffer', Buffer.from('x'), /a Buffer/],
    ['NaN', { n: Number.NaN }, /NaN would read back as null/],
    ['Infinity', [Number.POSITIVE_INFINITY], /Infinity would read back as null/],
    ['a function in an object', { f: () => 1 }, /a function would read back as nothing/],
    ['undefined in an array', [1, undefined], /undefined in an array would read back as null/],
    ['a hole in an array', holed(), /undefined in an array would read back as null/],
    ['a Date 100 levels deep', nested(100, new Date(0)), /a Date would read back as a string/],
    ['NaN 100 levels deep, in an array', nested(100, [Number.NaN]), /NaN would read back as null/],
    ['a Date behind a toJSON', { toJSON: () => ({ at: new Date(0) }) }, /a Date would read back as a string/],
    [
      'a Date in a class instance',
      new (class Box {
        at = new Date(0)
      })(),
      /a Date would read back as a string/,
    ],
    [
      'NaN behind the toJSON of an array',
      Object.assign([1], { toJSON: () => [Number.NaN] }),
      /NaN would read back as null/,
    ],
    ['a cycle', cyclic(), /circular/i],
  ])('%s, which JSON would change, is refused and nothing is written', async (_, value, message) => {
    const cache = backend.cache()
    await expect(cache.set('k', value, { groups: ['g'] })).rejects.toSatisfy(
      (error: Error) => error instanceof SerializationError && message.test(error.message),
    )
    expect(await backend.dump()).toEqual({})
  })

  it('a value of any depth, or with toJSON, is written as JSON.stringify writes it', async () => {
    const cache = backend.cache()
    const deep = nested(100, { a: [1, 'x', null, { b: false }] })
    await cache.set('deep', deep)
    expect(await cache.get('deep')).toStrictEqual(deep)
    await cache.set('json', { v: { toJSON: () => [1, 2] }, w: 3 })
    expect(await cache.get('json')).toStrictEqual({ v: [1, 2], w: 3 })
    const bare = Object.assign(Object.create(null), { a: 1 })
    await cache.set('bare', bare)
    expect(await cache.get('bare')).toStrictEqual({ a: 1 })
  })

  it('an undefined object field is dropped and a class instance reads back as its fields, as JSON does', async () => {
    class Point {
      constructor(
        readonly x: number,
        readonly y: number,
      ) {}
    }
    const cache = backend.cache()
    await cache.set('k', { a: 1, b: undefined, p: new Point(1, 2) })
    expect(await cache.get('k')).toStrictEqual({ a: 1, p: { x: 1, y: 2 } })
  })

  it('undefined is refused and nothing is written', async () => {
    const cache = backend.cache()
    // @ts-expect-error undefined is no storable value: the types say so, and so does the runtime
    await expect(cache.set('k', undefined)).rejects.toBeInstanceOf(InvalidArgumentError)
    expect(await backend.dump()).toEqual({})
  })

  it('keys and groups with separators, braces, spaces, unicode and 1 KiB never collide', async () => {
    const cache = backend.cache()
    const names = [
      'plain',
      'a:b',
      'a:b:',
      ':a:b',
      'e:plain',
      'g:plain',
      't:plain',
      '{braces}',
      '{',
      '}',
      '}{',
      'with space',
      ' leading space',
      'trailing space ',
      'ключ',
      '🔑',
      'e\u0301', // e + combining accent ...
      '\u00e9', // ... and the precomposed é are different strings
      'k'.repeat(1024),
      'k'.repeat(1023),
      `{${'x'.repeat(1022)}}`,
    ]
    expect(new Set(names).size).toBe(names.length)
    // every name is a key, and each key is in a group of its own name and in 'all'
    for (const [i, name] of names.entries()) await cache.set(name, i, { groups: [name, 'all'] })
    expect(await cache.getMany(names)).toEqual(names.map((_, i) => i))

    // expiring one group misses exactly its own key
    for (const [i, name] of names.entries()) {
      await cache.expireGroup(name)
      const after = await cache.getMany(names)
      expect(after.filter((value) => value !== undefined)).toHaveLength(names.length - i - 1)
      expect(after[i]).toBeUndefined()
    }
  })

  it('deleting one key never touches a key of a similar name', async () => {
    const cache = backend.cache()
    const names = ['a', 'a:', 'a:e:a', '{a}', 'A']
    for (const name of names) await cache.set(name, name)
    await cache.delete('a')
    expect(await cache.getMany(names)).toEqual([undefined, 'a:', 'a:e:a', '{a}', 'A'])
  })

  // Each layout's test on its own backends (no test is skipped): src/keys.ts
  if (backend.sharding === 'namespace')
    it('all keys of a namespace share one hash tag, so they live in one Cluster slot', async () => {
      const cache = backend.cache()
      await cache.set('{x}y', 1, { groups: ['{z}', 'w}'] })
      await cache.read('{q}', { groups: ['{r}'] })
      await cache.delete('{t}')
      await cache.expireGroup('{z}')
      const keys = Object.keys(await backend.dump())
      // an entry, 3 group versions, the generations of '{q}' and '{t}', the fill lease of '{q}',
      // the record of '{z}''s soft move
      expect(keys).toHaveLength(8)
      for (const key of keys) expect(key.startsWith(`rgc:{${backend.namespace}}:`)).toBe(true)
      // the slot function ioredis's Cluster routes with
      expect(new Set(keys.map((key) => calculateSlot(key))).size).toBe(1)
    })
  else
    it("sharding 'key': each key's entry, generation and lease share the key's slot, each group's version and record the group's, and the namespace spreads over slots", async () => {
      const cache = backend.cache()
      // names with braces: the tag is the name up to its first '}', so every kind of one name agrees
      await cache.set('{x}y', 1, { groups: ['{z}', 'w}'] })
      await cache.read('{q}', { groups: ['{r}'] })
      await cache.delete('}t')
      await cache.expireGroup('{z}')
      const { keys } = backend
      const written = Object.keys(await backend.dump()).sort()
      expect(written).toEqual(
        [
          keys.entry('{x}y'),
          keys.group('{z}'),
          keys.group('w}'),
          keys.group('{r}'),
          keys.generation('{q}'),
          keys.lease('{q}'),
          keys.generation('}t'),
          // the record of '{z}''s soft move
          keys.group('{z}').replace(':g{', ':p{'),
        ].sort(),
      )
      for (const key of written) expect(key.startsWith(`rgc:<${backend.namespace}>:`)).toBe(true)
      const slot = (name: string) => calculateSlot(name)
      expect(slot(keys.generation('{q}'))).toBe(slot(keys.entry('{q}')))
      expect(slot(keys.lease('{q}'))).toBe(slot(keys.entry('{q}')))
      expect(slot(keys.group('{z}').replace(':g{', ':p{'))).toBe(slot(keys.group('{z}')))
      // the tag of '}t' is ':' (never empty): its keys still share a slot
      expect(slot(keys.generation('}t'))).toBe(slot(keys.entry('}t')))
      // 3,000 keys land on many slots (about 3,000: one per distinct name)
      expect(new Set(Array.from({ length: 3000 }, (_, i) => slot(keys.entry(`user_${i}`)))).size).toBeGreaterThan(2500)
    })
})
