/**
 * Timing: closed loops of one operation for a fixed time, and races that interleave contenders
 * round by round (the order rotates every round) so that a slow spell of this shared machine
 * hits every contender alike. Ratios are taken within a round (contender / plain of the same
 * round), then their median over rounds is reported.
 */
import type { ContenderName } from './contenders.js'

/** One operation on key index `i`; resolves true when what it returned is right. */
export type Op = (i: number) => Promise<boolean>

export interface LoopResult {
  opsPerSec: number
  ops: number
  /** Operations whose result was wrong (a miss where a hit was due, another key's value). */
  wrong: number
  /** Latency of each operation, ns. */
  latencies: number[]
  /** CPU time of this process, µs. */
  cpuUs: number
}

/** Runs `op` in `concurrency` loops for `ms`, over key indexes 0..keys-1 in turn. */
export async function loop(op: Op, concurrency: number, ms: number, keys: number): Promise<LoopResult> {
  const latencies: number[] = []
  let next = 0
  let wrong = 0
  const cpu = process.cpuUsage()
  const start = process.hrtime.bigint()
  const deadline = start + BigInt(Math.round(ms * 1e6))
  const worker = async () => {
    for (let now = start; now < deadline; ) {
      const t0 = process.hrtime.bigint()
      if (!(await op(next++ % keys))) wrong++
      now = process.hrtime.bigint()
      latencies.push(Number(now - t0))
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker))
  const seconds = Number(process.hrtime.bigint() - start) / 1e9
  const { user, system } = process.cpuUsage(cpu)
  return { opsPerSec: latencies.length / seconds, ops: latencies.length, wrong, latencies, cpuUs: user + system }
}

/** Times one call, in ms. */
export async function timeMs(fn: () => Promise<unknown>): Promise<number> {
  const t0 = process.hrtime.bigint()
  await fn()
  return Number(process.hrtime.bigint() - t0) / 1e6
}

export interface Spread {
  median: number
  min: number
  max: number
}

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return Number.NaN
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2
}

export function spread(xs: readonly number[]): Spread {
  return { median: median(xs), min: Math.min(...xs), max: Math.max(...xs) }
}

/** The p-quantile (0..1) of ascending `sorted`. */
export function percentile(sorted: Float64Array, p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] as number
}

export const round = (x: number, digits = 0): number => Number(x.toFixed(digits))

/** Order of round `r`: the list rotated by r (A B C D, then B C D A, ...). */
export function rotate<T>(items: readonly T[], r: number): T[] {
  const k = r % Math.max(1, items.length)
  return [...items.slice(k), ...items.slice(0, k)]
}

export interface RaceSettings {
  rounds: number
  roundMs: number
  warmupMs: number
  /** Key indexes the ops cycle through. */
  keys: number
}

/** Reads the CPU time of the redis-server process, µs (own server only: a shared one's is not ours). */
export type ServerCpu = () => Promise<number>

export interface Race {
  /** e.g. "get hit, 3 groups" */
  name: string
  concurrency: number
  /** The contenders that take part, in base order; plain (if present) is the reference. */
  ops: Partial<Record<ContenderName, Op>>
}

export interface RoundResult {
  opsPerSec: number
  p50Us: number
  p99Us: number
}

export interface ContenderResult {
  name: ContenderName
  opsPerSec: Spread
  /** Median (min, max) over rounds of this contender's ops/s divided by plain's in the same round. */
  ratioToPlain: Spread | undefined
  /** Over every operation of every round. */
  p50Us: number
  p99Us: number
  clientCpuUsPerOp: number
  /** CPU time of the redis-server process per operation (commands, network, all), if measured. */
  serverUsPerOp: number | undefined
  rounds: RoundResult[]
}

export interface RaceResult {
  name: string
  concurrency: number
  contenders: ContenderResult[]
}

const toUs = (ns: number) => round(ns / 1000, 1)

/** Warm-up, then `rounds` rounds of every contender in rotated order. Throws on a wrong result. */
export async function race(
  spec: Race,
  settings: RaceSettings,
  log: (text: string) => void,
  serverCpu?: ServerCpu,
): Promise<RaceResult> {
  const names = (Object.keys(spec.ops) as ContenderName[]).filter((name) => spec.ops[name] !== undefined)
  const opOf = (name: ContenderName) => spec.ops[name] as Op
  const check = (name: ContenderName, result: LoopResult) => {
    if (result.wrong > 0) {
      throw new Error(
        `${spec.name} c=${spec.concurrency}: ${name} returned ${result.wrong} wrong results of ${result.ops}`,
      )
    }
  }
  log(`${spec.name} c=${spec.concurrency}: warm-up`)
  for (const name of names) check(name, await loop(opOf(name), spec.concurrency, settings.warmupMs, settings.keys))
  const rounds = new Map<ContenderName, RoundResult[]>(names.map((name) => [name, []]))
  const latencies = new Map<ContenderName, number[][]>(names.map((name) => [name, []]))
  const cpu = new Map<ContenderName, { us: number; ops: number; serverUs: number }>(
    names.map((name) => [name, { us: 0, ops: 0, serverUs: 0 }]),
  )
  for (let r = 0; r < settings.rounds; r++) {
    log(` ${r + 1}`)
    for (const name of rotate(names, r)) {
      const serverBefore = (await serverCpu?.()) ?? 0
      const result = await loop(opOf(name), spec.concurrency, settings.roundMs, settings.keys)
      const serverUs = ((await serverCpu?.()) ?? 0) - serverBefore
      check(name, result)
      const sorted = Float64Array.from(result.latencies).sort()
      rounds.get(name)?.push({
        opsPerSec: round(result.opsPerSec),
        p50Us: toUs(percentile(sorted, 0.5)),
        p99Us: toUs(percentile(sorted, 0.99)),
      })
      latencies.get(name)?.push(result.latencies)
      const total = cpu.get(name)
      if (total) {
        total.us += result.cpuUs
        total.ops += result.ops
        total.serverUs += serverUs
      }
    }
  }
  log('\n')
  const plainRounds = rounds.get('plain')
  const contenders = names.map((name): ContenderResult => {
    const own = rounds.get(name) ?? []
    const pooled = Float64Array.from((latencies.get(name) ?? []).flat()).sort()
    const total = cpu.get(name) ?? { us: 0, ops: 1, serverUs: 0 }
    const ratios = plainRounds?.map((p, r) => (own[r]?.opsPerSec ?? Number.NaN) / p.opsPerSec)
    return {
      name,
      opsPerSec: spread(own.map((x) => x.opsPerSec)),
      ratioToPlain: ratios ? roundSpread(spread(ratios), 3) : undefined,
      p50Us: toUs(percentile(pooled, 0.5)),
      p99Us: toUs(percentile(pooled, 0.99)),
      clientCpuUsPerOp: round(total.us / Math.max(1, total.ops), 2),
      serverUsPerOp: serverCpu ? round(total.serverUs / Math.max(1, total.ops), 2) : undefined,
      rounds: own,
    }
  })
  return { name: spec.name, concurrency: spec.concurrency, contenders }
}

export function roundSpread(s: Spread, digits: number): Spread {
  return { median: round(s.median, digits), min: round(s.min, digits), max: round(s.max, digits) }
}
