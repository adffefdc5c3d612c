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
  /** Keeps caches sharing one Redis apart. @default 'default' */
  namespace?: string
  /**
   * How the namespace's keys are laid out over a Redis Cluster. `'namespace'`: all in one slot
   * (the hash tag `{ns}`), so every operation is one script or one MGET on one node, and the
   * namespace lives on one master. `'key'`: each entry on its key's slot and each group's version
   * on its group's slot, so the namespace spreads over every master; a read of a key this
   * process knows is still one round trip, other reads and sets take two, and `deleteMany` and
   * `expireGroups` are atomic per key and per group, not as a whole. The two layouts never share
   * a key. @default 'namespace'
   */
  sharding?: 'namespace' | 'key'
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
  /**
   * Default for `wrap` and `cached`: ms to remember that a function found nothing (returned
   * undefined). @default undefined (undefined is returned, not stored)
   */
  notFoundTtl?: Duration
  /** @default JSON */
  serializer?: Serializer
  /**
   * Makes `expireGroup(s)` and `delete` resolve only once `replicas` replicas acknowledged them
   * (Redis `WAIT`, up to `timeout` ms), so that a replica promoted after a failover has them.
   * Fewer acknowledgements reject with `ReplicationError`. On a Cluster, every master an
   * invalidation wrote on is waited on. Needs an ioredis `Redis`, `Cluster` or URL (not
   * `'memory'`). @default undefined (no waiting)
   */
  waitForReplicas?: { replicas: number; timeout: number }
  /**
   * A near cache: the entries this process read lately, held in its memory and served from there
   * (get, getMany, wrap, cached and read hits). Off by default. Needs a Redis server or a
   * Cluster (not `'memory'`): it learns of invalidations by Redis's client tracking, on two
   * connections of its own to the namespace's master.
   */
  nearCache?: NearCacheOptions
  /**
   * How many keys' groups this process remembers (the keys it last read as hits or stored), so
   * that reading one of them is a plain MGET of its entry and its groups' versions, checked here,
   * instead of a script. 0: every read runs a script. @default 10000
   */
  hints?: number
}

export interface NearCacheOptions {
  /** Entries held at most; the least recently used go first. */
  maxEntries: number
  /** Bytes held at most (values and keys, as JavaScript strings: 2 bytes a character). @default no bound but maxEntries */
  maxBytes?: number
  /**
   * `'strict'`: a held value is served only after a round trip on the near cache's invalidation
   * connection that began after the read did (shared by every read waiting at that moment), so
   * that no read returns a value an invalidation that resolved before it began replaced
   * (guarantee 1). `'eventual'`: served at once, with no round trip; an invalidation reaches
   * this process when its message arrives (see the README for the window measured).
   * @default 'strict'
   */
  consistency?: 'strict' | 'eventual'
  /**
   * `'copied'`: each hit hands out a value of its own (with the JSON serializer a deep copy of
   * the value decoded once; another serializer's is decoded anew), so a caller may change it.
   * `'frozen'`: the value is decoded once and deep-frozen, and every hit hands out that one value
   * (no decode per hit: a hit costs a fraction); changing it throws. Values read from Redis are
   * not frozen. @default 'copied'
   */
  values?: 'copied' | 'frozen'
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
  /**
   * Groups of the value; expiring any of them invalidates it. With a token: the token's groups
   * (the default), and any more decided after the read, which must not have moved since it began.
   */
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

/** What a `wrap` function is handed. */
export interface FillContext {
  /**
   * Groups to store the value under besides the call's own, decided as the function runs (a
   * product's groups depend on the row it loaded): push to it. Race-free as the call's own
   * groups: an invalidation of one that came after the read began refuses the fill. A group Redis
   * holds no version of yet refuses the first fill that names it this way (`group-unknown`).
   */
  readonly groups: string[]
}

/** A `wrap` function: the value, or undefined for none (stored as "not found" with `notFoundTtl`). */
export type FillFunction<T> = (ctx: FillContext) => T | Promise<T>

export interface WrapOptions extends CallOptions {
  /** The groups the value is stored under (a hit must be stored under all of them). */
  groups?: readonly string[]
  /** ms; Infinity for no expiry. @default the cache's ttl */
  ttl?: Duration
  /**
   * ms to remember that the function found nothing (returned undefined): until then `wrap`
   * returns undefined without calling it, and `get` reads undefined. Like any value it is stored
   * under the call's groups, and expiring one of them or deleting the key forgets it.
   * @default the cache's notFoundTtl (none: undefined is returned, not stored)
   */
  notFoundTtl?: Duration
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

export interface CachedOptions<A extends unknown[], R = unknown> {
  /** The cache key for these arguments. */
  key: (...args: A) => string
  /** The groups for these arguments. */
  groups?: (...args: A) => readonly string[]
  /**
   * More groups, from the result (as `FillContext.groups`): a row's groups that only its loaded
   * value names. Not called for an undefined result.
   */
  resultGroups?: (result: R, ...args: A) => readonly string[]
  /** As `WrapOptions.notFoundTtl`. @default the cache's notFoundTtl */
  notFoundTtl?: Duration
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
  /**
   * ms: a miss of a value invalidated less than this long ago (a soft `expireGroup`, its TTL), and
   * stored with at least that much grace, carries the value as `stale`, beside the token. The
   * caller decides what to do with it (serve it while it refills, say). @default 0: never
   */
  grace?: number
}

/**
 * A hit, or a miss with its token. A hit with `notFound` is a "not found" a fill stored
 * (`notFoundTtl`): its value is undefined. `leased`: this read took the key's fill lease, so the caller
 * is the one fill in the fleet; `set` with the token releases it (`release(token)` gives it up).
 * Otherwise another process is filling the key: read again shortly, or fill anyway. With the
 * `grace` option, a miss of a value invalidated less than grace ago carries it as `stale`.
 */
export type ReadResult<T> =
  | { hit: true; value: T; notFound?: undefined }
  | { hit: true; value: undefined; notFound: true }
  | { hit: false; token: FillToken; leased: boolean; stale?: { value: T } }

/** Why a fill's token set stored nothing (see lua/set.lua). */
export type RefusedReason = 'exists' | 'lease-expired' | 'deleted' | 'group-expired' | 'group-unknown'

export interface GroupCacheEvents {
  /** A failure the cache absorbed (a read that failed open, a fill it could not store). */
  error: [error: GroupCacheError]
  /**
   * A fill (`wrap`, `cached`, or `set` with a token) was refused, its value returned but not
   * stored: `lease-expired`, the function outlasted the lease; `group-expired` or `deleted`, an
   * invalidation came during it; `exists`, another fill stored first; `group-unknown`, a group
   * named after the read (`ctx.groups`) had no version in Redis yet (it is made now: the next
   * fill of the group stores).
   */
  refused: [refusal: { key: string; reason: RefusedReason }]
}
