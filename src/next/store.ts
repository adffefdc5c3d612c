import { createHash } from 'node:crypto'
import { LRUCache } from 'lru-cache'
import { GroupCache } from '../cache.js'
import type { FillToken } from '../commands.js'
import { GroupCacheError, InvalidArgumentError } from '../errors.js'
import type { GroupCacheOptions } from '../options.js'
import { nextSerializer } from './codec.js'

/**
 * What both Next.js handlers share: one GroupCache per handler module, Next's tags as groups, and
 * the fill tokens that make a render's store a compare-and-set.
 *
 * A tag is a group: `revalidateTag`, `updateTag` and `revalidatePath` (whose tags are `_N_T_<path>`)
 * expire groups, O(1) whatever the tag's size, with no tag-to-key sets. An entry is stored under
 * its own tags and under the soft (implicit, path) tags of the request that rendered it, and each
 * set of soft tags (each route) reads a copy of its own: a value read from several routes is
 * rendered once per route, and each copy is invalidated by its own route's paths.
 *
 * A render that began before a revalidation is not stored as fresh. Next reads (`get`), renders
 * on a miss, then stores (`set`), and does not say which get a set follows. The misses of each key
 * are kept here, with their fill tokens and when they were read; a set takes one read before its
 * render began (a 'use cache' entry's `timestamp` says when, on this process's clock; for the
 * incremental cache, which renders a key once at a time in a process, the oldest), so its token
 * makes the set a compare-and-set: tags named only at the set are late groups, refused if any
 * moved after that read (in Redis's clock: versions are Redis times). A set with no such read in
 * this process is not stored: there is no telling when its render began.
 *
 * Stale while revalidating, in Redis's clock. An entry's TTL is Next's `revalidate` and its grace
 * `expire - revalidate`: past its TTL, or after a soft revalidation (`revalidateTag(tag, 'max')`,
 * any profile with an `expire`), a read within grace gets the old value and a token, and hands
 * Next the value marked stale on every instance: Next serves it and renders anew in the
 * background (once per key in a process), or at once where the value would be stored in another
 * entry, so that no outer entry stores it as fresh. Hiding the staleness on the instances that do
 * not hold the fill lease would let such an outer entry store the old value under versions that
 * already moved. `{ expire: 0 }`, `updateTag` and `revalidatePath` are hard: the next read misses
 * everywhere. Next sends every revalidation to both handlers, so each has a namespace of its own
 * by default: one shared would move each version twice, and a group moved twice since an entry
 * was stored serves it stale no more.
 */

export interface NextCacheOptions extends Omit<GroupCacheOptions, 'serializer' | 'namespace'> {
  /** The namespace the handlers' entries and tags live in. @default 'next' */
  namespace?: string
  /**
   * Told of every failure the handlers absorb (Redis down, a value that cannot be stored, a bad
   * tag): a render never fails for the cache. @default one `console.warn` per kind of failure
   */
  onError?: (error: Error) => void
}

/** ms a render may take and still be stored: the handlers' default lease (renders are slower than most fills). */
const DEFAULT_LEASE = 30_000

/** Seconds Next treats as "never" (its INFINITE_CACHE), and anything as long or longer. */
const NEVER_S = 0xfffffffe
/** The longest window a stale value is served in, ms: a year, Next's 'max' profile. */
export const MAX_STALE_MS = 365 * 24 * 3600 * 1000

/** A miss a render may follow: its token, the soft tags it named, the copy it read, when (`now()`). */
interface PendingRead {
  token: FillToken
  groups: readonly string[]
  /** whether it took the key's fill lease */
  leased: boolean
  /** the entry of its soft tags' copy */
  entryKey: string
  at: number
}

/** This process's clock as Next dates a 'use cache' entry's `timestamp`: ms since the epoch, monotonic. */
export function now(): number {
  return performance.timeOrigin + performance.now()
}

/** The entry of the copy of `key` for one set of soft tags. */
function variantKey(key: string, softTags: readonly string[]): string {
  if (softTags.length === 0) return key
  const hash = createHash('sha256')
    .update([...softTags].sort().join('\u0000'))
    .digest('base64url')
    .slice(0, 16)
  return `${key}\u0000${hash}`
}

/**
 * What a read finds for Next: nothing, a fresh value, or a stale one, which the handler hands Next
 * marked stale, on every instance: Next serves it and renders anew in the background (once per
 * key in a process), or in the foreground where the value would be stored in another cache entry.
 */
export type Found<T> = { kind: 'miss' } | { kind: 'fresh'; value: T } | { kind: 'stale'; value: T }

/**
 * Next's seconds, as a TTL and grace in ms (undefined TTL: never), or undefined for an entry not to
 * store: `revalidate: 0` is "stale at once" to Next.
 */
export function lifetimes(
  revalidate: unknown,
  expire: unknown,
): { ttl: number | undefined; grace: number } | undefined {
  if (revalidate === 0) return undefined
  const seconds = (value: unknown) =>
    typeof value === 'number' && Number.isFinite(value) && value > 0 && value < NEVER_S ? value : undefined
  const r = seconds(revalidate)
  const e = seconds(expire)
  if (r === undefined) return e === undefined ? { ttl: undefined, grace: MAX_STALE_MS } : { ttl: e * 1000, grace: 0 }
  const grace = e === undefined ? MAX_STALE_MS : Math.max(0, e - r) * 1000
  return { ttl: r * 1000, grace: Math.min(grace, MAX_STALE_MS) }
}

/** Most misses of one key kept (the oldest go first): reads that no set followed cannot pile up. */
const MAX_MISSES_PER_KEY = 16

export class NextStore {
  private cache: GroupCache | undefined
  /** The misses of each key that renders may follow, oldest first, by Next's key. */
  private readonly pending: LRUCache<string, PendingRead[]>
  private readonly warned = new Set<string>()
  /** ms a fill token is good for: the cache's lease */
  private readonly lease: number

  constructor(
    private readonly options: NextCacheOptions,
    /** the key prefix of this handler's entries ('i' incremental, 'c' cache components) */
    private readonly kind: string,
  ) {
    if (typeof options !== 'object' || options === null)
      throw new InvalidArgumentError('the Next.js handler options must be an object (GroupCacheOptions)')
    this.lease = typeof options.lease === 'number' ? options.lease : DEFAULT_LEASE
    // a render's set comes at most a lease after its get: its token is no good after that
    this.pending = new LRUCache({
      max: 10_000,
      ttl: this.lease,
      // a key evicted or timed out: the leases its misses took go
      dispose: (reads, _key, reason) => {
        if (reason === 'evict' || reason === 'expire') for (const read of reads) this.drop(read)
      },
    })
  }

  /** The cache, made on first use: importing the handler connects nowhere. */
  private groupCache(): GroupCache {
    if (this.cache === undefined) {
      const { onError: _, ...options } = this.options
      this.cache = new GroupCache({
        ...options,
        lease: this.lease,
        // Next revalidates through both handlers: each moves its own namespace's versions once
        namespace: options.namespace ?? (this.kind === 'i' ? 'next' : 'next-use-cache'),
        serializer: nextSerializer,
      })
      this.cache.on('error', (error) => this.report(error))
    }
    return this.cache
  }

  /** A failure absorbed: to `onError`, or a warning once per kind of failure. */
  report(error: unknown): void {
    const failure = error instanceof Error ? error : new Error(String(error))
    if (this.options.onError) {
      try {
        this.options.onError(failure)
      } catch {} // a listener that throws must not fail a render
      return
    }
    const kind = failure instanceof GroupCacheError ? failure.code : failure.name
    if (this.warned.has(kind)) return
    this.warned.add(kind)
    console.warn(`redis-group-cache/next: ${failure.message} (further ${kind} failures are not logged)`)
  }

  /**
   * The value stored under `key` for a request of these soft tags. Each set of soft tags (each
   * route) has a copy of its own, stored under them: a function read from several routes is
   * rendered once per route, and revalidatePath of one route renders only its copy anew. A miss
   * keeps its token for the set that follows. Fails open: a miss.
   */
  async read<T>(key: string, softTags: readonly string[]): Promise<Found<T>> {
    const groups = unique(softTags)
    const entryKey = variantKey(`${this.kind}:${key}`, groups)
    try {
      const result = await this.groupCache().read<T>(entryKey, { groups, grace: MAX_STALE_MS })
      if (result.hit) return result.notFound ? { kind: 'miss' } : { kind: 'fresh', value: result.value }
      this.keep(key, { token: result.token, groups, leased: result.leased, entryKey, at: now() })
      return result.stale === undefined ? { kind: 'miss' } : { kind: 'stale', value: result.stale.value }
    } catch (error) {
      this.report(error)
      return { kind: 'miss' }
    }
  }

  /**
   * Keeps a miss for the set that follows: at most MAX_MISSES_PER_KEY per key, none older than a
   * lease (its token would be refused); the fill leases of those dropped go.
   */
  private keep(key: string, read: PendingRead): void {
    const oldest = read.at - this.lease
    const reads = (this.pending.get(key) ?? []).filter((other) => other.at > oldest || !this.drop(other))
    reads.push(read)
    while (reads.length > MAX_MISSES_PER_KEY) this.drop(reads.shift() as PendingRead)
    this.pending.set(key, reads, { noDisposeOnSet: true })
  }

  /** A miss no set will use: its fill lease, if it took one, goes. Returns true. */
  private drop(read: PendingRead): true {
    if (read.leased)
      void this.groupCache()
        .release(read.token)
        .catch((error: unknown) => this.report(error))
    return true
  }

  /**
   * Stores a render's value under its tags, with the token of a miss of its key read before the
   * render began (see above): the latest such miss when Next says when the render began
   * (`startedAt`, on this process's clock, as `now()`), and that one and every earlier one are
   * used up; else the oldest this process has, and all of them are used up. The fill leases they
   * took go. Resolves whether it was
   * stored; failures are reported, never thrown.
   */
  async store(
    key: string,
    value: unknown,
    tags: readonly string[],
    ttl: number | undefined,
    grace: number,
    startedAt?: number,
    /** true: use up the miss, store nothing (Next's `revalidate: 0`) */
    skip = false,
  ): Promise<boolean> {
    const oldest = now() - this.lease
    const reads = (this.pending.get(key) ?? []).filter((read) => read.at > oldest || !this.drop(read))
    // With no start time, every miss kept is used up, and the oldest one taken.
    const last = startedAt === undefined ? reads.length - 1 : reads.findLastIndex((read) => read.at <= startedAt)
    if (last < 0) {
      if (reads.length === 0) this.pending.delete(key)
      else this.pending.set(key, reads, { noDisposeOnSet: true })
      // A render that followed a hit (an on-demand revalidation, say): not stored, since nothing
      // says when it began, but what it replaces goes, so the next request renders with a token.
      if (startedAt === undefined)
        await this.groupCache()
          .delete(variantKey(`${this.kind}:${key}`, []))
          .catch((error: unknown) => this.report(error))
      return false
    }
    const used = reads.splice(0, last + 1)
    if (reads.length === 0) this.pending.delete(key)
    else this.pending.set(key, reads, { noDisposeOnSet: true })
    const read = (startedAt === undefined ? used[0] : used[last]) as PendingRead
    const stored = skip ? false : await this.write(read, value, tags, ttl, grace)
    // The set released its own token's lease; the others used up (and this one, refused or
    // failed) let the next render, anywhere, start at once.
    for (const other of used) if (other !== read || !stored) this.drop(other)
    return stored
  }

  /** A render's value, stored with the token of the miss it follows: whether it was. */
  private async write(
    read: PendingRead,
    value: unknown,
    tags: readonly string[],
    ttl: number | undefined,
    grace: number,
  ): Promise<boolean> {
    try {
      return await this.groupCache().set(read.entryKey, value as never, {
        token: read.token,
        groups: unique([...read.groups, ...tags]),
        ttl: ttl ?? Number.POSITIVE_INFINITY,
        grace: ttl === undefined ? 0 : grace,
      })
    } catch (error) {
      this.report(error)
      return false
    }
  }

  /** Expires `tags`: hard (no stale copy anywhere), or soft (stale within grace while one render refreshes). */
  async expire(tags: unknown, hard: boolean): Promise<void> {
    try {
      const list = typeof tags === 'string' ? [tags] : tags
      if (!Array.isArray(list))
        throw new InvalidArgumentError(`tags must be a string or an array of strings (got ${typeof tags})`)
      if (list.length === 0) return
      await this.groupCache().expireGroups(unique(list), { hard })
    } catch (error) {
      this.report(error)
    }
  }

  async close(): Promise<void> {
    await this.cache?.close()
    this.cache = undefined
  }
}

/** Tags without repeats, in order; a tag that is not a string fails the group check that follows. */
function unique(tags: readonly unknown[]): string[] {
  return [...new Set(tags)] as string[]
}
