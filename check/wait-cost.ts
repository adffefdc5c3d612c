/**
 * What `waitForReplicas` costs: `npm run check:wait-cost -- [--rounds N] [--seconds S] [--link-delay ms]`.
 *
 * Starts a primary and one replica (redis-servers of its own), and measures `expireGroup`
 * latency (p50, p99) and throughput at concurrency 1 and 16, without and with
 * `waitForReplicas: { replicas: 1, timeout: 1000 }`; and `get` at concurrency 16 on the same
 * cache while one loop of `expireGroup` runs (a WAIT holds up the calls queued behind it on the
 * connection). The two run interleaved, round by round (which goes first alternates), and the
 * table gives medians over the rounds and the median of the per-round ratios. `--link-delay`
 * puts the replica that many ms away (each way).
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { parseArgs } from 'node:util'
import { Redis } from 'ioredis'
import { GroupCache } from '../src/index.js'
import { startRedisServer } from '../test/support/redis-server.js'
import { TcpProxy } from './replication.js'

const GROUPS = 1000

/** What is measured: `concurrency` loops of `op`, beside one loop of expireGroup for `get`. */
const SCENARIOS = [
  { name: 'expireGroup', op: 'expireGroup', concurrency: 1 },
  { name: 'expireGroup', op: 'expireGroup', concurrency: 16 },
  { name: 'get, beside 1 expireGroup loop', op: 'get', concurrency: 16 },
] as const

interface Sample {
  opsPerSecond: number
  p50: number
  p99: number
}

/** `concurrency` loops of `op` on random groups (keys) for `ms`; latencies in µs. */
async function measure(cache: GroupCache, op: 'expireGroup' | 'get', concurrency: number, ms: number): Promise<Sample> {
  const latencies: number[] = []
  const deadline = Date.now() + ms
  const started = process.hrtime.bigint()
  const random = () => Math.floor(Math.random() * GROUPS)
  const beside =
    op === 'get'
      ? (async () => {
          while (Date.now() < deadline) await cache.expireGroup(`g${random()}`)
        })()
      : undefined
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (Date.now() < deadline) {
        const s = process.hrtime.bigint()
        if (op === 'get') await cache.get(`k${random()}`)
        else await cache.expireGroup(`g${random()}`)
        latencies.push(Number(process.hrtime.bigint() - s) / 1000)
      }
    }),
  )
  const seconds = Number(process.hrtime.bigint() - started) / 1e9
  await beside
  const sorted = Float64Array.from(latencies).sort()
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * q))] ?? Number.NaN
  return { opsPerSecond: latencies.length / seconds, p50: at(0.5), p99: at(0.99) }
}

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      rounds: { type: 'string', default: '7' },
      seconds: { type: 'string', default: '1' },
      'link-delay': { type: 'string', default: '0' },
    },
  })
  const rounds = Number(values.rounds)
  const ms = Number(values.seconds) * 1000
  const linkDelay = Number(values['link-delay'])
  const fast = ['--repl-diskless-sync-delay', '0']
  const primary = await startRedisServer(fast)
  const link = linkDelay > 0 ? new TcpProxy(primary.port, linkDelay) : undefined
  await link?.listen()
  const replica = await startRedisServer([...fast, '--replicaof', '127.0.0.1', String(link?.port ?? primary.port)])
  const replicaAdmin = new Redis(replica.url)
  const caches: GroupCache[] = []
  try {
    while (!(await replicaAdmin.info('replication')).includes('master_link_status:up')) await sleep(20)
    const plain = new GroupCache({ redis: primary.url, namespace: 'wait_cost' })
    const waiting = new GroupCache({
      redis: primary.url,
      namespace: 'wait_cost',
      waitForReplicas: { replicas: 1, timeout: 1000 },
    })
    caches.push(plain, waiting)
    // a version for every group: expireGroup increments existing versions only
    for (let i = 0; i < GROUPS; i++) await plain.set(`k${i}`, i, { groups: [`g${i}`] })
    // until the replica acknowledges (a fresh replica streams from its first ACK on)
    await waiting.expireGroup('g0')
    await measure(plain, 'expireGroup', 16, 300)
    await measure(waiting, 'expireGroup', 16, 300)

    const samples = new Map<string, Sample[]>()
    const push = (key: string, sample: Sample) => samples.set(key, [...(samples.get(key) ?? []), sample])
    for (let round = 0; round < rounds; round++) {
      for (const [i, { op, concurrency }] of SCENARIOS.entries()) {
        const order = round % 2 === 0 ? (['plain', 'wait'] as const) : (['wait', 'plain'] as const)
        for (const variant of order) {
          push(`${variant} ${i}`, await measure(variant === 'plain' ? plain : waiting, op, concurrency, ms))
        }
      }
      process.stderr.write(`round ${round + 1}/${rounds}\n`)
    }

    const server = (await replicaAdmin.info('server')).match(/redis_version:(\S+)/)?.[1]
    console.log(
      `${rounds} interleaved rounds of ${ms / 1000} s; Node ${process.version}, Redis ${server}, ` +
        `replica ${linkDelay > 0 ? `${linkDelay} ms away (each way)` : 'on the same machine'}`,
    )
    console.log()
    console.log('| operation | concurrency | waitForReplicas | ops/s | p50 µs | p99 µs | ops/s ratio | p50 ratio |')
    console.log('| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: |')
    const fmt = (n: number) => Math.round(n).toLocaleString('en-US')
    for (const [i, { name: operation, concurrency }] of SCENARIOS.entries()) {
      const base = samples.get(`plain ${i}`) ?? []
      const wait = samples.get(`wait ${i}`) ?? []
      const ratio = (pick: (s: Sample) => number) =>
        median(wait.map((sample, i) => pick(sample) / pick(base[i] as Sample))).toFixed(2)
      for (const [name, list] of [
        ['no', base],
        ['{ replicas: 1, timeout: 1000 }', wait],
      ] as const) {
        const cells = [
          operation,
          String(concurrency),
          name,
          fmt(median(list.map((s) => s.opsPerSecond))),
          fmt(median(list.map((s) => s.p50))),
          fmt(median(list.map((s) => s.p99))),
          list === wait ? ratio((s) => s.opsPerSecond) : '',
          list === wait ? ratio((s) => s.p50) : '',
        ]
        console.log(`| ${cells.join(' | ')} |`)
      }
    }
  } finally {
    await Promise.all(caches.map((cache) => cache.close()))
    replicaAdmin.disconnect()
    await replica.stop()
    await link?.close()
    await primary.stop()
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? (error.stack ?? error.message) : error)
  process.exitCode = 1
})
