/**
 * The variants of the herd (scenario 6), each opened on a Redis connection it is given (so that
 * the caller can count its commands, see countCommands):
 * - `group-cache 581da5c (before fill leases)`: the library at commit 581da5c, the last before the
 *   fill lease, imported as source from `.bench-before/` (bench/before.ts), with its defaults (no
 *   grace, which it did not have; lease 30 s): callers of one process share a fill, each process
 *   fills on its own;
 * - `group-cache`: this repository as built: one fill per key across the fleet (the fill lease), no grace;
 * - `group-cache grace`: the same with `grace` (ms) on the cache: a value invalidated by a soft
 *   expireGroup is returned at once for that long while one fill in the fleet refreshes it;
 * - `bentocache grace`: BentoCache 1.6 with Redis as its only layer (no L1, no bus), its grace
 *   enabled (6 h, which BentoCache counts from the write, so it outlasts the 1 h TTL), its default
 *   soft timeout of 0 (a graced value is returned at once, the factory runs in the background) and
 *   its stampede protection, which is a lock per key in each process.
 */
import { BentoCache, bentostore } from 'bentocache'
import { redisDriver } from 'bentocache/drivers/redis'
import type { Command, Redis } from 'ioredis'
import { Keys } from '../src/keys.js'
import { BEFORE_COMMIT, BEFORE_ENTRY } from './before.js'
import { PEER_TTL_SECONDS } from './contenders.js'
import type { Value } from './data.js'
import { GroupCache } from './package.js'

export const BEFORE_VARIANT = `group-cache ${BEFORE_COMMIT} (before fill leases)` as const
export const HERD_VARIANTS = [BEFORE_VARIANT, 'group-cache', 'group-cache grace', 'bentocache grace'] as const
export type HerdVariantName = (typeof HERD_VARIANTS)[number]
type GroupCacheVariant = Exclude<HerdVariantName, 'bentocache grace'>

/** The variants without grace: a row older than the invalidation a call started after is wrong there. */
export const WITHOUT_GRACE: readonly HerdVariantName[] = [BEFORE_VARIANT, 'group-cache']

/** Monotonic ms (CLOCK_MONOTONIC): one clock for every process of the machine. */
export const clock = (): number => Number(process.hrtime.bigint()) / 1e6

/** The group every hot key is in; each is also in one of its own. */
export const HERD_GROUP = 'users'

/** How a wrap call of the herd is classified (bench/herd-worker.ts). */
export const KINDS = ['hit', 'waiter', 'filler', 'stale'] as const
export type Kind = (typeof KINDS)[number]

/** What the herd's fill function reads: the key's 1 KiB value and the version its row was at. */
export interface Row extends Value {
  version: number
}

export interface HerdVariant {
  readonly name: HerdVariantName
  /** Read-through: the cached row, or `load()`'s, stored in `groups`. */
  wrap(key: string, groups: readonly string[], load: () => Promise<Row>): Promise<Row>
  /** Invalidates every value in `group` (soft: values with grace may be served for their grace). */
  expireGroup(group: string): Promise<void>
  /** Failures the library absorbed without telling its caller (its `error` event), if it has such. */
  swallowedErrors(): string[]
  /** Closes the cache, not the connection it was given. */
  close(): Promise<void>
}

/** What each variant is, in words (the report). */
export const HERD_DESCRIPTIONS: Record<HerdVariantName, string> = {
  [BEFORE_VARIANT]: 'no fill lease (a fill per process), no grace',
  'group-cache': 'fill lease, no grace',
  'group-cache grace': 'fill lease, grace',
  'bentocache grace': 'grace 6 h, timeout 0, per-process locks; invalidation: deleteByTag',
}

const GROUP_CACHE_NAMESPACES: Record<GroupCacheVariant, string> = {
  [BEFORE_VARIANT]: 'bench-herd-before',
  'group-cache': 'bench-herd',
  'group-cache grace': 'bench-herd-grace',
}
const BENTO_PREFIX = 'bench-herd-bento'

/** Glob patterns covering every Redis key the variants write (clean-up on a shared server). */
export const HERD_PATTERNS: readonly string[] = [
  ...Object.values(GROUP_CACHE_NAMESPACES).map((namespace) => new Keys('rgc', namespace).pattern),
  `${BENTO_PREFIX}:*`,
]

/** Told when Redis acknowledged a store of a row of `version` under `key` (a fill's, a refresh's). */
export type OnStored = (key: string, version: number) => void

/**
 * What the herd uses of a GroupCache, the same in the version built and in BEFORE_COMMIT's (which
 * has no `grace` option).
 */
interface HerdCache {
  set(key: string, value: unknown, options?: object): Promise<boolean>
  wrap<T>(key: string, options: { groups?: readonly string[] }, fn: () => Promise<T>): Promise<T>
  expireGroup(group: string): Promise<unknown>
  on(event: 'error', listener: (error: { code: string; message: string }) => void): unknown
  close(): Promise<void>
}
type HerdCacheClass = new (options: { redis: Redis; namespace: string; timeout: number; grace?: number }) => HerdCache

/**
 * BEFORE_COMMIT's GroupCache, from `.bench-before/src/index.ts`, which the herd scenario writes
 * (bench/before.ts) before any process opens the variant.
 */
async function beforeGroupCache(): Promise<HerdCacheClass> {
  const module = (await import(BEFORE_ENTRY)) as { GroupCache?: HerdCacheClass }
  if (typeof module.GroupCache !== 'function') throw new Error(`${BEFORE_ENTRY} exports no GroupCache`)
  return module.GroupCache
}

/** `grace`: ms, for `group-cache grace`. */
export async function openVariant(
  name: HerdVariantName,
  redis: Redis,
  grace: number,
  onStored: OnStored = () => {},
): Promise<HerdVariant> {
  switch (name) {
    case 'bentocache grace':
      return bentocache(redis, onStored)
    // Its defaults: it has no grace, and its lease was 30 s.
    case BEFORE_VARIANT:
      return groupCache(name, await beforeGroupCache(), redis, undefined, onStored)
    case 'group-cache':
      return groupCache(name, GroupCache, redis, 0, onStored)
    case 'group-cache grace':
      return groupCache(name, GroupCache, redis, grace, onStored)
  }
}

function groupCache(
  name: GroupCacheVariant,
  Cache: HerdCacheClass,
  redis: Redis,
  grace: number | undefined,
  onStored: OnStored,
): HerdVariant {
  const namespace = GROUP_CACHE_NAMESPACES[name]
  // The long timeout of bench/contenders.ts: a stall of this noisy machine must not fail a read open.
  const options = { redis, namespace, timeout: 10_000 }
  const cache = new Cache(grace === undefined ? options : { ...options, grace })
  // A fill stores through the cache's own `set` (src/cache.ts, and 581da5c's): wrapping it sees every store.
  const set = cache.set.bind(cache)
  cache.set = async (key, value, options) => {
    const stored = await set(key, value, options)
    if (stored) onStored(key, (value as Row).version)
    return stored
  }
  const errors: string[] = []
  cache.on('error', (error) => errors.push(`${error.code}: ${error.message}`))
  return {
    name,
    wrap: (key, groups, load) => cache.wrap(key, { groups }, load),
    async expireGroup(group) {
      await cache.expireGroup(group)
    },
    swallowedErrors: () => errors,
    close: () => cache.close(),
  }
}

function bentocache(redis: Redis, onStored: OnStored): HerdVariant {
  watchBentoStores(redis, onStored)
  const bento = new BentoCache({
    default: 'redis',
    prefix: BENTO_PREFIX,
    ttl: `${PEER_TTL_SECONDS}s`,
    grace: '6h',
    stores: { redis: bentostore().useL2Layer(redisDriver({ connection: redis })) },
  })
  const errors: string[] = []
  return {
    name: 'bentocache grace',
    wrap: (key, groups, load) =>
      bento.getOrSet({
        key,
        tags: groups as string[],
        factory: load,
        // A background refresh that fails is not thrown to anyone: collect it.
        onFactoryError: (error) => errors.push(`factory: ${error.message}`),
      }),
    async expireGroup(group) {
      await bento.deleteByTag({ tags: [group] })
    },
    swallowedErrors: () => errors,
    // BentoCache's disconnect quits the connection it was given: the caller's to close.
    close: async () => {},
  }
}

/**
 * BentoCache stores an entry with a SET of `<prefix>:<key>` to its JSON (value, createdAt,
 * logicalExpiration, tags); it also rewrites an entry it finds invalidated by a tag as logically
 * expired. A SET of a live entry is a store of its row.
 */
function watchBentoStores(redis: Redis, onStored: OnStored): void {
  const send = redis.sendCommand.bind(redis)
  const entry = `${BENTO_PREFIX}:`
  redis.sendCommand = ((command: Command, stream) => {
    const sent = send(command, stream)
    const [key, value] = command.args
    if (command.name === 'set' && typeof key === 'string' && key.startsWith(entry) && !key.includes(':___bc:')) {
      const stored = JSON.parse(String(value)) as { value?: Partial<Row>; logicalExpiration?: number }
      const version = stored.value?.version
      if (typeof version === 'number' && (stored.logicalExpiration ?? 0) > Date.now()) {
        command.promise.then(
          () => onStored(key.slice(entry.length), version),
          () => {},
        )
      }
    }
    return sent
  }) as Redis['sendCommand']
}

/**
 * Calls `count` once per command sent on `redis` (a command the offline queue sends again once
 * connected counts once), before it is written.
 */
export function countCommands(redis: Redis, count: () => void): void {
  const send = redis.sendCommand.bind(redis)
  const seen = new WeakSet<object>()
  redis.sendCommand = ((command, stream) => {
    if (!seen.has(command)) {
      seen.add(command)
      count()
    }
    return send(command, stream)
  }) as Redis['sendCommand']
}
