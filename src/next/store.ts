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
 * its own tags and under the soft (implicit, path) tags its request named, so a read that names
 * soft tags hits only an entry stored under them all, each at its current version.
 *
 * A render that began before a revalidation is not stored as fresh. Next reads (`get`), renders
 * on a miss, then stores (`set`); the miss's fill token, kept here by key until its set, makes the
 * set a compare-and-set: tags named only at the set are late groups, refused if any moved after
 * the read (in Redis's clock: versions are Redis times). A set with no token from a get in this
 * process is not stored: there is no telling when its render began.
 *
 * Stale while revalidating, in Redis's clock. An entry's TTL is Next's `revalidate` and its grace
 * `expire - revalidate`: past its TTL, or after a soft revalidation (`revalidateTag(tag, 'max')`,
 * any profile with an `expire`), a read within grace gets the old value and a token. The read that
 * took the key's fill lease hands Next the value marked stale, so that Next serves it and
 * renders anew in the background, once across the fleet; the others hand it out as it is.
 * `{ expire: 0 }`, `updateTag` and `revalidatePath` are hard: the next read misses everywhere.
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

/** Seconds Next treats as "never" (its INFINITE_CACHE), and anything as long or longer. */
const NEVER_S = 0xfffffffe
/** The longest window a stale value is served in, ms: a year, Next's 'max' profile. */
export const MAX_STALE_MS = 365 * 24 * 3600 * 1000

/** A render on its way: the token of the miss it follows, and the soft tags its read named. */
interface Pending {
  token: FillToken
  groups: readonly string[]
  /** whether its read took the key's fill lease */
  leased: boolean
}

/** What a read finds for Next: nothing, a fresh value, or a stale one (and whether this caller re-renders it). */
export type Found<T> = { kind: 'miss' } | { kind: 'fresh'; value: T } | { kind: 'stale'; value: T; refresh: boolean }

/** Next's seconds, as a TTL and grace in ms: undefined for "never". */
export function lifetimes(revalidate: unknown, expire: unknown): { ttl: number | undefined; grace: number } {
  const seconds = (value: unknown) =>
    typeof value === 'number' && Number.isFinite(value) && value > 0 && value < NEVER_S ? value : undefined
  const r = seconds(revalidate)
  const e = seconds(expire)
  const ttl = r === undefined ? (e === undefined ? undefined : e * 1000) : r * 1000
  const grace = r !== undefined && e !== undefined ? Math.max(0, e - r) * 1000 : MAX_STALE_MS
  return { ttl, grace: Math.min(grace, MAX_STALE_MS) }
}

export class NextStore {
  private cache: GroupCache | undefined
  /** Renders on their way, by key: what their set stores with. */
  private readonly pending: LRUCache<string, Pending>
  private readonly warned = new Set<string>()

  constructor(
    private readonly options: NextCacheOptions,
    /** the key prefix of this handler's entries ('i' incremental, 'c' cache components) */
    private readonly kind: string,
  ) {
    if (typeof options !== 'object' || options === null)
      throw new InvalidArgumentError('the Next.js handler options must be an object (GroupCacheOptions)')
    // a render's set comes at most a lease after its get: its token is no good after that
    this.pending = new LRUCache({ max: 10_000, ttl: options.lease ?? 30_000 })
  }

  /** The cache, made on first use: importing the handler connects nowhere. */
  private groupCache(): GroupCache {
    if (this.cache === undefined) {
      const { onError: _, ...options } = this.options
      this.cache = new GroupCache({
        lease: 30_000,
        ...options,
        namespace: options.namespace ?? 'next',
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
      this.options.onError(failure)
      return
    }
    const kind = failure instanceof GroupCacheError ? failure.code : failure.name
    if (this.warned.has(kind)) return
    this.warned.add(kind)
    console.warn(`redis-group-cache/next: ${failure.message} (further ${kind} failures are not logged)`)
  }

  /**
   * The value stored under `key`, if it is stored under every tag of `softTags`. A miss keeps its
   * token for the set that follows. Fails open: a miss.
   */
  async read<T>(key: string, softTags: readonly string[]): Promise<Found<T>> {
    const cacheKey = `${this.kind}:${key}`
    try {
      const groups = unique(softTags)
      const result = await this.groupCache().read<T>(cacheKey, { groups, grace: MAX_STALE_MS })
      if (result.hit) return result.notFound ? { kind: 'miss' } : { kind: 'fresh', value: result.value }
      if (result.stale !== undefined && !result.leased)
        return { kind: 'stale', value: result.stale.value, refresh: false }
      // Two misses of a key before its set: the one holding the fill lease is kept, so that its
      // set releases the lease (dropped, it would hold up every other process's refresh).
      const previous = this.pending.get(cacheKey)
      if (!previous?.leased || result.leased)
        this.pending.set(cacheKey, { token: result.token, groups, leased: result.leased })
      if (result.stale !== undefined) return { kind: 'stale', value: result.stale.value, refresh: true }
      return { kind: 'miss' }
    } catch (error) {
      this.report(error)
      return { kind: 'miss' }
    }
  }

  /**
   * Stores a render's value under its tags, with the token of the miss it followed (see above).
   * Resolves whether it was stored; failures are reported, never thrown.
   */
  async store(
    key: string,
    value: unknown,
    tags: readonly string[],
    ttl: number | undefined,
    grace: number,
  ): Promise<boolean> {
    const cacheKey = `${this.kind}:${key}`
    const pending = this.pending.get(cacheKey)
    this.pending.delete(cacheKey)
    if (pending === undefined) return false
    let stored = false
    try {
      stored = await this.groupCache().set(cacheKey, value as never, {
        token: pending.token,
        groups: unique([...pending.groups, ...tags]),
        ttl: ttl ?? Number.POSITIVE_INFINITY,
        grace: ttl === undefined ? 0 : grace,
      })
    } catch (error) {
      this.report(error)
    }
    // refused or failed: the next render, anywhere, may start at once
    if (!stored)
      await this.groupCache()
        .release(pending.token)
        .catch(() => {})
    return stored
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
