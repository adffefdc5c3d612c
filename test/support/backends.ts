import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { setTimeout as sleep } from 'node:timers/promises'
import calculateSlot from 'cluster-key-slot'
import { Cluster, Redis } from 'ioredis'
import RedisMock from 'ioredis-mock'
import { afterAll, afterEach, beforeEach, describe, inject } from 'vitest'
import type { CacheClient } from '../../src/commands.js'
import { decodeEntry } from '../../src/entry.js'
import { GroupCache, type GroupCacheOptions } from '../../src/index.js'
import { Keys, type Sharding } from '../../src/keys.js'
import { memoryClient } from '../../src/memory.js'

/** What runs the scripts: a real Redis server, or ioredis-mock's Lua (fengari) in this process. */
export type BackendName = 'redis' | 'memory'

/**
 * The backends of the behaviour suite:
 * - 'redis': this run's real Redis (test/global-setup.ts), a connection of its own per cache;
 * - 'memory': the in-memory backend (ioredis-mock);
 * - 'acl': the same Redis, each cache logged in as a user made from the README's ACL line
 *   (its command rules exactly; its key pattern widened to the tests' namespaces);
 * - 'cluster': a Redis Cluster of 3 masters, each cache on an ioredis `Cluster` of its own;
 * - 'cluster-key' and 'memory-key': the cluster and the in-memory backend with caches of
 *   `sharding: 'key'` (each key and group on its own slot: src/spread.ts);
 * - 'sentinel': a primary with two replicas behind three Sentinels, each cache on an ioredis
 *   `Redis` with `sentinels` of its own.
 */
export type BackendKind = 'redis' | 'memory' | 'acl' | 'cluster' | 'cluster-key' | 'memory-key' | 'sentinel'
const ALL: readonly BackendKind[] = ['redis', 'memory', 'acl', 'cluster', 'cluster-key', 'memory-key', 'sentinel']
/** Every backend, or those RGC_BACKENDS names (a comma list): `npm run mutate` runs on two, for time. */
export const BACKENDS: readonly BackendKind[] = chosenBackends(process.env.RGC_BACKENDS)

function chosenBackends(list: string | undefined): readonly BackendKind[] {
  if (!list) return ALL
  const names = list.split(',').map((name) => name.trim())
  const unknown = names.filter((name) => !ALL.includes(name as BackendKind))
  if (unknown.length > 0)
    throw new Error(`RGC_BACKENDS names unknown backends ${unknown.join(', ')}; known: ${ALL.join(', ')}`)
  return names as BackendKind[]
}

export interface Backend {
  /**
   * What runs the scripts: 'redis' for the acl and cluster backends too. Expectations that hold
   * for one engine only, and per-engine run counts, key on this.
   */
  readonly name: BackendName
  /** Which backend of the suite this is (the one in the describe title). */
  readonly kind: BackendKind
  /** The `sharding` of this backend's caches (`cache()`, `failingCache()`, and the key names below). */
  readonly sharding: Sharding
  /** This test's namespace: every test gets its own. */
  readonly namespace: string
  /** A cache on this backend in this test's namespace (closed after the test). */
  cache(options?: Partial<GroupCacheOptions>): GroupCache
  /**
   * A plain client on the same data, to look at and tamper with what the cache wrote: the
   * server's default (admin) user, also on 'acl'. On 'cluster' an ioredis `Cluster` whose KEYS
   * asks every master and whose DEL of keys in several slots sends one DEL per slot.
   */
  readonly raw: Redis
  /**
   * A `redis` option for caches a test builds and closes itself (many, in a property test): one
   * client shared by all of them and left open by their close(), connected as this backend's
   * caches are ('memory'; the admin client on 'redis'; the ACL user; a Cluster).
   */
  readonly client: GroupCacheOptions['redis']
  /**
   * A cache like `cache()` on a client of its own whose Redis fails while `outage` is on: the
   * faults of test/faults.test.ts, which need a server a test can kill, on every backend.
   */
  failingCache(options?: Partial<GroupCacheOptions>): { cache: GroupCache; outage: Outage }
  /** Every key of a namespace (default: this test's) with its type, contents and TTL. */
  dump(namespace?: string): Promise<Record<string, string>>
  /** Every Redis key name of this test's namespace, in this backend's layout. */
  readonly keys: Keys
  /** The key names of a namespace's entry and group version of `name`. */
  entryKey(name: string, namespace?: string): string
  groupKey(name: string, namespace?: string): string
}

/**
 * How a cache's Redis fails while an outage is on. 'drop' and 'hang' do not send the command, so
 * a call that failed did not run:
 * - 'drop': every command rejects at once, as ioredis rejects one on a dropped connection;
 * - 'hang': no command answers, as with a paused server; only the cache's own timeout ends a call;
 * - 'slow': each command is sent DELAY_MS late, as from a process that stalled before sending it.
 */
export type FailureMode = 'drop' | 'hang' | 'slow'

const DELAY_MS = 300

export interface Outage {
  /** The outage, of the commands `only` picks (by name and arguments; default: every one). */
  start(mode: FailureMode, only?: (command: string, args: unknown[]) => boolean): void
  end(): void
  /** How many commands failed so far: an outage that failed none proved nothing. */
  readonly failed: number
}

/** Every command the cache sends: scripts, the MGET of a hinted read, and WAIT. */
const CACHE_COMMANDS = new Set<PropertyKey>(['evalsha', 'eval', 'mgetBuffer', 'getBuffer', 'wait'])

/**
 * `client`, whose cache commands fail while the outage is on. Everything else (events, quit)
 * reaches the client itself, bound to it: ioredis's methods expect their own `this`.
 */
function failing<C extends object>(client: C): { client: C; outage: Outage } {
  let mode: FailureMode | undefined
  let picks: ((command: string, args: unknown[]) => boolean) | undefined
  let failed = 0
  const proxy = new Proxy(client, {
    get(target, property) {
      const value = Reflect.get(target, property, target)
      if (typeof value !== 'function') return value
      if (mode === undefined || !CACHE_COMMANDS.has(property)) return value.bind(target)
      const failure = mode
      return (...args: unknown[]) => {
        if (picks !== undefined && !picks(String(property), args)) return value.apply(target, args)
        failed++
        if (failure === 'slow') return sleep(DELAY_MS).then(() => value.apply(target, args))
        return failure === 'drop' ? Promise.reject(new Error('Connection is closed.')) : new Promise(() => {})
      }
    },
  })
  return {
    client: proxy,
    outage: {
      start(next, only) {
        mode = next
        picks = only
      },
      end() {
        mode = undefined
        picks = undefined
      },
      get failed() {
        return failed
      },
    },
  }
}

export function randomNamespace(): string {
  return `t${randomBytes(6).toString('hex')}`
}

export const entryKey = (namespace: string, key: string, sharding: Sharding = 'namespace') =>
  new Keys('rgc', namespace, sharding).entry(key)
export const groupKey = (namespace: string, group: string, sharding: Sharding = 'namespace') =>
  new Keys('rgc', namespace, sharding).group(group)

/** The entry stored under a Redis key, decoded (snapshot versions, groups, value); null if none. */
export async function storedEntry(raw: Redis, name: string): Promise<ReturnType<typeof decodeEntry> | null> {
  const text = await raw.get(name)
  return text === null ? null : decodeEntry(text)
}

/** Works on a cluster through a Backend's `raw`, whose KEYS asks every master. */
export async function dumpNamespace(
  raw: Redis,
  namespace: string,
  sharding: Sharding = 'namespace',
): Promise<Record<string, string>> {
  // Brackets are glob characters; braces and angle brackets are not. Namespaces hold none.
  const names = (await raw.keys(new Keys('rgc', namespace, sharding).pattern)).sort()
  const out: Record<string, string> = {}
  for (const name of names) {
    const type = await raw.type(name)
    const contents = type === 'hash' ? JSON.stringify(await raw.hgetall(name)) : await raw.get(name)
    const ttl = await raw.pttl(name)
    out[name] = `${type} ${contents} ${ttl < 0 ? ttl : 'ttl'}`
  }
  return out
}

/**
 * An ioredis `Cluster` that answers the keyless and cross-slot commands the tests send to `raw`
 * as a single server would: KEYS from every master, DEL split by slot. Typed as `Redis`, which
 * is what the tests' helpers take.
 */
function rawCluster(nodes: readonly string[]): Redis {
  const cluster = new Cluster([...nodes])
  const del = cluster.del.bind(cluster)
  const masters = async () => {
    if (cluster.status !== 'ready') await once(cluster, 'ready')
    return cluster.nodes('master')
  }
  return Object.assign(cluster, {
    keys: async (pattern: string) => (await Promise.all((await masters()).map((node) => node.keys(pattern)))).flat(),
    del: async (...names: (string | string[])[]) => {
      const bySlot = new Map<number, string[]>()
      for (const name of names.flat()) {
        const slot = calculateSlot(name)
        bySlot.set(slot, [...(bySlot.get(slot) ?? []), name])
      }
      const counts = await Promise.all([...bySlot.values()].map((group) => del(...group)))
      return counts.reduce((sum, count) => sum + count, 0)
    },
  }) as unknown as Redis
}

/** How one backend reaches its data. */
interface Target {
  readonly raw: Redis
  /** The `redis` option of a new cache, and what to release once the cache is closed. */
  connect(): { redis: GroupCacheOptions['redis']; release(): void }
  /** See Backend.client. */
  readonly client: GroupCacheOptions['redis']
  /** A client of its own, connected as this backend's caches are, and how to let it go. */
  own(): { client: CacheClient; release(): void }
  dispose(): void
}

/** A client made on first use, and disconnected then only. */
function lazily(make: () => Redis | Cluster): { get(): Redis | Cluster; dispose(): void } {
  let made: Redis | Cluster | undefined
  return {
    get: () => {
      made ??= make()
      return made
    },
    dispose: () => made?.disconnect(),
  }
}

/** A connection as the cache opens one for a URL (src/connection.ts). */
function ownRedis(url: string): { client: Redis; release(): void } {
  const own = new Redis(url, { maxRetriesPerRequest: 1 })
  return { client: own, release: () => own.disconnect() }
}

function target(kind: BackendKind): Target | { error: string } {
  switch (kind) {
    case 'memory': {
      const raw = new RedisMock() as Redis
      return {
        raw,
        connect: () => ({ redis: 'memory', release() {} }),
        client: 'memory',
        own() {
          // the store every 'memory' cache of this process shares
          const own = memoryClient()
          return { client: own, release: () => own.disconnect() }
        },
        dispose: () => raw.disconnect(),
      }
    }
    case 'redis': {
      const url = inject('redisUrl')
      const raw = new Redis(url)
      return {
        raw,
        connect: () => ({ redis: url, release() {} }),
        client: raw,
        own: () => ownRedis(url),
        dispose: () => raw.disconnect(),
      }
    }
    case 'acl': {
      const url = inject('aclUrl')
      const raw = new Redis(inject('redisUrl'))
      const client = lazily(() => new Redis(url))
      return {
        raw,
        connect: () => ({ redis: url, release() {} }),
        get client() {
          return client.get()
        },
        own: () => ownRedis(url),
        dispose() {
          raw.disconnect()
          client.dispose()
        },
      }
    }
    case 'memory-key':
      return target('memory')
    case 'sentinel': {
      const sentinel = inject('sentinel')
      if ('error' in sentinel) return sentinel
      const open = () => new Redis({ sentinels: sentinel.sentinels, name: sentinel.name, maxRetriesPerRequest: 1 })
      return opening(open(), open)
    }
    case 'cluster-key':
      return target('cluster')
    case 'cluster': {
      const cluster = inject('cluster')
      if ('error' in cluster) return cluster
      return opening(rawCluster(cluster.nodes), () => new Cluster([...cluster.nodes]))
    }
  }
}

/** A backend whose caches each get a client of their own from `open`, and tests one shared (`client`). */
function opening(raw: Redis, open: () => Redis | Cluster): Target {
  const client = lazily(open)
  return {
    raw,
    connect() {
      const own = open()
      return { redis: own, release: () => own.disconnect() }
    },
    own() {
      const own = open()
      return { client: own, release: () => own.disconnect() }
    },
    get client() {
      return client.get()
    },
    dispose() {
      raw.disconnect()
      client.dispose()
    },
  }
}

/**
 * The behaviour suite runs once per backend (BACKENDS). `body` gets a Backend whose namespace is
 * new for every test. A backend this run could not set up fails its tests with the reason.
 */
export function forEachBackend(title: string, body: (backend: Backend) => void): void {
  for (const kind of BACKENDS) onBackend(kind, title, body)
}

/** `body` on one backend, in a describe titled `<title> [<kind>]`. */
export function onBackend(kind: BackendKind, title: string, body: (backend: Backend) => void): void {
  describe(`${title} [${kind}]`, () => {
    const reached = target(kind)
    const use = (): Target => {
      if ('error' in reached) throw new Error(reached.error)
      return reached
    }
    const caches: GroupCache[] = []
    const releases: (() => void)[] = []
    let namespace = randomNamespace()
    beforeEach(() => {
      // In each test, not once before all: a failing beforeAll reports its tests as skipped, and
      // a backend this run could not reach must fail every test of it.
      use()
      namespace = randomNamespace()
    })
    afterEach(async () => {
      await Promise.all(caches.splice(0).map((cache) => cache.close()))
      for (const release of releases.splice(0)) release()
    })
    afterAll(() => {
      if (!('error' in reached)) reached.dispose()
    })
    const sharding: Sharding = kind.endsWith('-key') ? 'key' : 'namespace'
    body({
      name: kind.startsWith('memory') ? 'memory' : 'redis',
      kind,
      sharding,
      get namespace() {
        return namespace
      },
      cache(options = {}) {
        const { redis, release } = use().connect()
        releases.push(release)
        const cache = new GroupCache({ redis, namespace, sharding, ...options })
        caches.push(cache)
        return cache
      },
      failingCache(options = {}) {
        const own = use().own()
        releases.push(own.release)
        const { client, outage } = failing(own.client)
        const cache = new GroupCache({ redis: client, namespace, sharding, ...options })
        caches.push(cache)
        return { cache, outage }
      },
      get raw() {
        return use().raw
      },
      get client() {
        return use().client
      },
      get keys() {
        return new Keys('rgc', namespace, sharding)
      },
      dump: (ns = namespace) => dumpNamespace(use().raw, ns, sharding),
      entryKey: (key, ns = namespace) => entryKey(ns, key, sharding),
      groupKey: (group, ns = namespace) => groupKey(ns, group, sharding),
    })
  })
}
