import { setTimeout as sleep } from 'node:timers/promises'
import { Redis } from 'ioredis'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { TcpProxy } from '../check/replication.js'
import { COMPILE_AFTER } from '../src/copy.js'
import { GroupCache, type GroupCacheOptions, InvalidArgumentError } from '../src/index.js'
import { Keys } from '../src/keys.js'
import { NearCache } from '../src/near.js'
import { NearLink, type NearSource } from '../src/near-link.js'
import { createAclUser, readmeNearAcl } from './support/acl.js'
import { randomNamespace } from './support/backends.js'
import { until } from './support/gate.js'
import { type RedisServer, startRedisServer } from './support/redis-server.js'

/**
 * The near cache (src/near.ts, src/near-link.ts) on a Redis server of this file's own: every hazard of DESIGN.md's
 * "A near cache that never serves stale" made to happen, each checked in both consistency modes
 * where it applies. A cache "far away" reaches Redis through a delaying proxy, so that Redis's
 * messages to it arrive late, as they may across a network: the strict near cache must not serve
 * what they invalidate in the meantime, and the eventual one shows that it would.
 */

let server: RedisServer
let raw: Redis
const opened: { close(): Promise<void> }[] = []

beforeAll(async () => {
  server = await startRedisServer(['--enable-debug-command', 'yes'])
  raw = new Redis(server.url)
}, 30_000)

afterEach(async () => {
  await Promise.all(opened.splice(0).map((closable) => closable.close()))
})

afterAll(async () => {
  raw?.disconnect()
  await server?.stop()
})

/** The near cache's state and connections, for the tests that kill them. */
type Near = Pick<NearCache, 'inSync' | 'holds' | 'size' | 'offer' | 'close'> & {
  link: { feedId?: string; tracked: Redis }
}
const nearOf = (cache: GroupCache): Near => (cache as unknown as { near: Near }).near

/** A cache with a near cache, once in sync; `url`: another way to the server (a proxy). */
async function nearCache(
  namespace: string,
  near: GroupCacheOptions['nearCache'] = { maxEntries: 100 },
  url = server.url,
  options: Partial<GroupCacheOptions> = {},
): Promise<GroupCache> {
  const cache = new GroupCache({ redis: url, namespace, nearCache: near, ...options })
  cache.on('error', () => {})
  opened.push(cache)
  await until(() => nearOf(cache).inSync)
  return cache
}

/** A cache without one: the rest of the fleet. */
function plainCache(namespace: string, options: Partial<GroupCacheOptions> = {}): GroupCache {
  const cache = new GroupCache({ redis: server.url, namespace, ...options })
  opened.push(cache)
  return cache
}

/** Reads `key` until the near cache holds it. */
async function hold(cache: GroupCache, key: string): Promise<void> {
  await until(async () => {
    await cache.get(key)
    return nearOf(cache).holds(key)
  })
}

async function commandCalls(...names: string[]): Promise<number> {
  const stats = await raw.info('commandstats')
  let calls = 0
  for (const name of names) calls += Number(new RegExp(`cmdstat_${name}:calls=(\\d+)`).exec(stats)?.[1] ?? 0)
  return calls
}

async function delayed(ms: number): Promise<TcpProxy> {
  const proxy = new TcpProxy(server.port, ms)
  await proxy.listen()
  opened.push(proxy)
  return proxy
}

describe('near cache: hits from memory', () => {
  it('a held key is read with no entry read in Redis: strict shares one PING among concurrent reads, eventual sends none', async () => {
    const ns = randomNamespace()
    await plainCache(ns).set('k', { v: 1 }, { groups: ['g'] })
    for (const consistency of ['strict', 'eventual'] as const) {
      const cache = await nearCache(ns, { maxEntries: 10, consistency })
      await hold(cache, 'k')
      const reads = await commandCalls('mget', 'evalsha', 'get', 'eval')
      const pings = await commandCalls('ping')
      const values = await Promise.all(Array.from({ length: 200 }, () => cache.get('k')))
      expect(values.every((value) => (value as { v: number }).v === 1)).toBe(true)
      expect(await cache.getMany(['k', 'k'])).toEqual([{ v: 1 }, { v: 1 }])
      expect(await cache.wrap('k', { groups: ['g'] }, () => ({ v: 'not called' }))).toEqual({ v: 1 })
      // (INFO itself is one command; these count the cache's)
      expect(await commandCalls('mget', 'evalsha', 'get', 'eval')).toBe(reads)
      const sent = (await commandCalls('ping')) - pings
      if (consistency === 'eventual') expect(sent).toBe(0)
      else expect(sent).toBeLessThanOrEqual(4)
    }
  })

  it('a value handed out is the caller’s: changing it changes nothing for the next read', async () => {
    const ns = randomNamespace()
    await plainCache(ns).set('k', { list: [1, { n: 2 }] })
    const cache = await nearCache(ns)
    await hold(cache, 'k')
    // past COMPILE_AFTER copies the copy is compiled for the value's shape: both kinds are checked
    for (let read = 0; read < 3 * COMPILE_AFTER; read++) {
      const value = (await cache.get('k')) as { list: [number, { n: number }]; extra?: number }
      expect(value).toEqual({ list: [1, { n: 2 }] })
      value.list.push(3 as never)
      value.list[1].n = read
      value.extra = read
    }
    expect(cache.nearCacheStats()?.hits).toBeGreaterThanOrEqual(3 * COMPILE_AFTER)
  })

  it("values: 'copied' copies what the JSON serializer decoded once (test/copy.test.ts); another serializer's values are decoded on every hit", async () => {
    const ns = randomNamespace()
    await plainCache(ns).set('k', { list: [1, 2] })
    const cache = await nearCache(ns)
    await hold(cache, 'k')
    const [first, second] = (await Promise.all([cache.get('k'), cache.get('k')])) as { list: number[] }[]
    expect(first).not.toBe(second)
    expect(first?.list).not.toBe(second?.list)

    // A serializer whose values are Dates: a copy of a Date as JSON would be {}, so each hit decodes.
    const dates = {
      serialize: (value: unknown) => String((value as Date).getTime()),
      deserialize: (t: string) => new Date(Number(t)),
    }
    const dated = await nearCache(ns, { maxEntries: 10 }, server.url, { serializer: dates })
    await dated.set('d', new Date(5) as never)
    await hold(dated, 'd')
    const [d1, d2] = await Promise.all([dated.get<Date>('d'), dated.get<Date>('d')])
    expect(d1).toBeInstanceOf(Date)
    expect(d1?.getTime()).toBe(5)
    expect(d1).not.toBe(d2)
    expect(dated.nearCacheStats()?.hits).toBeGreaterThanOrEqual(2)
  })

  it("values: 'frozen': every hit hands out one deep-frozen value, which no caller can change", async () => {
    const ns = randomNamespace()
    await plainCache(ns).set('k', { list: [1, 2], inner: { n: 1 } })
    for (const consistency of ['strict', 'eventual'] as const) {
      const cache = await nearCache(ns, { maxEntries: 10, consistency, values: 'frozen' })
      await hold(cache, 'k')
      const first = (await cache.get('k')) as { list: number[]; inner: { n: number } }
      const again = await cache.getMany(['k', 'k'])
      expect(again[0]).toBe(first)
      expect(await cache.wrap('k', () => ({ not: 'called' }))).toBe(first)
      expect(Object.isFrozen(first) && Object.isFrozen(first.list) && Object.isFrozen(first.inner)).toBe(true)
      expect(() => first.list.push(3)).toThrow(TypeError)
      expect(() => {
        first.inner.n = 2
      }).toThrow(TypeError)
      expect(await cache.get('k')).toEqual({ list: [1, 2], inner: { n: 1 } })
    }
  })

  it('holds at most maxEntries, the least recently used going first, and at most maxBytes', async () => {
    const ns = randomNamespace()
    const plain = plainCache(ns)
    for (let i = 0; i < 6; i++) await plain.set(`k${i}`, 'x'.repeat(100))
    const cache = await nearCache(ns, { maxEntries: 3 })
    for (let i = 0; i < 6; i++) await hold(cache, `k${i}`)
    expect(nearOf(cache).size).toBe(3)
    expect(nearOf(cache).holds('k0')).toBe(false)
    expect(nearOf(cache).holds('k5')).toBe(true)
    const small = await nearCache(ns, { maxEntries: 100, maxBytes: 1000 })
    for (let i = 0; i < 6; i++) await hold(small, `k${i}`)
    // each holds about 2 * 100 + 2 * 2 + 64 bytes: three fit in 1000
    expect(nearOf(small).size).toBeLessThanOrEqual(3)
  })
})

describe('near cache: strict never serves what an invalidation that resolved replaced', () => {
  const invalidations = [
    ['expireGroup', (cache: GroupCache) => cache.expireGroup('g')],
    ['delete', (cache: GroupCache) => cache.delete('k').then(() => {})],
    ['set', (cache: GroupCache) => cache.set('k', { v: 'new' }, { groups: ['g'] }).then(() => {})],
  ] as const

  // on one server, sharding 'key' too: the same connections, other key names (src/keys.ts)
  it.each(
    invalidations.flatMap(([name, invalidate]) =>
      (['namespace', 'key'] as const).map((sharding) => [name, sharding, invalidate] as const),
    ),
  )(
    '%s in another process, its message late (sharding %s): no read after it resolves gets the old value',
    async (_, sharding, invalidate) => {
      const ns = randomNamespace()
      const fleet = plainCache(ns, { sharding })
      const proxy = await delayed(40)
      const cache = await nearCache(ns, { maxEntries: 10 }, proxy.url, { sharding })
      for (let round = 0; round < 5; round++) {
        await fleet.set('k', { v: round }, { groups: ['g'] })
        await hold(cache, 'k')
        await invalidate(fleet)
        const [get, many, wrapped, read] = await Promise.all([
          cache.get('k'),
          cache.getMany(['k', 'other']),
          cache.wrap('k', { groups: ['g'] }, () => ({ v: 'filled' })),
          cache.read('k', { groups: ['g'] }),
        ])
        for (const value of [get, many[0], wrapped, read.hit ? read.value : undefined]) {
          expect(value).not.toEqual({ v: round })
        }
      }
    },
  )

  it('the eventual near cache, on the same late message, does serve the old value until it arrives (what strict prevents)', async () => {
    const ns = randomNamespace()
    const fleet = plainCache(ns)
    const proxy = await delayed(40)
    const cache = await nearCache(ns, { maxEntries: 10, consistency: 'eventual' }, proxy.url)
    await fleet.set('k', { v: 'old' }, { groups: ['g'] })
    await hold(cache, 'k')
    await fleet.expireGroup('g')
    expect(await cache.get('k')).toEqual({ v: 'old' })
    await until(() => !nearOf(cache).holds('k'))
    expect(await cache.get('k')).toBeUndefined()
  })

  it('its own writes: a read right after reads them, in either mode', async () => {
    const ns = randomNamespace()
    const proxy = await delayed(40)
    for (const consistency of ['strict', 'eventual'] as const) {
      const cache = await nearCache(ns, { maxEntries: 10, consistency }, proxy.url)
      await cache.set('k', 1, { groups: ['g'] })
      await hold(cache, 'k')
      await cache.set('k', 2, { groups: ['g'] })
      expect(await cache.get('k')).toBe(2)
      await hold(cache, 'k')
      await cache.expireGroup('g')
      expect(await cache.get('k')).toBeUndefined()
    }
  })
})

describe('near cache: the hazards', () => {
  /** A NearCache whose reads go through `trackedVia` and whose messages come through `feedVia`. */
  async function split(namespace: string, trackedVia: string, feedVia: string): Promise<Near> {
    const urls = [trackedVia, feedVia]
    const source: NearSource = {
      open: (options) => new Redis(urls.shift() as string, options),
      locate: async () => undefined,
      serves: async () => true,
    }
    const near = new NearCache(
      (holder, timeout, report) => new NearLink(source, timeout, holder, report),
      new Keys('rgc', namespace),
      { maxEntries: 10, maxBytes: undefined, consistency: 'strict', values: 'copied', copy: undefined, timeout: 1000 },
      () => {},
    ) as unknown as Near
    opened.push(near)
    await until(() => near.inSync)
    return near
  }

  it.each([
    ['its group is expired', (cache: GroupCache) => cache.expireGroup('g')],
    ['its key is stored anew', (cache: GroupCache) => cache.set('k', 'new', { groups: ['g'] }).then(() => {})],
  ] as const)(
    'a read answered after the invalidation of what it read arrived (%s) is not held',
    async (_, invalidate) => {
      const ns = randomNamespace()
      const fleet = plainCache(ns)
      await fleet.set('k', 'old', { groups: ['g'] })
      // The read reaches Redis at ~60 ms and its answer comes back at ~120 ms; the invalidation
      // made at ~90 ms comes straight to the feed, before the answer.
      const slow = await delayed(60)
      const near = await split(ns, slow.url, server.url)
      near.offer('k', ['g'])
      await sleep(90)
      await invalidate(fleet)
      await sleep(150)
      expect(near.holds('k')).toBe(false)
    },
  )

  it('an entry is held only until its TTL, with no message from Redis', async () => {
    const ns = randomNamespace()
    await raw.debug('SET-ACTIVE-EXPIRE', 0)
    try {
      for (const consistency of ['strict', 'eventual'] as const) {
        const cache = await nearCache(ns, { maxEntries: 10, consistency })
        await cache.set('k', 'short', { ttl: 300 })
        await hold(cache, 'k')
        await sleep(350)
        expect(await cache.get('k')).toBeUndefined()
      }
    } finally {
      await raw.debug('SET-ACTIVE-EXPIRE', 1)
    }
  })

  it.each(['feed', 'tracked'] as const)(
    'its %s connection killed: what it held goes, and an invalidation while it was down is not missed',
    async (which) => {
      const ns = randomNamespace()
      const fleet = plainCache(ns)
      await fleet.set('k', 'old', { groups: ['g'] })
      const cache = await nearCache(ns)
      await hold(cache, 'k')
      const near = nearOf(cache)
      const id = await (which === 'feed' ? raw.client('LIST') : near.link.tracked.client('ID'))
      const victim =
        which === 'feed' ? (/id=(\d+) .* cmd=subscribe/.exec(String(id))?.[1] ?? near.link.feedId) : String(id)
      await raw.client('KILL', 'ID', victim as string)
      await fleet.expireGroup('g')
      await fleet.set('k', 'new', { groups: ['g'] })
      await until(() => near.inSync)
      expect(await cache.get('k')).toBe('new')
    },
  )

  it('a sync point slower than the timeout drops what is held, and the near cache syncs again once Redis answers', async () => {
    const ns = randomNamespace()
    const cache = await nearCache(ns, { maxEntries: 10 }, server.url, { timeout: 200 })
    await cache.set('k', 'v')
    await hold(cache, 'k')
    server.pause()
    try {
      expect(await cache.get('k')).toBeUndefined() // fails open: the PING and the read time out
      expect(nearOf(cache).inSync).toBe(false)
      expect(nearOf(cache).holds('k')).toBe(false)
    } finally {
      server.resume()
    }
    await until(() => nearOf(cache).inSync)
    await hold(cache, 'k')
    expect(await cache.get('k')).toBe('v')
  })

  it('its server demoted to a replica (a failover elsewhere): nothing held is served from it any more', async () => {
    const ns = randomNamespace()
    const other = await startRedisServer()
    try {
      const cache = await nearCache(ns)
      await cache.set('k', 'v')
      await hold(cache, 'k')
      const hits = cache.nearCacheStats()?.hits
      await raw.replicaof('127.0.0.1', String(other.port))
      await sleep(150) // a sync point checks the node's role at most every 100 ms (src/near-link.ts)
      // What the demoted server answers is its own affair (it syncs from its new primary); the
      // near cache must not answer for it.
      await cache.get('k')
      expect(cache.nearCacheStats()).toMatchObject({ held: 0, hits })
    } finally {
      await raw.replicaof('NO', 'ONE')
      await other.stop()
    }
  })

  it('FLUSHDB drops everything held', async () => {
    const ns = randomNamespace()
    const cache = await nearCache(ns)
    await cache.set('k', 'v')
    await hold(cache, 'k')
    await raw.flushdb()
    expect(await cache.get('k')).toBeUndefined()
  })

  it('a Redis restart (all keys lost, both connections dropped): nothing old is served', async () => {
    const ns = randomNamespace()
    const cache = await nearCache(ns)
    await cache.set('k', 'before')
    await hold(cache, 'k')
    await server.kill()
    await server.restart()
    await until(() => nearOf(cache).inSync)
    expect(await cache.get('k')).toBeUndefined()
    raw.disconnect()
    raw = new Redis(server.url)
  })
})

describe('near cache: Redis requirements', () => {
  it("the README's ACL line and its near cache rules are enough for a near cache, and without those rules it never syncs", async () => {
    const ns = randomNamespace()
    const pattern = `rgc:{${ns}}:*`
    const withRules = await createAclUser(server.url, `near_${ns}`, [pattern], readmeNearAcl())
    const cache = await nearCache(ns, { maxEntries: 10 }, withRules)
    await cache.set('k', 1, { groups: ['g'] })
    await hold(cache, 'k')
    expect(await cache.get('k')).toBe(1)
    expect(cache.nearCacheStats()?.hits).toBeGreaterThan(0)
    await cache.expireGroup('g')
    expect(await cache.get('k')).toBeUndefined()

    const without = await createAclUser(server.url, `plain_${ns}`, [pattern])
    const refused = new GroupCache({ redis: without, namespace: ns, nearCache: { maxEntries: 10 } })
    opened.push(refused)
    const errors: string[] = []
    refused.on('error', (error) => errors.push(error.message))
    await until(() => errors.length > 0)
    expect(refused.nearCacheStats()?.inSync).toBe(false)
    expect(errors[0]).toMatch(/NOPERM|no permissions/)
  })
})

describe('near cache: options', () => {
  it('bad options get InvalidArgumentError from the constructor; the in-memory backend is refused', () => {
    const bad: unknown[] = [
      null,
      'yes',
      {},
      { maxEntries: 0 },
      { maxEntries: -1 },
      { maxEntries: 1.5 },
      { maxEntries: 10, maxBytes: 0 },
      { maxEntries: 10, consistency: 'strong' },
      { maxEntries: 10, values: 'shared' },
      { maxEntries: 10, ttl: 5 },
    ]
    for (const nearCache of bad) {
      expect(() => new GroupCache({ redis: server.url, nearCache: nearCache as never })).toThrow(InvalidArgumentError)
    }
    expect(() => new GroupCache({ redis: 'memory', nearCache: { maxEntries: 10 } })).toThrow(/client tracking/)
  })
})
