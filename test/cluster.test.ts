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
      const names = await node.keys('rgc:{tcluster*}:*')
      for (const name of names) await node.del(name)
    }
  })

  it('has 3 masters that serve every slot', async () => {
    expect(masters).toHaveLength(3)
    const ranges = await cluster.cluster('SLOTS')
    expect(ranges.reduce((sum, [from, to]) => sum + to - from + 1, 0)).toBe(16_384)
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
})
