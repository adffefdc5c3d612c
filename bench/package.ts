/**
 * redis-group-cache as users run it: the built package (dist/, which `npm run bench` builds
 * first), found through its own name. Typed by its source, so that typechecking needs no build.
 */
const name = 'redis-group-cache'
export const { GroupCache } = (await import(name)) as typeof import('../src/index.js')
/** The Next.js handlers, from the built package's `redis-group-cache/next`. */
export const { createCacheHandler, nextSerializer } = (await import(
  `${name}/next`
)) as typeof import('../src/next/index.js')
