import { setTimeout as sleep } from 'node:timers/promises'
import calculateSlot from 'cluster-key-slot'
import { Cluster, Redis } from 'ioredis'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { GroupCache } from '../src/index.js'
import { randomNamespace } from './support/backends.js'
import { type RedisCluster, startCluster, startReplica } from './support/cluster.js'
import { until } from './support/gate.js'

/**
 * The near cache through an ioredis Cluster, on a 3-master cluster of this file's own: it follows
 * the namespace to its slot's master, stays strict, and when a failover moves the slot it drops
 * what it held, moves with it, and holds values again.
 */

let cluster: RedisCluster
const namespace = `ncl${randomNamespace()}`
const slot = calculateSlot(`rgc:{${namespace}}:probe`)
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

async function open(near: boolean): Promise<GroupCache> {
  const cache = new GroupCache({
    redis: clusterClient(),
    namespace,
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

/** The URL of the master serving the namespace's slot now. */
async function masterOfSlot(): Promise<string> {
  const admin = new Redis(cluster.nodes[0] as string)
  try {
    const ranges = (await admin.cluster('SLOTS')) as unknown as [number, number, [string, number]][]
    const range = ranges.find(([from, to]) => slot >= from && slot <= to)
    if (!range) throw new Error(`no master serves slot ${slot}`)
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

it('a failover that moves the namespace: nothing held is served from the demoted node, and the near cache moves to the new master', async () => {
  const before = await masterOfSlot()
  const replica = await startReplica(before)
  try {
    const near = await open(true)
    const fleet = await open(false)
    await fleet.set('k', 'old', { groups: ['g'] })
    await hold(near, 'k')

    // The replica takes over: the old master keeps its connections, as a replica now.
    const promoted = new Redis(replica.url)
    await promoted.cluster('FAILOVER')
    promoted.disconnect()
    await until(async () => (await masterOfSlot()) === replica.url)
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
