import { setTimeout as sleep } from 'node:timers/promises'
import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { GroupCache, InvalidArgumentError, ReplicationError } from '../src/index.js'
import { groupKey, randomNamespace } from './support/backends.js'
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
