/**
 * get/set throughput of redis-group-cache against the physical limit: plain ioredis GET/SET of the
 * same JSON payload on the same server, interleaved in one run. A third contender, `evalsha-noop`,
 * is EVALSHA of a one-call script (`GET KEYS[1]` / `SET KEYS[1] ARGV[1]`) on the same payload: the
 * cost of going through a script at all. A fourth, `floor`, is what the data model asks of a client
 * with no library around it: a get is one MGET of the entry and its 3 groups' versions, the
 * versions compared with the entry's opening and the value parsed (the entries the cache stored);
 * a set is one EVALSHA of the set script with its keys and arguments. Each contender has its own
 * connection. On its own server it also reports server-side µs per call (INFO commandstats). The
 * full comparison with the peers is bench/run.ts (`npm run bench`).
 *
 *   npm run bench:get-set                 7 rounds of 1 s per contender and scenario
 *   npm run bench:get-set -- --quick      3 rounds of 0.4 s
 *   npm run bench:get-set -- --before=<commit>   with a fourth contender, `before`: the library
 *                                         as it was at that commit (its src/ and lua/, built as dist/ is)
 *   REDIS_URL=redis://... npm run bench:get-set   against that server
 */
import os from 'node:os'
import { Redis } from 'ioredis'
import { allScripts } from '../src/commands.js'
import { Keys } from '../src/keys.js'
import { type LuaScript, runScript } from '../src/scripts.js'
import { buildTreeAt } from './before.js'
import { groupsFor, isValueFor, VALUE_BYTES, valueFor } from './data.js'
import { loop, type Op, percentile, rotate, round, spread } from './measure.js'
import { GroupCache } from './package.js'
import { fixed, int, table, writeResults } from './report.js'
import { infoField, startServer } from './server.js'

const quick = process.argv.includes('--quick')
const ROUNDS = quick ? 3 : 7
const ROUND_MS = quick ? 400 : 1000
const WARMUP_MS = quick ? 200 : 500
const KEYS = 1000
const beforeArg = process.argv.find((arg) => arg.startsWith('--before='))?.slice('--before='.length)
type Name = 'plain' | 'group-cache' | 'evalsha-noop' | 'floor' | 'before'
const NAMES: readonly Name[] = [
  'plain',
  'group-cache',
  'evalsha-noop',
  'floor',
  ...(beforeArg ? (['before'] as const) : []),
]
const NAMESPACE = 'bench-get-set'

/** The GroupCache class of `--before`'s commit, or undefined without the flag. */
async function beforeClass(): Promise<typeof GroupCache | undefined> {
  if (beforeArg === undefined) return undefined
  const { tree, entry } = buildTreeAt(beforeArg)
  if ('reason' in tree) throw new Error(`--before=${beforeArg}: ${tree.reason}`)
  const module = (await import(entry)) as { GroupCache?: typeof GroupCache }
  if (typeof module.GroupCache !== 'function') throw new Error(`${entry} exports no GroupCache`)
  process.stderr.write(`before: ${tree.commit} (${tree.files} files)\n`)
  return module.GroupCache
}

/** µs the server spent running commands since the last CONFIG RESETSTAT (INFO and CONFIG aside). */
async function serverUsec(admin: Redis): Promise<number> {
  let usec = 0
  for (const [, command, spent] of (await admin.info('commandstats')).matchAll(/cmdstat_(\w+):calls=\d+,usec=(\d+)/g)) {
    if (command !== 'info' && command !== 'config') usec += Number(spent)
  }
  return usec
}

const server = await startServer()
const { admin } = server
const plain = new Redis(server.url)
const raw = new Redis(server.url)
const cache = new GroupCache({ redis: server.url, namespace: NAMESPACE, timeout: 10_000 })
const Before = await beforeClass()
const before = Before && new Before({ redis: server.url, namespace: `${NAMESPACE}-before`, timeout: 10_000 })
/** The floor's keys of user_<i>, as the cache (default prefix) names them: its entry, generation and lease, then its groups' versions. */
const cacheKeys = new Keys('rgc', NAMESPACE)
const floorKeys = Array.from({ length: KEYS }, (_, i) => [
  cacheKeys.entry(`user_${i}`),
  cacheKeys.generation(`user_${i}`),
  cacheKeys.lease(`user_${i}`),
  ...groupsFor(i, 3).map((group) => cacheKeys.group(group)),
])
/** What an entry of user_<i> holds after its versions and ';': each group's name after its length. */
const floorNames = Array.from({ length: KEYS }, (_, i) =>
  groupsFor(i, 3)
    .map((group) => `${group.length}:${group}`)
    .join(''),
)
const setScript = allScripts.find((script) => script.name === 'set') as LuaScript
const patterns = ['bench:plain:*', 'bench:noop:*', `rgc:{${NAMESPACE}}:*`, `rgc:{${NAMESPACE}-before}:*`]
try {
  const getSha = (await raw.script('LOAD', "return redis.call('GET', KEYS[1])")) as string
  const setSha = (await raw.script('LOAD', "return redis.call('SET', KEYS[1], ARGV[1])")) as string
  for (let i = 0; i < KEYS; i++) {
    await plain.set(`bench:plain:${i}`, JSON.stringify(valueFor(i)))
    await raw.set(`bench:noop:${i}`, JSON.stringify(valueFor(i)))
    await cache.set(`user_${i}`, valueFor(i), { groups: groupsFor(i, 3) })
    await before?.set(`user_${i}`, valueFor(i), { groups: groupsFor(i, 3) })
  }
  const parse = (text: string | null) => (text === null ? undefined : JSON.parse(text))
  const get: Record<Name, Op> = {
    plain: async (i) => isValueFor(parse(await plain.get(`bench:plain:${i}`)), i),
    'group-cache': async (i) => isValueFor(await cache.get(`user_${i}`), i),
    'evalsha-noop': async (i) => isValueFor(parse((await raw.evalsha(getSha, 1, `bench:noop:${i}`)) as string), i),
    floor: async (i) => {
      const keys = floorKeys[i] as string[]
      const [entry, ...versions] = await raw.mgetBuffer(keys[0] as string, ...keys.slice(3))
      if (entry == null) return false
      const head = `${versions.join(',')};${floorNames[i]}`
      if (entry.toString('latin1', 0, head.length) !== head) return false
      return isValueFor(JSON.parse(entry.toString('utf8', head.length)), i)
    },
    before: async (i) => isValueFor(await before?.get(`user_${i}`), i),
  }
  const set: Record<Name, Op> = {
    plain: async (i) => (await plain.set(`bench:plain:${i}`, JSON.stringify(valueFor(i)))) === 'OK',
    'group-cache': (i) => cache.set(`user_${i}`, valueFor(i), { groups: groupsFor(i, 3) }),
    'evalsha-noop': async (i) =>
      (await raw.evalsha(setSha, 1, `bench:noop:${i}`, JSON.stringify(valueFor(i)))) === 'OK',
    floor: async (i) => {
      const keys = floorKeys[i] as string[]
      return (await runScript(raw, setScript, keys, [JSON.stringify(valueFor(i)), '', 30_000, 0, ''])) === 1
    },
    before: async (i) => (await before?.set(`user_${i}`, valueFor(i), { groups: groupsFor(i, 3) })) === true,
  }
  const scenarios = [
    { name: 'get hit', concurrency: 1, ops: get },
    { name: 'get hit', concurrency: 64, ops: get },
    { name: 'set 3 groups', concurrency: 1, ops: set },
    { name: 'set 3 groups', concurrency: 64, ops: set },
  ]

  const results = []
  for (const scenario of scenarios) {
    process.stderr.write(`${scenario.name} c=${scenario.concurrency}: warm-up`)
    for (const name of NAMES) await loop(scenario.ops[name], scenario.concurrency, WARMUP_MS, KEYS)
    const each = <T>(make: () => T) => Object.fromEntries(NAMES.map((name) => [name, make()])) as Record<Name, T>
    const rates = each<number[]>(() => [])
    const latencies = each<number[][]>(() => [])
    const totals = each(() => ({ ops: 0, cpuUs: 0, usec: 0 }))
    for (let r = 0; r < ROUNDS; r++) {
      process.stderr.write(` ${r + 1}`)
      for (const name of rotate(NAMES, r)) {
        // Server stats only on our own server: a shared server's are not ours to reset.
        if (server.own) await admin.config('RESETSTAT')
        const result = await loop(scenario.ops[name], scenario.concurrency, ROUND_MS, KEYS)
        if (result.wrong > 0) throw new Error(`${scenario.name}: ${name} returned ${result.wrong} wrong results`)
        rates[name].push(result.opsPerSec)
        latencies[name].push(result.latencies)
        totals[name].ops += result.ops
        totals[name].cpuUs += result.cpuUs
        if (server.own) totals[name].usec += await serverUsec(admin)
      }
    }
    process.stderr.write('\n')
    const contenders = NAMES.map((name) => {
      const sorted = Float64Array.from(latencies[name].flat()).sort()
      const ops = spread(rates[name])
      const ratio = spread(rates[name].map((rate, r) => rate / (rates.plain[r] as number)))
      return {
        name,
        opsPerSec: { median: round(ops.median), min: round(ops.min), max: round(ops.max) },
        ratioToPlain: { median: round(ratio.median, 3), min: round(ratio.min, 3), max: round(ratio.max, 3) },
        latencyUs: { p50: round(percentile(sorted, 0.5) / 1000, 1), p99: round(percentile(sorted, 0.99) / 1000, 1) },
        clientCpuUsPerOp: round(totals[name].cpuUs / totals[name].ops, 2),
        serverUsPerOp: server.own ? round(totals[name].usec / Math.max(1, totals[name].ops), 2) : null,
        perRound: rates[name].map((rate) => round(rate)),
      }
    })
    results.push({ scenario: scenario.name, concurrency: scenario.concurrency, contenders })
  }

  const machine = {
    cpu: os.cpus()[0]?.model ?? 'unknown',
    cpus: os.cpus().length,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    loadavg: os.loadavg().map((x) => round(x, 2)),
    node: process.version,
    redis: infoField(await admin.info('server'), 'redis_version') ?? 'unknown',
    redisServer: server.own ? 'own redis-server (--save "" --appendonly no)' : 'REDIS_URL',
  }
  const method = {
    before: beforeArg ?? null,
    rounds: ROUNDS,
    roundMs: ROUND_MS,
    warmupMs: WARMUP_MS,
    keys: KEYS,
    valueBytes: VALUE_BYTES,
    quick,
  }
  const rows = results.flatMap(({ scenario, concurrency, contenders }) =>
    contenders.map((c) => [
      scenario,
      `${concurrency}`,
      c.name,
      int(c.opsPerSec.median),
      `${int(c.opsPerSec.min)}–${int(c.opsPerSec.max)}`,
      c.name === 'plain'
        ? '1'
        : `${fixed(c.ratioToPlain.median)} (${fixed(c.ratioToPlain.min)}–${fixed(c.ratioToPlain.max)})`,
      `${c.latencyUs.p50}`,
      `${c.latencyUs.p99}`,
      `${c.clientCpuUsPerOp}`,
      `${c.serverUsPerOp ?? 'n/a'}`,
    ]),
  )
  const markdown = [
    `redis-group-cache get/set vs plain ioredis: ${machine.cpu} x${machine.cpus}, node ${machine.node}, redis ${machine.redis}`,
    `${ROUNDS} rounds x ${ROUND_MS} ms per contender, interleaved; ${KEYS} keys, ${VALUE_BYTES} B JSON value, groups: user_<i>, bucket_<i%10>, all`,
    '',
    'client CPU µs/op: process.cpuUsage() of this Node process; server µs/op: INFO commandstats, every command the contender ran',
    ...(beforeArg === undefined
      ? []
      : [
          '',
          `before: the library at ${beforeArg} (its src/ and lua/ built as dist/ is); group-cache: this tree (dist/)`,
        ]),
    '',
    table(
      [
        'scenario',
        'conc.',
        'contender',
        'ops/s median',
        'ops/s min–max',
        'ratio to plain median (min–max)',
        'p50 µs',
        'p99 µs',
        'client CPU µs/op',
        'server µs/op',
      ],
      rows,
      [1, 3, 4, 5, 6, 7, 8, 9],
    ),
    '',
  ].join('\n')
  process.stdout.write(markdown)
  const date = new Date().toISOString().slice(0, 10)
  const files = writeResults(
    `${date}-get-set${beforeArg === undefined ? '' : '-before'}${quick ? '-quick' : ''}`,
    { date: new Date().toISOString(), machine, method, results },
    markdown,
  )
  process.stderr.write(`\nwrote ${files.json}\n`)
} finally {
  if (!server.own)
    await server.reset(patterns).catch((error: Error) => process.stderr.write(`clean-up: ${error.message}\n`))
  await cache.close()
  await before?.close()
  plain.disconnect()
  raw.disconnect()
  await server.stop()
}
