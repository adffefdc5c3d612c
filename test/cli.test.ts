import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { Cluster, Redis } from 'ioredis'
import { afterAll, describe, expect, inject, it } from 'vitest'
import { GroupCache } from '../src/index.js'
import type { Sharding } from '../src/keys.js'
import { randomNamespace } from './support/backends.js'

/**
 * `redis-group-cache`, the package's bin, run as a process (src/cli.ts under tsx) against the
 * tests' real Redis and their Cluster: every command, its output and its exit code.
 */
const CLI = fileURLToPath(new URL('../src/cli.ts', import.meta.url))
const url = inject('redisUrl')
const cluster = inject('cluster')

interface Ran {
  code: number
  stdout: string
  stderr: string
  ms: number
}

function cli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Ran> {
  const started = performance.now()
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', CLI, ...args],
      { env: { PATH: process.env.PATH, ...env }, timeout: 30_000 },
      (error, stdout, stderr) => {
        const code = error ? ((error as { code?: number }).code ?? 1) : 0
        resolve({ code: typeof code === 'number' ? code : 1, stdout, stderr, ms: performance.now() - started })
      },
    )
  })
}

const opened: { close(): Promise<void> | void }[] = []
afterAll(async () => {
  for (const item of opened) await item.close()
})

function cacheOn(redis: string | Cluster, namespace: string, sharding: Sharding = 'namespace'): GroupCache {
  const cache = new GroupCache({ redis, namespace, sharding })
  opened.push(cache)
  return cache
}

describe('redis-group-cache [redis]', () => {
  const raw = new Redis(url)
  opened.push({ close: () => raw.disconnect() })

  it('inspect: live, each group with its snapshot and current version, the TTL and the size; stale once a group is expired', async () => {
    const ns = randomNamespace()
    const cache = cacheOn(url, ns)
    await cache.set('user_1', { name: 'Ada' }, { groups: ['users', 'user_group_1'], ttl: 60_000 })
    const base = ['--url', url, '--namespace', ns]
    const live = await cli([...base, 'inspect', 'user_1'])
    expect(live.code, live.stderr).toBe(0)
    expect(live.stdout).toMatch(
      /^user_1 \(rgc:\{[^}]+\}:e:user_1\): live\n {2}get: hit\n {2}group users: snapshot \d+, now \d+\n/,
    )
    expect(live.stdout).toMatch(/ttl: \d+ ms; grace: 0 ms/)
    const json = JSON.parse((await cli([...base, '--json', 'inspect', 'user_1'])).stdout)
    expect(json).toMatchObject({ key: 'user_1', exists: true, live: true, get: 'hit', valueBytes: 14 })
    expect(json.groups.map((group: { name: string; moved: boolean }) => [group.name, group.moved])).toEqual([
      ['users', false],
      ['user_group_1', false],
    ])
    expect(json.ttlMs).toBeGreaterThan(50_000)

    const expired = await cli([...base, 'expire', 'user_group_1'])
    expect(expired).toMatchObject({ code: 0, stdout: 'expired 1 group: user_group_1\n' })
    const stale = JSON.parse((await cli([...base, '--json', 'inspect', 'user_1'])).stdout)
    expect(stale).toMatchObject({ exists: true, live: false, get: 'miss: user_group_1 moved' })
    expect(await cache.get('user_1')).toBeUndefined()
    const missing = JSON.parse((await cli([...base, '--json', 'inspect', 'nobody'])).stdout)
    expect(missing).toMatchObject({ exists: false, live: false, groups: [] })
  })

  it('expire --hard, and delete: the values are gone for every cache', async () => {
    const ns = randomNamespace()
    const cache = cacheOn(url, ns)
    await cache.set('a', 1, { groups: ['g'] })
    await cache.set('b', 2, { groups: ['h'] })
    await cache.set('c', 3, { groups: ['h'] })
    const base = ['--url', url, '--namespace', ns]
    expect(await cli([...base, '--json', 'expire', '--hard', 'g'])).toMatchObject({ code: 0 })
    expect(await cache.get('a')).toBeUndefined()
    const deleted = await cli([...base, 'delete', 'b', 'nobody'])
    expect(deleted).toMatchObject({ code: 0, stdout: 'deleted 2 keys, 1 of them live\n' })
    expect(await cache.get('b')).toBeUndefined()
    expect(await cache.get('c')).toBe(3)
  })

  it('stats: exact counts of a keyspace the test built, by SCAN', async () => {
    const ns = randomNamespace()
    const cache = cacheOn(url, ns)
    for (let i = 0; i < 30; i++) await cache.set(`k${i}`, i, { groups: [`g${i % 4}`, 'all'] })
    await cache.read('missing', { groups: ['all'] }) // a miss: its key's generation and fill lease
    const ran = await cli(['--url', url, '--namespace', ns, '--json', 'stats'])
    expect(ran.code, ran.stderr).toBe(0)
    const stats = JSON.parse(ran.stdout)
    // a plain set moves a generation only where there is one: the miss made the one, and took the lease
    expect(stats).toMatchObject({ entries: 30, groups: 5, generations: 1, leases: 1, records: 0, nodes: 1 })
    expect(stats.bytes.entries).toBeGreaterThan(30 * 20)
    const text = await cli(['--url', url, '--namespace', ns, 'stats'])
    expect(text.stdout).toMatch(/^entries: 30 \(\d+ bytes\)\ngroups: 5 /)
  })

  it('clear --yes deletes every key of the namespace and only those: other namespaces and foreign keys stay', async () => {
    const ns = randomNamespace()
    const other = randomNamespace()
    await cacheOn(url, ns).set('k', 1, { groups: ['g'] })
    await cacheOn(url, other).set('k', 2, { groups: ['g'] })
    const foreign = [`rgc:${ns}:e:k`, `rgc:{${ns}}`, `${ns}:k`]
    for (const name of foreign) await raw.set(name, 'not the cache')
    try {
      const refused = await cli(['--url', url, '--namespace', ns, 'clear'])
      expect(refused.code).toBe(2) // not a terminal, and no --yes
      expect(refused.stderr).toMatch(/--yes/)
      const cleared = await cli(['--url', url, '--namespace', ns, 'clear', '--yes'])
      expect(cleared.code, cleared.stderr).toBe(0)
      expect(cleared.stdout).toMatch(new RegExp(`^deleted [1-9]\\d* keys of namespace ${ns}\\n$`))
      expect(await raw.keys(`rgc:{${ns}}:*`)).toEqual([])
      expect(await cacheOn(url, other).get('k')).toBe(2)
      for (const name of foreign) expect(await raw.get(name)).toBe('not the cache')
    } finally {
      await raw.del(...foreign)
    }
  })

  it('exit codes: 2 for bad usage (the usage on stderr), and with no --url nor REDIS_URL, naming --url', async () => {
    const none = await cli(['stats'])
    expect(none.code).toBe(2)
    expect(none.stderr).toMatch(/--url/)
    expect(none.stdout).toBe('')
    const fromEnv = await cli(['--namespace', randomNamespace(), '--json', 'stats'], { REDIS_URL: url })
    expect(fromEnv.code, fromEnv.stderr).toBe(0)
    for (const args of [
      ['nonsense'],
      ['expire'],
      ['--url', url, 'inspect'],
      ['--timeout', 'soon', 'stats'],
      ['--url', 'http://x', 'stats'],
    ]) {
      const ran = await cli(args)
      expect(ran.code, `${args.join(' ')}: ${ran.stderr}`).toBe(2)
      expect(ran.stderr).toMatch(/[Uu]sage|error|must/)
    }
    expect((await cli(['--url', url, 'expire', ''])).code).toBe(2) // an empty group name: refused before anything is sent
    expect((await cli(['--help'])).code).toBe(0)
  })

  it('exit code 1, with a message on stderr, when Redis is down (a closed port), within --timeout', async () => {
    const ran = await cli(['--url', 'redis://127.0.0.1:1', '--timeout', '500', 'stats'])
    expect(ran.code).toBe(1)
    expect(ran.stderr).toMatch(/^redis-group-cache: .*ECONNREFUSED/)
    // the process ends on its own: a hang would be killed at the 30 s of `cli`
    expect(ran.ms).toBeLessThan(20_000)
  })
})

describe('redis-group-cache [cluster]', () => {
  it("on a Cluster (--cluster, a seed node), under both shardings: stats counts every master's keys; expire and inspect work", async () => {
    if ('error' in cluster) throw new Error(cluster.error)
    const seed = cluster.nodes[0] as string
    for (const sharding of ['namespace', 'key'] as const) {
      const ns = randomNamespace()
      const client = new Cluster([...cluster.nodes])
      opened.push({ close: () => client.disconnect() })
      const cache = cacheOn(client, ns, sharding)
      for (let i = 0; i < 40; i++) await cache.set(`k${i}`, i, { groups: [`g${i % 8}`] })
      await cache.delete('k39') // its entry goes, its generation is made
      const base = ['--url', seed, '--cluster', '--sharding', sharding, '--namespace', ns]
      const stats = JSON.parse((await cli([...base, '--json', 'stats'])).stdout)
      expect(stats).toMatchObject({ entries: 39, groups: 8, generations: 1, nodes: 3 })
      expect((await cli([...base, 'expire', 'g0', 'g1'])).code).toBe(0)
      const inspected = JSON.parse((await cli([...base, '--json', 'inspect', 'k0'])).stdout)
      expect(inspected).toMatchObject({ exists: true, live: false })
      expect(JSON.parse((await cli([...base, '--json', 'inspect', 'k2'])).stdout)).toMatchObject({ live: true })
      expect((await cli([...base, 'clear', '--yes'])).code).toBe(0)
      expect(JSON.parse((await cli([...base, '--json', 'stats'])).stdout)).toMatchObject({ entries: 0, groups: 0 })
    }
  }, 60_000)
})
