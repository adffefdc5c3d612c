import { LRUCache } from 'lru-cache'
import type { Copies } from './copy.js'
import { covers, decodeEntry } from './entry.js'
import { InvalidArgumentError } from './errors.js'
import type { Keys } from './keys.js'
import { isMoved, type LinkHolder, type NearLinks, type OpenLinks } from './near-link.js'
import { checkCount } from './validate.js'

/**
 * The near cache: entries this process read lately, held in its memory, so that a hot key's read
 * costs no round trip to fetch and check it. Strict by default: a value is served only while no
 * invalidation can have passed it by.
 *
 * How it learns of invalidations: src/near-link.ts, its two connections of its own. Every entry
 * is read again on `tracked`, with Redis's client tracking on, together with its groups' version
 * keys: expiring a group, deleting or storing the key, an eviction, an expiry or a FLUSHDB sends a
 * name on `feed` (`message`), which drops what it names here. Strict: a held value is served only
 * once the link's sync point (a PING on `feed` sent after the read began, shared by every read
 * beginning meanwhile) has been answered; by then every invalidation that resolved before the read
 * began has dropped what it invalidates.
 *
 * Hazards, each handled here:
 * - A read on `tracked` can be answered after an invalidation of what it read arrived on `feed`
 *   (two connections: no order between them). A read records itself as pending before it is
 *   sent, an invalidation marks the pending reads it touches, and a marked read is not held.
 * - A connection dropped (killed, a restart, a failover) loses messages: the link `clear`s
 *   everything held, and nothing is held or served until it is in sync again.
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

export class NearCache implements LinkHolder {
  private readonly held: LRUCache<string, Held>
  /** The keys held under each group. */
  private readonly byGroup = new Map<string, Set<string>>()
  private readonly pending = new Set<Pending>()
  /** Reads on `tracked` in flight, by key: one at a time. */
  private readonly filling = new Set<string>()
  /** The connections, two to each node read, and the sync point (src/near-link.ts). */
  private readonly link: NearLinks
  /** Moves whenever everything held is dropped: a read or a sync point of an earlier one counts for nothing. */
  private generation = 0
  /** Reads served from memory so far. */
  hits = 0

  constructor(
    open: OpenLinks,
    private readonly keys: Keys,
    private readonly settings: NearSettings,
    report: (error: unknown) => void,
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
    this.link = open(this, settings.timeout, report)
  }

  get epoch(): number {
    return this.generation
  }

  /** Whether values are held and served now (both connections in sync). */
  get inSync(): boolean {
    return this.link.inSync
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
    if (!this.link.inSync) return undefined
    const held = this.held.get(key)
    if (held === undefined || !covers(held.groups, groups)) return undefined
    if (performance.now() >= held.until) {
      this.held.delete(key)
      return undefined
    }
    if (this.settings.consistency === 'eventual') return this.hit(key, held)
    const epoch = this.generation
    return this.link.sync().then((ok) => {
      if (!ok || this.generation !== epoch || this.held.peek(key) !== held || performance.now() >= held.until)
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
    const entryKey = this.keys.entry(key)
    const tracked = this.link.readerOf(entryKey)
    if (tracked === undefined || this.filling.has(key) || this.held.has(key)) return
    const groupKeys = groups.map(this.keys.group, this.keys)
    // Each version on its own master's connection under sharding 'key'; one that is out of sync: not held.
    const readers = this.link.single ? [] : groupKeys.map((name) => this.link.readerOf(name))
    if (readers.includes(undefined)) return
    this.filling.add(key)
    const epoch = this.generation
    const pending: Pending = { key, dead: false, groups: undefined }
    this.pending.add(pending)
    const sent = performance.now()
    // Plain commands, not a script: Redis tracks the keys a script declares, not those it reads.
    // On one connection, written together: the entry and its groups' versions, at one instant,
    // and the entry's TTL. On several (src/near-links.ts), each read after this one began.
    const read = this.link.single
      ? tracked.mget(entryKey, ...groupKeys)
      : Promise.all([
          tracked.get(entryKey),
          ...groupKeys.map((name, i) => (readers[i] as NonNullable<(typeof readers)[number]>).get(name)),
        ])
    Promise.all([read, tracked.pttl(entryKey)])
      .then(([[entry, ...versions], ttl]) => {
        if (entry == null || pending.dead || this.generation !== epoch || !this.link.inSync) return
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
        if (isMoved(error)) this.link.moved()
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
    this.generation++
    this.held.clear()
    this.byGroup.clear()
    for (const pending of this.pending) pending.dead = true
  }

  async close(): Promise<void> {
    const closing = this.link.close()
    this.clear()
    await closing
  }

  /** A message on `feed`: the name of a key written, expired or evicted, or none (everything). */
  message(message: unknown): void {
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
