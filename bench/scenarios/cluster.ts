/**
 * Scenario 8: a Redis Cluster of 3 masters (started here from redis-server), under both shardings,
 * against the suite's single server.
 *
 * 1. Round trips. Each master (and the single server) is reached through a proxy that delays
 *    every chunk by `delayMs` each way; one call at a time, the median time of each call over the
 *    median of a PING's is how many round trips it takes (sent at once, several commands count as
 *    one).
 * 2. Load. `processes` client processes (cluster-worker.ts) run the fleet's mix (90% wrap / 9%
 *    set / 1% expireGroup) on one target at a time, targets interleaved by round in rotated order:
 *    the single server, the Cluster with sharding 'namespace' (the namespace in one slot) and with
 *    'key'. Per target: the total ops/s, its ratio to the single server's in the same round, and
 *    per node the Redis CPU it used (INFO used_cpu_user + used_cpu_sys, over the round's wall
 *    time: 1.0 is one core) and its keys. The clients and every server share this machine's
 *    cores: the per-node CPU says where Redis's work went, whatever the total.
 */
import { type ChildProcess, fork } from 'node:child_process'
import { setTimeout as sleep } from 'node:timers/promises'
import { Cluster, Redis } from 'ioredis'
import { TcpProxy } from '../../check/replication.js'
import { GroupCache } from '../../src/index.js'
import type { Sharding } from '../../src/keys.js'
import { startCluster } from '../../test/support/cluster.js'
import type { ClusterCommand, ClusterCounts, ClusterReply, Target } from '../cluster-worker.js'
import { valueFor } from '../data.js'
import { median, rotate, round, type Spread, spread } from '../measure.js'
import { serverCpuUs } from '../server.js'
import type { Context } from '../settings.js'

export interface RoundTripRow {
  call: string
  /** round trips per sharding on the Cluster, and on the single server ('namespace') */
  single: number
  namespace: number
  key: number
}

export interface NodeLoad {
  node: string
  /** CPU s Redis used per wall s of the round (1.0: one core), median over rounds */
  cpu: number
  keys: number
}

export interface LoadTarget {
  name: string
  opsPerSec: Spread
  /** median over rounds of ops/s over the single server's in the same round */
  ratioToSingle: number
  nodes: NodeLoad[]
  errors: number
  wrong: number
}

export interface ClusterResult {
  masters: number
  delayMs: number
  samples: number
  pingMs: { single: number; cluster: number }
  roundTrips: RoundTripRow[]
  processes: number
  concurrencyPerProcess: number
  keys: number
  rounds: number
  roundMs: number
  load: LoadTarget[]
}

const GROUPS = ['g_1', 'g_2', 'g_3']
/** keys of a getMany: on several slots, so on every master under 'key' */
const MANY = Array.from({ length: 10 }, (_, i) => `rt-many-${i}`)

class Worker {
  private readonly child: ChildProcess
  private pending: ((reply: ClusterReply) => void) | undefined

  constructor() {
    const file = new URL('../cluster-worker.ts', import.meta.url).pathname
    this.child = fork(file, [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
    this.child.on('message', (reply: ClusterReply) => {
      const pending = this.pending
      this.pending = undefined
      pending?.(reply)
    })
  }

  ask(command: ClusterCommand): Promise<ClusterReply> {
    return new Promise((resolve, reject) => {
      this.pending = (reply) => (reply.type === 'error' ? reject(new Error(reply.message)) : resolve(reply))
      this.child.send(command)
    })
  }

  exit(): void {
    this.child.send({ type: 'exit' } satisfies ClusterCommand)
  }
}

/** Median ms of `samples` calls of `call`, one at a time, after a few unmeasured. */
async function medianMs(samples: number, call: (i: number) => Promise<unknown>): Promise<number> {
  for (let i = 0; i < 3; i++) await call(-1 - i)
  const times: number[] = []
  for (let i = 0; i < samples; i++) {
    const start = performance.now()
    await call(i)
    times.push(performance.now() - start)
  }
  return median(times)
}

/** The calls whose round trips are counted, on a cache (`cold`: one with hints: 0). */
function calls(cache: GroupCache, cold: GroupCache, tag: string): [string, (i: number) => Promise<unknown>][] {
  return [
    ['get, a hit, groups known to the process', () => cache.get('rt')],
    ['get, a hit, groups not known (hints: 0)', () => cold.get('rt')],
    ['getMany, 10 hits, groups known', () => cache.getMany(MANY)],
    ['getMany, 10 hits, groups not known (hints: 0)', () => cold.getMany(MANY)],
    ['set, 3 groups', () => cache.set('rt', valueFor(1), { groups: GROUPS })],
    ['wrap, a miss and its fill', (i) => cache.wrap(`rt-${tag}-${i}`, { groups: GROUPS }, () => valueFor(i))],
    ['expireGroups, 3 groups', () => cache.expireGroups(GROUPS)],
  ]
}

async function roundTrips(
  ctx: Context,
  masters: readonly string[],
  delayMs: number,
  samples: number,
): Promise<Pick<ClusterResult, 'pingMs' | 'roundTrips'>> {
  const port = (url: string) => Number(new URL(url).port)
  const proxies = [ctx.server.url, ...masters].map((url) => new TcpProxy(port(url), delayMs))
  await Promise.all(proxies.map((proxy) => proxy.listen()))
  const [single, ...clusterProxies] = proxies as [TcpProxy, ...TcpProxy[]]
  const natMap = Object.fromEntries(
    masters.map((url, i) => [
      `127.0.0.1:${port(url)}`,
      { host: '127.0.0.1', port: (clusterProxies[i] as TcpProxy).port },
    ]),
  )
  const opened: { close(): Promise<void> | void }[] = []
  const open = (target: 'single' | Sharding, hints?: number) => {
    const redis =
      target === 'single'
        ? new Redis(single.url)
        : new Cluster([...masters], { natMap, redisOptions: { maxRetriesPerRequest: 1 } })
    const cache = new GroupCache({
      redis,
      namespace: `rt-${target}`,
      sharding: target === 'single' ? 'namespace' : target,
      hints,
      timeout: 5000,
    })
    opened.push(cache, { close: () => redis.disconnect() })
    return { redis, cache }
  }
  try {
    const times: Record<'single' | Sharding, number[]> = { single: [], namespace: [], key: [] }
    const pingMs: Record<'single' | Sharding, number> = { single: 0, namespace: 0, key: 0 }
    let names: string[] = []
    for (const target of ['single', 'namespace', 'key'] as const) {
      ctx.log(`  cluster: round trips, ${target}\n`)
      const { redis, cache } = open(target)
      const { cache: cold } = open(target, 0)
      await cache.set('rt', valueFor(1), { groups: GROUPS })
      for (const key of MANY) await cache.set(key, valueFor(2), { groups: GROUPS })
      await cache.getMany(MANY) // the groups of each key known to `cache`
      pingMs[target] = await medianMs(samples, () => redis.ping())
      const list = calls(cache, cold, target)
      names = list.map(([name]) => name)
      for (const [, call] of list) times[target].push(await medianMs(samples, call))
    }
    const trips = (target: 'single' | Sharding, i: number) => round((times[target][i] as number) / pingMs[target], 1)
    return {
      pingMs: { single: round(pingMs.single, 1), cluster: round(median([pingMs.namespace, pingMs.key]), 1) },
      roundTrips: names.map((call, i) => ({
        call,
        single: trips('single', i),
        namespace: trips('namespace', i),
        key: trips('key', i),
      })),
    }
  } finally {
    for (const item of opened) await item.close()
    await Promise.all(proxies.map((proxy) => proxy.close()))
  }
}

export async function clusterScenario(ctx: Context): Promise<ClusterResult> {
  const { processes, concurrency, keys, rounds, roundMs, delayMs, samples } = ctx.settings.cluster
  ctx.log(
    `scenario 8: a Cluster of 3 masters (${processes} processes x ${concurrency}, ${rounds} rounds of ${roundMs} ms)\n`,
  )
  const cluster = await startCluster(3)
  const admins = new Map<string, Redis>([
    ['single', ctx.server.admin],
    ...cluster.nodes.map((url, i): [string, Redis] => [`master ${i + 1}`, new Redis(url)]),
  ])
  const workers: Worker[] = []
  try {
    const trips = await roundTrips(ctx, cluster.nodes, delayMs, samples)
    const targets: Target[] = [
      { name: 'single server', redis: ctx.server.url, sharding: 'namespace' },
      { name: "Cluster, sharding 'namespace'", redis: [...cluster.nodes], sharding: 'namespace' },
      { name: "Cluster, sharding 'key'", redis: [...cluster.nodes], sharding: 'key' },
    ]
    const nodesOf = (target: Target) =>
      typeof target.redis === 'string' ? ['single'] : cluster.nodes.map((_, i) => `master ${i + 1}`)
    for (let i = 0; i < processes; i++) workers.push(new Worker())
    await Promise.all(workers.map((worker) => worker.ask({ type: 'open', targets })))
    const perRound = new Map<string, { ops: number; cpu: Map<string, number>; errors: number; wrong: number }[]>()
    for (let r = -1; r < rounds; r++) {
      for (const target of rotate(targets, Math.max(r, 0))) {
        const nodes = nodesOf(target)
        const cpuBefore = await Promise.all(nodes.map((node) => serverCpuUs(admins.get(node) as Redis)))
        const started = performance.now()
        const replies = await Promise.all(
          workers.map((worker, w) =>
            worker.ask({
              type: 'run',
              target: target.name,
              ms: r < 0 ? 500 : roundMs,
              concurrency,
              keys,
              seed: 1 + r * 100 + w,
            }),
          ),
        )
        const wall = (performance.now() - started) / 1000
        const cpuAfter = await Promise.all(nodes.map((node) => serverCpuUs(admins.get(node) as Redis)))
        if (r < 0) continue // warm-up: every target's keys and scripts in place
        const counts = replies.map((reply) => (reply as { counts: ClusterCounts }).counts)
        const seconds = Math.max(...counts.map((c) => c.seconds))
        const list = perRound.get(target.name) ?? []
        list.push({
          ops: counts.reduce((sum, c) => sum + c.ops, 0) / seconds,
          cpu: new Map(
            nodes.map((node, i) => [node, ((cpuAfter[i] as number) - (cpuBefore[i] as number)) / 1e6 / wall]),
          ),
          errors: counts.reduce((sum, c) => sum + c.errors, 0),
          wrong: counts.reduce((sum, c) => sum + c.wrong, 0),
        })
        perRound.set(target.name, list)
      }
      if (r >= 0) ctx.log(`  cluster: round ${r + 1}/${rounds}\n`)
    }
    const single = perRound.get('single server') ?? []
    const load: LoadTarget[] = []
    for (const target of targets) {
      const list = perRound.get(target.name) ?? []
      const nodes: NodeLoad[] = []
      for (const node of nodesOf(target)) {
        const admin = admins.get(node) as Redis
        // this target's keys on the node: the single server holds other scenarios' too
        const pattern = target.sharding === 'key' ? 'rgc:<cluster-bench>:*' : 'rgc:{cluster-bench}:*'
        let count = 0
        let cursor = '0'
        do {
          const [next, found] = await admin.scan(cursor, 'MATCH', pattern, 'COUNT', 1000)
          cursor = next
          count += found.length
        } while (cursor !== '0')
        nodes.push({ node, cpu: round(median(list.map((x) => x.cpu.get(node) ?? 0)), 2), keys: count })
      }
      load.push({
        name: target.name,
        opsPerSec: spread(list.map((x) => x.ops)),
        ratioToSingle: round(median(list.map((x, i) => x.ops / (single[i]?.ops ?? Number.NaN))), 2),
        nodes,
        errors: list.reduce((sum, x) => sum + x.errors, 0),
        wrong: list.reduce((sum, x) => sum + x.wrong, 0),
      })
    }
    return {
      masters: 3,
      delayMs,
      samples,
      ...trips,
      processes,
      concurrencyPerProcess: concurrency,
      keys,
      rounds,
      roundMs,
      load,
    }
  } finally {
    for (const worker of workers) worker.exit()
    await sleep(200)
    for (const [node, admin] of admins) if (node !== 'single') admin.disconnect()
    await cluster.stop()
  }
}
