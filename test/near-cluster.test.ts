import { setTimeout as sleep } from 'node:timers/promises'
import calculateSlot from 'cluster-key-slot'
import { Cluster, Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { TcpProxy } from '../check/replication.js'
import { GroupCache } from '../src/index.js'
import { Keys, type Sharding } from '../src/keys.js'
import { randomNamespace } from './support/backends.js'
import { type RedisCluster, startCluster, startReplica } from './support/cluster.js'
import { until } from './support/gate.js'

/**
 * The near cache through an ioredis Cluster, on a 3-master cluster of this file's own, in both
 * shardings: it follows the namespace to its slot's master (or, under 'key', has a link to every
 * master), stays strict, and when a failover moves a slot it drops what it held, moves with it,
 * and holds values again.
 */

for (const sharding of ['namespace', 'key'] as const satisfies Sharding[])
  describe(`sharding '${sharding}'`, () => {
    // A cluster for each: a failover test leaves one master stopped, and a near cache under
    // 'key' is in sync only while every master is.
    let cluster: RedisCluster
    const clients: { disconnect(): void }[] = []
    const caches: GroupCache[] = []

    beforeAll(async () => {
      cluster = await startCluster(3)
    }, 60_000)

    afterAll(async () => {
      await Promise.all(caches.map((cache) => cache.close()))
      for (const client of clients) client.disconnect()
      await cluster?.stop()
    })

    function clusterClient(): Cluster {
      const client = new Cluster([...cluster.nodes], { redisOptions: { maxRetriesPerRequest: 1 } })
      client.on('error', () => {})
      clients.push(client)
      return client
    }

    const namespace = `ncl${randomNamespace()}`
    const slot = calculateSlot(new Keys('rgc', namespace, sharding).entry('k'))

    async function open(near: boolean): Promise<GroupCache> {
      const cache = new GroupCache({
        redis: clusterClient(),
        namespace,
        sharding,
        ...(near ? { nearCache: { maxEntries: 100 } } : {}),
      })
      cache.on('error', () => {})
      caches.push(cache)
      if (near) await until(() => cache.nearCacheStats()?.inSync === true)
      return cache
    }

    async function hold(cache: GroupCache, key: string): Promise<void> {
      await until(async () => {
        await cache.get(key)
        return (cache.nearCacheStats()?.held ?? 0) > 0
      })
    }

    /** The URL of the master serving a slot now: by default the entry of `k`'s (under 'namespace', every key's). */
    async function masterOfSlot(of = slot): Promise<string> {
      const admin = new Redis(cluster.nodes[0] as string)
      try {
        const ranges = (await admin.cluster('SLOTS')) as unknown as [number, number, [string, number]][]
        const range = ranges.find(([from, to]) => of >= from && of <= to)
        if (!range) throw new Error(`no master serves slot ${of}`)
        return `redis://127.0.0.1:${range[2][1]}`
      } finally {
        admin.disconnect()
      }
    }

    it('serves from memory through a Cluster, strictly: an invalidation by another cache is never missed', async () => {
      const near = await open(true)
      const fleet = await open(false)
      await fleet.set('k', 'v1', { groups: ['g'] })
      await hold(near, 'k')
      const hits = near.nearCacheStats()?.hits ?? 0
      expect(await near.get('k')).toBe('v1')
      expect(near.nearCacheStats()?.hits).toBe(hits + 1)
      await fleet.expireGroup('g')
      expect(await near.get('k')).toBeUndefined()
    })

    if (sharding === 'key') {
      it('an entry whose groups live on every master: an invalidation of any one reaches the near cache (a link to each master)', async () => {
        const near = await open(true)
        const fleet = await open(false)
        const keys = new Keys('rgc', namespace, sharding)
        // a group on each master, found by its version key's slot
        const groups: string[] = []
        const seen = new Set<string>()
        for (let i = 0; seen.size < 3; i++) {
          const master = await masterOfSlot(calculateSlot(keys.group(`g${i}`)))
          if (seen.has(master)) continue
          seen.add(master)
          groups.push(`g${i}`)
        }
        for (const group of groups) {
          await fleet.set('k', group, { groups })
          await hold(near, 'k')
          const hits = near.nearCacheStats()?.hits ?? 0
          expect(await near.get('k')).toBe(group)
          expect(near.nearCacheStats()?.hits).toBe(hits + 1)
          await fleet.expireGroup(group)
          expect(await near.get('k')).toBeUndefined()
        }
      })

      it("strict across masters: an invalidation whose message is late on one master's feed is waited for (a sync point is a PING on every master's feed)", async () => {
        const fleet = await open(false)
        const keys = new Keys('rgc', namespace, sharding)
        // a group whose version lives on another master than k's entry
        const entryMaster = await masterOfSlot()
        let group = ''
        for (let i = 0; group === ''; i++) {
          if ((await masterOfSlot(calculateSlot(keys.group(`late${i}`)))) !== entryMaster) group = `late${i}`
        }
        const groupPort = Number(new URL(await masterOfSlot(calculateSlot(keys.group(group)))).port)
        // This process reaches the group's master through a proxy that delays each way by 150 ms.
        const proxy = new TcpProxy(groupPort, 150)
        await proxy.listen()
        const client = new Cluster([...cluster.nodes], {
          natMap: { [`127.0.0.1:${groupPort}`]: { host: '127.0.0.1', port: proxy.port } },
          redisOptions: { maxRetriesPerRequest: 1 },
        })
        client.on('error', () => {})
        clients.push(client)
        const near = new GroupCache({ redis: client, namespace, sharding, nearCache: { maxEntries: 100 } })
        near.on('error', () => {})
        caches.push(near)
        try {
          await until(() => near.nearCacheStats()?.inSync === true)
          for (let round = 0; round < 3; round++) {
            await fleet.set('k', `v${round}`, { groups: [group] })
            await hold(near, 'k')
            await fleet.expireGroup(group)
            // resolved: the message is on its way to this process, 150 ms late
            expect(await near.get('k')).toBeUndefined()
          }
        } finally {
          await near.close()
          await proxy.close()
        }
      }, 30_000)

      it('a slot migrating to another master: the held entry goes (its old master deletes it), and is held again from the new one, strictly', async () => {
        const near = await open(true)
        const fleet = await open(false)
        await fleet.set('k', 'v1', { groups: ['g'] })
        await hold(near, 'k')
        const from = await masterOfSlot()
        const to = cluster.nodes.find((url) => url !== from) as string
        await moveSlot(slot, from, to)
        expect(await masterOfSlot()).toBe(to)
        await until(() => near.nearCacheStats()?.held === 0)
        expect(await near.get('k')).toBe('v1')
        await until(async () => {
          try {
            await fleet.set('k', 'v2', { groups: ['g'] })
            return true
          } catch {
            return false // until the fleet's Cluster client follows the move
          }
        })
        expect(await near.get('k')).toBe('v2')
        await hold(near, 'k')
        await fleet.expireGroup('g')
        expect(await near.get('k')).toBeUndefined()
      }, 30_000)
    }

    // Last: it leaves a master stopped (a replica of its old master now).
    it('a failover that moves the namespace: nothing held is served from the demoted node, and the near cache moves to the new master', async () => {
      const before = await masterOfSlot()
      const replica = await startReplica(before)
      try {
        const near = await open(true)
        const fleet = await open(false)
        await fleet.set('k', 'old', { groups: ['g'] })
        await hold(near, 'k')

        // The replica takes over: the old master keeps its connections, as a replica now.
        await failOverTo(replica.url)
        // The demoted node still answers the near cache's PINGs, but writes now land elsewhere and
        // reach it only by replication, later: the first sync point sees it serve no more, drops
        // everything, and the read goes to Redis.
        await sleep(150) // a sync point checks the node at most every 100 ms (src/near-link.ts)
        const hits = near.nearCacheStats()?.hits
        expect(await near.get('k')).toBe('old')
        expect(near.nearCacheStats()).toMatchObject({ held: 0, hits })

        await until(async () => {
          try {
            await fleet.expireGroup('g')
            return true
          } catch {
            return false // until the fleet's Cluster client follows the move
          }
        })
        expect(await near.get('k')).toBeUndefined()
        await fleet.set('k', 'new', { groups: ['g'] })
        await until(async () => (await near.get('k')) === 'new')
        // held again, from the new master, and served strictly
        await hold(near, 'k')
        await fleet.expireGroup('g')
        expect(await near.get('k')).toBeUndefined()
      } finally {
        await replica.stop()
      }
    }, 60_000)

    /**
     * A manual failover to the replica at `url`, asked again until the cluster serves the slot from
     * it: Redis gives one up after 5 s without the master's offset or a majority of votes, which a
     * loaded machine can take, and the wait for the promotion would then never end (one CI run).
     */
    async function failOverTo(url: string): Promise<void> {
      const promoted = new Redis(url)
      try {
        for (let attempt = 1; attempt <= 5; attempt++) {
          // refused once the node is a master already (promoted, not yet seen so by the node asked)
          await promoted.cluster('FAILOVER').catch(() => {})
          const deadline = Date.now() + 8000
          while (Date.now() < deadline) {
            if ((await masterOfSlot()) === url) return
            await sleep(20)
          }
        }
        throw new Error(`${url} did not serve slot ${slot} after 5 manual failovers of 8 s each`)
      } finally {
        promoted.disconnect()
      }
    }

    /** Moves one slot and its keys between two masters, as `redis-cli --cluster reshard` does. */
    async function moveSlot(moved: number, fromUrl: string, toUrl: string): Promise<void> {
      const admins = cluster.nodes.map((url) => new Redis(url))
      const source = new Redis(fromUrl)
      const target = new Redis(toUrl)
      try {
        const sourceId = String(await source.cluster('MYID'))
        const targetId = String(await target.cluster('MYID'))
        await target.call('CLUSTER', 'SETSLOT', moved, 'IMPORTING', sourceId)
        await source.call('CLUSTER', 'SETSLOT', moved, 'MIGRATING', targetId)
        for (;;) {
          const names = (await source.call('CLUSTER', 'GETKEYSINSLOT', moved, 100)) as string[]
          if (names.length === 0) break
          await source.call('MIGRATE', '127.0.0.1', Number(new URL(toUrl).port), '', 0, 5000, 'KEYS', ...names)
        }
        for (const admin of admins) await admin.call('CLUSTER', 'SETSLOT', moved, 'NODE', targetId)
      } finally {
        for (const client of [...admins, source, target]) client.disconnect()
      }
    }
  })
