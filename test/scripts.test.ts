import { Redis } from 'ioredis'
import RedisMock from 'ioredis-mock'
import { afterAll, describe, expect, inject, it } from 'vitest'
import { allScripts } from '../src/commands.js'
import { runScript } from '../src/scripts.js'
import { dumpNamespace, randomNamespace } from './support/backends.js'

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
    expect(allScripts.map((script) => script.name).sort()).toEqual(['delete', 'expire-groups', 'get', 'read', 'set'])
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

  it('PEXPIRE GT: memory ignores GT (lua set.lua compares PTTL instead)', async () => {
    const key = `${randomNamespace()}:gt`
    const probe =
      "redis.call('SET', KEYS[1], 'v', 'PX', 60000) redis.call('PEXPIRE', KEYS[1], 1000, 'GT') return redis.call('PTTL', KEYS[1])"
    expect(await real.eval(probe, 1, key)).toBeGreaterThan(50_000)
    expect(await memory.eval(probe, 1, key)).toBeLessThanOrEqual(1000)
    await real.del(key)
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
  const byName = Object.fromEntries(allScripts.map((script) => [script.name, script]))
  const ns = randomNamespace()
  const k = (kind: string, name: string) => `rgc:{${ns}}:${kind}:${name}`
  const cases: [string, string, string[], (string | number)[]][] = [
    ['get without a prefix', 'get', [k('e', 'a')], []],
    ['read with a non-numeric lease', 'read', [k('e', 'a'), k('t', 'a'), k('g', 'g')], [k('g', ''), 'soon']],
    ['read with too few keys', 'read', [k('e', 'a')], [k('g', ''), 1000]],
    ['set with a negative ttl', 'set', [k('e', 'a'), k('t', 'a'), k('g', 'g')], ['"v"', '-5', 1000, '', '', '', 'g']],
    ['set with a fractional ttl', 'set', [k('e', 'a'), k('t', 'a')], ['"v"', '1.5', 1000, '', '', '']],
    ['set missing group names', 'set', [k('e', 'a'), k('t', 'a'), k('g', 'g')], ['"v"', '', 1000, '', '', '']],
    [
      'set with a token missing its versions',
      'set',
      [k('e', 'a'), k('t', 'a'), k('g', 'g')],
      ['"v"', '', 1000, '1', '2', '', 'g'],
    ],
    ['set with a non-numeric token time', 'set', [k('e', 'a'), k('t', 'a')], ['"v"', '', 1000, 'x', '2', '']],
    ['delete with a missing lease', 'delete', [k('e', 'a'), k('t', 'a')], [k('g', '')]],
    ['delete with a third key', 'delete', [k('e', 'a'), k('t', 'a'), k('g', 'g')], [k('g', ''), 1000]],
    ['delete with only the entry key', 'delete', [k('e', 'a')], [k('g', ''), 1000]],
    ['delete with a zero lease', 'delete', [k('e', 'a'), k('t', 'a')], [k('g', ''), 0]],
    ['read with a zero lease', 'read', [k('e', 'a'), k('t', 'a'), k('g', 'g')], [k('g', ''), 0]],
    ['set with only the entry key', 'set', [k('e', 'a')], ['"v"', '', 1000, '', '', '']],
    ['set with a zero lease', 'set', [k('e', 'a'), k('t', 'a')], ['"v"', '', 0, '', '', '']],
    ['expire-groups with arguments', 'expire-groups', [k('g', 'g')], ['extra']],
    ['read with an empty prefix', 'read', [k('e', 'a'), k('t', 'a')], ['', 1000]],
    ['read with another namespace’s prefix', 'read', [k('e', 'a'), k('t', 'a')], ['rgc:{other}:g:', 1000]],
    ['get with a prefix outside the namespace', 'get', [k('e', 'a')], ['plain:g:']],
    ['delete with an empty prefix', 'delete', [k('e', 'a'), k('t', 'a')], ['', 1000]],
    ['set with an empty group name', 'set', [k('e', 'a'), k('t', 'a'), k('g', '')], ['"v"', '', 1000, '', '', '', '']],
    ['set with a generation but no token time', 'set', [k('e', 'a'), k('t', 'a')], ['"v"', '', 1000, '', '', '5']],
  ]
  it.each(cases)('%s', async (_, name, keys, args) => {
    const script = byName[name]
    if (!script) throw new Error(`no script ${name}`)
    const before = await dumpNamespace(client, ns)
    await expect(runScript(client, script, keys, args)).rejects.toThrow(/redis-group-cache: /)
    expect(await dumpNamespace(client, ns)).toEqual(before)
  })
})
