import { randomBytes } from 'node:crypto'
import { Redis } from 'ioredis'
import RedisMock from 'ioredis-mock'
import { afterAll, afterEach, beforeEach, describe, inject } from 'vitest'
import { decodeEntry } from '../../src/entry.js'
import { GroupCache, type GroupCacheOptions } from '../../src/index.js'

export type BackendName = 'redis' | 'memory'

export interface Backend {
  readonly name: BackendName
  /** This test's namespace: every test gets its own. */
  readonly namespace: string
  /** A cache on this backend in this test's namespace (closed after the test). */
  cache(options?: Partial<GroupCacheOptions>): GroupCache
  /** A plain client on the same data, to look at and tamper with what the cache wrote. */
  readonly raw: Redis
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
 * The behaviour suite runs once per backend: the real Redis of this run and the in-memory one.
 * `body` gets a Backend whose namespace is new for every test.
 */
export function forEachBackend(title: string, body: (backend: Backend) => void): void {
  describe.each<BackendName>(['redis', 'memory'])(`${title} [%s]`, (name) => {
    const raw = (name === 'memory' ? new RedisMock() : new Redis(inject('redisUrl'))) as Redis
    const caches: GroupCache[] = []
    let namespace = randomNamespace()
    beforeEach(() => {
      namespace = randomNamespace()
    })
    afterEach(async () => {
      await Promise.all(caches.splice(0).map((cache) => cache.close()))
    })
    afterAll(() => {
      raw.disconnect()
    })
    body({
      name,
      get namespace() {
        return namespace
      },
      cache(options = {}) {
        const cache = new GroupCache({
          redis: name === 'memory' ? 'memory' : inject('redisUrl'),
          namespace,
          ...options,
        })
        caches.push(cache)
        return cache
      },
      raw,
      dump: (ns = namespace) => dumpNamespace(raw, ns),
      entryKey: (key, ns = namespace) => entryKey(ns, key),
      groupKey: (group, ns = namespace) => groupKey(ns, group),
    })
  })
}
