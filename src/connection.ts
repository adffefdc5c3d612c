import calculateSlot from 'cluster-key-slot'
import { type Cluster, Redis } from 'ioredis'
import type { CacheClient } from './commands.js'
import { InvalidArgumentError } from './errors.js'
import type { Keys } from './keys.js'
import { memoryClient } from './memory.js'
import { isMaster, isMoved, NearLink, type NearSource, type OpenLinks } from './near-link.js'
import { SpreadLinks } from './near-links.js'

/**
 * Where the cache keeps its data: an ioredis `Redis` or `Cluster` (the caller owns it), a
 * `redis://` or `rediss://` URL (the cache opens the connection and `close()` quits it), or
 * `'memory'` (ioredis-mock in this process, running the same Lua; every `'memory'` cache of a
 * process shares one store).
 */
export type RedisOption = CacheClient | string

export interface Connection {
  readonly client: CacheClient
  /**
   * Quits the connection if the cache opened it, dropping it after `timeout` ms if Redis does
   * not answer (a paused server would hold QUIT forever); leaves a caller's client alone.
   */
  close(timeout: number): Promise<void>
}

/** A `redis://` or `rediss://` URL: what a cache and the command take as a server's address. */
export function isRedisUrl(text: string): boolean {
  return /^rediss?:\/\//.test(text)
}

export function connect(redis: unknown, onError: (error: unknown) => void): Connection {
  if (redis === 'memory') return owned(memoryClient(), onError)
  if (typeof redis === 'string') {
    if (!isRedisUrl(redis)) {
      throw new InvalidArgumentError("redis must be an ioredis client, a redis:// or rediss:// URL, or 'memory'")
    }
    // One retry per command: during an outage, calls fail (and reads fail open) instead of
    // waiting in the offline queue for every reconnection attempt.
    return owned(new Redis(redis, { maxRetriesPerRequest: 1 }), onError)
  }
  if (isCacheClient(redis)) return { client: redis, close: async () => {} }
  throw new InvalidArgumentError("redis must be an ioredis client, a redis:// or rediss:// URL, or 'memory'")
}

/**
 * Where the near cache's connections go (src/near-link.ts). A standalone Redis: a duplicate of the
 * caller's client, or the URL again, whose node must be a master (ROLE). A Cluster: the master
 * of the namespace's slot (CLUSTER SLOTS), with the Cluster's connection options, which serves
 * the slot as long as a key of it reads without MOVED; under sharding 'key', every master
 * (src/near-links.ts). The in-memory backend has no client tracking: refused.
 */
export function nearLinks(redis: unknown, keys: Keys): OpenLinks {
  if (redis === 'memory') {
    throw new InvalidArgumentError(
      "nearCache needs a Redis server: it learns of invalidations by Redis's client tracking, which the in-memory backend lacks (and its data is in this process already)",
    )
  }
  const one =
    (source: NearSource): OpenLinks =>
    (holder, timeout, report) =>
      new NearLink(source, timeout, holder, report)
  if (typeof redis === 'string') {
    return one({ open: (options) => new Redis(redis, options), locate: async () => undefined, serves: isMaster })
  }
  const client = redis as Partial<Redis> & { isCluster?: boolean }
  if (client.isCluster === true) {
    const cluster = redis as Cluster
    if (keys.spread) return (holder, timeout, report) => new SpreadLinks(cluster, holder, timeout, report)
    return one(clusterSource(cluster, keys))
  }
  if (typeof client.duplicate !== 'function') {
    throw new InvalidArgumentError('nearCache needs an ioredis Redis or Cluster, or a redis:// URL')
  }
  return one({
    open: (options) => (client as Redis).duplicate(options),
    locate: async () => undefined,
    serves: isMaster,
  })
}

function clusterSource(cluster: Cluster, keys: Keys): NearSource {
  const probe = keys.probe
  const slot = calculateSlot(probe)
  return {
    open: (options, node) => new Redis({ ...cluster.options.redisOptions, ...options, ...node }),
    async locate() {
      const ranges = (await cluster.cluster('SLOTS')) as unknown as [number, number, [string, number, ...unknown[]]][]
      const range = ranges.find(([from, to]) => slot >= from && slot <= to)
      if (range === undefined) throw new Error(`no node of the Cluster serves slot ${slot} (namespace of ${probe})`)
      const [host, port] = range[2]
      return { host, port }
    },
    // A replica, and a master of other slots, answer MOVED.
    serves: (tracked) =>
      tracked.exists(probe).then(
        () => true,
        (error: unknown) => (isMoved(error) ? false : Promise.reject(error)),
      ),
  }
}

/** A client the cache opened itself, and so listens to and quits. */
export type OwnedClient = CacheClient & Pick<Redis, 'on' | 'quit' | 'disconnect'>

function owned(client: OwnedClient, onError: (error: unknown) => void): Connection {
  // Without a listener ioredis prints "Unhandled error event" on every failed reconnect. One
  // report per outage, not one per reconnection attempt: the next comes once it was ready again.
  let down = false
  client.on('error', (error: unknown) => {
    if (down) return
    down = true
    onError(error)
  })
  client.on('ready', () => {
    down = false
  })
  return {
    client,
    async close(timeout) {
      let timer: NodeJS.Timeout | undefined
      const late = new Promise<void>((resolve) => {
        if (Number.isFinite(timeout)) timer = setTimeout(resolve, timeout)
      })
      try {
        await Promise.race([client.quit(), late])
      } catch {
        // the connection is going away either way
      } finally {
        clearTimeout(timer)
        client.disconnect()
      }
    },
  }
}

function isCacheClient(value: unknown): value is CacheClient {
  const client = value as Partial<CacheClient> | null
  return (
    typeof client?.evalsha === 'function' &&
    typeof client.eval === 'function' &&
    typeof client.mgetBuffer === 'function'
  )
}
