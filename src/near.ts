import type { Redis, RedisOptions } from 'ioredis'
import { LRUCache } from 'lru-cache'
import type { Copies } from './copy.js'
import { decodeEntry } from './entry.js'
import { InvalidArgumentError } from './errors.js'
import type { Keys } from './keys.js'
import { checkCount } from './validate.js'

/**
 * The near cache: entries this process read lately, held in its memory, so that a hot key's read
 * costs no round trip to fetch and check it. Strict by default: a value is served only while no
 * invalidation can have passed it by.
 *
 * How it learns of invalidations. Its own two connections: `tracked`, on which it reads the
 * entries it holds, with Redis's client tracking on (default mode: Redis remembers the keys this
 * connection read, and a write to any of them, by any client, an eviction, an expiry or a
 * FLUSHDB, sends their names), redirected to `feed`, subscribed to `__redis__:invalidate`. An
 * entry is held with its groups' version keys, which its read also read: expiring a group, deleting
 * or storing the key sends a name that drops it here.
 *
 * Strict: the sync point. The invalidation of an expireGroup that resolved in another process
 * may still be on its way to this one when a read begins here. A held value is served only after
 * a PING sent on `feed` after the read began has been answered: Redis sends the invalidations of
 * every command it ran before that PING first, on that connection, and TCP keeps their order, so
 * by the PONG every invalidation that resolved before the read began has dropped what it
 * invalidates. Reads that begin before the PING is written share it: one PING per batch.
 *
 * Hazards, each handled here:
 * - A read on `tracked` can be answered after an invalidation of what it read arrived on `feed`
 *   (two connections: no order between them). A read records itself as pending before it is
 *   sent, an invalidation marks the pending reads it touches, and a marked read is not held.
 * - A connection dropped (killed, a restart, a failover) loses messages, and `tracked`'s
 *   tracking goes with it; `feed` comes back under another client id. Either one closing drops
 *   everything held and serves nothing here until both are back, subscribed and redirected anew.
 * - An entry's TTL ends in Redis without a message until Redis deletes it: an entry is held only
 *   until its TTL, counted from before its read was sent (so never past Redis's own).
 * - FLUSHDB, and a tracking table overflowing, send a message without a key: everything goes.
 *
 * Eventual (opt-in): a held value is served at once, with no sync point; an invalidation reaches
 * it when its message arrives (the README gives the window measured).
 */

export type Consistency = 'strict' | 'eventual'

/**
 * What a hit finds: the entry's serialized value, and its value decoded already when there is one:
 * with `'frozen'` its one deep-frozen value, which every hit hands out; with `'copied'` and a
 * `copy`, a fresh copy of the value decoded once. Otherwise the caller decodes the text.
 */
export interface NearHit {
  readonly text: string
  decoded?: { readonly value: unknown }
}

/** A held entry: a hit, its groups, and until when (performance.now(), ms) it may be served. */
interface Held extends NearHit {
  groups: readonly string[]
  until: number
  /** `'copied'` with a `copy`: the copies of the value decoded once, one for each hit */
  copies?: Copies
}

/** A read on `tracked` in flight: what arrived for it meanwhile. */
interface Pending {
  key: string
  /** its entry's key was invalidated, or everything was */
  dead: boolean
  /** groups invalidated meanwhile (its groups are known only once it is answered) */
  groups: Set<string> | undefined
}

export interface NearSettings {
  maxEntries: number
  maxBytes: number | undefined
  consistency: Consistency
  /** `'copied'`: each hit hands out a value of its own; `'frozen'`: every hit hands out one deep-frozen value */
  values: 'copied' | 'frozen'
  /**
   * Fresh copies of a decoded value, cheaper than decoding again (for the JSON serializer, whose
   * values are plain objects, arrays and primitives: `jsonCopies`); undefined: each hit decodes
   * the text
   */
  copy: ((value: unknown) => Copies) | undefined
  /** ms a sync point may take before the near cache counts as out of sync */
  timeout: number
}

/** What a `lookup` finds: nothing held, a value (eventual), or a value once the sync point vouches for it (strict). */
export type Lookup = undefined | NearHit | Promise<NearHit | undefined>

const CHANNEL = '__redis__:invalidate'
/** ms before the connections are opened anew after their node stopped serving the namespace, doubling up to the max */
const RELOCATE_MIN = 100
const RELOCATE_MAX = 2000
/** ms a sync point trusts the last check that the node serves the namespace as its master */
const SERVES_CHECK_MS = 100

/** A Redis node: where a Cluster's namespace lives. */
export interface NearNode {
  host: string
  port: number
}

/** Where the near cache's connections go (src/connection.ts makes one from the `redis` option). */
export interface NearSource {
  /** A connection of the near cache's own, to `node` (a Cluster's), or to the cache's Redis. */
  open(options: RedisOptions, node: NearNode | undefined): Redis
  /** The node the namespace lives on now: a Cluster's master of its slot; undefined for one server. */
  locate(): Promise<NearNode | undefined>
  /** Whether the node `tracked` is connected to serves the namespace as its master now. */
  serves(tracked: Redis): Promise<boolean>
}

/** A reply saying the key's slot is served by another node. */
export function isMoved(error: unknown): boolean {
  return error instanceof Error && /^(MOVED|ASK|CLUSTERDOWN|READONLY)\b/.test(error.message)
}

export class NearCache {
  private readonly held: LRUCache<string, Held>
  /** The keys held under each group. */
  private readonly byGroup = new Map<string, Set<string>>()
  private readonly pending = new Set<Pending>()
  /** Reads on `tracked` in flight, by key: one at a time. */
  private readonly filling = new Set<string>()
  /** The two connections, to the node the namespace lives on (none while it is located). */
  private tracked: Redis | undefined
  private feed: Redis | undefined
  /** While the connections are replaced (a failover, a moved slot), and how long the next wait is. */
  private relocating = false
  private relocateDelay = RELOCATE_MIN
  /** When (performance.now()) the node was last seen to serve the namespace; -Infinity: never */
  private servedAt = Number.NEGATIVE_INFINITY
  /** Both connections ready, subscribed and redirected: only then is anything held or served. */
  private synced = false
  /** Moves whenever everything held is dropped: a read or a sync point of an earlier one counts for nothing. */
  private epoch = 0
  /** Moves whenever a connection closes: a resync begun before counts for nothing. */
  private connections = 0
  /** The sync point the reads beginning now will share, until its PING is written. */
  private next: Promise<boolean> | undefined
  /** `feed`'s client id, once it is subscribed on its current connection */
  private feedId: string | undefined
  /** Moves whenever `feed` closes. */
  private feedSession = 0
  private closed = false
  /** Reads served from memory so far. */
  hits = 0

  constructor(
    private readonly source: NearSource,
    private readonly keys: Keys,
    private readonly settings: NearSettings,
    private readonly report: (error: unknown) => void,
    /** The cache's serializer's decode, for `'frozen'` values */
    private readonly decode: (text: string) => unknown = (text) => text,
  ) {
    this.held = new LRUCache<string, Held>({
      max: settings.maxEntries,
      ...(settings.maxBytes === undefined
        ? {}
        : { maxSize: settings.maxBytes, sizeCalculation: (held, key) => held.text.length * 2 + key.length * 2 + 64 }),
      dispose: (held, key) => this.unindex(key, held),
    })
    void this.connect()
  }

  /** Opens the two connections to where the namespace lives now (a Cluster: its slot's master). */
  private async connect(): Promise<void> {
    if (this.closed) return
    let node: NearNode | undefined
    try {
      node = await this.source.locate()
    } catch (error) {
      this.report(error)
      this.relocate()
      return
    }
    if (this.closed) return
    // Commands fail at once while a connection is down (no offline queue): the near cache is then
    // out of sync anyway, and a read goes to Redis by the usual path.
    const options: RedisOptions = { enableOfflineQueue: false, autoResubscribe: false, maxRetriesPerRequest: 1 }
    const tracked = this.source.open(options, node)
    const feed = this.source.open(options, node)
    this.tracked = tracked
    this.feed = feed
    for (const connection of [tracked, feed]) {
      connection.on('error', () => {}) // the cache's own connection reports outages
      connection.on('close', () => {
        if (connection === this.feed) {
          this.feedId = undefined
          this.feedSession++
        }
        this.lost()
      })
      connection.on('ready', () => void this.resync())
    }
    feed.on('message', (channel: string, message: unknown) => {
      if (channel === CHANNEL) this.invalidated(message)
    })
  }

  /**
   * The node stopped serving the namespace as its master (a failover, a slot moved): drop
   * everything, close both connections and open new ones where it lives now, after a pause that
   * grows while the node is not found.
   */
  private relocate(): void {
    if (this.relocating || this.closed) return
    this.relocating = true
    this.lost()
    for (const connection of [this.tracked, this.feed]) {
      connection?.removeAllListeners()
      connection?.on('error', () => {})
      connection?.disconnect()
    }
    this.tracked = undefined
    this.feed = undefined
    this.feedId = undefined
    this.feedSession++
    const delay = this.relocateDelay
    this.relocateDelay = Math.min(this.relocateDelay * 2, RELOCATE_MAX)
    setTimeout(() => {
      this.relocating = false
      void this.connect()
    }, delay).unref()
  }

  /** Whether values are held and served now (both connections in sync). */
  get inSync(): boolean {
    return this.synced
  }

  /** Whether `key` is held now (a lookup may still find its TTL over). */
  holds(key: string): boolean {
    return this.held.has(key)
  }

  /** How many entries are held. */
  get size(): number {
    return this.held.size
  }

  /**
   * The held value of `key`, if it is stored under every group of `groups`: at once (eventual),
   * or after the sync point (strict; undefined if it could not vouch for it, or it was dropped).
   */
  lookup(key: string, groups: readonly string[]): Lookup {
    if (!this.synced) return undefined
    const held = this.held.get(key)
    if (held === undefined || !covers(held.groups, groups)) return undefined
    if (performance.now() >= held.until) {
      this.held.delete(key)
      return undefined
    }
    if (this.settings.consistency === 'eventual') return this.hit(key, held)
    const epoch = this.epoch
    return this.sync().then((ok) => {
      if (!ok || this.epoch !== epoch || this.held.peek(key) !== held || performance.now() >= held.until)
        return undefined
      return this.hit(key, held)
    })
  }

  /**
   * A hit served: with `'frozen'`, its value decoded and frozen the first time; with `'copied'`
   * and a `copy`, a copy of its value decoded the first time. One that fails to decode is dropped.
   */
  private hit(key: string, held: Held): NearHit | undefined {
    const { values, copy } = this.settings
    if (values === 'copied' && copy === undefined) {
      this.hits++
      return held
    }
    try {
      if (values === 'frozen') held.decoded ??= { value: deepFreeze(this.decode(held.text)) }
      else if (copy !== undefined) held.copies ??= copy(this.decode(held.text))
    } catch {
      this.held.delete(key) // the usual path reads it, and reports what it cannot decode
      return undefined
    }
    this.hits++
    if (values === 'frozen' || held.copies === undefined) return held
    return { text: held.text, decoded: { value: held.copies.next() } }
  }

  /**
   * A key just read from Redis by the usual path, live under `groups`: read it again on `tracked`,
   * in the background, to hold it. Nothing happens when it is held, being read, or the near cache
   * is out of sync.
   */
  offer(key: string, groups: readonly string[]): void {
    if (!this.synced || this.filling.has(key) || this.held.has(key)) return
    this.filling.add(key)
    const epoch = this.epoch
    const pending: Pending = { key, dead: false, groups: undefined }
    this.pending.add(pending)
    const sent = performance.now()
    const entryKey = this.keys.entry(key)
    const tracked = this.tracked as Redis
    // Plain commands, not a script: Redis tracks the keys a script declares, not those it reads.
    // Written together: the entry and its groups' versions, at one instant, and the entry's TTL.
    Promise.all([tracked.mget(entryKey, ...groups.map(this.keys.group, this.keys)), tracked.pttl(entryKey)])
      .then(([[entry, ...versions], ttl]) => {
        if (entry == null || pending.dead || this.epoch !== epoch || !this.synced) return
        if (pending.groups !== undefined && groups.some((group) => pending.groups?.has(group))) return
        const decoded = decodeEntry(entry)
        // Live: stored under exactly these groups, each snapshot version still current.
        if (decoded.groups.length !== groups.length || decoded.groups.some((group, i) => group !== groups[i])) return
        if (decoded.versions.some((version, i) => version !== versions[i])) return
        // With grace, the key outlives its TTL by the grace: the entry is live until then.
        const until = ttl < 0 ? Number.POSITIVE_INFINITY : sent + ttl - decoded.grace
        if (until <= performance.now()) return
        this.held.set(key, { text: decoded.value, groups, until })
        for (const group of groups) {
          let keys = this.byGroup.get(group)
          if (keys === undefined) {
            keys = new Set()
            this.byGroup.set(group, keys)
          }
          keys.add(key)
        }
      })
      .catch((error: unknown) => {
        // Not held: the next read goes to Redis. MOVED: the slot is served elsewhere now.
        if (isMoved(error)) this.relocate()
      })
      .finally(() => {
        this.pending.delete(pending)
        this.filling.delete(key)
      })
  }

  /** Drops what this process's own writes replaced, at once (an eventual near cache reads its own writes). */
  dropKeys(keys: readonly string[]): void {
    for (const key of keys) this.dropKey(key)
  }

  dropGroups(groups: readonly string[]): void {
    for (const group of groups) this.dropGroup(group)
  }

  /** Drops everything held. */
  clear(): void {
    this.epoch++
    this.held.clear()
    this.byGroup.clear()
    for (const pending of this.pending) pending.dead = true
  }

  async close(): Promise<void> {
    this.closed = true
    this.synced = false
    this.clear()
    const connections = [this.tracked, this.feed].filter((connection) => connection !== undefined)
    await Promise.allSettled(connections.map((connection) => connection.quit()))
    for (const connection of connections) connection.disconnect()
  }

  /**
   * A sync point for the reads that begin before it is sent: true once a PING written after they
   * began was answered on `feed`, with the near cache still in sync. At most every
   * SERVES_CHECK_MS it also asks whether `tracked`'s node still serves the namespace as its
   * master: a master demoted by a failover keeps answering PINGs while the writes are elsewhere,
   * and reach it only by replication, later. (Every sync point would cost a second command per
   * batch, half a strict hit's speed at concurrency 1; the data path reading a demoted node has
   * the same window until its client notices.)
   */
  private sync(): Promise<boolean> {
    if (this.next === undefined) {
      const epoch = this.epoch
      this.next = new Promise<boolean>((resolve) => {
        // Sent once the reads beginning now have asked: they share it.
        queueMicrotask(() => {
          this.next = undefined
          this.ping(epoch).then(resolve)
        })
      })
    }
    return this.next
  }

  private ping(epoch: number): Promise<boolean> {
    const { feed, tracked } = this
    if (feed === undefined || tracked === undefined) return Promise.resolve(false)
    return new Promise<boolean>((resolve) => {
      // A feed that does not answer may have lost messages: drop everything, and reconnect it
      // (its `ready` resyncs).
      const timer = setTimeout(() => {
        this.lost()
        feed.disconnect(true)
        resolve(false)
      }, this.settings.timeout)
      const due = performance.now() - this.servedAt >= SERVES_CHECK_MS
      const checked = due ? this.source.serves(tracked) : true
      Promise.all([feed.ping(), checked]).then(
        ([, serves]) => {
          clearTimeout(timer)
          if (!serves) this.relocate()
          else if (due) {
            this.servedAt = performance.now()
            this.relocateDelay = RELOCATE_MIN
          }
          resolve(serves && this.synced && this.epoch === epoch)
        },
        () => {
          clearTimeout(timer)
          resolve(false)
        },
      )
    })
  }

  /** A message on `feed`: the name of a key written, expired or evicted, or none (everything). */
  private invalidated(message: unknown): void {
    const names = Array.isArray(message) ? message : [message]
    for (const name of names) {
      if (typeof name !== 'string' || name === '') {
        this.clear()
        return
      }
      const parsed = this.keys.parse(name)
      if (parsed?.kind === 'entry') this.dropKey(parsed.name)
      else if (parsed?.kind === 'group') this.dropGroup(parsed.name)
    }
  }

  private dropKey(key: string): void {
    this.held.delete(key)
    for (const pending of this.pending) if (pending.key === key) pending.dead = true
  }

  private dropGroup(group: string): void {
    const keys = this.byGroup.get(group)
    if (keys !== undefined) for (const key of [...keys]) this.held.delete(key)
    for (const pending of this.pending) {
      if (pending.groups === undefined) pending.groups = new Set()
      pending.groups.add(group)
    }
  }

  private unindex(key: string, held: Held): void {
    for (const group of held.groups) {
      const keys = this.byGroup.get(group)
      if (keys === undefined) continue
      keys.delete(key)
      if (keys.size === 0) this.byGroup.delete(group)
    }
  }

  /** A connection closed: messages may be lost from now on. Nothing is held or served until a resync. */
  private lost(): void {
    this.connections++
    this.synced = false
    this.servedAt = Number.NEGATIVE_INFINITY
    this.clear()
  }

  /**
   * Both connections up: subscribe `feed`, learn its client id, and redirect `tracked`'s tracking
   * to it. A connection that closed meanwhile makes it count for nothing (its own `ready` resyncs).
   */
  private async resync(): Promise<void> {
    const { tracked, feed } = this
    if (this.closed || this.synced || tracked?.status !== 'ready' || feed?.status !== 'ready') return
    const connections = this.connections
    try {
      if (!(await this.source.serves(tracked))) {
        this.relocate()
        return
      }
      this.servedAt = performance.now()
      // CLIENT ID before SUBSCRIBE: a subscribed connection takes no other command. Once per
      // connection of `feed` (it does not resubscribe by itself: its id changes).
      if (this.feedId === undefined) {
        const session = this.feedSession
        const id = String(await feed.client('ID'))
        await feed.subscribe(CHANNEL)
        if (this.feedSession !== session) return
        this.feedId = id
      }
      await tracked.client('TRACKING', 'ON', 'REDIRECT', this.feedId)
      if (this.connections !== connections || this.closed) return
      this.clear()
      this.synced = true
    } catch (error) {
      if (this.connections === connections) this.report(error)
    }
  }
}

/** The `nearCache` option, checked: undefined when off. */
export function checkNearCache(option: unknown): Omit<NearSettings, 'timeout' | 'copy'> | undefined {
  if (option === undefined) return undefined
  if (typeof option !== 'object' || option === null) {
    throw new InvalidArgumentError("nearCache must be { maxEntries, maxBytes?, consistency?: 'strict' | 'eventual' }")
  }
  const { maxEntries, maxBytes, consistency = 'strict', values = 'copied', ...rest } = option as Record<string, unknown>
  const unknown = Object.keys(rest)
  if (unknown.length > 0) throw new InvalidArgumentError(`nearCache has no option ${JSON.stringify(unknown[0])}`)
  if (maxEntries === undefined) throw new InvalidArgumentError('nearCache.maxEntries is required')
  if (consistency !== 'strict' && consistency !== 'eventual') {
    throw new InvalidArgumentError(
      `nearCache.consistency must be 'strict' or 'eventual' (got ${JSON.stringify(consistency)})`,
    )
  }
  if (values !== 'copied' && values !== 'frozen') {
    throw new InvalidArgumentError(`nearCache.values must be 'copied' or 'frozen' (got ${JSON.stringify(values)})`)
  }
  const positive = (value: unknown, what: string) => {
    if (checkCount(value, what) === 0) throw new InvalidArgumentError(`${what} must be 1 or more`)
    return value as number
  }
  return {
    maxEntries: positive(maxEntries, 'nearCache.maxEntries'),
    maxBytes: maxBytes === undefined ? undefined : positive(maxBytes, 'nearCache.maxBytes'),
    consistency,
    values,
  }
}

/** `value` and everything it holds, frozen: a shared value no caller can change. */
function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value)
    for (const inner of Object.values(value)) deepFreeze(inner)
  }
  return value
}

function covers(held: readonly string[], asked: readonly string[]): boolean {
  for (const group of asked) if (!held.includes(group)) return false
  return true
}
