import { randomBytes } from 'node:crypto'
import { expect, it } from 'vitest'
import type { GroupCache } from '../src/index.js'
import { Keys } from '../src/keys.js'
import { dumpNamespace, forEachBackend, randomNamespace } from './support/backends.js'

const unique = (names: string[]) => [...new Set(names)]

/**
 * Namespaces are isolated: whatever namespace A is asked to do, with whatever names, namespace B
 * and keys outside the cache's prefix stay exactly as they were.
 */
forEachBackend('namespace isolation', (backend) => {
  /** A namespace's keys in this backend's layout. */
  const layout = (prefix: string, namespace: string) => new Keys(prefix, namespace, backend.sharding)
  it('every operation in namespace A, with names that mimic B’s keys, leaves B and outside keys untouched', async () => {
    const a = backend.namespace
    const b = randomNamespace()
    const id = randomBytes(6).toString('hex')
    // B's tombstone, lease and the versions its read made live a lease: a minute, so that none
    // of them ends while the test runs (it takes seconds on the in-memory backend, loaded)
    const cacheB = backend.cache({ namespace: b, lease: 60_000 })
    const cacheA = backend.cache({ namespace: a })
    // The same namespace under another prefix is another cache too.
    const otherPrefix = backend.cache({ namespace: a, prefix: `p${id}` })

    // Keys outside A's `rgc:{A}:` prefix, with names as close to A's and B's as possible.
    const outside = [
      `plain:${id}:x`,
      `rgc:other${id}`,
      `rgc:{${b}}x`,
      `rgc:{${b}}`,
      `rgc:{${a}}x`,
      `rgc:{${a}}`,
      `rgc:{${a}}:`,
      `rgc:{${a}}:e`,
      `rgc:{${a}}:g`,
      `rgc:{${a}}:x:k`,
      `{${a}}:e:k`,
      `rgc:${a}:e:k`,
      `RGC:{${a}}:e:k`,
    ]
    const outsideValue = (name: string) => `outside value of ${name}`
    try {
      for (const name of outside) await backend.raw.set(name, outsideValue(name))

      // Namespace B: entries with groups, one with a TTL, one stale, a tombstone, a token read.
      await cacheB.set('k', 'b-k', { groups: ['g', 'shared'] })
      await cacheB.set('x', 'b-x', { groups: ['shared'], ttl: 600_000 })
      await cacheB.set(`rgc:{${a}}:e:k`, 'b-mimic', { groups: [`rgc:{${a}}:g:g`] })
      await cacheB.set('gone', 'b-gone')
      await cacheB.delete('gone')
      await cacheB.read('filling', { groups: ['g', 'fresh'] })
      await otherPrefix.set('k', 'other-prefix', { groups: ['g'] })
      const dumpB = await backend.dump(b)
      const dumpOtherPrefix = await dumpNamespaceWithPrefix(`p${id}`, a)
      expect(Object.keys(dumpB).length).toBeGreaterThanOrEqual(8)

      // Names for A: B's key and group names, B's full Redis key names, braces, `{B}`, globs.
      const keyB = (kind: 'e' | 'g' | 't', name: string) => {
        const keys = layout('rgc', b)
        return kind === 'e' ? keys.entry(name) : kind === 'g' ? keys.group(name) : keys.generation(name)
      }
      const names = unique([
        // B's names in the other layout
        `rgc:{${b}}:e:k`,
        `rgc:<${b}>:e{:k}`,
        `rgc:<${b}>:g{:g}`,
        'k',
        'x',
        'g',
        'shared',
        'gone',
        'filling',
        keyB('e', 'k'),
        keyB('g', 'g'),
        keyB('t', 'gone'),
        `{${b}}`,
        `}:e:k`,
        `}{${b}}:e:k`,
        `{${b}}:g:shared`,
        '}',
        '{',
        '*',
        '?',
        '[a-z]',
        `plain:${id}:x`,
        `../${b}`,
      ])

      for (const name of names) {
        expect(await cacheA.set(name, `a-${name}`, { groups: names })).toBe(true)
      }
      expect(await cacheA.getMany(names)).toEqual(names.map((name) => `a-${name}`))
      for (const name of names) expect(await cacheA.get(name)).toBe(`a-${name}`)
      await cacheA.expireGroup('shared')
      expect(await cacheA.getMany(names)).toEqual(names.map(() => undefined))

      for (const name of names) {
        const miss = await cacheA.read(name, { groups: [name, 'g', keyB('g', 'g')] })
        if (miss.hit) throw new Error(`expected a miss for ${name}`)
        expect(await cacheA.set(name, `a2-${name}`, { token: miss.token })).toBe(true)
        expect(await cacheA.read(name, { groups: [name] })).toEqual({ hit: true, value: `a2-${name}` })
      }
      await cacheA.expireGroups(names)
      for (const name of names) {
        expect(await cacheA.wrap(name, { groups: ['g', name] }, () => `a3-${name}`)).toBe(`a3-${name}`)
      }
      const cachedA = cacheA.cached((name: string) => `a4-${name}`, {
        key: (name) => `cached:${name}`,
        groups: (name) => [name, 'shared'],
      })
      for (const name of names) expect(await cachedA(name)).toBe(`a4-${name}`)
      for (const name of names) expect(await cacheA.delete(name)).toBe(true)
      for (const name of names) await cacheA.expireGroup(name)
      await cacheA.expireGroups(['g', 'shared', 'fresh'])

      // B, the other prefix and the outside keys are exactly as they were.
      expect(await backend.dump(b)).toEqual(dumpB)
      expect(await dumpNamespaceWithPrefix(`p${id}`, a)).toEqual(dumpOtherPrefix)
      for (const name of outside) {
        expect(await backend.raw.get(name)).toBe(outsideValue(name))
        expect(await backend.raw.pttl(name)).toBe(-1)
      }
      expect(await cacheB.getMany(['k', 'x', `rgc:{${a}}:e:k`, 'gone'])).toEqual(['b-k', 'b-x', 'b-mimic', undefined])
      expect(await otherPrefix.get('k')).toBe('other-prefix')

      // Everything A wrote is under A's prefix: any other key whose name holds A's or B's
      // namespace or this test's id is one this test wrote itself, outside or for B.
      const known = new Set([...outside, ...Object.keys(dumpB), ...Object.keys(dumpOtherPrefix)])
      const elsewhere: string[] = []
      for (const mark of [a, b, id]) {
        for (const name of await backend.raw.keys(`*${mark}*`)) {
          if (!name.startsWith(layout('rgc', a).pattern.slice(0, -1)) && !known.has(name)) elsewhere.push(name)
        }
      }
      expect(elsewhere).toEqual([])
      expect(Object.keys(await backend.dump(a)).length).toBeGreaterThan(0)
    } finally {
      // The real Redis outlives the test: remove what it wrote.
      const written = [
        ...outside,
        ...(await backend.raw.keys(layout('rgc', a).pattern)),
        ...(await backend.raw.keys(layout('rgc', b).pattern)),
        ...(await backend.raw.keys(layout(`p${id}`, a).pattern)),
      ]
      await backend.raw.del(...written)
    }
  })

  it('a cache in another namespace sees none of A’s values, and expiring the same group name there changes nothing in A', async () => {
    const a = backend.cache()
    const b = backend.cache({ namespace: randomNamespace() })
    await a.set('k', 'a', { groups: ['g'] })
    expect(await b.get('k')).toBeUndefined()
    expect(await b.read('k', { groups: ['g'] })).toMatchObject({ hit: false })
    expect(await b.delete('k')).toBe(false)
    await b.expireGroup('g')
    await b.expireGroups(['g', 'h'])
    expect(await a.get('k')).toBe('a')
    expect(await b.wrap('k', { groups: ['g'] }, () => 'b')).toBe('b')
    expect(await a.get('k')).toBe('a')
    await dropAll(a)
    await dropAll(b)
  })

  async function dumpNamespaceWithPrefix(prefix: string, namespace: string): Promise<Record<string, string>> {
    const out: Record<string, string> = {}
    for (const name of (await backend.raw.keys(layout(prefix, namespace).pattern)).sort()) {
      const type = await backend.raw.type(name)
      const contents = type === 'hash' ? JSON.stringify(await backend.raw.hgetall(name)) : await backend.raw.get(name)
      out[name] = `${type} ${contents}`
    }
    return out
  }

  async function dropAll(cache: GroupCache): Promise<void> {
    const names = Object.keys(await dumpNamespace(backend.raw, cache.namespace))
    if (names.length > 0) await backend.raw.del(...names)
  }
})
