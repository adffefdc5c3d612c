import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { GroupCache } from '../src/index.js'
import { randomNamespace } from './support/backends.js'

/**
 * Counts the commands a cache's own connection sends, as the server sees them (MONITOR),
 * so that "one round trip" is measured on the wire rather than inferred from the code.
 */
describe('one command on the wire per call [redis]', () => {
  const url = inject('redisUrl')
  const client = new Redis(url)
  const cache = new GroupCache({ redis: client, namespace: randomNamespace() })
  let monitor: Redis
  let address = ''
  const seen: string[][] = []

  beforeAll(async () => {
    // warm up: every script loaded, so no NOSCRIPT fallback is counted
    await cache.set('warm', 1, { groups: ['g'] })
    await cache.getMany(['warm', 'never'])
    await cache.get('never')
    const miss = await cache.read('cold', { groups: ['g'] })
    if (!miss.hit) await cache.set('cold', 1, { token: miss.token })
    await cache.delete('warm')
    await cache.expireGroups(['none'])
    const info = String(await client.client('INFO'))
    address = /(?:^| )addr=(\S+)/.exec(info)?.[1] ?? ''
    monitor = await new Redis(url).monitor()
    monitor.on('monitor', (_time: string, args: string[], source: string) => {
      if (source === address) seen.push(args)
    })
  })

  afterAll(async () => {
    monitor?.disconnect()
    await cache.close()
    client.disconnect()
  })

  let marks = 0
  /** Sends a marker on the cache's connection and waits until MONITOR has shown it. */
  async function mark(): Promise<string> {
    const marker = `mark-${marks++}`
    await client.echo(marker)
    await expect.poll(() => seen.some((args) => args[1] === marker)).toBe(true)
    return marker
  }

  async function commandsOf(act: () => Promise<unknown>): Promise<string[]> {
    // Markers from the same connection bound the call's commands on the wire: whatever came
    // before the first (the previous step's commands) is dropped.
    const start = await mark()
    await act()
    const end = await mark()
    const from = seen.findIndex((args) => args[1] === start)
    const to = seen.findIndex((args) => args[1] === end)
    return seen.slice(from + 1, to).map((args) => String(args[0]).toLowerCase())
  }

  it('finds the cache’s connection on the server', () => {
    expect(address).toMatch(/:\d+$/)
  })

  it.each([
    ['get of a key this process has not seen', () => cache.get('k'), ['evalsha']],
    [
      'getMany of 100 keys it has not seen',
      () => cache.getMany(Array.from({ length: 100 }, (_, i) => `k${i}`)),
      ['evalsha'],
    ],
    ['set with 3 groups', () => cache.set('k', { a: 1 }, { groups: ['a', 'b', 'c'], ttl: 60_000 }), ['evalsha']],
    ['get hit with 3 groups of a key it stored', () => cache.get('k'), ['mget']],
    ['read', () => cache.read('k2', { groups: ['a', 'b'] }), ['evalsha']],
    ['delete', () => cache.delete('k'), ['evalsha']],
    ['expireGroup', () => cache.expireGroup('a'), ['evalsha']],
    ['expireGroups of 50 groups', () => cache.expireGroups(Array.from({ length: 50 }, (_, i) => `g${i}`)), ['evalsha']],
  ])('%s', async (_, act, commands) => {
    expect(await commandsOf(act)).toEqual(commands)
  })

  it('a key another cache stored: the first get runs the script, the next is one MGET', async () => {
    const other = new GroupCache({ redis: url, namespace: cache.namespace })
    await other.set('theirs', 1, { groups: ['a', 'b'] })
    await other.close()
    expect(await commandsOf(() => cache.get('theirs'))).toEqual(['evalsha'])
    expect(await commandsOf(() => cache.get('theirs'))).toEqual(['mget'])
  })

  it('getMany of 100 keys it stored is one MGET', async () => {
    const keys = Array.from({ length: 100 }, (_, i) => `many${i}`)
    for (const [i, key] of keys.entries()) await cache.set(key, i, { groups: [`own${i}`, 'shared'] })
    expect(await commandsOf(() => cache.getMany(keys))).toEqual(['mget'])
  })

  it('gets of keys it stored made at once: the first is one MGET, the rest share one (at most 100 a time)', async () => {
    const keys = Array.from({ length: 151 }, (_, i) => `together${i}`)
    for (const [i, key] of keys.entries()) await cache.set(key, i, { groups: [`own${i}`, 'shared'] })
    expect(await commandsOf(() => Promise.all(keys.slice(0, 20).map((key) => cache.get(key))))).toEqual([
      'mget',
      'mget',
    ])
    const start = seen.length
    expect(await commandsOf(() => Promise.all(keys.map((key) => cache.get(key))))).toEqual(['mget', 'mget', 'mget'])
    // the first alone (its entry and 2 versions); then 100 entries and their 101 versions, each once; then 50 and 51
    expect(
      seen
        .slice(start)
        .filter((args) => args[0] === 'mget')
        .map((args) => args.length - 1),
    ).toEqual([3, 201, 101])
  })

  it('wrap hits of keys it stored made at once: the first is one MGET, the rest share one', async () => {
    const keys = Array.from({ length: 20 }, (_, i) => `wrapped${i}`)
    for (const [i, key] of keys.entries()) await cache.set(key, i, { groups: [`own${i}`, 'shared'] })
    const wraps = () =>
      Promise.all(keys.map((key, i) => cache.wrap(key, { groups: [`own${i}`, 'shared'] }, () => 'not called')))
    expect(await commandsOf(wraps)).toEqual(['mget', 'mget'])
    expect(await wraps()).toEqual(keys.map((_, i) => i))
  })

  it('a stale entry: the MGET sees it, and the script deletes it', async () => {
    await cache.set('stale', 1, { groups: ['s'] })
    await cache.expireGroup('s')
    expect(await commandsOf(() => cache.get('stale'))).toEqual(['mget', 'evalsha'])
    expect(await client.exists(`rgc:{${cache.namespace}}:e:stale`)).toBe(0)
  })

  it('wrap: a miss is a read and a set; a hit, one script read, then one MGET; a miss after an invalidation, three', async () => {
    const wrap = () => cache.wrap('w', { groups: ['a'] }, () => 1)
    expect(await commandsOf(wrap)).toEqual(['evalsha', 'evalsha'])
    // A key this process just filled is read by the script first: under frequent invalidation
    // its next read is likely stale too. A hit there makes the MGET worth trying.
    expect(await commandsOf(wrap)).toEqual(['evalsha'])
    expect(await commandsOf(wrap)).toEqual(['mget'])
    await cache.expireGroup('a')
    expect(await commandsOf(wrap)).toEqual(['mget', 'evalsha', 'evalsha'])
    expect(await commandsOf(wrap)).toEqual(['evalsha'])
  })
})
