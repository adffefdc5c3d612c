import { lifetimes, type NextCacheOptions, NextStore } from './store.js'

/**
 * The handler for `'use cache'` (next.config `cacheHandlers`, with `cacheComponents: true`): one
 * object per module, registered once per process.
 *
 * Soft tags (a request's implicit path tags) are checked in `get`, in Redis, so
 * `getExpiration` answers Infinity ("checked in get") and Next compares no timestamps from other
 * hosts' clocks with tags. An entry keeps Next's own `timestamp` (when its render began, on the
 * host that rendered it), which a set matches with the miss it follows (src/next/store.ts). A
 * stale entry is handed out with `revalidate: -1`: served once more, and rendered anew.
 */

/** Next's CacheEntry (next/dist/server/lib/cache-handlers/types). */
export interface CacheEntry {
  value: ReadableStream<Uint8Array>
  tags: string[]
  stale: number
  timestamp: number
  expire: number
  revalidate: number
}
interface Stored {
  bytes: Buffer
  tags: string[]
  stale: number
  timestamp: number
  expire: number
  revalidate: number
}
export interface CacheComponentsHandler {
  get(cacheKey: string, softTags: string[]): Promise<CacheEntry | undefined>
  set(cacheKey: string, pendingEntry: Promise<CacheEntry>): Promise<void>
  refreshTags(): Promise<void>
  getExpiration(tags: string[]): Promise<number>
  updateTags(tags: string[], durations?: { expire?: number }): Promise<void>
}

/** The object for next.config's `cacheHandlers`: `export default createCacheComponentsHandler({ redis: ... })`. */
export function createCacheComponentsHandler(
  options: NextCacheOptions,
): CacheComponentsHandler & { close(): Promise<void> } {
  const store = new NextStore(options, 'c')
  /** Sets on their way, by key: a get of the same key waits for its set (Next's rule). */
  const setting = new Map<string, Promise<void>>()

  return {
    async get(cacheKey, softTags) {
      await setting.get(cacheKey)
      const found = await store.read<Stored>(cacheKey, Array.isArray(softTags) ? softTags : [])
      if (found.kind === 'miss') return undefined
      const { bytes, ...meta } = found.value
      const entry = { ...meta, value: streamOf(bytes) }
      if (found.kind === 'fresh') return entry
      // stale: served once more, and rendered anew (in the background, or at once where its
      // value would be stored in another entry)
      return { ...entry, revalidate: -1 }
    },

    set(cacheKey, pendingEntry) {
      const done = (async () => {
        let entry: CacheEntry
        let bytes: Buffer
        try {
          entry = await pendingEntry
          bytes = await drain(entry.value)
        } catch (error) {
          store.report(error) // a render that failed, or a stream that broke: nothing stored
          return
        }
        // expire 0: dynamic, never cached (as Next's own handler does); revalidate 0: stale at once
        const life = entry.expire === 0 ? undefined : lifetimes(entry.revalidate, entry.expire)
        const { value: _, ...meta } = entry
        // its timestamp is when its render began, on this process's clock: the miss it follows came before
        await store.store(
          cacheKey,
          { ...meta, bytes },
          entry.tags ?? [],
          life?.ttl,
          life?.grace ?? 0,
          entry.timestamp,
          life === undefined,
        )
      })()
      setting.set(cacheKey, done)
      return done.finally(() => {
        if (setting.get(cacheKey) === done) setting.delete(cacheKey)
      })
    },

    async refreshTags() {},

    async getExpiration() {
      return Number.POSITIVE_INFINITY
    },

    async updateTags(tags, durations) {
      await store.expire(tags, !durations?.expire)
    },

    close: () => store.close(),
  }
}

function streamOf(bytes: Buffer): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(controller) {
      controller.enqueue(new Uint8Array(bytes))
      controller.close()
    },
  })
}

async function drain(stream: ReadableStream<Uint8Array>): Promise<Buffer> {
  const chunks: Uint8Array[] = []
  const reader = stream.getReader()
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    chunks.push(value)
  }
  return Buffer.concat(chunks)
}
