import type { FillToken } from './commands.js'
import type { RedisOption } from './connection.js'
import type { GroupCacheError } from './errors.js'
import type { Serializer } from './serializer.js'

/** The options of a GroupCache and of its calls, each field with its default. */

export interface GroupCacheOptions {
  /**
   * An ioredis `Redis` or `Cluster` (yours: `close()` leaves it open), a `redis://` URL (the
   * cache opens it and `close()` quits it), or `'memory'` (in this process; needs ioredis-mock).
   */
  redis: RedisOption
  /** Keeps caches sharing one Redis apart; one namespace lives in one Cluster slot. @default 'default' */
  namespace?: string
  /** First part of every key the cache writes. @default 'rgc' */
  prefix?: string
  /** Default entry TTL in ms. @default undefined (entries do not expire) */
  ttl?: number
  /** ms before a Redis call counts as failed: reads fail open, writes reject. Infinity: wait. @default 1000 */
  timeout?: number
  /**
   * ms a fill token stays valid: a `wrap` whose function runs longer than this is not stored.
   * It is also how long a key's generation marker lives after a miss or a delete. @default 30000
   */
  lease?: number
  /** @default JSON */
  serializer?: Serializer
  /**
   * Makes `expireGroup(s)` and `delete` resolve only once `replicas` replicas acknowledged them
   * (Redis `WAIT`, up to `timeout` ms), so that a replica promoted after a failover has them.
   * Fewer acknowledgements reject with `ReplicationError`. Needs a standalone ioredis `Redis`
   * or URL (not a Cluster, not `'memory'`). @default undefined (no waiting)
   */
  waitForReplicas?: { replicas: number; timeout: number }
  /**
   * How many keys' groups this process remembers (the keys it last read as hits or stored), so
   * that reading one of them is a plain MGET of its entry and its groups' versions, checked here,
   * instead of a script. 0: every read runs a script. @default 10000
   */
  hints?: number
}

export interface SetOptions {
  /** Groups of the value; expiring any of them invalidates it. With a token: the token's groups. */
  groups?: readonly string[]
  /** ms; Infinity for no expiry. @default the cache's ttl */
  ttl?: number
  /** From a `read` miss: store only if nothing it saw has moved since. */
  token?: FillToken
}

export interface WrapOptions {
  groups?: readonly string[]
  /** ms; Infinity for no expiry. @default the cache's ttl */
  ttl?: number
}

export interface CachedOptions<A extends unknown[]> {
  /** The cache key for these arguments. */
  key: (...args: A) => string
  /** The groups for these arguments. */
  groups?: (...args: A) => readonly string[]
  /** ms; Infinity for no expiry. @default the cache's ttl */
  ttl?: number
}

export type ReadResult<T> = { hit: true; value: T } | { hit: false; token: FillToken }

export interface GroupCacheEvents {
  /** A failure the cache absorbed (a read that failed open, a fill it could not store). */
  error: [error: GroupCacheError]
}
