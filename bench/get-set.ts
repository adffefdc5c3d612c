/**
 * get/set throughput of redis-group-cache against the physical limit: plain ioredis GET/SET of the
 * same JSON payload on the same server, interleaved in one run. A third contender, `evalsha-noop`,
 * is EVALSHA of a one-call script (`GET KEYS[1]` / `SET KEYS[1] ARGV[1]`) on the same payload: the
 * cost of going through a script at all. Each contender has its own connection.
 *
 *   npm run bench                 7 rounds of 1 s per contender and scenario
 *   npm run bench -- --quick      3 rounds of 0.4 s (under ~40 s in all)
 *   REDIS_URL=redis://... npm run bench   against that server (default: own redis-server on a free port)
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdirSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import os from 'node:os'
import { setTimeout as sleep } from 'node:timers/promises'
import { Redis } from 'ioredis'
import { GroupCache } from '../src/index.js'

const quick = process.argv.includes('--quick')
const ROUNDS = quick ? 3 : 7
const ROUND_MS = quick ? 400 : 1000
const WARMUP_MS = quick ? 200 : 500
const KEYS = 1000
const NAMES = ['plain', 'group-cache', 'evalsha-noop'] as const
type Name = (typeof NAMES)[number]
type Op = (i: number) => Promise<unknown>

/** A ~1 KiB JSON object. */
const value = {
  id: 12345,
  name: 'Ada Lovelace',
  email: 'ada.lovelace@example.com',
  roles: ['admin', 'editor', 'viewer'],
  createdAt: '2024-01-15T10:30:00.000Z',
  settings: { theme: 'dark', locale: 'en-GB', notifications: { email: true, sms: false, push: true } },
  tags: Array.from({ length: 12 }, (_, i) => `tag-${i}`),
  history: Array.from({ length: 8 }, (_, i) => ({ at: 1_700_000_000_000 + i * 86_400_000, action: 'login', ok: true })),
  bio: 'Mathematician and writer, known for work on the Analytical Engine. '.repeat(4),
}
const valueBytes = Buffer.byteLength(JSON.stringify(value))
const groupsOf = (i: number) => [`user_group_${i}`, `bucket_${i % 10}`, 'all']

async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1')
  await once(server, 'listening')
  const address = server.address()
  server.close()
  if (address === null || typeof address === 'string') throw new Error('no free port')
  return address.port
}

async function waitForPing(url: string, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + 10_000
  for (;;) {
    if (child.exitCode !== null) throw new Error(`redis-server exited with code ${child.exitCode}`)
    const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null })
    probe.on('error', () => {})
    try {
      await probe.connect()
      if ((await probe.ping()) === 'PONG') return
    } catch (error) {
      if (Date.now() > deadline) throw new Error(`redis-server at ${url} did not answer: ${(error as Error).message}`)
    } finally {
      probe.disconnect()
    }
    await sleep(25)
  }
}

/** Runs `op` in `concurrency` loops for `ms`: ops/s, each op's latency in ns, this process's CPU µs. */
async function run(op: Op, concurrency: number, ms: number) {
  const latencies: number[] = []
  let next = 0
  let misses = 0
  const cpu = process.cpuUsage()
  const start = process.hrtime.bigint()
  const deadline = start + BigInt(ms) * 1_000_000n
  const loop = async () => {
    for (let now = start; now < deadline; ) {
      const t0 = process.hrtime.bigint()
      if ((await op(next++ % KEYS)) == null) misses++
      now = process.hrtime.bigint()
      latencies.push(Number(now - t0))
    }
  }
  await Promise.all(Array.from({ length: concurrency }, loop))
  const seconds = Number(process.hrtime.bigint() - start) / 1e9
  const { user, system } = process.cpuUsage(cpu)
  if (misses > 0) throw new Error(`${misses} of ${latencies.length} operations returned nothing (a miss?)`)
  return { opsPerSec: latencies.length / seconds, latencies, cpuUs: user + system }
}

/** Server-side µs per call of `command` since the last CONFIG RESETSTAT (INFO commandstats). */
async function serverStats(admin: Redis, command: string): Promise<{ calls: number; usec: number }> {
  const match = (await admin.info('commandstats')).match(new RegExp(`cmdstat_${command}:calls=(\\d+),usec=(\\d+)`))
  return { calls: Number(match?.[1] ?? 0), usec: Number(match?.[2] ?? 0) }
}

/** On a shared server (REDIS_URL), removes every key the bench wrote. */
async function cleanUp(admin: Redis): Promise<void> {
  const keys = Array.from({ length: KEYS }, (_, i) => [`bench:plain:${i}`, `bench:noop:${i}`]).flat()
  for await (const found of admin.scanStream({ match: 'rgc:{bench}:*', count: 1000 })) keys.push(...(found as string[]))
  for (let i = 0; i < keys.length; i += 500) await admin.unlink(...keys.slice(i, i + 500))
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2
}
const percentile = (sorted: Float64Array, p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] as number
const spread = (xs: number[]) => ({ median: median(xs), min: Math.min(...xs), max: Math.max(...xs) })
const round = (x: number, digits = 0) => Number(x.toFixed(digits))

async function main(): Promise<void> {
  let child: ChildProcess | undefined
  let url = process.env.REDIS_URL
  if (!url) {
    const port = await freePort()
    url = `redis://127.0.0.1:${port}`
    child = spawn('redis-server', ['--port', `${port}`, '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
      stdio: 'ignore',
    })
    const server = child
    process.on('exit', () => server.kill('SIGKILL')) // also when main throws
    for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => process.exit(1))
    await waitForPing(url, child)
  }
  const admin = new Redis(url)
  const plain = new Redis(url)
  const raw = new Redis(url)
  // A long timeout so that a stall of this noisy machine cannot turn a hit into a miss; the
  // code path (a timer raced against each call) is the default one.
  const cache = new GroupCache({ redis: url, namespace: 'bench', timeout: 10_000 })
  try {
    const getSha = (await raw.script('LOAD', "return redis.call('GET', KEYS[1])")) as string
    const setSha = (await raw.script('LOAD', "return redis.call('SET', KEYS[1], ARGV[1])")) as string
    for (let i = 0; i < KEYS; i++) {
      await plain.set(`bench:plain:${i}`, JSON.stringify(value))
      await raw.set(`bench:noop:${i}`, JSON.stringify(value))
      await cache.set(`user_${i}`, value, { groups: groupsOf(i) })
    }
    const get: Record<Name, Op> = {
      plain: async (i) => JSON.parse((await plain.get(`bench:plain:${i}`)) as string),
      'group-cache': (i) => cache.get(`user_${i}`),
      'evalsha-noop': async (i) => JSON.parse((await raw.evalsha(getSha, 1, `bench:noop:${i}`)) as string),
    }
    const set: Record<Name, Op> = {
      plain: (i) => plain.set(`bench:plain:${i}`, JSON.stringify(value)),
      'group-cache': (i) => cache.set(`user_${i}`, value, { groups: groupsOf(i) }),
      'evalsha-noop': (i) => raw.evalsha(setSha, 1, `bench:noop:${i}`, JSON.stringify(value)),
    }
    // The top-level command each contender sends, for the server-side time per op.
    const getCommands = { plain: 'get', 'group-cache': 'evalsha', 'evalsha-noop': 'evalsha' }
    const setCommands = { plain: 'set', 'group-cache': 'evalsha', 'evalsha-noop': 'evalsha' }
    const scenarios = [
      { name: 'get hit', concurrency: 1, ops: get, command: getCommands },
      { name: 'get hit', concurrency: 64, ops: get, command: getCommands },
      { name: 'set 3 groups', concurrency: 1, ops: set, command: setCommands },
      { name: 'set 3 groups', concurrency: 64, ops: set, command: setCommands },
    ]

    const results = []
    for (const scenario of scenarios) {
      const label = `${scenario.name} c=${scenario.concurrency}`
      process.stderr.write(`${label}: warm-up`)
      for (const name of NAMES) await run(scenario.ops[name], scenario.concurrency, WARMUP_MS)
      const each = <T>(make: () => T) => Object.fromEntries(NAMES.map((name) => [name, make()])) as Record<Name, T>
      const rates = each<number[]>(() => [])
      const latencies = each<number[][]>(() => [])
      const totals = each(() => ({ ops: 0, cpuUs: 0, calls: 0, usec: 0 }))
      for (let r = 0; r < ROUNDS; r++) {
        process.stderr.write(` ${r + 1}`)
        for (const name of r % 2 === 0 ? NAMES : [...NAMES].reverse()) {
          // Server stats only on our own server: a shared server's are not ours to reset.
          if (child) await admin.config('RESETSTAT')
          const result = await run(scenario.ops[name], scenario.concurrency, ROUND_MS)
          rates[name].push(result.opsPerSec)
          latencies[name].push(result.latencies)
          totals[name].ops += result.latencies.length
          totals[name].cpuUs += result.cpuUs
          if (child) {
            const stats = await serverStats(admin, scenario.command[name])
            totals[name].calls += stats.calls
            totals[name].usec += stats.usec
          }
        }
      }
      process.stderr.write('\n')
      const ratios = (name: Name) => rates[name].map((rate, r) => rate / (rates.plain[r] as number))
      const contenders = NAMES.map((name) => {
        const sorted = Float64Array.from(latencies[name].flat()).sort()
        const ops = spread(rates[name])
        const ratio = spread(ratios(name))
        return {
          name,
          opsPerSec: { median: round(ops.median), min: round(ops.min), max: round(ops.max) },
          ratioToPlain: { median: round(ratio.median, 3), min: round(ratio.min, 3), max: round(ratio.max, 3) },
          latencyUs: { p50: round(percentile(sorted, 0.5) / 1000, 1), p99: round(percentile(sorted, 0.99) / 1000, 1) },
          clientCpuUsPerOp: round(totals[name].cpuUs / totals[name].ops, 2),
          serverUsPerOp: child ? round(totals[name].usec / Math.max(1, totals[name].calls), 2) : null,
          perRound: rates[name].map((rate) => round(rate)),
        }
      })
      results.push({ scenario: scenario.name, concurrency: scenario.concurrency, contenders })
    }

    const serverInfo = await admin.info('server')
    const machine = {
      cpu: os.cpus()[0]?.model ?? 'unknown',
      cpus: os.cpus().length,
      os: `${os.type()} ${os.release()} ${os.arch()}`,
      loadavg: os.loadavg().map((x) => round(x, 2)),
      node: process.version,
      redis: serverInfo.match(/redis_version:(\S+)/)?.[1] ?? 'unknown',
      redisServer: child ? 'own redis-server (--save "" --appendonly no)' : 'REDIS_URL',
    }
    const method = { rounds: ROUNDS, roundMs: ROUND_MS, warmupMs: WARMUP_MS, keys: KEYS, valueBytes, quick }

    const fmt = (x: number) => Math.round(x).toLocaleString('en-US')
    const lines = [
      `redis-group-cache get/set vs plain ioredis: ${machine.cpu} x${machine.cpus}, node ${machine.node}, redis ${machine.redis}`,
      `${ROUNDS} rounds x ${ROUND_MS} ms per contender, interleaved; ${KEYS} keys, ${valueBytes} B JSON value, groups: user_group_<i>, bucket_<i%10>, all`,
      '',
      'client CPU µs/op: process.cpuUsage() of this Node process; server µs/op: INFO commandstats of GET/SET/EVALSHA',
      '',
      '| scenario | conc. | contender | ops/s median | ops/s min–max | ratio to plain median (min–max) | p50 µs | p99 µs | client CPU µs/op | server µs/op |',
      '|---|---:|---|---:|---:|---:|---:|---:|---:|---:|',
    ]
    for (const { scenario, concurrency, contenders } of results) {
      for (const c of contenders) {
        const ratio = `${c.ratioToPlain.median.toFixed(2)} (${c.ratioToPlain.min.toFixed(2)}–${c.ratioToPlain.max.toFixed(2)})`
        lines.push(
          `| ${scenario} | ${concurrency} | ${c.name} | ${fmt(c.opsPerSec.median)} | ${fmt(c.opsPerSec.min)}–${fmt(c.opsPerSec.max)} | ${c.name === 'plain' ? '1' : ratio} | ${c.latencyUs.p50} | ${c.latencyUs.p99} | ${c.clientCpuUsPerOp} | ${c.serverUsPerOp ?? 'n/a'} |`,
        )
      }
    }
    console.log(lines.join('\n'))

    const date = new Date().toISOString().slice(0, 10)
    const dir = new URL('./results/', import.meta.url)
    mkdirSync(dir, { recursive: true })
    const file = new URL(`${date}-get-set.json`, dir)
    const json = { date: new Date().toISOString(), machine, method, results }
    // Arrays of numbers on one line, as biome formats JSON.
    const text = JSON.stringify(json, null, 2).replace(
      /\[\s+([^[\]{}]*?)\s+\]/g,
      (_, xs: string) => `[${xs.split(/,\s+/).join(', ')}]`,
    )
    writeFileSync(file, `${text}\n`)
    process.stderr.write(`\nwrote ${file.pathname}\n`)
  } finally {
    if (!child) await cleanUp(admin).catch((error: Error) => process.stderr.write(`clean-up: ${error.message}\n`))
    await cache.close()
    for (const client of [admin, plain, raw]) client.disconnect()
    if (child && child.exitCode === null) {
      const exited = once(child, 'exit')
      child.kill('SIGTERM')
      await exited
    }
  }
}

await main()
