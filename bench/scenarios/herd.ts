/**
 * Scenario 6: a thundering herd. `processes` processes (child_process.fork with tsx, each running
 * bench/herd-worker.ts), each with `concurrency` callers of `wrap` in a loop, each call on one of
 * `keys` hot keys drawn at random, all in group `users`; the function reads "the database"
 * (sleeps `fillMs`, then reads the row).
 * A writer here moves every row every `periodMs` and calls expireGroup('users'). Each variant
 * (bench/herd-variants.ts) runs `invalidations` periods and one more for the last refills, one
 * variant after the other on an emptied Redis. The "before" variant's source (commit 581da5c's
 * src/ and lua/) is written into `.bench-before/` first (bench/before.ts); without git or that
 * commit it is reported as not measured, with the reason, and the others still run. Reports function calls per (key, invalidation),
 * the latency of callers that waited for a fill and of grace readers (see herd-worker.ts for how
 * a call is classified), and Redis commands per call of each kind.
 */
import { type ChildProcess, fork } from 'node:child_process'
import { setTimeout as sleep } from 'node:timers/promises'
import { Redis } from 'ioredis'
import { BEFORE_COMMIT, writeBeforeTree } from '../before.js'
import {
  BEFORE_VARIANT,
  clock,
  countCommands,
  HERD_DESCRIPTIONS,
  HERD_GROUP,
  HERD_PATTERNS,
  HERD_VARIANTS,
  type HerdVariantName,
  KINDS,
  type Kind,
  openVariant,
  WITHOUT_GRACE,
} from '../herd-variants.js'
import type { HerdCommand, HerdCounts, HerdReply, StartCommand } from '../herd-worker.js'
import { median, percentile, round } from '../measure.js'
import type { Context } from '../settings.js'

export interface KindSummary {
  calls: number
  p50Ms: number
  p90Ms: number
  p99Ms: number
  /** Redis commands sent in these calls' async contexts, per call */
  commandsPerCall: number
}

export interface HerdVariantResult {
  name: HerdVariantName
  description: string
  invalidations: number
  functionCalls: number
  /** functionCalls / (keys × invalidations) */
  callsPerKeyInvalidation: number
  wraps: number
  kinds: Record<Kind, KindSummary>
  /** Grace readers' p90 over the function's time (fillMs). */
  staleP90ToFill: number
  /** Most invalidations a row returned stale was behind. */
  maxStaleness: number
  /** ms from the writer's update to its expireGroup resolving, median */
  writerMedianMs: number
  redis: {
    /** Commands the workers sent while recording: in wrap calls' contexts, and outside any. */
    sentByWorkers: number
    sentOutsideWraps: number
    /** The writer's (its expireGroup calls). */
    sentByWriter: number
    /** sentByWorkers / wraps */
    sentPerWrap: number
    /**
     * INFO commandstats delta over the timed run, every client (INFO itself left out): commands
     * Redis ran, those the scripts called included (so more than were sent).
     */
    ranByRedis: number
    byCommand: Record<string, number>
    /** ranByRedis / wraps */
    ranPerWrap: number
  }
  seconds: number
}

/** A variant the run could not measure, and why. */
export interface HerdNotMeasured {
  name: HerdVariantName
  description: string
  reason: string
}

export interface HerdResult {
  processes: number
  concurrencyPerProcess: number
  keys: number
  fillMs: number
  periodMs: number
  invalidations: number
  warmupMs: number
  grace: number
  /** The "before" variant's source: the commit (full hash) its src/ and lua/ were written from, or null. */
  before: { commit: string } | null
  /** In HERD_VARIANTS order, the ones measured. */
  variants: HerdVariantResult[]
  notMeasured: HerdNotMeasured[]
}

class Worker {
  private readonly child: ChildProcess
  private pending: { resolve: (reply: HerdReply) => void; reject: (error: Error) => void } | undefined
  private failure: Error | undefined
  readonly ready: Promise<HerdReply>

  constructor(url: string) {
    const file = new URL('../herd-worker.ts', import.meta.url).pathname
    this.child = fork(file, [url], {
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      // Latencies come back as Float64Arrays.
      serialization: 'advanced',
    })
    this.child.on('message', (reply: HerdReply) => {
      if (reply.type === 'error') this.fail(new Error(`herd worker: ${reply.message}`))
      else this.settle()?.resolve(reply)
    })
    this.child.on('exit', (code) => this.fail(new Error(`herd worker exited with code ${code}`)))
    this.ready = this.next()
  }

  private settle() {
    const pending = this.pending
    this.pending = undefined
    return pending
  }

  private fail(error: Error) {
    this.failure ??= error
    this.settle()?.reject(error)
  }

  private next(): Promise<HerdReply> {
    if (this.failure) return Promise.reject(this.failure)
    return new Promise((resolve, reject) => {
      this.pending = { resolve, reject }
    })
  }

  private async ask(command: HerdCommand, expected: HerdReply['type']): Promise<HerdReply> {
    const reply = this.next()
    this.child.send(command)
    const answer = await reply
    if (answer.type !== expected) throw new Error(`herd worker: ${answer.type} where ${expected} was due`)
    return answer
  }

  /** Resolves once the worker's callers ran the warm-up and its counters started. */
  async start(command: StartCommand): Promise<void> {
    await this.ask(command, 'warm')
  }

  async update(version: number): Promise<void> {
    await this.ask({ type: 'update', version }, 'updated')
  }

  /** Ends the callers; answers `storedAt[epoch][key]`, this process's first store of a fresh row. */
  async stop(invalidatedAt: number[]): Promise<number[][]> {
    const answer = await this.ask({ type: 'stop', invalidatedAt }, 'stopped')
    if (answer.type !== 'stopped') throw new Error('unreachable')
    return answer.storedAt
  }

  async classify(storedAt: number[][]): Promise<HerdCounts> {
    const answer = await this.ask({ type: 'classify', storedAt }, 'result')
    if (answer.type !== 'result') throw new Error('unreachable')
    return answer.counts
  }

  async exit(): Promise<void> {
    if (this.child.exitCode !== null) return
    const exited = new Promise((resolve) => this.child.once('exit', resolve))
    this.failure ??= new Error('herd worker exited')
    this.child.send({ type: 'exit' } satisfies HerdCommand)
    await exited
  }
}

/** Calls per command name, from INFO commandstats (the INFO calls themselves left out). */
async function commandStats(admin: Redis): Promise<Map<string, number>> {
  const stats = new Map<string, number>()
  for (const match of (await admin.info('commandstats')).matchAll(/^cmdstat_(\S+?):calls=(\d+)/gm)) {
    const [, name, calls] = match
    if (name && name !== 'info') stats.set(name, Number(calls))
  }
  return stats
}

export async function herdScenario(ctx: Context): Promise<HerdResult> {
  const h = ctx.settings.herd
  const tree = writeBeforeTree()
  const notMeasured: HerdNotMeasured[] = []
  if ('reason' in tree) {
    notMeasured.push({ name: BEFORE_VARIANT, description: HERD_DESCRIPTIONS[BEFORE_VARIANT], reason: tree.reason })
    ctx.log(`herd: ${BEFORE_VARIANT} not measured: ${tree.reason}\n`)
  } else {
    ctx.log(`herd: wrote ${BEFORE_COMMIT}'s src/ and lua/ (${tree.files} files) to .bench-before/\n`)
  }
  ctx.log(`herd: starting ${h.processes} processes\n`)
  const workers = Array.from({ length: h.processes }, () => new Worker(ctx.server.url))
  try {
    await Promise.all(workers.map((w) => w.ready))
    const variants: HerdVariantResult[] = []
    for (const name of HERD_VARIANTS) {
      if (notMeasured.some((x) => x.name === name)) continue
      ctx.log(`herd: ${name}`)
      variants.push(await runVariant(ctx, workers, name))
      ctx.log('\n')
    }
    return {
      processes: h.processes,
      concurrencyPerProcess: h.concurrency,
      keys: h.keys,
      fillMs: h.fillMs,
      periodMs: h.periodMs,
      invalidations: h.invalidations,
      warmupMs: h.warmupMs,
      grace: h.grace,
      before: 'commit' in tree ? { commit: tree.commit } : null,
      variants,
      notMeasured,
    }
  } finally {
    await Promise.all(workers.map((w) => w.exit()))
    await ctx.server.reset(HERD_PATTERNS)
  }
}

async function runVariant(ctx: Context, workers: readonly Worker[], name: HerdVariantName): Promise<HerdVariantResult> {
  const h = ctx.settings.herd
  await ctx.server.reset(HERD_PATTERNS)
  const redis = new Redis(ctx.server.url)
  let writerCommands = 0
  let counting = false
  countCommands(redis, () => {
    if (counting) writerCommands++
  })
  const writer = await openVariant(name, redis, h.grace)
  const writerMs: number[] = []
  const invalidatedAt: number[] = []
  try {
    const start: StartCommand = {
      type: 'start',
      variant: name,
      concurrency: h.concurrency,
      keys: h.keys,
      fillMs: h.fillMs,
      grace: h.grace,
      warmupMs: h.warmupMs,
    }
    await Promise.all(workers.map((w) => w.start(start)))
    const before = await commandStats(ctx.server.admin)
    counting = true
    const t0 = performance.now()
    for (let n = 1; n <= h.invalidations; n++) {
      await sleep(Math.max(0, t0 + n * h.periodMs - performance.now()))
      const t = performance.now()
      // Every row moves, and every process knows it, before the invalidation: a fill that
      // begins after it reads the new rows.
      await Promise.all(workers.map((w) => w.update(n)))
      await writer.expireGroup(HERD_GROUP)
      invalidatedAt.push(clock())
      writerMs.push(performance.now() - t)
      ctx.log(` ${n}`)
    }
    await sleep(Math.max(0, t0 + (h.invalidations + 1) * h.periodMs - performance.now()))
    const stores = await Promise.all(workers.map((w) => w.stop(invalidatedAt)))
    counting = false
    const after = await commandStats(ctx.server.admin)
    // The fleet's first store of a fresh row of each (epoch, key): before it, no fresh value existed.
    const storedAt = (stores[0] ?? []).map((keys, epoch) =>
      keys.map((_, key) => Math.min(...stores.map((s) => s[epoch]?.[key] ?? Number.POSITIVE_INFINITY))),
    )
    const counts = await Promise.all(workers.map((w) => w.classify(storedAt)))
    const errors = [...counts.flatMap((c) => c.swallowedErrors), ...writer.swallowedErrors()]
    if (errors.length > 0) throw new Error(`herd: ${name} absorbed ${errors.length} errors: ${errors.slice(0, 3)}`)
    const byCommand: Record<string, number> = {}
    for (const [command, calls] of after) {
      const delta = calls - (before.get(command) ?? 0)
      if (delta > 0) byCommand[command] = delta
    }
    return summarize(ctx, name, counts, byCommand, writerCommands, writerMs)
  } finally {
    await writer.close()
    redis.disconnect()
  }
}

function summarize(
  ctx: Context,
  name: HerdVariantName,
  counts: readonly HerdCounts[],
  byCommand: Record<string, number>,
  writerCommands: number,
  writerMs: readonly number[],
): HerdVariantResult {
  const h = ctx.settings.herd
  const sum = (pick: (x: HerdCounts) => number) => counts.reduce((total, x) => total + pick(x), 0)
  const wraps = sum((x) => x.wraps)
  const wrong = sum((x) => x.wrong)
  if (wrong > 0) throw new Error(`herd: ${name} returned ${wrong} rows of another key`)
  const kinds = Object.fromEntries(
    KINDS.map((kind): [Kind, KindSummary] => {
      const sorted = Float64Array.from(counts.flatMap((c) => [...c.kinds[kind].latencies])).sort()
      const calls = sorted.length
      const at = (p: number) => (calls === 0 ? Number.NaN : round(percentile(sorted, p), 2))
      const commands = sum((x) => x.kinds[kind].commands)
      return [
        kind,
        {
          calls,
          p50Ms: at(0.5),
          p90Ms: at(0.9),
          p99Ms: at(0.99),
          commandsPerCall: calls === 0 ? Number.NaN : round(commands / calls, 2),
        },
      ]
    }),
  ) as Record<Kind, KindSummary>
  // Without grace, a row older than the invalidation its call started after is a wrong answer.
  if (WITHOUT_GRACE.includes(name) && kinds.stale.calls > 0) {
    throw new Error(`herd: ${name} (no grace) returned ${kinds.stale.calls} rows older than an invalidation`)
  }
  const functionCalls = sum((x) => x.functionCalls)
  const workerCommandsOutside = sum((x) => x.commandsOutside)
  const workerCommands = sum((x) => KINDS.reduce((total, kind) => total + x.kinds[kind].commands, 0))
  const ranByRedis = Object.values(byCommand).reduce((total, x) => total + x, 0)
  const sentByWorkers = workerCommands + workerCommandsOutside
  return {
    name,
    description: HERD_DESCRIPTIONS[name],
    invalidations: h.invalidations,
    functionCalls,
    callsPerKeyInvalidation: round(functionCalls / (h.keys * h.invalidations), 3),
    wraps,
    kinds,
    staleP90ToFill: round(kinds.stale.p90Ms / h.fillMs, 4),
    maxStaleness: Math.max(...counts.map((c) => c.maxStaleness)),
    writerMedianMs: round(median(writerMs), 2),
    redis: {
      sentByWorkers,
      sentOutsideWraps: workerCommandsOutside,
      sentByWriter: writerCommands,
      sentPerWrap: round(sentByWorkers / Math.max(1, wraps), 3),
      ranByRedis,
      byCommand,
      ranPerWrap: round(ranByRedis / Math.max(1, wraps), 3),
    },
    seconds: round(Math.max(...counts.map((c) => c.seconds)), 2),
  }
}
