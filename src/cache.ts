import { EventEmitter } from 'node:events'
import type { Redis } from 'ioredis'
import {
  type CacheClient,
  deleteEntry,
  expireGroups,
  type FillToken,
  fetchEntries,
  getEntries,
  getEntry,
  readEntry,
  type SetEntry,
  setEntry,
} from './commands.js'
import { type Connection, connect, type RedisOption } from './connection.js'
import { type Deadline, Deadlines } from './deadlines.js'
import { decodeEntry, liveAt } from './entry.js'
import {
  ClosedError,
  GroupCacheError,
  InvalidArgumentError,
  RedisError,
  ReplicationError,
  SerializationError,
  TimeoutError,
} from './errors.js'
import { type Hint, Hints } from './hints.js'
import { Keys } from './keys.js'
import { jsonSerializer, type Serializer } from './serializer.js'
import {
  checkCount,
  checkFunction,
  checkGroups,
  checkKey,
  checkKeys,
  checkMs,
  checkName,
  checkTtl,
  MAX_BATCH,
} from './validate.js'

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

const DEFAULT_TIMEOUT = 1000
const DEFAULT_LEASE = 30_000
const DEFAULT_HINTS = 10_000

/** A call's reply as it came. */
const same = <R>(reply: R): R => reply
/** What a read that failed open answers. */
const nothing = (): undefined => undefined

/** A read's answer before decoding: the serialized value, or a miss's token. */
type RawRead = { hit: true; value: string } | { hit: false; token: FillToken }

export class GroupCache extends EventEmitter<GroupCacheEvents> {
  readonly namespace: string
  private readonly keys: Keys
  private readonly connection: Connection
  private readonly client: CacheClient
  private readonly ttl: number | undefined
  private readonly timeout: number
  private readonly lease: number
  private readonly waitForReplicas: { replicas: number; timeout: number } | undefined
  private readonly serializer: Serializer
  private readonly hints: Hints
  /** Deadlines of the calls in flight (none with an infinite timeout), and of WAITs. */
  private readonly deadlines: Deadlines | undefined
  private readonly waitDeadlines: Deadlines | undefined
  /**
   * wrap functions in flight in this process, by key and token (callers that saw the same miss
   * share one), or by key alone while Redis fails (callers whose reads failed share one).
   */
  private readonly fills = new Map<string, Promise<unknown>>()
  private closed = false
  /** With `waitForReplicas`: how many times the connection closed (see `invalidate`). */
  private connectionCount = 0
  private readonly countClose = () => {
    this.connectionCount++
  }
  private warned = false

  constructor(options: GroupCacheOptions) {
    super()
    if (typeof options !== 'object' || options === null) {
      throw new InvalidArgumentError('GroupCache takes an options object: { redis, namespace?, ... }')
    }
    this.namespace = checkName(options.namespace ?? 'default', 'namespace')
    this.keys = new Keys(checkName(options.prefix ?? 'rgc', 'prefix'), this.namespace)
    this.ttl = checkTtl(options.ttl)
    this.timeout =
      options.timeout === Number.POSITIVE_INFINITY ? Infinity : checkMs(options.timeout ?? DEFAULT_TIMEOUT, 'timeout')
    this.lease = checkMs(options.lease ?? DEFAULT_LEASE, 'lease')
    this.waitForReplicas = checkWaitForReplicas(options.waitForReplicas, options.redis)
    this.deadlines = this.timeout === Infinity ? undefined : new Deadlines(this.timeout)
    const waitMs = (this.waitForReplicas?.timeout ?? Number.NaN) + this.timeout
    if (Number.isFinite(waitMs)) this.waitDeadlines = new Deadlines(waitMs)
    this.hints = new Hints(this.keys, checkCount(options.hints ?? DEFAULT_HINTS, 'hints'))
    this.serializer = options.serializer ?? jsonSerializer
    checkFunction(this.serializer.serialize, 'serializer.serialize')
    checkFunction(this.serializer.deserialize, 'serializer.deserialize')
    this.connection = connect(options.redis, (error) => this.report(new RedisError('connection', error)))
    this.client = this.connection.client
    if (this.waitForReplicas) (this.client as unknown as Redis).on('close', this.countClose)
  }

  /** The value stored under `key`, or undefined on a miss. Fails open: Redis errors resolve undefined. */
  get<T = unknown>(key: string): Promise<T | undefined> {
    let cacheKey: string
    try {
      cacheKey = checkKey(key)
    } catch (error) {
      return Promise.reject(error)
    }
    const hint = this.hints.warm(cacheKey)
    if (hint === undefined) return this.getByScript<T>(cacheKey)
    // Not async, and the reply settled inside the call's own promise: this is a hit's whole path.
    return this.call(
      'get',
      (client) => fetchEntries(client, hint.keys),
      (reply) => {
        const value = this.liveValue(cacheKey, hint, reply, 0, hint.at)
        if (value !== undefined) return this.decodeOrDiscard<T>(cacheKey, value)
        return reply[0] === null ? undefined : this.getByScript<T>(cacheKey)
      },
      nothing,
    )
  }

  /**
   * The values of `keys`, in order (undefined for each miss). One round trip: an MGET when this
   * process knows every key's groups, else a script; keys the MGET cannot settle (an entry with
   * other groups, a stale one) take a second. Fails open.
   */
  async getMany<T = unknown>(keys: readonly string[]): Promise<(T | undefined)[]> {
    const cacheKeys = checkKeys(keys)
    const [first] = cacheKeys
    if (first === undefined) return []
    if (cacheKeys.length === 1) return [await this.get<T>(first)]
    const values: (string | undefined)[] = new Array(cacheKeys.length)
    try {
      let unsettled = cacheKeys.map((_, i) => i)
      const hints = cacheKeys.map((key) => this.hints.warm(key))
      if (hints.every((hint) => hint !== undefined)) unsettled = await this.fetchMany(cacheKeys, hints, values)
      if (unsettled.length > 0) {
        const wanted = unsettled.map((i) => cacheKeys[i] as string)
        const entries = await this.request('get', (client) =>
          wanted.length === 1
            ? getEntry(client, this.keys, wanted[0] as string).then((entry) => [entry])
            : getEntries(client, this.keys, wanted),
        )
        unsettled.forEach((i, n) => {
          const entry = entries[n]
          if (entry != null) values[i] = this.learn(cacheKeys[i] as string, entry)
        })
      }
    } catch (error) {
      return this.failOpen(
        error,
        cacheKeys.map(() => undefined),
      )
    }
    return Promise.all(
      values.map((value, i) =>
        value === undefined ? undefined : this.decodeOrDiscard<T>(cacheKeys[i] as string, value),
      ),
    )
  }

  /**
   * Stores `value` under `key` with a snapshot of its groups' versions. With a `token` from a
   * `read` miss, stores only if no group of the token was expired, the key was not deleted or
   * stored meanwhile, and the token is younger than the lease. Resolves false when it refused.
   */
  set(key: string, value: unknown, options: SetOptions = {}): Promise<boolean> {
    let entry: SetEntry
    try {
      entry = this.prepare(key, value, options)
    } catch (error) {
      return Promise.reject(error)
    }
    return this.call(
      'set',
      (client) => setEntry(client, this.keys, entry),
      (status) => {
        if (status !== 'stored') return false
        // Written through: likely read live next. Filled after a miss: maybe not (see Hint).
        this.hints.remember(entry.key, entry.groups, entry.token === undefined)
        return true
      },
    )
  }

  /** Removes `key`'s entry; fills that began before are refused. True if a live entry was removed. */
  async delete(key: string): Promise<boolean> {
    const cacheKey = checkKey(key)
    this.hints.forget(cacheKey)
    return this.invalidate('delete', (client) => deleteEntry(client, this.keys, cacheKey, this.lease))
  }

  /** Invalidates every value in `group`, whatever its size, in O(1). Rejects if Redis does not confirm. */
  async expireGroup(group: string): Promise<void> {
    await this.expireGroups([group])
  }

  /** Invalidates every value in each group, atomically, in one round trip. */
  async expireGroups(groups: readonly string[]): Promise<void> {
    if (!Array.isArray(groups)) throw new InvalidArgumentError('groups must be an array')
    const names = checkGroups(groups, MAX_BATCH)
    if (names.length === 0) return
    await this.invalidate('expireGroups', (client) => expireGroups(client, this.keys, names))
  }

  /**
   * A hit, or a miss with the token a later `set(key, value, { token })` needs to store safely.
   * `groups` are the groups the value will be stored under. Rejects when Redis fails.
   */
  async read<T = unknown>(key: string, options: { groups?: readonly string[] } = {}): Promise<ReadResult<T>> {
    const cacheKey = checkKey(key)
    const groups = checkGroups(options.groups)
    const reply = await this.readOrToken(cacheKey, groups)
    if (!reply.hit) return reply
    return { hit: true, value: this.decode<T>(reply.value) }
  }

  /**
   * Read-through: the cached value, or `fn()`'s result, stored with the miss's token. In one
   * process, callers that miss the same key at the same versions share one `fn()` call, and so
   * do callers whose read failed. When Redis fails, `fn()` runs and its value is returned (the
   * failure goes to `error`). A result of undefined is returned but not stored.
   */
  wrap<T>(key: string, fn: () => T | Promise<T>): Promise<T>
  wrap<T>(key: string, options: WrapOptions, fn: () => T | Promise<T>): Promise<T>
  async wrap<T>(
    key: string,
    optionsOrFn: WrapOptions | (() => T | Promise<T>),
    maybeFn?: () => T | Promise<T>,
  ): Promise<T> {
    const [options, fn] = typeof optionsOrFn === 'function' ? [{}, optionsOrFn] : [optionsOrFn ?? {}, maybeFn]
    const cacheKey = checkKey(key)
    const groups = checkGroups(options.groups)
    const ttl = options.ttl === undefined ? this.ttl : checkTtl(options.ttl)
    checkFunction(fn, 'fn')
    let reply: RawRead
    try {
      reply = await this.readOrToken(cacheKey, groups)
    } catch (error) {
      if (error instanceof ClosedError) throw error
      this.report(error)
      // Redis is failing: the function's value is returned, not stored. One call per key, still.
      return this.share(`${cacheKey}\u0000`, async () => fn())
    }
    if (reply.hit) {
      try {
        return this.decode<T>(reply.value)
      } catch (error) {
        this.report(error)
        await this.discard(cacheKey)
        return fn()
      }
    }
    const token = reply.token
    const flight = [cacheKey, token.generation, ...groups, ...token.versions].join('\u0000')
    return this.share(flight, () => this.fill(cacheKey, token, ttl, fn))
  }

  /**
   * The decorator: `fn` read through the cache, with its key and groups built from its arguments.
   * ```ts
   * const getUser = cache.cached(db.user, { key: (id) => `user_${id}`, groups: (id) => [`user_group_${id}`, 'users'] })
   * ```
   */
  cached<A extends unknown[], R>(
    fn: (...args: A) => R | Promise<R>,
    options: CachedOptions<A>,
  ): (...args: A) => Promise<R> {
    checkFunction(fn, 'fn')
    checkFunction(options?.key, 'options.key')
    if (options.groups !== undefined) checkFunction(options.groups, 'options.groups')
    const ttl = options.ttl
    if (ttl !== undefined) checkTtl(ttl)
    return (...args: A) =>
      this.wrap(options.key(...args), { groups: options.groups?.(...args), ttl }, () => fn(...args))
  }

  /** Stops taking calls and quits the connection if the cache opened it. */
  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    if (this.waitForReplicas) (this.client as unknown as Redis).off('close', this.countClose)
    await this.connection.close(this.timeout)
  }

  /** The promise of the call in flight under `flight`, or a new one from `run`, shared until it settles. */
  private share<T>(flight: string, run: () => Promise<T>): Promise<T> {
    const shared = this.fills.get(flight)
    if (shared) return shared as Promise<T>
    const fill = run()
    this.fills.set(flight, fill)
    const forget = () => this.fills.delete(flight)
    fill.then(forget, forget)
    return fill
  }

  private async fill<T>(key: string, token: FillToken, ttl: number | undefined, fn: () => T | Promise<T>): Promise<T> {
    const value = await fn()
    if (value !== undefined && !this.closed) {
      try {
        await this.set(key, value, { token, ttl: ttl ?? Number.POSITIVE_INFINITY })
      } catch (error) {
        this.report(error)
      }
    }
    return value
  }

  /** A set's arguments, validated and encoded: nothing is sent before this succeeds. */
  private prepare(key: string, value: unknown, options: SetOptions): SetEntry {
    const cacheKey = checkKey(key)
    const token = options.token
    const groups = token ? checkToken(token, cacheKey, options.groups) : checkGroups(options.groups)
    const ttl = options.ttl === undefined ? this.ttl : checkTtl(options.ttl)
    return { key: cacheKey, value: this.encode(value), groups, ttl, lease: this.lease, token }
  }

  /** A read by script: the first of a key, or one the MGET could not settle. Fails open. */
  private getByScript<T>(key: string): Promise<T | undefined> {
    return this.call(
      'get',
      (client) => getEntry(client, this.keys, key),
      (entry) => (entry === null ? undefined : this.decodeOrDiscard<T>(key, this.learn(key, entry))),
      nothing,
    )
  }

  /**
   * A hit's serialized value, or a miss's token. With a hint, one MGET first: a live entry is a
   * hit without a script; anything else (missing, stale, other groups) goes to the read script,
   * which also hands out the token a miss needs.
   */
  private async readOrToken(key: string, groups: readonly string[]): Promise<RawRead> {
    const hint = this.hints.warm(key)
    if (hint !== undefined) {
      const reply = await this.request('read', (client) => fetchEntries(client, hint.keys))
      const value = this.liveValue(key, hint, reply, 0, hint.at)
      if (value !== undefined) return { hit: true, value }
    }
    const reply = await this.request('read', (client) => readEntry(client, this.keys, key, groups, this.lease))
    return reply.hit ? { hit: true, value: this.learn(key, reply.entry) } : reply
  }

  /** MGETs every key's entry and the versions of its hinted groups; settles what it can into `values`. */
  private async fetchMany(keys: string[], hints: Hint[], values: (string | undefined)[]): Promise<number[]> {
    const args = hints.map((hint) => hint.keys[0] as string)
    const slots = new Map<string, number>()
    const at = hints.map((hint) =>
      hint.keys.slice(1).map((versionKey) => {
        let slot = slots.get(versionKey)
        if (slot === undefined) {
          slot = args.push(versionKey) - 1
          slots.set(versionKey, slot)
        }
        return slot
      }),
    )
    const reply = await this.request('get', (client) => fetchEntries(client, args))
    const unsettled: number[] = []
    hints.forEach((hint, i) => {
      values[i] = this.liveValue(keys[i] as string, hint, reply, i, at[i] as number[])
      if (values[i] === undefined && reply[i] !== null) unsettled.push(i)
    })
    return unsettled
  }

  /**
   * The value of `reply[index]` if that entry is live by the versions at `at`; else undefined,
   * and the hint is dropped: the entry is gone, stale, or holds other groups.
   */
  private liveValue(
    key: string,
    hint: Hint,
    reply: readonly (Buffer | null)[],
    index: number,
    at: readonly number[],
  ): string | undefined {
    const entry = reply[index]
    if (entry != null) {
      const offset = liveAt(entry, reply, at, hint.part)
      if (offset >= 0) return entry.toString('utf8', offset)
    }
    this.hints.forget(key)
    return undefined
  }

  /** The value of an entry a script returned as live; its groups become the key's hint. */
  private learn(key: string, entry: string): string {
    const { value, groups } = decodeEntry(entry)
    this.hints.remember(key, groups, true)
    return value
  }

  private encode(value: unknown): string {
    if (value === undefined) throw new InvalidArgumentError('value must not be undefined (use null for "nothing")')
    let text: unknown
    try {
      text = this.serializer.serialize(value)
    } catch (cause) {
      throw new SerializationError(`the serializer could not encode the value: ${(cause as Error)?.message ?? cause}`, {
        cause,
      })
    }
    if (typeof text !== 'string') throw new SerializationError(`the serializer returned ${typeof text}, not a string`)
    return text
  }

  private decode<T>(text: string): T {
    try {
      return this.serializer.deserialize(text) as T
    } catch (cause) {
      throw new SerializationError(
        `the serializer could not decode a stored value: ${(cause as Error)?.message ?? cause}`,
        { cause },
      )
    }
  }

  /** A read that failed: reported, and answered with `fallback` (a call after close() throws). */
  private failOpen<R>(error: unknown, fallback: R): R {
    if (error instanceof ClosedError) throw error
    this.report(error)
    return fallback
  }

  /** Synchronous on the hot path; an undecodable value is reported, discarded and read as a miss. */
  private decodeOrDiscard<T>(key: string, text: string): T | Promise<undefined> {
    try {
      return this.decode<T>(text)
    } catch (error) {
      this.report(error)
      return this.discard(key).then(() => undefined)
    }
  }

  /**
   * A stored value the serializer cannot read (a changed format, say) is deleted, so that it
   * turns into one miss instead of a miss on every read until its TTL.
   */
  private async discard(key: string): Promise<void> {
    await this.delete(key).catch((failure: unknown) => this.report(failure))
  }

  /** One Redis call that rejects on failure (see `call`). */
  private request<R>(operation: string, send: (client: CacheClient) => Promise<R>): Promise<R> {
    return this.call(operation, send, same)
  }

  /**
   * One Redis call: `send` it, `settle` the reply, with typed errors and a deadline of `timeout`
   * ms after which it counts as failed. Without `failOpen` a failure rejects; with it (a read) the
   * failure is reported and answered with `failOpen()`. A call after close() rejects either way.
   * One promise and one deadline, no timer of its own: this is on every call's path.
   */
  private call<R, T>(
    operation: string,
    send: (client: CacheClient) => Promise<R>,
    settle: (reply: R) => T | PromiseLike<T>,
    failOpen?: () => T,
    deadlines: Deadlines | undefined = this.deadlines,
  ): Promise<T> {
    if (this.closed) return Promise.reject(new ClosedError(operation))
    return new Promise<T>((resolve, reject) => {
      let deadline: Deadline | undefined
      let finished = false
      const finish = () => {
        if (finished) return false
        finished = true
        if (deadline) deadlines?.settle(deadline)
        return true
      }
      const fail = (error: unknown) => {
        const failure = error instanceof GroupCacheError ? error : new RedisError(operation, error)
        if (failOpen === undefined) return reject(failure)
        this.report(failure)
        resolve(failOpen())
      }
      if (deadlines) deadline = deadlines.start(() => finish() && fail(new TimeoutError(operation, deadlines.ms)))
      try {
        send(this.client).then(
          (reply) => {
            if (!finish()) return
            try {
              resolve(settle(reply))
            } catch (error) {
              fail(error)
            }
          },
          (error: unknown) => finish() && fail(error),
        )
      } catch (error) {
        if (finish()) fail(error)
      }
    })
  }

  /**
   * An invalidation, and with `waitForReplicas` a WAIT for it to reach the replicas. WAIT only
   * speaks for writes made on its own connection: if the connection was replaced in between
   * (ioredis resends a pending WAIT after reconnecting, maybe to a newly promoted primary that
   * never had the write), its answer proves nothing and the invalidation is rejected.
   */
  private async invalidate<T>(operation: string, run: (client: CacheClient) => Promise<T>): Promise<T> {
    const wanted = this.waitForReplicas
    const connection = this.connectionCount
    const result = await this.request(operation, run)
    if (wanted === undefined) return result
    const acknowledged = await this.call(
      operation,
      (client) => (client as unknown as Pick<Redis, 'wait'>).wait(wanted.replicas, wanted.timeout),
      same,
      undefined,
      this.waitDeadlines,
    )
    if (this.connectionCount !== connection) {
      throw new ReplicationError(operation, 0, wanted.replicas, 'the connection was replaced before WAIT answered')
    }
    if (acknowledged < wanted.replicas) throw new ReplicationError(operation, acknowledged, wanted.replicas)
    return result
  }

  /** Every failure a read absorbed goes to `error`; with no listener, one process warning. */
  private report(error: unknown): void {
    const failure = error instanceof GroupCacheError ? error : new RedisError('redis', error)
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

/** A token must be for this key; its groups are the value's groups. */
function checkToken(token: FillToken, key: string, groups: readonly string[] | undefined): readonly string[] {
  const valid =
    typeof token === 'object' &&
    token !== null &&
    typeof token.generation === 'string' &&
    Array.isArray(token.groups) &&
    Array.isArray(token.versions) &&
    token.groups.length === token.versions.length &&
    Array.isArray(token.issuedAt) &&
    token.issuedAt.length === 2 &&
    token.issuedAt.every((part) => typeof part === 'string' && /^\d+$/.test(part)) &&
    token.versions.every((version) => typeof version === 'string' && /^\d+$/.test(version))
  if (!valid) throw new InvalidArgumentError('token is not a FillToken from read()')
  if (token.key !== key)
    throw new InvalidArgumentError(`token is for key ${JSON.stringify(token.key)}, not ${JSON.stringify(key)}`)
  const tokenGroups = checkGroups(token.groups)
  if (groups !== undefined) {
    const given = checkGroups(groups)
    if (given.length !== tokenGroups.length || !given.every((group) => tokenGroups.includes(group))) {
      throw new InvalidArgumentError('groups must be the groups the token was read with')
    }
  }
  return tokenGroups
}

function checkWaitForReplicas(option: unknown, redis: unknown): { replicas: number; timeout: number } | undefined {
  if (option === undefined) return undefined
  const { replicas, timeout } = (option ?? {}) as { replicas?: unknown; timeout?: unknown }
  const client = redis as { wait?: unknown; isCluster?: unknown } | null
  if (redis === 'memory' || (typeof redis === 'object' && (client?.isCluster || typeof client?.wait !== 'function'))) {
    throw new InvalidArgumentError('waitForReplicas needs a standalone ioredis Redis or a redis:// URL')
  }
  return {
    replicas: checkMs(replicas, 'waitForReplicas.replicas'),
    timeout: checkMs(timeout, 'waitForReplicas.timeout'),
  }
}
