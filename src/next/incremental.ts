import { lifetimes, type NextCacheOptions, NextStore, now } from './store.js'

/**
 * The incremental cache handler (next.config `cacheHandler`): ISR and prerendered pages
 * (APP_PAGE, PAGES), route handlers (APP_ROUTE), redirects, `fetch` and `unstable_cache` data
 * (FETCH), optimized images (IMAGE). Next makes an instance per request; every instance of the
 * class one `createCacheHandler` returns shares one cache (src/next/store.ts); the context Next
 * constructs it with holds nothing it needs.
 *
 * Tags: a FETCH entry's are in the set's `ctx.tags`, and its request's soft tags in the get's
 * `ctx.softTags`; a page's or route's, soft ones included, in its `x-next-cache-tags` header.
 * Next checks tags in a map of its own process only (or not at all, with a handler of one's
 * own): here they are the entry's groups, checked in Redis on every get.
 *
 * `lastModified`: Next dates a hit by it, on this host's clock (`performance.timeOrigin +
 * performance.now()`; `Date.now()` for images). A fresh hit is dated now (Redis keeps its TTL,
 * which is its `revalidate`), so a host whose clock runs ahead never re-renders a fresh entry; a
 * stale one is dated just past its revalidate and within its expire, so that Next serves it and
 * renders anew in the background. A set that followed a hit (an on-demand revalidation) is not
 * stored, and the entry goes (src/next/store.ts).
 */

/** The parts of Next's types the handler reads (next/dist/server/lib/incremental-cache). */
export interface IncrementalContext {
  kind?: string
  tags?: string[]
  softTags?: string[]
  fetchCache?: boolean
  cacheControl?: { revalidate?: number | false; expire?: number }
}
export type IncrementalValue = {
  kind?: string
  headers?: Record<string, unknown>
  revalidate?: number | false
  tags?: string[]
} | null
interface Stored {
  value: IncrementalValue
  cacheControl?: IncrementalContext['cacheControl']
}
export interface CacheHandlerValue {
  lastModified: number
  value: unknown
  cacheControl?: IncrementalContext['cacheControl']
}

/** The class for next.config's `cacheHandler`: `module.exports = createCacheHandler({ redis: process.env.REDIS_URL })`. */
export function createCacheHandler(options: NextCacheOptions) {
  const store = new NextStore(options, 'i')
  return class RedisGroupCacheHandler {
    /** The cache every instance shares (to close it in a test, say). */
    static readonly store = store

    // biome-ignore lint/complexity/noUselessConstructor: the signature Next constructs it with
    constructor(_context?: unknown) {}

    async get(key: string, context: IncrementalContext = {}): Promise<CacheHandlerValue | null> {
      const fetch = context.kind === 'FETCH'
      const softTags = fetch ? [...(context.tags ?? []), ...(context.softTags ?? [])] : []
      const found = await store.read<Stored>(key, softTags)
      if (found.kind === 'miss') return null
      const { value, cacheControl } = found.value
      // Next dates what it reads on its own clock: IMAGE on Date.now(), the rest as now() does
      const clock = context.kind === 'IMAGE' ? Date.now() : now()
      if (found.kind === 'fresh') return { lastModified: clock, value, cacheControl }
      // Stale: dated just past its revalidate (a FETCH: 0, as old as can be), within its expire,
      // so that Next serves it and renders anew in the background.
      if (fetch) return { lastModified: 0, value, cacheControl }
      const revalidate = cacheControl?.revalidate
      if (typeof revalidate !== 'number') return null // never revalidated by time: render it now
      const { grace } = lifetimes(revalidate, cacheControl?.expire) ?? { grace: 0 }
      return { lastModified: clock - revalidate * 1000 - Math.min(1000, grace / 2) - 1, value, cacheControl }
    }

    async set(key: string, data: IncrementalValue, context: IncrementalContext = {}): Promise<void> {
      const fetch = context.fetchCache === true
      const tags = fetch ? [...(context.tags ?? []), ...(data?.tags ?? [])] : headerTags(data)
      const life = fetch
        ? lifetimes(data?.revalidate, undefined)
        : lifetimes(context.cacheControl?.revalidate ?? data?.revalidate, context.cacheControl?.expire)
      const stored: Stored = { value: data, cacheControl: context.cacheControl }
      // not to be stored (revalidate 0): the miss it followed is used up all the same
      await store.store(key, stored, tags, life?.ttl, life?.grace ?? 0, undefined, life === undefined)
    }

    /** `revalidateTag(tag, profile)`, `updateTag`, `revalidatePath`: no `expire` or 0 is hard. */
    async revalidateTag(tags: string | string[], durations?: { expire?: number }): Promise<void> {
      await store.expire(tags, !durations?.expire)
    }

    resetRequestCache(): void {}
  }
}

/** A page's or route's tags, soft ones included: its `x-next-cache-tags` header, comma-joined. */
function headerTags(data: IncrementalValue): string[] {
  const header = data?.headers?.['x-next-cache-tags']
  if (typeof header !== 'string' || header === '') return []
  return header.split(',')
}
