import calculateSlot from 'cluster-key-slot'
import type { Cluster, Redis } from 'ioredis'
import { afterAll, beforeEach, expect, it } from 'vitest'
import { GroupCache } from '../src/index.js'
import { onBackend, randomNamespace } from './support/backends.js'

/**
 * The [cluster] backend's cluster, and a cache on an ioredis Cluster in a namespace on each of
 * its masters: each namespace's keys live in its `{ns}` slot, on the master that owns it.
 */
onBackend('cluster', 'the cluster backend', (backend) => {
  let cluster: Cluster
  let masters: Redis[]

  // Before each test: a failing beforeAll would report the tests as skipped, not failed.
  beforeEach(async () => {
    cluster = backend.client as Cluster
    await cluster.ping()
    masters = cluster.nodes('master')
  })

  afterAll(async () => {
    // this file's namespaces: no other test's (t + hex digits) starts with `tcl`
    for (const node of masters ?? []) {
      const names = [...(await node.keys('rgc:{tcluster*}:*')), ...(await node.keys('rgc:<tcluster*>:*'))]
      for (const name of names) await node.del(name)
    }
  })

  it('has 3 masters that serve every slot, each with a replica in sync (one a cluster this run started)', async () => {
    expect(masters).toHaveLength(3)
    const ranges = await cluster.cluster('SLOTS')
    expect(ranges.reduce((sum, [from, to]) => sum + to - from + 1, 0)).toBe(16_384)
    if (process.env.REDIS_CLUSTER_URL) return
    for (const master of masters) expect(await master.info('replication')).toMatch(/connected_slaves:1\b/)
  })

  it('a cache in a namespace on each master: every method works, and its keys are on that master', async () => {
    const ranges = await cluster.cluster('SLOTS')
    const owner = (slot: number) => {
      const range = ranges.find(([from, to]) => from <= slot && slot <= to)
      return range?.[2] && `${range[2][0]}:${range[2][1]}`
    }
    const byOwner = new Map<string, string>()
    while (byOwner.size < masters.length) {
      const namespace = `tcluster${randomNamespace()}`
      const node = owner(calculateSlot(`{${namespace}}`)) as string
      if (!byOwner.has(node)) byOwner.set(node, namespace)
    }
    for (const [node, namespace] of byOwner) {
      const cache = new GroupCache({ redis: cluster, namespace })
      try {
        expect(await cache.set('k', 'v', { groups: ['g', 'h'], ttl: 60_000 })).toBe(true)
        expect(await cache.set('l', 'w', { groups: ['h'] })).toBe(true)
        expect(await cache.get('k')).toBe('v')
        expect(await cache.getMany(['k', 'l', 'none'])).toEqual(['v', 'w', undefined])
        await cache.expireGroup('g')
        expect(await cache.getMany(['k', 'l'])).toEqual([undefined, 'w'])
        expect(await cache.wrap('k', { groups: ['g'] }, () => 'again')).toBe('again')
        expect(await cache.delete('l')).toBe(true)
        await cache.expireGroups(['g', 'h'])
        expect(await cache.getMany(['k', 'l'])).toEqual([undefined, undefined])

        // Every key of the cluster whose name holds the namespace is on the master of its slot,
        // under the namespace's prefix; no other master holds one.
        const key = (kind: string, name: string) => `rgc:{${namespace}}:${kind}:${name}`
        const onNode = masters.find((master) => `${master.options.host}:${master.options.port}` === node) as Redis
        const written = (await onNode.keys(`rgc:{${namespace}}:*`)).sort()
        expect(written).toEqual(expect.arrayContaining([key('g', 'g'), key('g', 'h'), key('t', 'k'), key('t', 'l')]))
        for (const master of masters) {
          const names = (await master.keys(`*${namespace}*`)).sort()
          expect(names, `${master.options.host}:${master.options.port}`).toEqual(master === onNode ? written : [])
        }
      } finally {
        await cache.close()
      }
    }
  })

  it("sharding 'key': 3,000 entries of one namespace spread over the 3 masters, and every method works across them", async () => {
    const namespace = `tcluster${randomNamespace()}`
    // each set is a few scripts on several nodes: 3,000 at once take longer than the default 1 s on a shared machine
    const cache = new GroupCache({ redis: cluster, namespace, sharding: 'key', timeout: 30_000 })
    try {
      for (let from = 0; from < 3000; from += 500) {
        await cache.setMany(
          Array.from({ length: 500 }, (_, n) => {
            const i = from + n
            return { key: `user_${i}`, value: i, groups: [`team_${i % 10}`, 'users'] }
          }),
        )
      }
      const entries = await Promise.all(
        masters.map(async (master) => (await master.keys(`rgc:<${namespace}>:e{*`)).length),
      )
      // each master holds about a third (its share of the slots), none all of them
      expect(entries.reduce((a, b) => a + b, 0)).toBe(3000)
      for (const count of entries) expect(count).toBeGreaterThan(700)
      expect(await cache.getMany(['user_0', 'user_1', 'user_2'])).toEqual([0, 1, 2])
      await cache.expireGroup('team_1')
      expect(await cache.getMany(['user_1', 'user_11', 'user_2'])).toEqual([undefined, undefined, 2])
      expect(await cache.wrap('user_1', { groups: ['team_1', 'users'] }, () => 'again')).toBe('again')
      expect(await cache.deleteMany(['user_2', 'user_3', 'none'])).toBe(2)
      await cache.expireGroups(['team_4', 'users'])
      expect(await cache.getMany(['user_1', 'user_4', 'user_5'])).toEqual([undefined, undefined, undefined])
      const miss = await cache.read('user_6', { groups: ['users'] })
      if (miss.hit) throw new Error('expected a miss')
      expect(await cache.set('user_6', 'six', { token: miss.token })).toBe(true)
      expect(await cache.get('user_6')).toBe('six')
      expect(await cache.clear()).toBeGreaterThan(3000)
      for (const master of masters) expect(await master.keys(`rgc:<${namespace}>:*`)).toEqual([])
    } finally {
      await cache.close()
    }
  })
})
