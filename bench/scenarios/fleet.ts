/**
 * Scenario 5: a fleet of processes (child_process.fork with tsx) sharing one Redis, each running
 * the mixed workload of fleet-worker.ts for a fixed time per round, contenders interleaved by
 * round in rotated order (all processes on the same contender at once). Reports total ops/s
 * and the hit rate of wrap (share of wrap calls whose function did not run).
 *
 * Beside the suite's contenders, the fleet-only near variants (contenders.ts FLEET_NEAR_VARIANTS:
 * group-cache with a strict near cache, values copied or frozen, each on a namespace of its own),
 * in the same rotation: every worker process opens its own near cache (it is per process) and is
 * ready once it is in sync. For them, also the share of wrap calls the near caches served: the
 * sum over the processes of their `nearCacheStats().hits` deltas over the wraps, per round.
 */
import { type ChildProcess, fork } from 'node:child_process'
import {
  CONTENDERS,
  type ContenderName,
  FLEET_NEAR_VARIANTS,
  type FleetContenderName,
  isFleetNearVariant,
  nearVariantPatterns,
} from '../contenders.js'
import { GROUP_POOL } from '../data.js'
import type { Command, FleetCounts, Reply } from '../fleet-worker.js'
import { median, rotate, round, type Spread, spread } from '../measure.js'
import type { Context } from '../settings.js'

export interface FleetRound {
  opsPerSec: number
  hitRate: number
  wraps: number
  loads: number
  sets: number
  invalidations: number
  /** wrap calls the processes' near caches served (0 without a near cache) */
  nearHits: number
  /** processes whose near cache was out of sync at the end of the round (0 without a near cache) */
  nearOutOfSync: number
}

export interface FleetContender {
  name: FleetContenderName
  /** What its 1% of invalidations are. */
  invalidation: string
  opsPerSec: Spread
  hitRate: number
  /** Median over rounds of ops/s divided by group-cache's in the same round. */
  ratioToGroupCache: number
  /** Near variants: median over rounds of the share of wrap calls the near caches served (nearHits / wraps). */
  nearHitShare?: number
  rounds: FleetRound[]
}

export interface FleetResult {
  processes: number
  concurrencyPerProcess: number
  keys: number
  groups: number
  roundMs: number
  rounds: number
  /** maxEntries of each process's near cache (near variants) */
  nearMaxEntries: number
  contenders: FleetContender[]
}

class Worker {
  private readonly child: ChildProcess
  private pending: { resolve: (reply: Reply) => void; reject: (error: Error) => void } | undefined
  readonly ready: Promise<Reply>

  constructor(url: string, nearMaxEntries: number) {
    const file = new URL('../fleet-worker.ts', import.meta.url).pathname
    this.child = fork(file, [url, `${nearMaxEntries}`], {
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    })
    this.child.on('message', (reply: Reply) => {
      const pending = this.pending
      this.pending = undefined
      pending?.resolve(reply)
    })
    this.child.on('exit', (code) => {
      this.pending?.reject(new Error(`fleet worker exited with code ${code}`))
      this.pending = undefined
    })
    this.ready = this.next()
  }

  private next(): Promise<Reply> {
    return new Promise((resolve, reject) => {
      this.pending = { resolve, reject }
    })
  }

  async run(command: Extract<Command, { type: 'run' }>): Promise<FleetCounts> {
    const reply = this.next()
    this.child.send(command)
    const answer = await reply
    if (answer.type === 'error') throw new Error(`fleet worker: ${answer.message}`)
    if (answer.type !== 'result') throw new Error(`fleet worker: unexpected ${answer.type}`)
    return answer.counts
  }

  async exit(): Promise<void> {
    if (this.child.exitCode !== null) return
    const exited = new Promise((resolve) => this.child.once('exit', resolve))
    this.child.send({ type: 'exit' } satisfies Command)
    await exited
  }
}

const INVALIDATION: Record<FleetContenderName, string> = {
  plain: 'DEL of one key (no groups)',
  'group-cache': 'expireGroup',
  bentocache: 'deleteByTag',
  'async-cache-dedupe': 'invalidateAll(reference)',
  'group-cache near strict': 'expireGroup',
  'group-cache near strict frozen': 'expireGroup',
}

export async function fleetScenario(ctx: Context): Promise<FleetResult> {
  const f = ctx.settings.fleet
  const names: FleetContenderName[] = [...CONTENDERS, ...FLEET_NEAR_VARIANTS]
  const patterns = [
    ...CONTENDERS.flatMap((name: ContenderName) => ctx.contenders[name].patterns),
    ...FLEET_NEAR_VARIANTS.flatMap(nearVariantPatterns),
  ]
  await ctx.server.reset(patterns)
  ctx.log(`fleet: starting ${f.processes} processes\n`)
  const workers = Array.from({ length: f.processes }, () => new Worker(ctx.server.url, f.nearMaxEntries))
  try {
    await Promise.all(workers.map((w) => w.ready))
    let seed = 1
    const runAll = async (name: FleetContenderName, ms: number) => {
      const counts = await Promise.all(
        workers.map((w) =>
          w.run({ type: 'run', contender: name, ms, concurrency: f.concurrency, keys: f.keys, seed: seed++ }),
        ),
      )
      const wrong = counts.reduce((sum, x) => sum + x.wrong, 0)
      if (wrong > 0) throw new Error(`fleet: ${name} returned ${wrong} wrong values`)
      const swallowed = counts.reduce((sum, x) => sum + x.swallowedErrors, 0)
      if (swallowed > 0) throw new Error(`fleet: ${name} reported ${swallowed} errors it absorbed`)
      return summarize(counts)
    }
    ctx.log('fleet: warm-up')
    for (const name of names) await runAll(name, f.warmupMs)
    const rounds = new Map<FleetContenderName, FleetRound[]>(names.map((name) => [name, []]))
    for (let r = 0; r < f.rounds; r++) {
      ctx.log(` ${r + 1}`)
      for (const name of rotate(names, r)) rounds.get(name)?.push(await runAll(name, f.roundMs))
    }
    ctx.log('\n')
    const reference = rounds.get('group-cache') ?? []
    const contenders = names.map((name): FleetContender => {
      const own = rounds.get(name) ?? []
      return {
        name,
        invalidation: INVALIDATION[name],
        opsPerSec: spread(own.map((x) => x.opsPerSec)),
        hitRate: round(median(own.map((x) => x.hitRate)), 4),
        ratioToGroupCache: round(median(own.map((x, i) => x.opsPerSec / (reference[i]?.opsPerSec ?? Number.NaN))), 3),
        nearHitShare: isFleetNearVariant(name)
          ? round(median(own.map((x) => (x.wraps === 0 ? 0 : x.nearHits / x.wraps))), 4)
          : undefined,
        rounds: own,
      }
    })
    return {
      processes: f.processes,
      concurrencyPerProcess: f.concurrency,
      keys: f.keys,
      groups: GROUP_POOL,
      roundMs: f.roundMs,
      rounds: f.rounds,
      nearMaxEntries: f.nearMaxEntries,
      contenders,
    }
  } finally {
    await Promise.all(workers.map((w) => w.exit()))
    await ctx.server.reset(patterns)
  }
}

function summarize(counts: readonly FleetCounts[]): FleetRound {
  const sum = (pick: (x: FleetCounts) => number) => counts.reduce((total, x) => total + pick(x), 0)
  const seconds = Math.max(...counts.map((x) => x.seconds))
  const wraps = sum((x) => x.wraps)
  const loads = sum((x) => x.loads)
  return {
    opsPerSec: Math.round(sum((x) => x.ops) / seconds),
    hitRate: round(wraps === 0 ? 0 : 1 - loads / wraps, 4),
    wraps,
    loads,
    sets: sum((x) => x.sets),
    invalidations: sum((x) => x.invalidations),
    nearHits: sum((x) => x.nearHits),
    nearOutOfSync: counts.filter((x) => !x.nearInSync).length,
  }
}
