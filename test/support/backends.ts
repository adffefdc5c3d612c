import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import calculateSlot from 'cluster-key-slot'
import { Cluster, Redis } from 'ioredis'
import RedisMock from 'ioredis-mock'
import { afterAll, afterEach, beforeEach, describe, inject } from 'vitest'
import { decodeEntry } from '../../src/entry.js'
import { GroupCache, type GroupCacheOptions } from '../../src/index.js'

/** What runs the scripts: a real Redis server, or ioredis-mock's Lua (fengari) in this process. */
export type BackendName = 'redis' | 'memory'

/**
 * The backends of the behaviour suite:
 * - 'redis': this run's real Redis (test/global-setup.ts), a connection of its own per cache;
 * - 'memory': the in-memory backend (ioredis-mock);
 * - 'acl': the same Redis, each cache logged in as a user made from the README's ACL line
 *   (its command rules exactly; its key pattern widened to the tests' namespaces);
 * - 'cluster': a Redis Cluster of 3 masters, each cache on an ioredis `Cluster` of its own.
 */
export type BackendKind = 'redis' | 'memory' | 'acl' | 'cluster'
export const BACKENDS: readonly BackendKind[] = ['redis', 'memory', 'acl', 'cluster']

export interface Backend {
  /**
   * What runs the scripts: 'redis' for the acl and cluster backends too. Expectations that hold
   * for one engine only, and per-engine run counts, key on this.
   */
  readonly name: BackendName
  /** Which backend of the suite this is (the one in the describe title). */
  readonly kind: BackendKind
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
  /** Every key of a namespace (default: this test's) with its type, contents and TTL. */
  dump(namespace?: string): Promise<Record<string, string>>
  /** The key names of a namespace's entry and group version of `name`. */
  entryKey(name: string, namespace?: string): string
  groupKey(name: string, namespace?: string): string
}

export function randomNamespace(): string {
  return `t${randomBytes(6).toString('hex')}`
}

export const entryKey = (namespace: string, key: string) => `rgc:{${namespace}}:e:${key}`
export const groupKey = (namespace: string, group: string) => `rgc:{${namespace}}:g:${group}`

/** The entry stored under a Redis key, decoded (snapshot versions, groups, value); null if none. */
export async function storedEntry(raw: Redis, name: string): Promise<ReturnType<typeof decodeEntry> | null> {
  const text = await raw.get(name)
  return text === null ? null : decodeEntry(text)
}

/** Works on a cluster through a Backend's `raw`, whose KEYS asks every master. */
export async function dumpNamespace(raw: Redis, namespace: string): Promise<Record<string, string>> {
  // Brackets are glob characters; braces are not. Namespaces hold neither.
  const names = (await raw.keys(`rgc:{${namespace}}:*`)).sort()
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

function target(kind: BackendKind): Target | { error: string } {
  switch (kind) {
    case 'memory': {
      const raw = new RedisMock() as Redis
      return {
        raw,
        connect: () => ({ redis: 'memory', release() {} }),
        client: 'memory',
        dispose: () => raw.disconnect(),
      }
    }
    case 'redis': {
      const url = inject('redisUrl')
      const raw = new Redis(url)
      return { raw, connect: () => ({ redis: url, release() {} }), client: raw, dispose: () => raw.disconnect() }
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
        dispose() {
          raw.disconnect()
          client.dispose()
        },
      }
    }
    case 'cluster': {
      const cluster = inject('cluster')
      if ('error' in cluster) return cluster
      const raw = rawCluster(cluster.nodes)
      const client = lazily(() => new Cluster([...cluster.nodes]))
      return {
        raw,
        connect() {
          const own = new Cluster([...cluster.nodes])
          return { redis: own, release: () => own.disconnect() }
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
    body({
      name: kind === 'memory' ? 'memory' : 'redis',
      kind,
      get namespace() {
        return namespace
      },
      cache(options = {}) {
        const { redis, release } = use().connect()
        releases.push(release)
        const cache = new GroupCache({ redis, namespace, ...options })
        caches.push(cache)
        return cache
      },
      get raw() {
        return use().raw
      },
      get client() {
        return use().client
      },
      dump: (ns = namespace) => dumpNamespace(use().raw, ns),
      entryKey: (key, ns = namespace) => entryKey(ns, key),
      groupKey: (group, ns = namespace) => groupKey(ns, group),
    })
  })
}
