import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import RedisMock from 'ioredis-mock'
import { afterAll, beforeAll, describe, expect, inject, it, type MockInstance, vi } from 'vitest'
import { scriptsOf } from '../src/commands.js'
import { GroupCache, type Serializer } from '../src/index.js'
import { Keys, type Sharding } from '../src/keys.js'
import { dumpNamespace, randomNamespace } from './support/backends.js'
import { type RedisServer, startRedisServer } from './support/redis-server.js'

/**
 * No user input is ever placed into Lua source: whatever the keys, groups and values hold, the
 * only scripts a cache sends are the fixed ones of lua/ (by SHA, or by their exact source after
 * NOSCRIPT), and names and values travel only as KEYS and ARGV.
 */

/** Lua, Redis-protocol and format metacharacters, and code that would do harm if it ran. */
const NASTY = [
  ']]',
  ']=]',
  '[[',
  "'",
  '"',
  "\\'",
  '\n',
  '\r\n',
  '--',
  '--[[ x',
  "redis.call('FLUSHALL')",
  "'); redis.call('FLUSHALL') --",
  '"]] redis.call("FLUSHALL") --[[',
  'return redis.call("FLUSHALL")',
  '%s',
  '%d%%%',
  '\u0000',
  'a\u0000b',
  '\\',
  '\\0',
  '$' + '{x}',
  '*3\r\n$8\r\nFLUSHALL\r\n',
  '{',
  '}',
  '😀',
] as const

/** Stores strings as they are, so the raw characters (NUL included) reach ARGV unescaped. */
const rawStrings: Serializer = {
  serialize: (value) => {
    if (typeof value !== 'string') throw new Error('strings only')
    return value
  },
  deserialize: (text) => text,
}

type Client = Redis
interface Target {
  name: string
  sharding: Sharding
  client: () => Client
  /** Whether the first call of each script is sure to miss the server's script cache. */
  cold: boolean
}

let server: RedisServer | undefined
let serverDir: string | undefined
const clients: Client[] = []
afterAll(async () => {
  for (const client of clients) client.disconnect()
  await server?.stop()
  if (serverDir) rmSync(serverDir, { recursive: true, force: true })
})

const clients_: Omit<Target, 'sharding'>[] = [
  { name: 'redis', client: () => new Redis(inject('redisUrl')), cold: false },
  { name: 'memory', client: () => new RedisMock() as unknown as Redis, cold: true },
  {
    // a server of its own: the scripts are not loaded, so the EVAL fallback is exercised too
    name: 'redis, own empty server',
    client: () => {
      if (!server) throw new Error('server not started')
      return new Redis(server.url)
    },
    cold: true,
  },
]

const targets: Target[] = clients_.flatMap((target) =>
  (['namespace', 'key'] as const).map((sharding) => ({ ...target, sharding })),
)

describe.each(targets)('no user input in Lua source [$name, sharding $sharding]', (target) => {
  const scripts = scriptsOf[target.sharding]
  const SHAS = new Set(scripts.map((script) => script.sha))
  const SOURCES = new Set(scripts.map((script) => script.source))
  /** The caches' client, spied on; the test looks at the data through `observer`. */
  let client: Client
  let observer: Client
  let evalsha: MockInstance
  let evalSource: MockInstance
  let mget: MockInstance
  let get: MockInstance
  let sendCommand: MockInstance | undefined
  const namespace = randomNamespace()
  const sentinel = `sentinel:${randomBytes(6).toString('hex')}`

  beforeAll(async () => {
    if (target.name.includes('own') && !server) {
      // an empty directory: no dump.rdb left in the working directory is loaded
      serverDir = mkdtempSync(join(tmpdir(), 'rgc-lua-'))
      server = await startRedisServer(['--dir', serverDir])
    }
    client = target.client()
    observer = target.client()
    clients.push(client, observer)
    await observer.set(sentinel, 'still here')
    // cold: no script loaded, not even by the run of the other sharding mode on this server
    if (target.cold && observer instanceof Redis) await observer.script('FLUSH')
    evalsha = vi.spyOn(client, 'evalsha')
    evalSource = vi.spyOn(client, 'eval')
    mget = vi.spyOn(client, 'mgetBuffer')
    get = vi.spyOn(client, 'getBuffer')
    // On a real client, every command goes through sendCommand: none but these three may be sent.
    if (client instanceof Redis) sendCommand = vi.spyOn(client, 'sendCommand')
  })

  afterAll(async () => {
    evalsha.mockRestore()
    evalSource.mockRestore()
    mget.mockRestore()
    get.mockRestore()
    sendCommand?.mockRestore()
    const names = Object.keys(await dumpNamespace(observer, namespace, target.sharding))
    if (names.length > 0) await observer.del(...names)
    await observer.del(sentinel)
  })

  it('every method works with keys, groups and values full of metacharacters', async () => {
    const { sharding } = target
    const cache = new GroupCache({ redis: client, namespace, sharding })
    const raw = new GroupCache({ redis: client, namespace, sharding, serializer: rawStrings })
    const valueFor = (name: string) => ({ text: name, [name]: [name, `${name}${name}`], n: 1 })

    for (const name of NASTY) {
      expect(await cache.set(name, valueFor(name), { groups: [name, `g${name}`], ttl: 600_000 })).toBe(true)
      expect(await cache.get(name)).toEqual(valueFor(name))
      expect(await raw.set(`raw${name}`, `${name}|${name}`, { groups: [name] })).toBe(true)
      expect(await raw.get(`raw${name}`)).toBe(`${name}|${name}`)
    }
    expect(await cache.getMany([...NASTY])).toEqual(NASTY.map(valueFor))
    expect(await raw.getMany(NASTY.map((name) => `raw${name}`))).toEqual(NASTY.map((name) => `${name}|${name}`))

    for (const name of NASTY) {
      const miss = await raw.read(`read${name}`, { groups: [name, `g${name}`] })
      if (miss.hit) throw new Error('expected a miss')
      expect(miss.token.groups).toEqual([name, `g${name}`])
      const token = JSON.parse(JSON.stringify(miss.token))
      expect(await raw.set(`read${name}`, name, { token })).toBe(true)
      expect(await raw.read(`read${name}`, { groups: [name] })).toEqual({ hit: true, value: name })

      const given = await raw.read(`given${name}`, { groups: [name] })
      if (given.hit || !given.leased) throw new Error('expected a miss that takes the lease')
      await raw.release(given.token)

      expect(await raw.wrap(`wrap${name}`, { groups: [name] }, () => `${name}!`)).toBe(`${name}!`)
      expect(await raw.wrap(`wrap${name}`, { groups: [name] }, () => 'not called')).toBe(`${name}!`)
    }
    const cached = cache.cached((name: string) => valueFor(name), {
      key: (name) => `cached${name}`,
      groups: (name) => [name],
      ttl: 600_000,
    })
    for (const name of NASTY) expect(await cached(name)).toEqual(valueFor(name))
    for (const name of NASTY) expect(await cache.get(`cached${name}`)).toEqual(valueFor(name))

    // Invalidation by each name hits exactly the values in that group.
    for (const [i, name] of NASTY.entries()) {
      await cache.expireGroup(name)
      expect(await raw.getMany([`raw${name}`, `read${name}`, `wrap${name}`])).toEqual([undefined, undefined, undefined])
      expect(await cache.getMany([name, `cached${name}`])).toEqual([undefined, undefined])
      const next = NASTY[i + 1]
      if (next) expect(await cache.get(`cached${next}`)).toEqual(valueFor(next))
    }
    for (const name of NASTY) expect(await cache.set(name, valueFor(name), { groups: [`g${name}`] })).toBe(true)
    await cache.expireGroups(NASTY.map((name) => `g${name}`))
    expect(await cache.getMany([...NASTY])).toEqual(NASTY.map(() => undefined))
    for (const name of NASTY) {
      await cache.set(name, valueFor(name))
      expect(await cache.delete(name)).toBe(true)
      expect(await cache.get(name)).toBeUndefined()
    }

    // Nothing ran that the scripts do not do: the sentinel outside the namespace survived, and
    // everything the cache wrote is under its namespace.
    expect(await observer.get(sentinel)).toBe('still here')
    const base = new Keys('rgc', namespace, sharding).pattern.slice(0, -1)
    for (const key of Object.keys(await dumpNamespace(observer, namespace, sharding))) {
      expect(key.startsWith(base)).toBe(true)
    }
  })

  it('only the fixed scripts were sent (EVALSHA of their SHAs, EVAL of their exact sources), and MGETs or GETs of the namespace', () => {
    expect(evalsha.mock.calls.length).toBeGreaterThan(NASTY.length * 10)
    const prefix = new Keys('rgc', namespace, target.sharding).pattern.slice(0, -1)
    const check = (calls: unknown[][], allowed: Set<string>) => {
      for (const [script, numKeys, ...rest] of calls) {
        expect(typeof script).toBe('string')
        expect(allowed.has(script as string)).toBe(true)
        // names reach the script only as KEYS, all inside the namespace, and ARGV
        expect(typeof numKeys).toBe('number')
        expect(rest.length).toBeGreaterThanOrEqual(numKeys as number)
        for (const key of rest.slice(0, numKeys as number)) expect(String(key).startsWith(prefix)).toBe(true)
      }
    }
    check(evalsha.mock.calls, SHAS)
    check(evalSource.mock.calls, SOURCES)
    // every script was used, by SHA and on a cold server by source too
    expect(new Set(evalsha.mock.calls.map(([sha]) => sha))).toEqual(SHAS)
    if (target.cold) expect(new Set(evalSource.mock.calls.map(([source]) => source))).toEqual(SOURCES)
    // hinted reads: plain MGETs of keys inside the namespace; under sharding 'key', plain GETs
    // (an entry's versions live on other slots), and no MGET
    const plain = target.sharding === 'key' ? get : mget
    expect(plain.mock.calls.length).toBeGreaterThan(NASTY.length)
    if (target.sharding === 'key') expect(mget).not.toHaveBeenCalled()
    for (const [keys] of plain.mock.calls) {
      for (const key of [keys].flat() as unknown[]) expect(String(key).startsWith(prefix)).toBe(true)
    }
    // on a real client nothing else went to the server
    if (sendCommand) {
      const names = new Set(sendCommand.mock.calls.map(([command]) => (command as { name: string }).name))
      expect(names.has('evalsha')).toBe(true)
      for (const name of names) expect(['evalsha', 'eval', 'mget', 'get']).toContain(name)
    }
  })
})
