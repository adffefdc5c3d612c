import { setTimeout as sleep } from 'node:timers/promises'
import { expect, it } from 'vitest'
import { spreadScripts } from '../src/commands.js'
import { InvalidArgumentError } from '../src/index.js'
import { forEachBackend } from './support/backends.js'
import { gate, until } from './support/gate.js'

/**
 * Groups decided after the function ran (`ctx.groups`, `cached`'s `resultGroups`, `set` with a
 * token and more groups than the read named): stored under them, and race-free as the groups
 * named up front. A late group's version is checked by time (lua/set.lua): versions move to
 * max(version + 1, Redis TIME in µs), so one later than the read's time moved after it began.
 */
forEachBackend('groups decided after the function ran', (backend) => {
  /** A cache whose refusals are collected. */
  const watched = () => {
    const cache = backend.cache()
    const refused: string[] = []
    cache.on('refused', ({ reason }) => refused.push(reason))
    return { cache, refused }
  }

  /**
   * Under sharding 'key', a late group's version made less than about a round trip before a fill's
   * read may refuse the fill (lua/store.lua: the version and the read are of two nodes' clocks).
   * A test whose next fill must store waits that out; on one slot the check is exact.
   */
  const pastTheWindow = () => (backend.sharding === 'key' ? sleep(50) : Promise.resolve())

  /**
   * A wrap of `k` whose function has read 'old' and is held there: it names `group` late once
   * `done` runs. Resolves once the function runs (its read, and the token, are behind it).
   */
  const heldFill = async (cache: ReturnType<typeof backend.cache>, group: string) => {
    await cache.set('seed', 0, { groups: [group] }) // the group has a version
    const held = gate()
    let ran = 0
    const result = cache.wrap('k', async (ctx) => {
      ran++
      await held.opened
      ctx.groups.push(group)
      return 'old'
    })
    await until(() => ran === 1)
    return {
      done: () => {
        held.open()
        return result
      },
    }
  }

  it('are stored with the call’s groups: expiring either invalidates the value', async () => {
    const { cache, refused } = watched()
    await cache.expireGroup('product_7') // (a group with no version moves nothing)
    await cache.set('seed', 0, { groups: ['product_7', 'category_3'] }) // both groups now have versions
    const load = (v: number) => async (ctx: { groups: string[] }) => {
      ctx.groups.push('product_7', 'category_3')
      return { id: 7, v }
    }
    expect(await cache.wrap('p7', { groups: ['products'] }, load(1))).toEqual({ id: 7, v: 1 })
    expect(refused).toEqual([])
    expect(await cache.get('p7')).toEqual({ id: 7, v: 1 })
    expect(await cache.wrap('p7', { groups: ['products'] }, load(2))).toEqual({ id: 7, v: 1 })
    await cache.expireGroup('category_3')
    expect(await cache.get('p7')).toBeUndefined()
    expect(await cache.wrap('p7', { groups: ['products'] }, load(3))).toEqual({ id: 7, v: 3 })
    await cache.expireGroup('products')
    expect(await cache.get('p7')).toBeUndefined()
    expect(await cache.wrap('p7', load(4))).toEqual({ id: 7, v: 4 })
    await cache.expireGroup('product_7')
    expect(await cache.get('p7')).toBeUndefined()
  })

  it('refuse the fill when one of them is expired after the read began', async () => {
    const { cache, refused } = watched()
    const fill = await heldFill(cache, 'late')
    await cache.expireGroup('late')
    expect(await fill.done()).toBe('old')
    expect(refused).toEqual(['group-expired'])
    expect(await cache.get('k')).toBeUndefined()
    expect(await cache.wrap('k', () => 'new')).toBe('new')
  })

  it('a wrap that joined a refused fill of late groups reads anew instead of taking its value', async () => {
    // Two wraps in one process share a fill when their reads saw the same versions. A late group
    // is not among them: a wrap that began after the late group's invalidation must not get what
    // the shared fill read before it.
    const { cache, refused } = watched()
    const first = await heldFill(cache, 'late')
    await cache.expireGroup('late')
    let joinerRan = 0
    const second = cache.wrap('k', (ctx) => {
      joinerRan++
      ctx.groups.push('late')
      return 'new'
    })
    // the second wrap's read is done, and it waits on the first's fill
    await new Promise((resolve) => setTimeout(resolve, 50))
    expect(joinerRan).toBe(0)
    expect(await first.done()).toBe('old')
    expect(await second).toBe('new')
    expect(refused[0]).toBe('group-expired')
    expect(await cache.get('k')).toBe('new')
  })

  it('refuse the first fill that names a group with no version, and store the next', async () => {
    const { cache, refused } = watched()
    const load = (ctx: { groups: string[] }) => {
      ctx.groups.push('brand_new')
      return 'v'
    }
    expect(await cache.wrap('k', load)).toBe('v')
    expect(refused).toEqual(['group-unknown'])
    expect(await cache.get('k')).toBeUndefined()
    await pastTheWindow()
    expect(await cache.wrap('k', load)).toBe('v')
    expect(refused).toEqual(['group-unknown'])
    expect(await cache.get('k')).toBe('v')
  })

  if (backend.sharding === 'key')
    it("a late group moved shortly before the read: a store that reaches Redis late still stores, this process's clock bounding when the fill began", async () => {
      // The version's node and the key's do not share a clock (lua/store.lua): Redis's own bound
      // on how long before the stamp the read began grows with the store's delay, and alone would
      // refuse this fill as if the group had moved during it.
      const { cache, outage } = backend.failingCache()
      const refused: string[] = []
      cache.on('refused', ({ reason }) => refused.push(reason))
      await cache.set('seed', 0, { groups: ['g'] })
      await cache.expireGroup('g')
      await sleep(100)
      outage.start('slow', (command, args) => command === 'evalsha' && args[0] === spreadScripts.store.sha)
      const load = (ctx: { groups: string[] }) => {
        ctx.groups.push('g')
        return 'v'
      }
      expect(await cache.wrap('k', load)).toBe('v')
      outage.end()
      expect(outage.failed).toBe(1)
      expect(refused).toEqual([])
      expect(await cache.get('k')).toBe('v')
    })

  it('refuse the fill when a group with no version is expired and its version lost during it', async () => {
    // An invalidation of a group with no version moves nothing: only the refusal of a late group
    // with no version keeps what the function read before the invalidation out of the cache.
    const { cache, refused } = watched()
    const fill = await heldFill(cache, 'lost')
    await cache.expireGroup('lost')
    await backend.raw.del(backend.groupKey('lost'))
    await fill.done()
    expect(refused).toEqual(['group-unknown'])
    expect(await cache.get('k')).toBeUndefined()
  })

  it('a version moves to the Redis time, so a late group expired during a fill is later than its read', async () => {
    const cache = backend.cache()
    await cache.set('seed', 0, { groups: ['g'] })
    await backend.raw.set(backend.groupKey('g'), '1000', 'PX', 60_000)
    await cache.expireGroup('g')
    const moved = await backend.raw.get(backend.groupKey('g'))
    const [seconds] = (await backend.raw.time()) as unknown as [string, string]
    // within a minute of now, in µs, and its TTL kept
    expect(Math.abs(Number(moved) / 1e6 - Number(seconds))).toBeLessThan(60)
    expect(await backend.raw.pttl(backend.groupKey('g'))).toBeGreaterThan(50_000)
    // a version ahead of the clock moves by one
    const ahead = '9000000000000000'
    await backend.raw.set(backend.groupKey('g'), ahead)
    await cache.expireGroup('g')
    expect(await backend.raw.get(backend.groupKey('g'))).toBe('9000000000000001')
  })

  it('set with a token takes more groups than the read named, and checks them the same way', async () => {
    const { cache, refused } = watched()
    await cache.set('seed', 0, { groups: ['a', 'late'] })
    await pastTheWindow()
    const first = await cache.read('k', { groups: ['a'] })
    if (first.hit) throw new Error('expected a miss')
    expect(await cache.set('k', 'v1', { token: first.token, groups: ['a', 'late'] })).toBe(true)
    await cache.expireGroup('late')
    expect(await cache.get('k')).toBeUndefined()

    const second = await cache.read('k', { groups: ['a'] })
    if (second.hit) throw new Error('expected a miss')
    await cache.expireGroup('late')
    expect(await cache.set('k', 'v2', { token: second.token, groups: ['late', 'a'] })).toBe(false)
    expect(refused).toEqual(['group-expired'])

    const third = await cache.read('k', { groups: ['a'] })
    if (third.hit) throw new Error('expected a miss')
    await expect(cache.set('k', 'v3', { token: third.token, groups: ['late'] })).rejects.toThrow(
      /must include every group the token was read with \(missing "a"\)/,
    )
  })

  it('cached names groups from its result', async () => {
    const { cache, refused } = watched()
    await cache.set('seed', 0, { groups: ['brand_acme'] })
    await pastTheWindow()
    let calls = 0
    const load = cache.cached(
      async (id: number) => {
        calls++
        return { id, brand: 'acme' }
      },
      {
        key: (id) => `product_${id}`,
        groups: () => ['products'],
        resultGroups: (product) => [`brand_${product.brand}`],
      },
    )
    expect(await load(1)).toEqual({ id: 1, brand: 'acme' })
    expect(await load(1)).toEqual({ id: 1, brand: 'acme' })
    expect(calls, `refused: ${refused.join(', ')}`).toBe(1)
    await cache.expireGroup('brand_acme')
    await pastTheWindow()
    await load(1)
    expect(calls).toBe(2)
    expect(refused).toEqual([])
  })

  it('a bad late group rejects the call with InvalidArgumentError, and nothing is stored', async () => {
    const cache = backend.cache()
    await expect(
      cache.wrap('k', (ctx) => {
        ctx.groups.push('' as string)
        return 'v'
      }),
    ).rejects.toThrow(InvalidArgumentError)
    await expect(
      cache.wrap('k', (ctx) => {
        ctx.groups.push(42 as unknown as string)
        return 'v'
      }),
    ).rejects.toThrow(InvalidArgumentError)
    expect(() => cache.cached(async () => 1, { key: () => 'k', resultGroups: 'no' as never })).toThrow(
      InvalidArgumentError,
    )
    expect(await cache.get('k')).toBeUndefined()
    // the lease was released at once, as when a function throws: no fill waits on it
    const lease = backend.entryKey('k').replace(/:e:k$/, ':l:k')
    await until(async () => (await backend.raw.exists(lease)) === 0)
    expect(await cache.wrap('k', () => 'next')).toBe('next')
  })
})
