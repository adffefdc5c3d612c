import type { FillToken } from './commands.js'
import type { RedisOption } from './connection.js'
import type { GroupCacheError } from './errors.js'
import type { Serializer } from './serializer.js'

/** The options of a GroupCache and of its calls, each field with its default. */

/** ms, or a string such as `'200ms'`, `'30s'`, `'5m'`, `'1h'`, `'2d'` (read by the `ms` package). */
export type Duration = number | string

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
  ttl?: Duration
  /** ms before a Redis call counts as failed: reads fail open, writes reject. Infinity: wait. @default 1000 */
  timeout?: number
  /**
   * ms a fill may take. A miss takes the key's fill lease for this long: other misses of the key,
   * in any process, wait for that fill instead of running the function, and take over when the
   * holder's function throws or when the lease ends (its process died or hung); no wait lasts
   * longer than two leases (the function then runs, unstored). A `wrap` whose
   * function runs longer than this is not stored. It is also how long a key's generation marker
   * lives after a miss or a delete. @default 5000
   */
  lease?: number
  /**
   * ms a value stored by `set`, `wrap` or `cached` may still be served by `wrap` after it is
   * invalidated (a soft `expireGroup`, its TTL), while one fill in the fleet refreshes it.
   * 0: never (every invalidation is hard). @default 0
   */
  grace?: Duration
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

/** What every call may take. */
export interface CallOptions {
  /**
   * ms (or a duration string) before this call's Redis commands count as failed, instead of the
   * cache's `timeout`; Infinity waits. Reads fail open at it, writes and invalidations reject.
   */
  timeout?: Duration
}

export interface SetOptions extends CallOptions {
  /** Groups of the value; expiring any of them invalidates it. With a token: the token's groups. */
  groups?: readonly string[]
  /** ms; Infinity for no expiry. @default the cache's ttl */
  ttl?: Duration
  /** From a `read` miss: store only if nothing it saw has moved since. */
  token?: FillToken
  /** ms the value may be served stale by `wrap` after a soft invalidation or its TTL. @default the cache's grace */
  grace?: Duration
}

/** One entry of `setMany`: a plain set's key, value and options. */
export interface SetManyEntry extends Omit<SetOptions, 'token' | 'timeout'> {
  key: string
  value: unknown
}

export interface WrapOptions extends CallOptions {
  groups?: readonly string[]
  /** ms; Infinity for no expiry. @default the cache's ttl */
  ttl?: Duration
  /**
   * ms: the value is stored with this grace, and a value invalidated less than this ago (and
   * within its own grace) is returned at once while one fill refreshes it. @default the cache's grace
   */
  grace?: Duration
}

export interface ExpireOptions extends CallOptions {
  /**
   * No value this invalidates is ever served stale, whatever its grace (permissions, prices).
   * @default false: a value stored with grace may be served for that grace
   */
  hard?: boolean
}

export interface CachedOptions<A extends unknown[]> {
  /** The cache key for these arguments. */
  key: (...args: A) => string
  /** The groups for these arguments. */
  groups?: (...args: A) => readonly string[]
  /** ms; Infinity for no expiry. @default the cache's ttl */
  ttl?: Duration
  /** As `WrapOptions.grace`. @default the cache's grace */
  grace?: Duration
  /** As `CallOptions.timeout`, for every call. @default the cache's timeout */
  timeout?: Duration
}

export interface ReadOptions extends CallOptions {
  /** The groups the value will be stored under: a hit must be stored under all of them. */
  groups?: readonly string[]
}

/**
 * A hit, or a miss with its token. `leased`: this read took the key's fill lease, so the caller
 * is the one fill in the fleet; `set` with the token releases it (`release(token)` gives it up).
 * Otherwise another process is filling the key: read again shortly, or fill anyway.
 */
export type ReadResult<T> = { hit: true; value: T } | { hit: false; token: FillToken; leased: boolean }

/** Why a fill's token set stored nothing (see lua/set.lua). */
export type RefusedReason = 'exists' | 'lease-expired' | 'deleted' | 'group-expired'

export interface GroupCacheEvents {
  /** A failure the cache absorbed (a read that failed open, a fill it could not store). */
  error: [error: GroupCacheError]
  /**
   * A fill (`wrap`, `cached`, or `set` with a token) was refused, its value returned but not
   * stored: `lease-expired`, the function outlasted the lease; `group-expired` or `deleted`, an
   * invalidation came during it; `exists`, another fill stored first.
   */
  refused: [refusal: { key: string; reason: RefusedReason }]
}
