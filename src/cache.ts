import { EventEmitter } from 'node:events'
import { type FillToken, namespaceStore, type SetStatus } from './commands.js'
import { type Connection, connect, nearLinks } from './connection.js'
import { jsonCopies } from './copy.js'
import type { Deadlines } from './deadlines.js'
import { GroupCacheError, InvalidArgumentError, RedisError } from './errors.js'
import { Fills } from './fills.js'
import { Hints } from './hints.js'
import { Invalidation } from './invalidation.js'
import { Keys, type Sharding } from './keys.js'
import { Leases } from './leases.js'
import { checkNearCache, NearCache } from './near.js'
import type {
  CachedOptions,
  CallOptions,
  ExpireOptions,
  FillFunction,
  GroupCacheEvents,
  GroupCacheOptions,
  ReadOptions,
  ReadResult,
  SetManyEntry,
  SetOptions,
  WrapOptions,
} from './options.js'
import { Reads } from './reads.js'
import { checkWaitForReplicas } from './replicas.js'
import { jsonSerializer } from './serializer.js'
import { spreadStore } from './spread.js'
import { type CacheStats, Counters } from './stats.js'
import {
  channels,
  type OperationContext,
  passed,
  type ReadContext,
  readContext,
  type SetContext,
  traced,
} from './tracing.js'
import { Transport } from './transport.js'
import { checkCount, checkGrace, checkMs, checkName, checkNotFoundTtl, checkSharding, checkTtl } from './validate.js'
import { Values } from './values.js'
import { Writes } from './writes.js'

const DEFAULT_TIMEOUT = 1000
const DEFAULT_LEASE = 5_000
const DEFAULT_HINTS = 10_000
/** Refused fills of one key in a row, none stored, before the cache warns once. */
const REFUSED_IN_A_ROW = 3

/**
 * The cache: a facade that validates its options and wires the pieces, each a module of its own:
 * reads and hints (src/reads.ts), stores (src/writes.ts), read-through fills and grace
 * (src/fills.ts) with one fill per key across the fleet (src/leases.ts), invalidation and
 * replication (src/invalidation.ts), and the transport every call goes through, with its
 * deadlines (src/transport.ts).
 */
export class GroupCache extends EventEmitter<GroupCacheEvents> {
  readonly namespace: string
  /** How the namespace's keys are laid out over a Cluster's slots (src/keys.ts). */
  readonly sharding: Sharding
  private readonly connection: Connection
  /** ms `close()` waits for QUIT, as long as any call */
  private readonly timeout: number
  private readonly transport: Transport
  private readonly reads: Reads
  private readonly writes: Writes
  private readonly fills: Fills
  private readonly invalidation: Invalidation
  private readonly near: NearCache | undefined
  private warned = false
  /** What `stats()` reports: counted where each thing happens (src/stats.ts). */
  private readonly counters = new Counters()
  /** Refused fills in a row, by key (reset by one that stores), and whether their warning was given. */
  private readonly refusals = new Map<string, number>()
  private warnedRefusals = false

  constructor(options: GroupCacheOptions) {
    super()
    if (typeof options !== 'object' || options === null) {
      throw new InvalidArgumentError('GroupCache takes an options object: { redis, namespace?, ... }')
    }
    this.namespace = checkName(options.namespace ?? 'default', 'namespace')
    this.sharding = checkSharding(options.sharding)
    const keys = new Keys(checkName(options.prefix ?? 'rgc', 'prefix'), this.namespace, this.sharding)
    const ttl = checkTtl(options.ttl)
    const timeout =
      options.timeout === Number.POSITIVE_INFINITY ? Infinity : checkMs(options.timeout ?? DEFAULT_TIMEOUT, 'timeout')
    this.timeout = timeout
    const lease = checkMs(options.lease ?? DEFAULT_LEASE, 'lease')
    const grace = checkGrace(options.grace ?? 0)
    const notFoundTtl = checkNotFoundTtl(options.notFoundTtl)
    const waitForReplicas = checkWaitForReplicas(options.waitForReplicas, options.redis)
    const store = keys.spread ? spreadStore(keys) : namespaceStore(keys)
    const hints = new Hints(keys, checkCount(options.hints ?? DEFAULT_HINTS, 'hints'))
    const values = new Values(options.serializer ?? jsonSerializer)
    const near = checkNearCache(options.nearCache)
    const openNear = near === undefined ? undefined : nearLinks(options.redis, keys)
    this.connection = connect(options.redis, (error) => this.report(new RedisError('connection', error)))
    this.transport = new Transport(this.connection.client, timeout, (error) => this.report(error))
    // A stored value the serializer cannot read (a changed format, say) is deleted, so that it
    // turns into one miss instead of a miss on every read until its TTL.
    const discard = (key: string) =>
      this.delete(key).then(
        () => {},
        (failure: unknown) => this.report(failure),
      )
    this.near =
      near && openNear
        ? new NearCache(
            openNear,
            keys,
            {
              ...near,
              // calls without a timeout still get one for the sync point: a PING never answered is a lost feed
              timeout: Number.isFinite(timeout) ? timeout : DEFAULT_TIMEOUT,
              // the JSON serializer's values copy faster than they decode; another serializer's decode each time
              copy: (options.serializer ?? jsonSerializer) === jsonSerializer ? jsonCopies : undefined,
            },
            (error) => this.report(new RedisError('near cache', error)),
            (text) => values.decode(text),
          )
        : undefined
    this.reads = new Reads(this.transport, store, hints, values, discard, this.near, this.counters)
    this.writes = new Writes(this.transport, store, hints, values, ttl, lease, grace, (key, status) =>
      this.filled(key, status),
    )
    // A fill stores through `set` itself: whatever watches or wraps `set` sees every store.
    this.fills = new Fills(
      this.transport,
      this.reads,
      new Leases(this.transport, store, lease),
      values,
      ttl,
      grace,
      notFoundTtl,
      // a fill never stores undefined: "not found" is a value of its own (src/values.ts)
      (key, value, options) => this.set(key, value as {} | null, options),
      discard,
      this.counters,
      this.namespace,
    )
    this.invalidation = new Invalidation(this.transport, store, hints, lease, timeout, waitForReplicas, this.counters)
  }

  /** The value stored under `key`, or undefined on a miss. Fails open: Redis errors resolve undefined. */
  get<T = unknown>(key: string, options?: CallOptions): Promise<T | undefined> {
    if (channels.get.hasSubscribers)
      return traced('get', readContext('get', this.namespace, key), (trace) => this.getOf<T>(key, options, trace))
    return this.getOf<T>(key, options, undefined)
  }

  private getOf<T>(key: string, options: CallOptions | undefined, trace: ReadContext | undefined) {
    if (options === undefined) return this.reads.get<T>(key, undefined, trace)
    return this.withDeadlines(options, (deadlines) => this.reads.get<T>(key, deadlines, trace))
  }

  /**
   * The values of `keys`, in order (undefined for each miss). One round trip: an MGET when this
   * process knows every key's groups, else a script; keys the MGET cannot settle (an entry with
   * other groups, a stale one) take a second. Fails open.
   */
  getMany<T = unknown>(keys: readonly string[], options?: CallOptions): Promise<(T | undefined)[]> {
    if (channels.getMany.hasSubscribers) {
      const context = readContext('getMany', this.namespace, undefined, listed(keys))
      return traced('getMany', context, (trace) => this.getManyOf<T>(keys, options, trace))
    }
    return this.getManyOf<T>(keys, options, undefined)
  }

  private getManyOf<T>(keys: readonly string[], options: CallOptions | undefined, trace: ReadContext | undefined) {
    if (options === undefined) return this.reads.getMany<T>(keys, undefined, trace)
    return this.withDeadlines(options, (deadlines) => this.reads.getMany<T>(keys, deadlines, trace))
  }

  /**
   * Stores `value` under `key` with a snapshot of its groups' versions. With a `token` from a
   * `read` miss, stores only if no group of the token was expired, the key was not deleted or
   * stored meanwhile, and the token is younger than the lease. Resolves false when it refused.
   */
  set<T extends {} | null = {} | null>(key: string, value: T, options: SetOptions = {}): Promise<boolean> {
    if (channels.set.hasSubscribers) {
      const groups = passed(options, 'groups') ?? passed(passed(options, 'token'), 'groups')
      const context: SetContext = { operation: 'set', namespace: this.namespace, key, groups: listed(groups) }
      return traced('set', context, (trace) => this.setOf(key, value, options, trace))
    }
    return this.setOf(key, value, options, undefined)
  }

  private setOf(key: string, value: unknown, options: SetOptions, trace: SetContext | undefined): Promise<boolean> {
    const stored = this.writes.set(key, value, options, trace)
    return this.near === undefined ? stored : this.dropping(stored, [key])
  }

  /**
   * Removes `key`'s entry; fills that began before are refused. True if a live entry was removed.
   * Always hard: the value is gone, grace or not.
   */
  delete(key: string, options?: CallOptions): Promise<boolean> {
    const run = () => {
      const deleted = this.invalidation.delete(key, options)
      return this.near === undefined ? deleted : this.dropping(deleted, [key])
    }
    if (!channels.delete.hasSubscribers) return run()
    return traced('delete', { operation: 'delete', namespace: this.namespace, key }, run)
  }

  /**
   * Removes the entries of `keys` at once, atomically, in one round trip (hard, as `delete`);
   * fills of them that began before are refused. Resolves how many live entries it removed.
   */
  deleteMany(keys: readonly string[], options?: CallOptions): Promise<number> {
    const run = () => {
      const deleted = this.invalidation.deleteMany(keys, options)
      return this.near === undefined ? deleted : this.dropping(deleted, keys)
    }
    if (!channels.deleteMany.hasSubscribers) return run()
    return traced('deleteMany', { operation: 'deleteMany', namespace: this.namespace, keys: listed(keys) }, run)
  }

  /**
   * Stores many values with plain sets, one round trip: every entry is validated and encoded
   * before any is sent (bad input writes nothing); each is a set of its own, not one atomic write.
   */
  setMany(entries: readonly SetManyEntry[]): Promise<void> {
    if (!channels.setMany.hasSubscribers) return this.writes.setMany(entries)
    const keys = listed(entries)?.map((entry) => passed(entry, 'key'))
    return traced('setMany', { operation: 'setMany', namespace: this.namespace, keys }, () =>
      this.writes.setMany(entries),
    )
  }

  /**
   * Deletes every key of this cache's namespace, and only those (SCAN and DEL, not atomic: a value
   * stored meanwhile may stay). Fills in flight are refused. Resolves how many keys it deleted.
   */
  clear(): Promise<number> {
    const run = () => {
      this.near?.clear()
      return this.invalidation.clear()
    }
    if (!channels.clear.hasSubscribers) return run()
    return traced('clear', { operation: 'clear', namespace: this.namespace }, run)
  }

  /** Whether `key` has a live entry, by the rules of `get` (a stored `null` counts). Fails open: false. */
  async has(key: string, options?: CallOptions): Promise<boolean> {
    return (await this.get(key, options)) !== undefined
  }

  /** `read` with the deadlines of the call's own `timeout`; bad options reject, nothing sent. */
  private async withDeadlines<R>(
    options: CallOptions | undefined,
    read: (deadlines: Deadlines | null | undefined) => Promise<R>,
  ): Promise<R> {
    return read(this.transport.deadlinesOf(options))
  }

  /**
   * Invalidates every value in `group`, whatever its size, in O(1). Rejects if Redis does not
   * confirm. Soft: a value stored with grace may still be served by `wrap` for that grace while it
   * refreshes; `{ hard: true }`: never.
   */
  expireGroup(group: string, options?: ExpireOptions): Promise<void> {
    const run = () => {
      const expired = this.invalidation.expireGroups([group], options, 'expireGroup')
      return this.near === undefined ? expired : this.dropping(expired, [], [group])
    }
    if (!channels.expireGroup.hasSubscribers) return run()
    return traced('expireGroup', { operation: 'expireGroup', namespace: this.namespace, groups: [group] }, run)
  }

  /** Invalidates every value in each group, atomically, in one round trip. Soft unless `hard`. */
  expireGroups(groups: readonly string[], options?: ExpireOptions): Promise<void> {
    const run = () => {
      const expired = this.invalidation.expireGroups(groups, options)
      return this.near === undefined ? expired : this.dropping(expired, [], groups)
    }
    if (!channels.expireGroups.hasSubscribers) return run()
    const context: OperationContext = { operation: 'expireGroups', namespace: this.namespace, groups: listed(groups) }
    return traced('expireGroups', context, run)
  }

  /**
   * This process's own write, once it resolves, drops what it replaced from the near cache at
   * once: Redis's message about it follows (a strict read waits for it anyway; an eventual one
   * reads its own writes).
   */
  private dropping<R>(write: Promise<R>, keys: readonly string[], groups: readonly string[] = []): Promise<R> {
    // A write that failed may have been done all the same.
    return write.finally(() => {
      this.near?.dropKeys(keys)
      this.near?.dropGroups(groups)
    })
  }

  /**
   * A hit, or a miss with the token a later `set(key, value, { token })` needs to store safely.
   * `groups` are the groups the value will be stored under. A miss also takes the key's fill
   * lease when no one holds it (`leased`): `wrap` callers anywhere then wait for this fill, until
   * the set with the token, `release(token)`, or `lease` ms. Never stale. Rejects when Redis fails.
   */
  read<T = unknown>(key: string, options: ReadOptions = {}): Promise<ReadResult<T>> {
    if (!channels.read.hasSubscribers) return this.fills.read<T>(key, options)
    const context = readContext('read', this.namespace, key, undefined, listed(passed(options, 'groups')))
    return traced('read', context, (trace) => this.fills.read<T>(key, options, trace))
  }

  /** Gives up the fill lease a `read` miss took (a fill that will not happen), so waiters fill at once. */
  release(token: FillToken): Promise<void> {
    if (!channels.release.hasSubscribers) return this.fills.release(token)
    const context: OperationContext = { operation: 'release', namespace: this.namespace, key: passed(token, 'key') }
    return traced('release', context, () => this.fills.release(token))
  }

  /**
   * Read-through: the cached value, or `fn(ctx)`'s result, stored with the miss's token under the
   * call's groups and those `fn` pushed to `ctx.groups`. In one process, callers that miss the
   * same key at the same versions share one `fn` call, and so do callers whose read failed. When
   * Redis fails, `fn` runs and its value is returned (the failure goes to `error`). A result of
   * undefined is returned, and stored as "not found" only with a `notFoundTtl`.
   */
  wrap<T>(key: string, fn: FillFunction<T>): Promise<T>
  wrap<T>(key: string, options: WrapOptions, fn: FillFunction<T>): Promise<T>
  wrap<T>(key: string, optionsOrFn: WrapOptions | FillFunction<T>, maybeFn?: FillFunction<T>): Promise<T> {
    const [options, fn] = typeof optionsOrFn === 'function' ? [{}, optionsOrFn] : [optionsOrFn ?? {}, maybeFn]
    if (!channels.wrap.hasSubscribers) return this.fills.wrap(key, options, fn)
    const context = readContext('wrap', this.namespace, key, undefined, listed(passed(options, 'groups')))
    return traced('wrap', context, (trace) => this.fills.wrap(key, options, fn, trace))
  }

  /**
   * The decorator: `fn` read through the cache, with its key and groups built from its arguments.
   * ```ts
   * const getUser = cache.cached(db.user, { key: (id) => `user_${id}`, groups: (id) => [`user_group_${id}`, 'users'] })
   * ```
   */
  cached<A extends unknown[], R>(
    fn: (...args: A) => R | Promise<R>,
    options: CachedOptions<A, Awaited<R>>,
  ): (...args: A) => Promise<R> {
    return this.fills.cached(fn, options, (key, wrapOptions, fill) => this.wrap(key, wrapOptions, fill))
  }

  /**
   * What this cache counted since it was made: hits, misses and stale hits (every read of a key is
   * one of them), near-cache hits, fills, refused fills, lease waits, invalidations and errors
   * (see CacheStats). A copy, cheap enough to poll.
   */
  stats(): CacheStats {
    return this.counters.snapshot()
  }

  /**
   * The near cache's state, or undefined without one: whether it is in sync (holding and serving
   * values), how many entries it holds, and how many reads it served.
   */
  nearCacheStats(): { inSync: boolean; held: number; hits: number } | undefined {
    const { near } = this
    return near && { inSync: near.inSync, held: near.size, hits: near.hits }
  }

  /** Stops taking calls and quits the connection if the cache opened it. */
  async close(): Promise<void> {
    if (this.transport.closed) return
    this.reads.flush()
    this.transport.closed = true
    this.invalidation.close()
    await Promise.all([this.connection.close(this.timeout), this.near?.close()])
  }

  /**
   * A fill's outcome: a refusal goes to `refused`; with no listener there, a key whose fills were
   * refused REFUSED_IN_A_ROW times in a row, none stored (a query slower than the lease, a group
   * expired more often than it fills), gets one process warning per cache.
   */
  private filled(key: string, status: SetStatus): void {
    if (status === 'stored') {
      this.refusals.delete(key)
      return
    }
    this.counters.refusedFills++
    this.emit('refused', { key, reason: status })
    if (status === 'exists' || this.warnedRefusals || this.listenerCount('refused') > 0) return
    const streak = (this.refusals.get(key) ?? 0) + 1
    this.refusals.set(key, streak)
    if (this.refusals.size > 10_000) this.refusals.delete(this.refusals.keys().next().value as string)
    if (streak < REFUSED_IN_A_ROW) return
    this.warnedRefusals = true
    process.emitWarning(
      `the last ${streak} fills of ${JSON.stringify(key)} were refused (${status}) and none was stored: ` +
        (status === 'lease-expired'
          ? 'its function runs longer than the lease; raise the lease option'
          : 'it is invalidated while it fills, every time') +
        " (listen to the cache's 'refused' event to see every refusal)",
      { type: 'GroupCacheWarning', code: 'E_REFUSED' },
    )
  }

  /** Every failure a read absorbed goes to `error`; with no listener, one process warning. */
  private report(error: unknown): void {
    const failure = error instanceof GroupCacheError ? error : new RedisError('redis', error)
    this.counters.errors++
    if (this.listenerCount('error') > 0) {
      this.emit('error', failure)
    } else if (!this.warned) {
      this.warned = true
      process.emitWarning(`${failure.message} (listen to the cache's 'error' event to see every failure)`, {
        type: 'GroupCacheWarning',
        code: failure.code,
      })
    }
  }
}

/** An array as passed, for a context (anything else: undefined). */
function listed(items: unknown): readonly unknown[] | undefined {
  return Array.isArray(items) ? items : undefined
}
