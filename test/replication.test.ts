import { setTimeout as sleep } from 'node:timers/promises'
import calculateSlot from 'cluster-key-slot'
import { Cluster, Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { GroupCache, GroupCacheError, InvalidArgumentError, ReplicationError } from '../src/index.js'
import { groupKey, randomNamespace } from './support/backends.js'
import { type RedisCluster, startCluster } from './support/cluster.js'
import { type RedisServer, startRedisServer } from './support/redis-server.js'

/** waitForReplicas: invalidations resolve only once a replica has them (Redis WAIT). */
describe('waitForReplicas [redis primary and replica]', () => {
  let primary: RedisServer
  let replica: RedisServer
  let replicaClient: Redis
  let primaryClient: Redis
  const caches: GroupCache[] = []

  beforeAll(async () => {
    primary = await startRedisServer()
    replica = await startRedisServer(['--replicaof', '127.0.0.1', String(primary.port)])
    replicaClient = new Redis(replica.url)
    primaryClient = new Redis(primary.url)
    for (let i = 0; i < 200; i++) {
      if ((await replicaClient.info('replication')).includes('master_link_status:up')) return
      await sleep(50)
    }
    throw new Error('the replica did not connect to the primary')
  })

  afterAll(async () => {
    replica?.resume()
    await Promise.all(caches.map((cache) => cache.close()))
    replicaClient?.disconnect()
    primaryClient?.disconnect()
    await replica?.stop()
    await primary?.stop()
  })

  function cache(replicas: number, timeout = 2000): GroupCache {
    const made = new GroupCache({
      redis: primary.url,
      namespace: randomNamespace(),
      waitForReplicas: { replicas, timeout },
    })
    caches.push(made)
    return made
  }

  it('an invalidation that resolved is already on the replica', async () => {
    const c = cache(1)
    await c.set('k', 1, { groups: ['g'] })
    for (let i = 0; i < 20; i++) {
      await c.expireGroup('g')
      const [onPrimary, onReplica] = await Promise.all([
        primaryClient.get(groupKey(c.namespace, 'g')),
        replicaClient.get(groupKey(c.namespace, 'g')),
      ])
      expect(onReplica).toBe(onPrimary)
    }
    expect(await c.delete('k')).toBe(false)
  })

  it('rejects with ReplicationError when the replica does not acknowledge in time', async () => {
    const c = cache(1, 200)
    await c.set('k', 1, { groups: ['g'] })
    replica.pause()
    try {
      const error = await c.expireGroup('g').then(
        () => undefined,
        (failure: unknown) => failure,
      )
      expect(error).toBeInstanceOf(ReplicationError)
      expect((error as ReplicationError).code).toBe('E_REPLICATION')
      expect((error as ReplicationError).acknowledged).toBe(0)
      // the primary applied it: readers of the primary already miss
      expect(await c.get('k')).toBeUndefined()
    } finally {
      replica.resume()
    }
  })

  it('rejects when the connection was replaced while WAIT was pending (WAIT then speaks for nothing)', async () => {
    const client = new Redis(primary.url)
    const c = new GroupCache({
      redis: client,
      namespace: randomNamespace(),
      waitForReplicas: { replicas: 1, timeout: 3000 },
    })
    caches.push(c)
    try {
      await c.set('k', 1, { groups: ['g'] })
      const id = await client.client('ID')
      replica.pause() // WAIT now blocks
      const expiring = c.expireGroup('g').then(
        () => undefined,
        (failure: unknown) => failure,
      )
      await sleep(200)
      await primaryClient.client('KILL', 'ID', String(id)) // ioredis reconnects and resends WAIT
      await sleep(200)
      replica.resume() // the resent WAIT is acknowledged on the new connection
      const error = await expiring
      expect(error).toBeInstanceOf(ReplicationError)
      expect((error as ReplicationError).code).toBe('E_REPLICATION')
    } finally {
      replica.resume()
      await c.close()
      client.disconnect()
    }
  })

  it('asking for more replicas than exist rejects', async () => {
    await expect(cache(2, 100).expireGroups(['g'])).rejects.toBeInstanceOf(ReplicationError)
  })

  it('is refused where WAIT cannot work: the in-memory backend, a non-integer count', () => {
    expect(() => new GroupCache({ redis: 'memory', waitForReplicas: { replicas: 1, timeout: 100 } })).toThrow(
      InvalidArgumentError,
    )
    expect(() => new GroupCache({ redis: primary.url, waitForReplicas: { replicas: 0.5, timeout: 100 } })).toThrow(
      InvalidArgumentError,
    )
  })
})

/**
 * waitForReplicas on a Cluster: each invalidation waits on every master it wrote on, over the
 * Cluster's own connection to it. Each master has one replica; a paused replica stalls only the
 * invalidations of its master's slots.
 */
describe('waitForReplicas [cluster, 3 masters with a replica each]', () => {
  let cluster: RedisCluster
  const replicas: RedisServer[] = []
  const caches: GroupCache[] = []
  const clients: Cluster[] = []
  const SLOTS = 16_384

  beforeAll(async () => {
    cluster = await startCluster(3)
    for (const url of cluster.nodes) replicas.push(await cluster.addReplica(url))
  }, 60_000)

  afterAll(async () => {
    for (const replica of replicas) replica.resume()
    await Promise.all(caches.map((cache) => cache.close()))
    for (const client of clients) client.disconnect()
    await cluster?.stop()
  })

  function cache(sharding: 'namespace' | 'key', timeout = 2000): GroupCache {
    const client = new Cluster([...cluster.nodes])
    clients.push(client)
    const made = new GroupCache({
      redis: client,
      namespace: randomNamespace(),
      sharding,
      waitForReplicas: { replicas: 1, timeout },
    })
    caches.push(made)
    return made
  }

  /** Which master (by the order startCluster split the slots in) serves a Redis key's slot. */
  const masterOf = (name: string) => Math.floor(((calculateSlot(name) + 1) * 3 - 1) / SLOTS)
  /** `count` group names whose versions live on master `master`, under `sharding` of `namespace`. */
  const groupsOn = (namespace: string, sharding: 'namespace' | 'key', master: number, count: number) => {
    const found: string[] = []
    for (let i = 0; found.length < count; i++) {
      if (masterOf(groupKey(namespace, `g${i}`, sharding)) === master) found.push(`g${i}`)
    }
    return found
  }

  it("with sharding 'key', an invalidation that resolved is on the replica of every master it wrote on", async () => {
    const c = cache('key')
    const groups = [0, 1, 2].flatMap((master) => groupsOn(c.namespace, 'key', master, 2))
    await c.set('k', 1, { groups })
    const readers = replicas.map((replica) => new Redis(replica.url))
    try {
      await Promise.all(readers.map((reader) => reader.readonly()))
      for (let round = 0; round < 5; round++) {
        await c.expireGroups(groups)
        for (const group of groups) {
          const name = groupKey(c.namespace, group, 'key')
          const reader = readers[masterOf(name)] as Redis
          const onMaster = await (clients.at(-1) as Cluster).get(name)
          expect(await reader.get(name)).toBe(onMaster)
        }
      }
    } finally {
      for (const reader of readers) reader.disconnect()
    }
    expect(await c.get('k')).toBeUndefined()
  })

  it("one master's replica does not acknowledge: its invalidations reject with ReplicationError, the other masters' resolve", async () => {
    const c = cache('key', 200)
    const [stalled] = groupsOn(c.namespace, 'key', 0, 1)
    const [other] = groupsOn(c.namespace, 'key', 1, 1)
    await c.set('k', 1, { groups: [stalled as string, other as string] })
    ;(replicas[0] as RedisServer).pause()
    try {
      const error = await c.expireGroups([stalled as string, other as string]).then(
        () => undefined,
        (failure: unknown) => failure,
      )
      expect(error).toBeInstanceOf(ReplicationError)
      expect((error as ReplicationError).acknowledged).toBe(0)
      await c.expireGroup(other as string)
      // the master applied it: readers already miss
      expect(await c.get('k')).toBeUndefined()
    } finally {
      ;(replicas[0] as RedisServer).resume()
    }
  })

  it('the connection to a master is replaced while its WAIT is pending: the invalidation rejects, never resolves', async () => {
    // ioredis's Cluster rejects the pending WAIT itself (E_REDIS); should it resend it on the new
    // connection instead, the cache's check of the connection rejects (E_REPLICATION).
    const c = cache('key', 3000)
    const [group] = groupsOn(c.namespace, 'key', 0, 1)
    await c.set('k', 1, { groups: [group as string] })
    const admin = new Redis(cluster.nodes[0] as string)
    const replica = replicas[0] as RedisServer
    replica.pause() // WAIT now blocks
    try {
      const expiring = c.expireGroup(group as string).then(
        () => 'resolved',
        (failure: unknown) => failure,
      )
      await sleep(200)
      await admin.client('KILL', 'SKIPME', 'yes', 'TYPE', 'normal')
      await sleep(200)
      replica.resume()
      const error = await expiring
      expect(error).toBeInstanceOf(GroupCacheError)
      expect(['E_REPLICATION', 'E_REDIS']).toContain((error as GroupCacheError).code)
    } finally {
      replica.resume()
      admin.disconnect()
    }
  })

  it("with sharding 'namespace', the namespace's master is the one waited on", async () => {
    const c = cache('namespace', 200)
    await c.set('k', 1, { groups: ['g'] })
    const master = masterOf(groupKey(c.namespace, 'g'))
    await c.expireGroup('g')
    const paused = replicas[master] as RedisServer
    paused.pause()
    try {
      await expect(c.delete('k')).rejects.toBeInstanceOf(ReplicationError)
    } finally {
      paused.resume()
    }
    await c.expireGroup('g')
  })
})
