/**
 * redis-group-cache/next: Next.js cache handlers on a GroupCache, where `revalidateTag` is one
 * version move whatever the tag's size. `createCacheHandler` for next.config's `cacheHandler`
 * (the incremental cache), `createCacheComponentsHandler` for `cacheHandlers` (`'use cache'`).
 */

export { nextSerializer } from './codec.js'
export { type CacheComponentsHandler, type CacheEntry, createCacheComponentsHandler } from './components.js'
export {
  type CacheHandlerValue,
  createCacheHandler,
  type IncrementalContext,
  type IncrementalValue,
} from './incremental.js'
export type { NextCacheOptions } from './store.js'
