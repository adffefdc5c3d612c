/**
 * The four contenders behind one interface, each on its own Redis connection:
 * - `plain`: ioredis GET/SET of JSON.stringify/parse'd values, no groups (the limit);
 * - `group-cache`: this repository, as built (dist/, what users run);
 * - `bentocache`: BentoCache 1.6, one store with Redis as its only layer (no L1, no bus), tags;
 * - `async-cache-dedupe`: async-cache-dedupe 3.4 on Redis storage with references.
 *
 * And, for the fleet scenario only, group-cache with a near cache (FLEET_NEAR_VARIANTS, below).
 */
import { createCache } from 'async-cache-dedupe'
import { BentoCache, bentostore } from 'bentocache'
import { redisDriver } from 'bentocache/drivers/redis'
import { Redis } from 'ioredis'
import { Keys } from '../src/keys.js'
import type { Value } from './data.js'
import { GroupCache } from './package.js'

export const CONTENDERS = ['plain', 'group-cache', 'bentocache', 'async-cache-dedupe'] as const
export type ContenderName = (typeof CONTENDERS)[number]
export const PEERS: readonly ContenderName[] = ['bentocache', 'async-cache-dedupe']

/** TTL the peers are given (async-cache-dedupe caches nothing without one; BentoCache defaults to 30 min). */
export const PEER_TTL_SECONDS = 3600

export interface Contender {
  readonly name: ContenderName
  /** Stores `value` under `key` in `groups` (plain ignores groups). */
  set(key: string, value: Value, groups: readonly string[]): Promise<void>
  /** The value under `key`, or undefined. */
  get(key: string): Promise<Value | undefined>
  /** Read-through: the cached value, or `load()`'s, stored in `groups`. */
  wrap(key: string, groups: readonly string[], load: () => Value): Promise<Value>
  /** Values of many keys in one call, where the library has such an API. */
  readonly getMany?: (keys: readonly string[]) => Promise<(Value | undefined)[]>
  /** Invalidates every value in `group` (absent for plain). */
  readonly expireGroup?: (group: string) => Promise<void>
  /** Removes one key. */
  delete(key: string): Promise<void>
  /** The Redis keys that one entry owns (for MEMORY USAGE). */
  entryKeys(key: string): string[]
  /** The Redis key a group costs, if any (for MEMORY USAGE). */
  groupKey(group: string): string | undefined
  /** Glob patterns covering every Redis key this contender writes (clean-up on a shared server). */
  readonly patterns: readonly string[]
  /** Failures the library absorbed without telling its caller (logged, not thrown), if it has such. */
  swallowedErrors(): string[]
  /** Calls answered by in-process dedupe instead of Redis (async-cache-dedupe only). */
  dedupes(): number
  close(): Promise<void>
}

export function createContender(name: ContenderName, url: string): Contender {
  switch (name) {
    case 'plain':
      return plain(url)
    case 'group-cache':
      return groupCache(url)
    case 'bentocache':
      return bentocache(url)
    case 'async-cache-dedupe':
      return asyncCacheDedupe(url)
  }
}

const decode = (text: string | null): Value | undefined => (text === null ? undefined : (JSON.parse(text) as Value))

function plain(url: string): Contender {
  const redis = new Redis(url)
  const prefix = 'bench:plain:'
  return {
    name: 'plain',
    async set(key, value) {
      await redis.set(prefix + key, JSON.stringify(value))
    },
    async get(key) {
      return decode(await redis.get(prefix + key))
    },
    async wrap(key, _groups, load) {
      const hit = decode(await redis.get(prefix + key))
      if (hit !== undefined) return hit
      const value = load()
      await redis.set(prefix + key, JSON.stringify(value))
      return value
    },
    async getMany(keys) {
      return (await redis.mget(keys.map((key) => prefix + key))).map(decode)
    },
    async delete(key) {
      await redis.unlink(prefix + key)
    },
    entryKeys: (key) => [prefix + key],
    groupKey: () => undefined,
    patterns: [`${prefix}*`],
    swallowedErrors: () => [],
    dedupes: () => 0,
    async close() {
      redis.disconnect()
    },
  }
}

export const GROUP_CACHE_NAMESPACE = 'bench'

function groupCache(url: string): Contender {
  // A long timeout, so that a stall of this noisy machine cannot turn a hit into a miss; the
  // code path (a timer raced against each call) is the default one.
  const cache = new GroupCache({ redis: url, namespace: GROUP_CACHE_NAMESPACE, timeout: 10_000 })
  return { name: 'group-cache', ...groupCacheOps(cache, GROUP_CACHE_NAMESPACE) }
}

/**
 * Fleet-only contenders: group-cache with a strict near cache (values copied, and frozen).
 * ContenderName (CONTENDERS) is shared: run.ts opens every one of them in the parent and the
 * throughput, memory and expire-group scenarios iterate over it, and a near cache would be
 * wrong there (the parent's near cache is not the fleet's: it is per process). So these are not
 * ContenderNames but a type of their own, FleetContenderName = ContenderName | FleetNearVariant,
 * which only the fleet scenario and its worker use; each worker process opens its own.
 * Each has a namespace of its own: with group-cache's, the writes of group-cache's rounds would
 * send tracking invalidations to the idle near caches (Redis work during another contender's
 * round), and each variant would start its rounds on the other's data.
 */
export const FLEET_NEAR_VARIANTS = ['group-cache near strict', 'group-cache near strict frozen'] as const
export type FleetNearVariant = (typeof FLEET_NEAR_VARIANTS)[number]
export type FleetContenderName = ContenderName | FleetNearVariant

const NEAR_NAMESPACES: Record<FleetNearVariant, string> = {
  'group-cache near strict': 'bench-near-strict',
  'group-cache near strict frozen': 'bench-near-strict-frozen',
}

export const isFleetNearVariant = (name: string): name is FleetNearVariant =>
  (FLEET_NEAR_VARIANTS as readonly string[]).includes(name)

/** A fleet contender: a Contender of the suite, or group-cache with a near cache. */
export interface FleetContender extends Omit<Contender, 'name'> {
  readonly name: FleetContenderName
  /** Its near cache's stats (near variants only). */
  readonly near?: () => { inSync: boolean; held: number; hits: number } | undefined
}

/** The Redis key patterns a near variant writes (without opening it). */
export const nearVariantPatterns = (name: FleetNearVariant): string[] => [
  new Keys('rgc', NEAR_NAMESPACES[name]).pattern,
]

/**
 * group-cache as the suite's contender (the same long timeout), with a near cache of
 * `maxEntries`, consistency 'strict', values 'copied' or 'frozen'.
 */
export function createNearVariant(name: FleetNearVariant, url: string, maxEntries: number): FleetContender {
  const namespace = NEAR_NAMESPACES[name]
  const values = name === 'group-cache near strict frozen' ? 'frozen' : 'copied'
  const cache = new GroupCache({
    redis: url,
    namespace,
    timeout: 10_000,
    nearCache: { maxEntries, consistency: 'strict', values },
  })
  return { name, ...groupCacheOps(cache, namespace), near: () => cache.nearCacheStats() }
}

/** A Contender's operations on a GroupCache of `namespace`. */
function groupCacheOps(cache: InstanceType<typeof GroupCache>, namespace: string): Omit<Contender, 'name'> {
  const errors: string[] = []
  cache.on('error', (error) => errors.push(`${error.code}: ${error.message}`))
  const keys = new Keys('rgc', namespace)
  return {
    async set(key, value, groups) {
      if (!(await cache.set(key, value, { groups }))) throw new Error(`group-cache: set(${key}) was refused`)
    },
    get: (key) => cache.get<Value>(key),
    wrap: (key, groups, load) => cache.wrap(key, { groups }, load),
    getMany: (keys) => cache.getMany<Value>(keys),
    expireGroup: (group) => cache.expireGroup(group),
    async delete(key) {
      await cache.delete(key)
    },
    entryKeys: (key) => [keys.entry(key)],
    groupKey: (group) => keys.group(group),
    patterns: [keys.pattern],
    swallowedErrors: () => errors,
    dedupes: () => 0,
    close: () => cache.close(),
  }
}

function bentocache(url: string): Contender {
  const redis = new Redis(url)
  const prefix = 'bench-bento'
  const bento = new BentoCache({
    default: 'redis',
    prefix,
    ttl: `${PEER_TTL_SECONDS}s`,
    // Redis as the only layer: no L1 (in-memory) layer, no bus.
    stores: { redis: bentostore().useL2Layer(redisDriver({ connection: redis })) },
  })
  return {
    name: 'bentocache',
    async set(key, value, groups) {
      await bento.set({ key, value, tags: groups as string[] })
    },
    get: (key) => bento.get<Value | undefined>({ key }),
    wrap: (key, groups, load) => bento.getOrSet({ key, tags: groups as string[], factory: load }),
    async expireGroup(group) {
      await bento.deleteByTag({ tags: [group] })
    },
    async delete(key) {
      await bento.delete({ key })
    },
    entryKeys: (key) => [`${prefix}:${key}`],
    groupKey: (group) => `${prefix}:___bc:t:${group}`,
    patterns: [`${prefix}:*`],
    swallowedErrors: () => [],
    dedupes: () => 0,
    async close() {
      await bento.disconnect()
      redis.disconnect()
    },
  }
}

interface AcdArgs {
  key: string
  groups: readonly string[]
  load: () => Value
}

const ACD_NAME = 'acdBench'

function asyncCacheDedupe(url: string): Contender {
  const client = new Redis(url)
  const errors: string[] = []
  let dedupes = 0
  const reference = (group: string) => `${ACD_NAME}:${group}`
  const storageKey = (key: string) => `${ACD_NAME}~${key}`
  const cache = createCache({
    ttl: PEER_TTL_SECONDS,
    storage: {
      type: 'redis',
      options: {
        client,
        // References are ignored (with a warning) unless invalidation is on; referencesTTL must
        // cover the entries' TTL, or a reference set expires before its entries.
        invalidation: { referencesTTL: PEER_TTL_SECONDS },
        // The storage logs failures instead of throwing: collect them so the bench can tell.
        log: {
          debug: () => {},
          warn: ({ msg }) => errors.push(`warn: ${msg}`),
          error: ({ msg, err }) => errors.push(`${msg}: ${(err as Error | undefined)?.message ?? ''}`),
        },
      },
    },
    onDedupe: () => {
      dedupes++
    },
    onError: (error: unknown) => errors.push(`onError: ${(error as Error)?.message ?? String(error)}`),
  }).define(
    ACD_NAME,
    {
      // The cache key is the bench key alone; groups become references.
      serialize: (args: AcdArgs) => args.key,
      references: (args: AcdArgs) => args.groups.map(reference),
    },
    async (args: AcdArgs) => args.load(),
  )
  return {
    name: 'async-cache-dedupe',
    async set(key, value, groups) {
      // cache.set works on storage keys; the storage sorts the references array in place: a copy.
      await cache.set(ACD_NAME, storageKey(key), value, PEER_TTL_SECONDS, groups.map(reference))
    },
    async get(key) {
      // Straight to the storage: GET + JSON.parse, no in-process dedupe.
      return (await cache.get(ACD_NAME, storageKey(key))) as Value | undefined
    },
    // The defined function: in-process dedupe, then the storage, then the function.
    wrap: (key, groups, load) => cache[ACD_NAME]({ key, groups, load }),
    async expireGroup(group) {
      await cache.invalidateAll(reference(group))
    },
    async delete(key) {
      // clear(name, args) removes the entry the defined function would cache for these args.
      await cache.clear(ACD_NAME, { key })
    },
    entryKeys: (key) => [storageKey(key), `k:${storageKey(key)}`],
    groupKey: (group) => `r:${reference(group)}`,
    patterns: [`${ACD_NAME}~*`, `k:${ACD_NAME}~*`, `r:${ACD_NAME}:*`],
    swallowedErrors: () => errors,
    dedupes: () => dedupes,
    async close() {
      client.disconnect()
    },
  }
}
