import { Redis, type RedisOptions } from 'ioredis'
import type { CacheClient } from './commands.js'
import { InvalidArgumentError } from './errors.js'
import { memoryClient } from './memory.js'

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

export function connect(redis: unknown, onError: (error: unknown) => void): Connection {
  if (redis === 'memory') return owned(memoryClient(), onError)
  if (typeof redis === 'string') {
    if (!/^rediss?:\/\//.test(redis)) {
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
 * How the near cache opens connections of its own to the cache's Redis (src/near.ts): a
 * duplicate of the caller's client, or the URL again. The in-memory backend has no client
 * tracking, and a Cluster's namespace node is not followed yet: both are refused.
 */
export function nearOpener(redis: unknown): (options: RedisOptions) => Redis {
  if (redis === 'memory') {
    throw new InvalidArgumentError(
      "nearCache needs a Redis server: it learns of invalidations by Redis's client tracking, which the in-memory backend lacks (and its data is in this process already)",
    )
  }
  if (typeof redis === 'string') return (options) => new Redis(redis, options)
  const client = redis as Partial<Redis> & { isCluster?: boolean }
  if (client.isCluster === true || typeof client.duplicate !== 'function') {
    throw new InvalidArgumentError(
      'nearCache needs a standalone ioredis Redis or a redis:// URL (a Cluster is not supported yet)',
    )
  }
  return (options) => (client as Redis).duplicate(options)
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
