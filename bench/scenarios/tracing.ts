/**
 * Scenario 9: what observing the cache costs its hit path: the tracing channels with and without
 * a subscriber, and the counters, on one hot key (the near scenario's: a 1 KiB JSON value under
 * 2 groups).
 *
 * 1. Hot-key get at concurrency 1 and 64, five contenders in the suite's rounds (settings.race,
 *    the order rotated every round): `plain` (ioredis GET + JSON.parse, the reference), the cache
 *    from Redis untraced and traced, and an eventual near cache (a hit with no round trip, where
 *    any cost of the library's own shows most) untraced and traced. "Traced": a subscriber on
 *    every operation's channel, subscribed for that contender's loop alone, which does what a
 *    metrics exporter does: on asyncEnd, adds the context's hits and misses to two numbers.
 *    Ratios are taken within a round: traced over untraced, contender over plain.
 *
 * 2. The counters and the check, first (before anything subscribed in this process, as in a
 *    process that never traces): per round, ns per eventual near-cache hit (c=1, for roundMs),
 *    then ns per `Counters.hit` (what every read adds to the counters, src/stats.ts) and per
 *    `hasSubscribers` check of a channel with none (what every call adds untraced), each timed
 *    over `iterations` calls: their share of the cheapest hit there is, within a round. (The
 *    race's subscribing and unsubscribing between loops, which a service does not do, swaps the
 *    channels' prototypes and can slow that check afterwards: the race's untraced figures are,
 *    if anything, low.)
 */
import { tracingChannel } from 'node:diagnostics_channel'
import { setTimeout as sleep } from 'node:timers/promises'
import { Counters } from '../../src/stats.js'
import { OPERATIONS, type OperationContext } from '../../src/tracing.js'
import { GROUP_CACHE_NAMESPACE } from '../contenders.js'
import { groupsFor, isValueFor, type Value, valueFor } from '../data.js'
import { loop, percentile, rotate, round, roundSpread, type Spread, spread } from '../measure.js'
import { GroupCache } from '../package.js'
import type { Context } from '../settings.js'

export const TRACING_CONTENDERS = ['plain', 'redis', 'redis traced', 'near', 'near traced'] as const
export type TracingContenderName = (typeof TRACING_CONTENDERS)[number]
const CONCURRENCIES = [1, 64] as const
const ID = 2
const KEY = 'tracing:hot'
const GROUPS = groupsFor(ID, 2)

export interface TracingContender {
  name: TracingContenderName
  opsPerSec: Spread
  /** Median (min, max) over rounds of ops/s over plain's in the same round. */
  ratioToPlain: Spread
  /** Traced contenders: ops/s over the same path untraced, in the same round. */
  ratioToUntraced: Spread | undefined
  p50Us: number
  p99Us: number
  clientCpuUsPerOp: number
  /** Traced contenders: the hits the subscriber summed over its gets (1: every get seen, a hit). */
  seenHitsPerGet: number | undefined
}

export interface TracingRace {
  concurrency: number
  contenders: TracingContender[]
}

export interface CountersCost {
  iterations: number
  /** ns per Counters.hit (no trace), per round */
  hitNs: Spread
  /** ns per hasSubscribers of a channel without subscribers */
  checkNs: Spread
  /** ns per eventual near-cache get (c=1), in the same rounds */
  nearHitNs: Spread
  /** (hitNs + checkNs) / nearHitNs per round: the share of a near hit they take */
  shareOfNearHit: Spread
}

export interface TracingResult {
  rounds: number
  roundMs: number
  races: TracingRace[]
  counters: CountersCost
}

/** A subscriber on every channel that sums the read contexts' hits and misses, as an exporter would. */
function subscribeAll(): { seen: () => { hits: number; misses: number }; stop: () => void } {
  let hits = 0
  let misses = 0
  const handlers = {
    start() {},
    end() {},
    asyncStart() {},
    asyncEnd(message: unknown) {
      const context = message as OperationContext & { hits?: number; misses?: number }
      hits += context.hits ?? 0
      misses += context.misses ?? 0
    },
    error() {},
  }
  const traced = OPERATIONS.map((operation) => tracingChannel(`redis-group-cache:${operation}`))
  for (const channel of traced) channel.subscribe(handlers)
  return {
    seen: () => ({ hits, misses }),
    stop: () => {
      for (const channel of traced) channel.unsubscribe(handlers)
    },
  }
}

export async function tracingScenario(ctx: Context): Promise<TracingResult> {
  const { rounds, roundMs, warmupMs } = ctx.settings.race
  const { plain } = ctx.contenders
  const value = valueFor(ID)
  await plain.set(KEY, value, [])
  const far = new GroupCache({ redis: ctx.server.url, namespace: GROUP_CACHE_NAMESPACE, timeout: 10_000 })
  const near = new GroupCache({
    redis: ctx.server.url,
    namespace: GROUP_CACHE_NAMESPACE,
    timeout: 10_000,
    nearCache: { maxEntries: 1000, consistency: 'eventual' },
  })
  const errors: string[] = []
  for (const cache of [far, near]) cache.on('error', (error) => errors.push(`${error.code}: ${error.message}`))
  try {
    for (const group of GROUPS) await far.expireGroup(group)
    await far.set(KEY, value, { groups: GROUPS })
    await holds(near)
    const gets: Record<TracingContenderName, () => Promise<Value | undefined>> = {
      plain: () => plain.get(KEY),
      redis: () => far.get<Value>(KEY),
      'redis traced': () => far.get<Value>(KEY),
      near: () => near.get<Value>(KEY),
      'near traced': () => near.get<Value>(KEY),
    }
    const counters = await countersCost(ctx.settings.quick ? 200_000 : 5_000_000, rounds, roundMs, () =>
      near.get<Value>(KEY),
    )
    const races: TracingRace[] = []
    for (const concurrency of CONCURRENCIES) {
      const perRound = new Map<TracingContenderName, number[]>(TRACING_CONTENDERS.map((name) => [name, []]))
      const latencies = new Map<TracingContenderName, number[]>(TRACING_CONTENDERS.map((name) => [name, []]))
      const cpu = new Map<TracingContenderName, { us: number; ops: number; seen: number }>(
        TRACING_CONTENDERS.map((name) => [name, { us: 0, ops: 0, seen: 0 }]),
      )
      const run = async (name: TracingContenderName, ms: number) => {
        const get = gets[name]
        const subscriber = name.endsWith('traced') ? subscribeAll() : undefined
        try {
          const result = await loop(async () => isValueFor(await get(), ID), concurrency, ms, 1)
          if (result.wrong > 0)
            throw new Error(`tracing: ${name} c=${concurrency}: ${result.wrong} wrong of ${result.ops}`)
          const seen = subscriber?.seen() ?? { hits: 0, misses: 0 }
          if (subscriber && (seen.misses > 0 || seen.hits !== result.ops))
            throw new Error(
              `tracing: ${name}: the subscriber saw ${seen.hits} hits, ${seen.misses} misses of ${result.ops} gets`,
            )
          return { result, seen: seen.hits }
        } finally {
          subscriber?.stop()
        }
      }
      ctx.log(`tracing c=${concurrency}: warm-up`)
      for (const name of TRACING_CONTENDERS) await run(name, warmupMs)
      for (let r = 0; r < rounds; r++) {
        ctx.log(` ${r + 1}`)
        for (const name of rotate(TRACING_CONTENDERS, r)) {
          const { result, seen } = await run(name, roundMs)
          perRound.get(name)?.push(result.opsPerSec)
          for (const ns of result.latencies) latencies.get(name)?.push(ns)
          const total = cpu.get(name) as { us: number; ops: number; seen: number }
          total.us += result.cpuUs
          total.ops += result.ops
          total.seen += seen
        }
      }
      ctx.log('\n')
      const ratio = (a: TracingContenderName, b: TracingContenderName) => {
        const ra = perRound.get(a) ?? []
        const rb = perRound.get(b) ?? []
        return roundSpread(spread(ra.map((x, i) => x / (rb[i] as number))), 3)
      }
      races.push({
        concurrency,
        contenders: TRACING_CONTENDERS.map((name): TracingContender => {
          const pooled = Float64Array.from(latencies.get(name) ?? []).sort()
          const total = cpu.get(name) as { us: number; ops: number; seen: number }
          const traced = name.endsWith('traced')
          return {
            name,
            opsPerSec: roundSpread(spread(perRound.get(name) ?? []), 0),
            ratioToPlain: ratio(name, 'plain'),
            ratioToUntraced: traced ? ratio(name, name.replace(' traced', '') as TracingContenderName) : undefined,
            p50Us: round(percentile(pooled, 0.5) / 1000, 1),
            p99Us: round(percentile(pooled, 0.99) / 1000, 1),
            clientCpuUsPerOp: round(total.us / Math.max(1, total.ops), 2),
            seenHitsPerGet: traced ? round(total.seen / Math.max(1, total.ops), 3) : undefined,
          }
        }),
      })
    }
    if (errors.length > 0) throw new Error(`tracing: ${errors.length} errors: ${errors.slice(0, 3)}`)
    return { rounds, roundMs, races, counters }
  } finally {
    await far.close()
    await near.close()
  }
}

/** Per round: ns per near-cache hit, then per Counters.hit and per hasSubscribers check. */
async function countersCost(
  iterations: number,
  rounds: number,
  roundMs: number,
  nearGet: () => Promise<Value | undefined>,
): Promise<CountersCost> {
  const counters = new Counters()
  const unwatched = tracingChannel('redis-group-cache:bench-unwatched')
  const nearHitNs: number[] = []
  const hitNs: number[] = []
  const checkNs: number[] = []
  let checked = 0
  for (let r = 0; r < rounds; r++) {
    const hits = await loop(async () => isValueFor(await nearGet(), ID), 1, roundMs, 1)
    if (hits.wrong > 0) throw new Error(`tracing: the near cache returned ${hits.wrong} wrong values`)
    nearHitNs.push(1e9 / hits.opsPerSec)
    let t0 = process.hrtime.bigint()
    for (let i = 0; i < iterations; i++) counters.hit(undefined)
    hitNs.push(Number(process.hrtime.bigint() - t0) / iterations)
    t0 = process.hrtime.bigint()
    for (let i = 0; i < iterations; i++) if (unwatched.hasSubscribers) checked++
    checkNs.push(Number(process.hrtime.bigint() - t0) / iterations)
  }
  if (counters.hits !== iterations * rounds || checked !== 0) throw new Error('tracing: counters miscounted')
  return {
    iterations,
    hitNs: roundSpread(spread(hitNs), 2),
    checkNs: roundSpread(spread(checkNs), 2),
    nearHitNs: roundSpread(spread(nearHitNs), 0),
    shareOfNearHit: roundSpread(
      spread(nearHitNs.map((ns, r) => ((hitNs[r] as number) + (checkNs[r] as number)) / ns)),
      4,
    ),
  }
}

/** The near cache in sync and holding the key. */
async function holds(cache: InstanceType<typeof GroupCache>): Promise<void> {
  const deadline = performance.now() + 5000
  const wait = async (ok: () => boolean, what: string) => {
    while (!ok()) {
      if (performance.now() > deadline) throw new Error(`tracing: the near cache: ${what} not within 5 s`)
      await sleep(1)
    }
  }
  await wait(() => cache.nearCacheStats()?.inSync === true, 'in sync')
  if (!isValueFor(await cache.get<Value>(KEY), ID)) throw new Error(`tracing: ${KEY} is not stored`)
  await wait(() => cache.nearCacheStats()?.held === 1, `holds ${KEY}`)
}
