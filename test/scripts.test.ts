import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { Redis } from 'ioredis'
import RedisMock from 'ioredis-mock'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { allScripts } from '../src/commands.js'
import { memoryClient } from '../src/memory.js'
import { included, type LuaScript, runScript } from '../src/scripts.js'
import { dumpNamespace, randomNamespace } from './support/backends.js'

/** Every script of lua/, by name. */
const byName = Object.fromEntries(allScripts.map((script) => [script.name, script]))
/** The key of `kind` and `name` in namespace `ns` (sharding 'namespace'). */
const keyOf = (ns: string) => (kind: string, name: string) => `rgc:{${ns}}:${kind}:${name}`
/** A script of this file's own Lua, as src/scripts.ts's loadScript makes one from lua/. */
const adHoc = (name: string, source: string): LuaScript => ({
  name,
  source,
  sha: createHash('sha1').update(source).digest('hex'),
})

const real = new Redis(inject('redisUrl'))
const memory = new RedisMock() as unknown as Redis
afterAll(() => {
  real.disconnect()
  memory.disconnect()
})

describe('scripts [redis]', () => {
  it.each(allScripts.map((script) => [script.name, script] as const))(
    '%s loads into Redis under the SHA the client calls it by',
    async (_, script) => {
      expect(script.source).not.toMatch(/^-- @include /m)
      expect(await real.script('LOAD', script.source)).toBe(script.sha)
    },
  )

  it('no script is pasted into the TypeScript: each comes from lua/', () => {
    expect(allScripts.map((script) => script.name).sort()).toEqual([
      'claim',
      'delete',
      'discard',
      'expire-groups',
      'get',
      'peek',
      'read',
      'release',
      'set',
      'stamp',
      'store',
    ])
  })
})

/**
 * Where the in-memory backend's Lua differs from Redis's. Each raw difference is shown on
 * both backends (so a fix upstream shows here), and the one place that handles it is tested.
 */
describe('backend differences, each handled in one place', () => {
  const backends = [
    ['redis', real],
    ['memory', memory],
  ] as const

  it('a Lua false inside a returned table: nil from Redis, false from memory; runScript gives null', async () => {
    expect(await real.eval("return {1, false, 'x'}", 0)).toEqual([1, null, 'x'])
    expect(await memory.eval("return {1, false, 'x'}", 0)).toEqual([1, false, 'x'])
    const script = { name: 'probe', source: "return {1, false, 'x'}", sha: '' }
    for (const [, client] of backends) expect(await runScript(client, script, [], [])).toEqual([1, null, 'x'])
  })

  it('defineCommand without numberOfKeys: Redis takes the key count from the call, memory makes every argument a key (runScript passes counts to EVALSHA)', async () => {
    const lua = 'return {#KEYS, #ARGV}'
    real.defineCommand('probeKeyCount', { lua })
    memory.defineCommand('probeKeyCount', { lua })
    type Probe = { probeKeyCount(...args: (string | number)[]): Promise<number[]> }
    expect(await (real as unknown as Probe).probeKeyCount(1, 'k', 'a')).toEqual([1, 1])
    expect(await (memory as unknown as Probe).probeKeyCount(1, 'k', 'a')).not.toEqual([1, 1])
    const script = adHoc('probe', lua)
    for (const [, client] of backends) expect(await runScript(client, script, ['k'], ['a'])).toEqual([1, 1])
  })

  it("the clock during a script: Redis's runs the loop in a few ms, the in-memory backend's Lua takes far longer (set.lua gives versions their TTL after the entry)", async () => {
    const probe = [
      "redis.call('SET', KEYS[1], '1', 'PX', 60000)",
      'local x = 0 for i = 1, 500000 do x = x + i end',
      "redis.call('SET', KEYS[2], '1', 'PX', 60000)",
      "return {redis.call('PTTL', KEYS[1]), redis.call('PTTL', KEYS[2])}",
    ].join(' ')
    const keys = [`${randomNamespace()}:first`, `${randomNamespace()}:second`]
    const [realFirst, realSecond] = (await real.eval(probe, 2, ...keys)) as [number, number]
    const [memoryFirst, memorySecond] = (await memory.eval(probe, 2, ...keys)) as [number, number]
    await real.del(...keys)
    await memory.del(...keys)
    // side by side, not against a bound in ms: the machine may be loaded
    expect(realSecond - realFirst).toBeLessThan(memorySecond - memoryFirst)
    expect(memorySecond - memoryFirst).toBeGreaterThan(20)
  })

  it('a TTL near 2^53 ms: Redis keeps it exact; memory adds it to now in a double, so it may read back up to 2 ms off (the property test allows that on memory)', async () => {
    const key = `${randomNamespace()}:far`
    const ttl = Number.MAX_SAFE_INTEGER
    for (const [, client] of backends) await client.set(key, 'v', 'PX', ttl)
    expect(await real.pttl(key)).toBeLessThanOrEqual(ttl)
    expect(Date.now() + ttl).toBeGreaterThan(Number.MAX_SAFE_INTEGER) // where doubles stop being exact
    const read = await memory.pttl(key)
    expect(Math.abs(read - ttl)).toBeLessThanOrEqual(2)
    for (const [, client] of backends) await client.del(key)
  })

  it('unpack: a global on both (Redis has Lua 5.1; the in-memory backend defines it over Lua 5.3): no difference', async () => {
    const probe = 'return type(unpack)'
    expect(await real.eval(probe, 0)).toBe('function')
    expect(await memory.eval(probe, 0)).toBe('function')
  })

  it('a table built by assignment: memory returns nothing unless keys went in last-first (lua reply())', async () => {
    const forward = "local t = {} t[1] = 'a' t[2] = 'b' return t"
    const backward = "local t = {} t[2] = 'b' t[1] = 'a' return t"
    expect(await real.eval(forward, 0)).toEqual(['a', 'b'])
    expect(await memory.eval(forward, 0)).not.toEqual(['a', 'b'])
    for (const [, client] of backends) expect(await client.eval(backward, 0)).toEqual(['a', 'b'])
  })

  it('MGET of a missing key: false in Redis, a null userdata in memory (lua isVersion())', async () => {
    const probe = "local v = redis.call('MGET', KEYS[1])[1] return {type(v)}"
    const key = `${randomNamespace()}:missing`
    expect(await real.eval(probe, 1, key)).toEqual(['boolean'])
    expect(await memory.eval(probe, 1, key)).toEqual(['userdata'])
  })

  it('redis.error_reply exists only in Redis: scripts raise errors with error() (lua check())', async () => {
    expect(await real.eval('return type(redis.error_reply)', 0)).toBe('function')
    expect(await memory.eval('return type(redis.error_reply)', 0)).toBe('nil')
  })

  it('PEXPIRE GT: memory ignores GT; its client gives it Redis’s meaning (src/memory.ts, lua lengthen())', async () => {
    const key = `${randomNamespace()}:gt`
    const probe =
      "redis.call('SET', KEYS[1], 'v', 'PX', 60000) redis.call('PEXPIRE', KEYS[1], 1000, 'GT') return redis.call('PTTL', KEYS[1])"
    expect(await real.eval(probe, 1, key)).toBeGreaterThan(50_000)
    expect(await memory.eval(probe, 1, key)).toBeLessThanOrEqual(1000)
    // Each case: what GT answers, and the PTTL after it, on Redis and on the cache's own client.
    const cases = [
      "redis.call('SET', KEYS[1], 'v', 'PX', 60000) return {redis.call('PEXPIRE', KEYS[1], 1000, 'GT'), redis.call('PTTL', KEYS[1])}",
      "redis.call('SET', KEYS[1], 'v', 'PX', 1000) return {redis.call('PEXPIRE', KEYS[1], 60000, 'gt'), redis.call('PTTL', KEYS[1])}",
      "redis.call('SET', KEYS[1], 'v') return {redis.call('PEXPIRE', KEYS[1], 60000, 'GT'), redis.call('PTTL', KEYS[1])}",
      "redis.call('DEL', KEYS[1]) return {redis.call('PEXPIRE', KEYS[1], 60000, 'GT'), redis.call('PTTL', KEYS[1])}",
    ]
    const client = memoryClient()
    const answers = async (run: (source: string) => Promise<unknown>) => {
      const out: string[] = []
      for (const source of cases) {
        const [set, ttl] = (await run(source)) as [number, number]
        out.push(`${set} ${ttl > 50_000 ? 'long' : ttl > 0 ? 'short' : ttl}`)
      }
      return out
    }
    const expected = ['0 long', '1 long', '0 -1', '0 -2']
    expect(await answers((source) => real.eval(source, 1, key) as Promise<unknown>)).toEqual(expected)
    expect(await answers((source) => runScript(client, adHoc('gt', source), [key], []))).toEqual(expected)
    client.disconnect()
    await real.del(key)
  })

  it('TIME: memory pairs rounded wall seconds with another clock’s microseconds; its client passes this process’s clock (src/memory.ts)', async () => {
    const time = "return redis.call('TIME')"
    const micros = (reply: unknown) => {
      const [seconds, fraction] = reply as [string, string]
      return Number(seconds) * 1e6 + Number(fraction)
    }
    const offWall = (reply: unknown) => Math.abs(micros(reply) - Date.now() * 1000)
    expect(offWall(await real.eval(time, 0))).toBeLessThan(50_000)
    // The raw in-memory backend, sampled over a little more than a second: far off at times.
    let worst = 0
    for (const end = Date.now() + 1100; Date.now() < end; ) {
      worst = Math.max(worst, offWall(await memory.eval(time, 0)))
      await new Promise((resolve) => setTimeout(resolve, 5))
    }
    expect(worst).toBeGreaterThan(100_000)
    // The cache's own in-memory client: on the wall clock, and never the same time twice.
    const client = memoryClient()
    const script = adHoc('time', time)
    let previous = 0
    for (let i = 0; i < 300; i++) {
      const reply = await runScript(client, script, [], [])
      expect(offWall(reply)).toBeLessThan(50_000)
      expect(micros(reply)).toBeGreaterThan(previous)
      previous = micros(reply)
    }
    client.disconnect()
  })

  it('integers are 32-bit in memory’s Lua: versions and times stay strings', async () => {
    expect(await real.eval("return tostring(tonumber('1700000000') * 1000)", 0)).toBe('1700000000000')
    expect(await memory.eval("return tostring(tonumber('1700000000') * 1000)", 0)).not.toBe('1700000000000')
  })
})

describe.each([
  ['redis', real],
  ['memory', memory],
] as const)('scripts refuse malformed arguments without writing [%s]', (_, client) => {
  const ns = randomNamespace()
  const k = keyOf(ns)
  const huge = '99999999999999999999' // past what Lua and Redis read exactly
  const token = (generation: string) => `1700000000,5,${generation}`
  const cases: [string, string, string[], (string | number)[]][] = [
    ['get with no keys', 'get', [], []],
    ['get with an argument', 'get', [k('e', 'a')], ['extra']],
    ['get of a key outside any namespace', 'get', ['plain:key'], []],
    ['get of an entry of another namespace beside one of this', 'get', [k('e', 'a'), 'rgc:{other}:e:a'], []],
    ['get of a group version instead of an entry', 'get', [k('g', 'g')], []],
    ['read with a non-numeric lease', 'read', [k('e', 'a'), k('t', 'a'), k('l', 'a'), k('g', 'g')], ['soon', 'o', 0]],
    ['read with too few keys', 'read', [k('e', 'a')], [1000, 'o', 0]],
    ['read with a zero lease', 'read', [k('e', 'a'), k('t', 'a'), k('l', 'a'), k('g', 'g')], [0, 'o', 0]],
    ['read with an overflowing lease', 'read', [k('e', 'a'), k('t', 'a'), k('l', 'a'), k('g', 'g')], [huge, 'o', 0]],
    [
      'read with the generation of another key',
      'read',
      [k('e', 'a'), k('t', 'b'), k('l', 'a'), k('g', 'g')],
      [1000, 'o', 0],
    ],
    [
      'read with a group of another namespace',
      'read',
      [k('e', 'a'), k('t', 'a'), k('l', 'a'), 'rgc:{other}:g:g'],
      [1000, 'o', 0],
    ],
    [
      'read with a group key outside any namespace',
      'read',
      [k('e', 'a'), k('t', 'a'), k('l', 'a'), 'outside:key'],
      [1000, 'o', 0],
    ],
    [
      'set with a negative ttl',
      'set',
      [k('e', 'a'), k('t', 'a'), k('l', 'a'), k('g', 'g')],
      ['"v"', '-5', 1000, 0, ''],
    ],
    ['set with a fractional ttl', 'set', [k('e', 'a'), k('t', 'a'), k('l', 'a')], ['"v"', '1.5', 1000, 0, '']],
    [
      'set with an overflowing ttl',
      'set',
      [k('e', 'a'), k('t', 'a'), k('l', 'a'), k('g', 'g')],
      ['"v"', huge, 1000, 0, ''],
    ],
    ['set with an overflowing lease', 'set', [k('e', 'a'), k('t', 'a'), k('l', 'a')], ['"v"', '', huge, 0, '']],
    [
      'set with a token of more versions than groups',
      'set',
      [k('e', 'a'), k('t', 'a'), k('l', 'a'), k('g', 'g')],
      ['"v"', '', 1000, 0, token('7'), '1700000000000001', '1700000000000001'],
    ],
    [
      'set with a token missing its generation',
      'set',
      [k('e', 'a'), k('t', 'a'), k('l', 'a')],
      ['"v"', '', 1000, 0, '1700000000,5'],
    ],
    [
      'set with a non-numeric token time',
      'set',
      [k('e', 'a'), k('t', 'a'), k('l', 'a')],
      ['"v"', '', 1000, 0, 'x,5,7'],
    ],
    [
      'set with a non-numeric token version',
      'set',
      [k('e', 'a'), k('t', 'a'), k('l', 'a'), k('g', 'g')],
      ['"v"', '', 1000, 0, token('7'), 'v'],
    ],
    ['set with only the entry key', 'set', [k('e', 'a')], ['"v"', '', 1000, 0, '']],
    ['set with a zero lease', 'set', [k('e', 'a'), k('t', 'a'), k('l', 'a')], ['"v"', '', 0, 0, '']],
    [
      'set with a group key outside any namespace',
      'set',
      [k('e', 'a'), k('t', 'a'), k('l', 'a'), 'outside:key'],
      ['"v"', '', 1000, 0, ''],
    ],
    [
      'set with a group of another namespace',
      'set',
      [k('e', 'a'), k('t', 'a'), k('l', 'a'), 'rgc:{other}:g:g'],
      ['"v"', '', 1000, 0, ''],
    ],
    [
      'set with the generation of another key',
      'set',
      [k('e', 'a'), k('t', 'b'), k('l', 'a')],
      ['"v"', '', 1000, 0, ''],
    ],
    [
      'set with an empty group name',
      'set',
      [k('e', 'a'), k('t', 'a'), k('l', 'a'), k('g', '')],
      ['"v"', '', 1000, 0, ''],
    ],
    ['set with too few arguments', 'set', [k('e', 'a'), k('t', 'a'), k('l', 'a')], ['"v"', '', 1000, 0]],
    [
      'set on a generation that holds no number',
      'set',
      [k('e', 'x'), k('t', 'x'), k('l', 'x'), k('g', 'g')],
      ['"v"', '', 1000, 0, ''],
    ],
    ['delete with a missing lease', 'delete', [k('e', 'a'), k('t', 'a')], []],
    ['delete with an overflowing lease', 'delete', [k('e', 'a'), k('t', 'a')], [huge]],
    ['delete with a third key', 'delete', [k('e', 'a'), k('t', 'a'), k('g', 'g')], [1000]],
    [
      'delete of a key of another namespace beside one of this',
      'delete',
      [k('e', 'a'), k('t', 'a'), 'rgc:{other}:e:a', 'rgc:{other}:t:a'],
      [1000],
    ],
    [
      'delete of a second key without its generation',
      'delete',
      [k('e', 'a'), k('t', 'a'), k('e', 'b'), k('t', 'a')],
      [1000],
    ],
    ['delete with only the entry key', 'delete', [k('e', 'a')], [1000]],
    ['delete with a zero lease', 'delete', [k('e', 'a'), k('t', 'a')], [0]],
    ['delete with the generation of another key', 'delete', [k('e', 'a'), k('t', 'b')], [1000]],
    ['delete on a generation that holds no number', 'delete', [k('e', 'x'), k('t', 'x')], [1000]],
    ['expire-groups with arguments', 'expire-groups', [k('g', 'g')], ['0', 'extra']],
    ['expire-groups with a hard flag that is not 0 or 1', 'expire-groups', [k('g', 'g')], ['yes']],
    ['expire-groups without its hard flag', 'expire-groups', [k('g', 'g')], []],
    ['read with a negative grace', 'read', [k('e', 'a'), k('t', 'a'), k('l', 'a')], [1000, 'o', -5]],
    ['read with a fractional grace', 'read', [k('e', 'a'), k('t', 'a'), k('l', 'a')], [1000, 'o', '1.5']],
    ['read with an empty owner', 'read', [k('e', 'a'), k('t', 'a'), k('l', 'a')], [1000, '', 0]],
    ['read with the lease of another key', 'read', [k('e', 'a'), k('t', 'a'), k('l', 'b')], [1000, 'o', 0]],
    ['read without its lease key', 'read', [k('e', 'a'), k('t', 'a')], [1000, 'o', 0]],
    ['set with a fractional grace', 'set', [k('e', 'a'), k('t', 'a'), k('l', 'a')], ['"v"', '', 1000, '0.5', '']],
    ['set with the lease of another key', 'set', [k('e', 'a'), k('t', 'a'), k('l', 'b')], ['"v"', '', 1000, 0, '']],
    [
      'set with a group key in place of its lease',
      'set',
      [k('e', 'a'), k('t', 'a'), k('g', 'g')],
      ['"v"', '', 1000, 0, ''],
    ],
    ['release of an entry', 'release', [k('e', 'a')], ['o', 0]],
    ['release with an empty owner', 'release', [k('l', 'a')], ['', 0]],
    ['release with a fractional hold', 'release', [k('l', 'a')], ['o', '0.5']],
    ['release with two keys', 'release', [k('l', 'a'), k('l', 'b')], ['o', 0]],
    ['expire-groups of an entry', 'expire-groups', [k('g', 'g'), k('e', 'a')], ['0']],
    ['expire-groups of a key outside any namespace', 'expire-groups', [k('g', 'g'), 'outside:key'], ['0']],
    ['expire-groups of a group of another namespace', 'expire-groups', [k('g', 'g'), 'rgc:{other}:g:g'], ['0']],
    ['expire-groups of a version that holds no number', 'expire-groups', [k('g', 'g'), k('g', 'junk')], ['0']],
  ]

  // Keys every case could touch exist beforehand, so a deletion or an increment would show.
  beforeAll(async () => {
    await client.set(k('e', 'a'), `1700000000000001;1:g"old"`)
    await client.set(k('t', 'a'), '1700000000000002')
    await client.set(k('t', 'b'), '1700000000000003')
    await client.set(k('l', 'a'), 'o')
    await client.set(k('g', 'g'), '1700000000000001')
    await client.set(k('e', 'x'), ';"x"')
    await client.set(k('t', 'x'), 'not a number')
    await client.set(k('g', 'junk'), 'not a number')
    await client.hset(k('g', 'hash'), 'field', '1')
    await client.set('outside:key', 'untouched')
    await client.set('rgc:{other}:g:g', '1700000000000009')
    await client.set('rgc:{other}:e:a', ';"theirs"')
  })
  afterAll(async () => {
    await client.del(
      'outside:key',
      'rgc:{other}:g:g',
      'rgc:{other}:e:a',
      ...Object.keys(await dumpNamespace(client, ns)),
    )
  })

  const outside = () => Promise.all(['outside:key', 'rgc:{other}:g:g', 'rgc:{other}:e:a'].map((key) => client.get(key)))

  it.each(cases)('%s', async (_, name, keys, args) => {
    const script = byName[name]
    if (!script) throw new Error(`no script ${name}`)
    const before = await dumpNamespace(client, ns)
    const beforeOutside = await outside()
    expect(Object.keys(before).length).toBeGreaterThan(5)
    await expect(runScript(client, script, keys, args)).rejects.toThrow(/redis-group-cache: /)
    expect(await dumpNamespace(client, ns)).toEqual(before)
    expect(await outside()).toEqual(beforeOutside)
  })

  if (client === real) {
    it('expire-groups of a version key of another type: Redis refuses it before moving any group', async () => {
      const before = await dumpNamespace(client, ns)
      await expect(
        runScript(client, byName['expire-groups'] as LuaScript, [k('g', 'g'), k('g', 'hash')], ['0']),
      ).rejects.toThrow(/WRONGTYPE/)
      expect(await dumpNamespace(client, ns)).toEqual(before)
    })
  }
})

const memoryBackend = memoryClient() as unknown as Redis
afterAll(() => memoryBackend.disconnect())

/**
 * read.lua tells a hit on an entry stored under exactly the groups asked, in that order and
 * without grace, by comparing the entry's opening with the current versions and the names in
 * place (isExactHit); any other entry is decoded and judged. Both must give the same answers.
 */
describe.each([
  ['redis', real],
  ['memory', memoryBackend],
] as const)("read's check of an entry stored under exactly the groups asked [%s]", (_, client) => {
  const ns = randomNamespace()
  const k = keyOf(ns)
  const entryKeys = (key: string) => [k('e', key), k('t', key), k('l', key)]
  const set = (key: string, groups: string[], value: string) =>
    runScript(
      client,
      byName.set as LuaScript,
      [...entryKeys(key), ...groups.map((g) => k('g', g))],
      [value, '', 30000, 0, ''],
    )
  /** read.lua's reply: [1, entry] on a hit, else the miss's status first (0) */
  const read = async (key: string, groups: string[]) =>
    (await runScript(
      client,
      byName.read as LuaScript,
      [...entryKeys(key), ...groups.map((g) => k('g', g))],
      [30000, 'owner', 0],
    )) as unknown[]
  afterAll(async () => {
    const keys = Object.keys(await dumpNamespace(client, ns))
    if (keys.length > 0) await client.del(...keys)
  })

  let moves = 0
  const ten = 'group_of_10' // 11 bytes: two digits of length
  const long = 'g'.repeat(120) // three digits: left to the decoding path
  it.each([
    ['short names', ['a', 'users']],
    ['a name of two digits of length', ['a', ten]],
    ['a name of three digits of length', [long, 'a']],
    ['no groups', []],
  ])('%s: a hit while live, a miss once any group moved', async (name, groups) => {
    const key = `k-${name.replace(/\W/g, '_')}`
    expect(await set(key, groups, '"v1"')).toBe(1)
    const hit = await read(key, groups)
    expect(hit[0]).toBe(1)
    expect(String(hit[1])).toMatch(/"v1"$/)
    for (const group of groups) {
      expect(await set(key, groups, '"v2"')).toBe(1)
      expect((await read(key, groups))[0]).toBe(1)
      await client.set(k('g', group), `19000000000${String(++moves).padStart(5, '0')}`) // the group moved
      expect((await read(key, groups))[0], `after ${group} moved`).toBe(0)
    }
  })

  it('groups asked in another order: the entry is decoded, and still a hit', async () => {
    expect(await set('order', ['a', 'b'], '"v"')).toBe(1)
    expect((await read('order', ['b', 'a']))[0]).toBe(1)
  })

  it('a name that opens a stored name of another length is not that name', async () => {
    // stored under 'user_10' (7 bytes); asked for 'user_1' (6 bytes): the length differs
    expect(await set('prefix', ['user_10'], '"v"')).toBe(1)
    expect((await read('prefix', ['user_1']))[0]).toBe(0)
    // stored under 'a' and 'b'; asked for 'a' alone: covered, a hit (decoded)
    expect(await set('fewer', ['a', 'b'], '"v"')).toBe(1)
    expect((await read('fewer', ['a']))[0]).toBe(1)
  })
})

/** Redis runs a script's whole text on every call: an include's definitions come in only where used. */
describe('includes', () => {
  const code = (lua: string) => lua.replace(/--.*$/gm, '')
  const definitionsOf = (lua: string) =>
    [...code(lua).matchAll(/^local function (\w+)/gm)].map((match) => match[1] as string)
  const common = definitionsOf(readFileSync(new URL('../lua/include/common.lua', import.meta.url), 'utf8'))
  it.each(allScripts.map((script) => [script.name, script] as const))(
    '%s carries each definition of an include it uses, and no other',
    (_, script) => {
      const source = code(script.source)
      const defined = definitionsOf(script.source)
      for (const name of defined) {
        // named somewhere besides its own definition
        const uses = source.match(new RegExp(`\\b${name}\\b`, 'g'))?.length ?? 0
        expect(uses, `${script.name}: ${name} is defined but not used`).toBeGreaterThan(1)
      }
      // not the whole include: the script that uses the most still leaves some out
      expect(defined.filter((name) => common.includes(name)).length).toBeLessThan(common.length)
    },
  )

  it('a script that names nothing of an include gets its header alone', () => {
    const include =
      '-- header\n\n-- a\nlocal function a()\n  return 1\nend\n\n-- b\nlocal function b()\n  return a()\nend\n'
    expect(included(include, 'return 2')).toBe('-- header')
    expect(included(include, 'return b()')).toBe(
      `-- header\n\n-- a\nlocal function a()\n  return 1\nend\n\n-- b\nlocal function b()\n  return a()\nend`,
    )
    expect(included(include, 'return a()')).toBe('-- header\n\n-- a\nlocal function a()\n  return 1\nend')
  })
})
