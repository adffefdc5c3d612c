/**
 * Scenario 7: the near cache (nearCache: { maxEntries, consistency }), on one hot key: a 1 KiB
 * JSON value (bench/data.ts) stored under 2 groups.
 *
 * 1. Hot-key get at concurrency 1 and 64 (N async loops, each awaiting one get after another),
 *    four contenders, each on its own connections: `plain` (ioredis GET + JSON.parse of the same
 *    value, the bench's plain contender: the reference), `group-cache` (the cache without a near
 *    cache, the suite's contender), and two caches of their own with a near cache, `near strict`
 *    (a held value is served after a PING on the near cache's subscribed connection, shared by the
 *    reads waiting at that moment) and `near eventual` (served with no round trip). Before timing,
 *    each near cache is in sync (`nearCacheStats().inSync`), has read the key once and holds it
 *    (`held` 1). Then a warm-up, and the suite's rounds (settings.race): in each round every
 *    contender runs for `roundMs`, the order rotated every round. Reported per contender and
 *    concurrency: median ops/s over rounds, and the median of per-round ratios to plain. Each get
 *    checks the value it got; a near cache's gets are checked to have been served from memory
 *    (its `hits` counter). On the bench's own redis-server, the commands Redis ran during each
 *    contender's timed part (INFO commandstats deltas, every client, INFO itself left out: the
 *    bench's own reads of the stats) are divided by its gets.
 *
 * 2. The staleness window of 'eventual': `processes` processes (child_process.fork with tsx of this
 *    very file with `--near-worker`, so that the scenario stays one file), each with an eventual
 *    near cache on its own connections holding the key; this process's cache (no near cache)
 *    calls expireGroup `invalidations` times, `periodMs` apart (one of the key's 2 groups in
 *    turn). Before each one it stores the value again and every process reads it until it holds
 *    it; then each process starts watching (it acknowledges first), and once all have, expireGroup
 *    runs. A watching process checks `nearCacheStats().held` every `pollMs`: between two checks it
 *    sleeps in Atomics.wait (so that 4 watchers do not spin on 2 cores beside Redis), then lets its
 *    event loop turn once (setImmediate), which reads the invalidation message if it came. It
 *    notes when it first finds the key dropped. Times are process.hrtime (CLOCK_MONOTONIC): one
 *    clock for every process of the machine, so a process's time and this process's are
 *    comparable as they are, with no alignment by messages (which would add their own latency).
 *    Window = when a process found the key gone - when expireGroup resolved here. Negative: it had
 *    dropped it before the writer's reply was read (Redis flushes the invalidation and the reply
 *    in the same pass); the window counts as 0 in the percentiles, and such cases are counted.
 *    The figures include up to one `pollMs` plus one event-loop turn of resolution; the watchers
 *    are otherwise idle (a busy event loop would add its own lag).
 *
 * 3. The copy: a near cache holds the serialized text and parses it on each hit, so that callers
 *    never share (and mutate) one object. In this process: ns per call of JSON.parse of the value's
 *    text vs structuredClone of the parsed value vs the near cache's own copies (walked, and compiled
 *    for the value's shape), and, in the same interleaved rounds, ns per awaited get of the eventual near cache
 *    (c=1), so that the share of a hit spent parsing is taken within a round.
 */
import { type ChildProcess, execFileSync, fork } from 'node:child_process'
import { setTimeout as sleep } from 'node:timers/promises'
import { compiledCopy, jsonCopy } from '../../src/copy.js'
import { GROUP_CACHE_NAMESPACE } from '../contenders.js'
import { groupsFor, isValueFor, VALUE_BYTES, type Value, valueFor } from '../data.js'
import { loop, median, type Op, percentile, rotate, round, roundSpread, type Spread, spread } from '../measure.js'
import { GroupCache } from '../package.js'
import { serverCpuUs } from '../server.js'
import type { Context } from '../settings.js'

export const NEAR_CONTENDERS = [
  'plain',
  'group-cache',
  'near strict',
  'near eventual',
  'near strict frozen',
  'near eventual frozen',
] as const
export type NearContenderName = (typeof NEAR_CONTENDERS)[number]
export const NEAR_CONCURRENCIES = [1, 64] as const

/** The hot key's index (its value's `id`), key and groups. */
const ID = 1
const KEY = 'near:hot'
const GROUPS = groupsFor(ID, 2)
const WORKER_FLAG = '--near-worker'
/** Monotonic ms (CLOCK_MONOTONIC): one clock for every process of the machine. */
const clock = (): number => Number(process.hrtime.bigint()) / 1e6

export interface NearSettings {
  /** From settings.race. */
  rounds: number
  roundMs: number
  warmupMs: number
  staleness: {
    processes: number
    invalidations: number
    /** ms from one expireGroup's start to the next's */
    periodMs: number
    /** ms between two checks of a watching process */
    pollMs: number
    /** ms a process may take to drop the key before it counts as not dropped */
    dropTimeoutMs: number
  }
  copy: { rounds: number; iterations: number }
}

export function nearSettingsFor(ctx: Context): NearSettings {
  const { quick, race } = ctx.settings
  return {
    rounds: race.rounds,
    roundMs: race.roundMs,
    warmupMs: race.warmupMs,
    staleness: {
      processes: 4,
      invalidations: quick ? 30 : 200,
      periodMs: 20,
      pollMs: 0.2,
      dropTimeoutMs: 2000,
    },
    copy: { rounds: quick ? 3 : 9, iterations: quick ? 20_000 : 100_000 },
  }
}

export interface NearRound {
  opsPerSec: number
  p50Us: number
  p99Us: number
  /** Commands Redis ran during the round (own server only). */
  commands: number | undefined
}

export interface NearContenderResult {
  name: NearContenderName
  opsPerSec: Spread
  /** Median (min, max) over rounds of ops/s over plain's in the same round. */
  ratioToPlain: Spread
  /** Over every get of every round. */
  p50Us: number
  p99Us: number
  clientCpuUsPerOp: number
  /** CPU time of the redis-server process per get, own server only. */
  serverUsPerOp: number | undefined
  /** Commands Redis ran in the timed rounds over the gets (own server only). */
  commandsPerGet: number | undefined
  /** The same, by command, in all rounds. */
  byCommand: Record<string, number>
  /** Share of the timed gets the near cache served (near contenders). */
  nearHitShare: number | undefined
  gets: number
  rounds: NearRound[]
}

export interface NearRace {
  concurrency: number
  contenders: NearContenderResult[]
}

export interface StalenessResult {
  processes: number
  invalidations: number
  periodMs: number
  pollMs: number
  /** Per invalidation, per process: ms from expireGroup resolving to the process finding the key gone (signed; null: not within dropTimeoutMs). */
  windowsMs: (number | null)[][]
  /** Of the windows, max(0, window): */
  p50Ms: number
  p99Ms: number
  maxMs: number
  /** Smallest signed window. */
  minSignedMs: number
  /** Windows ≤ 0: the process had dropped the key before the writer read expireGroup's reply. */
  droppedBeforeResolve: number
  notDropped: number
  /** expireGroup's own latency, median (ms). */
  expireMedianMs: number
}

export interface CopyResult {
  rounds: number
  iterations: number
  textBytes: number
  parseNs: Spread
  cloneNs: Spread
  /** the walked copy of a value JSON.parse made (src/copy.ts jsonCopy: a 'copied' hit's first copies, with the JSON serializer) */
  copyNs: Spread
  /** jsonCopy ns over JSON.parse ns, per round, median (min, max). */
  copyToParse: Spread
  /** the copy compiled for the value's shape (src/copy.ts compiledCopy: a 'copied' hit's copies once the held value was copied often) */
  compiledNs: Spread
  /** compiled copy ns over JSON.parse ns, per round, median (min, max). */
  compiledToParse: Spread
  /** An eventual near cache's get of the held key, awaited one after another (c=1), in the same rounds. */
  hitNs: Spread
  /** structuredClone ns over JSON.parse ns, per round, median (min, max). */
  cloneToParse: Spread
  /** JSON.parse ns over an eventual hit's ns, per round: the share of a hit spent parsing. */
  parseToHit: Spread
}

/** What dist/ was built from: the commit, and the files of src/ and lua/ that differed from it (the working tree). */
export interface LibrarySource {
  commit: string
  uncommitted: string[]
}

export interface NearResult {
  /** null: not a git checkout. */
  library: LibrarySource | null
  valueBytes: number
  groups: readonly string[]
  settings: NearSettings
  races: NearRace[]
  staleness: StalenessResult
  copy: CopyResult
}

interface Getter {
  name: NearContenderName
  get(): Promise<Value | undefined>
  /** The near cache's hits counter. */
  hits?: () => number
}

/**
 * The commit and the uncommitted files of src/ and lua/ now: `npm run bench` built dist/ from
 * them just before. Read-only git (no optional locks: it never writes the index).
 */
function librarySource(): LibrarySource | null {
  const git = (...args: string[]) =>
    execFileSync('git', ['--no-optional-locks', ...args], {
      cwd: new URL('../..', import.meta.url),
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    })
  try {
    const commit = git('rev-parse', '--short', 'HEAD').trim()
    const status = git('status', '--porcelain', '--', 'src', 'lua')
    const uncommitted = status
      .split('\n')
      .filter((line) => line.trim() !== '')
      .map((line) => line.slice(3))
    return { commit, uncommitted }
  } catch {
    return null
  }
}

export async function nearScenario(ctx: Context): Promise<NearResult> {
  const settings = nearSettingsFor(ctx)
  const library = librarySource()
  const value = valueFor(ID)
  const { plain } = ctx.contenders
  const far = ctx.contenders['group-cache']
  await plain.set(KEY, value, [])
  // Groups that exist, as in a running system (a group is made by its first expireGroup).
  for (const group of GROUPS) await far.expireGroup?.(group)
  await far.set(KEY, value, GROUPS)
  const strict = await openNear(ctx, 'strict')
  const eventual = await openNear(ctx, 'eventual')
  const strictFrozen = await openNear(ctx, 'strict', 'frozen')
  const eventualFrozen = await openNear(ctx, 'eventual', 'frozen')
  const nears = [strict, eventual, strictFrozen, eventualFrozen]
  const races: NearRace[] = []
  let copy: CopyResult
  try {
    const getters: Getter[] = [
      { name: 'plain', get: () => plain.get(KEY) },
      { name: 'group-cache', get: () => far.get(KEY) },
      { name: 'near strict', get: () => strict.cache.get<Value>(KEY), hits: strict.hits },
      { name: 'near eventual', get: () => eventual.cache.get<Value>(KEY), hits: eventual.hits },
      { name: 'near strict frozen', get: () => strictFrozen.cache.get<Value>(KEY), hits: strictFrozen.hits },
      { name: 'near eventual frozen', get: () => eventualFrozen.cache.get<Value>(KEY), hits: eventualFrozen.hits },
    ]
    for (const concurrency of NEAR_CONCURRENCIES) races.push(await nearRace(ctx, settings, getters, concurrency))
    const hitsBefore = eventual.hits()
    copy = await copyCost(ctx, settings, () => eventual.cache.get<Value>(KEY))
    const served = eventual.hits() - hitsBefore
    const due = settings.copy.iterations * (settings.copy.rounds + 1)
    if (served !== due) throw new Error(`near copy: the eventual near cache served ${served} of ${due} gets`)
    for (const near of nears) {
      if (near.errors.length > 0) throw new Error(`near: ${near.errors.length} errors: ${near.errors.slice(0, 3)}`)
    }
  } finally {
    for (const near of nears) await near.cache.close()
  }
  const staleness = await stalenessWindow(ctx, settings)
  return { library, valueBytes: VALUE_BYTES, groups: GROUPS, settings, races, staleness, copy }
}

interface OpenNear {
  cache: InstanceType<typeof GroupCache>
  hits: () => number
  errors: string[]
}

/** A cache with a near cache of `consistency`, in sync and holding the hot key. */
async function openNear(
  ctx: Context,
  consistency: 'strict' | 'eventual',
  values: 'copied' | 'frozen' = 'copied',
): Promise<OpenNear> {
  // Options as the suite's group-cache contender's (a long timeout), and the near cache.
  const cache = new GroupCache({
    redis: ctx.server.url,
    namespace: GROUP_CACHE_NAMESPACE,
    timeout: 10_000,
    nearCache: { maxEntries: 1000, consistency, values },
  })
  const errors: string[] = []
  cache.on('error', (error) => errors.push(`${error.code}: ${error.message}`))
  await holdKey(cache, `near ${consistency} ${values}`)
  return { cache, hits: () => cache.nearCacheStats()?.hits ?? 0, errors }
}

/** Waits until the near cache is in sync, reads the key, and waits until it holds it. */
async function holdKey(cache: InstanceType<typeof GroupCache>, what: string): Promise<void> {
  await until(`${what}: in sync`, () => cache.nearCacheStats()?.inSync === true)
  if (!isValueFor(await cache.get<Value>(KEY), ID)) throw new Error(`${what}: ${KEY} is not stored`)
  await until(`${what}: holds ${KEY}`, () => cache.nearCacheStats()?.held === 1)
}

async function until(what: string, ok: () => boolean, ms = 5000): Promise<void> {
  const deadline = performance.now() + ms
  while (!ok()) {
    if (performance.now() > deadline) throw new Error(`near: ${what}: not within ${ms} ms`)
    await sleep(1)
  }
}

/** Calls per command name, from INFO commandstats (the INFO calls themselves left out). */
async function commandStats(ctx: Context): Promise<Map<string, number>> {
  const stats = new Map<string, number>()
  for (const match of (await ctx.server.admin.info('commandstats')).matchAll(/^cmdstat_(\S+?):calls=(\d+)/gm)) {
    const [, name, calls] = match
    if (name && name !== 'info') stats.set(name, Number(calls))
  }
  return stats
}

const toUs = (ns: number) => round(ns / 1000, 1)

/** As measure.ts's race, with the commands Redis ran and the near cache's hits per contender. */
async function nearRace(
  ctx: Context,
  settings: NearSettings,
  getters: readonly Getter[],
  concurrency: number,
): Promise<NearRace> {
  const own = ctx.server.own
  const opOf =
    (g: Getter): Op =>
    async () =>
      isValueFor(await g.get(), ID)
  const check = (g: Getter, wrong: number, ops: number) => {
    if (wrong > 0) throw new Error(`near c=${concurrency}: ${g.name} returned ${wrong} wrong results of ${ops}`)
  }
  ctx.log(`near get c=${concurrency}: warm-up`)
  for (const g of getters) {
    const result = await loop(opOf(g), concurrency, settings.warmupMs, 1)
    check(g, result.wrong, result.ops)
  }
  interface Totals {
    rounds: NearRound[]
    latencies: Float64Array[]
    cpuUs: number
    serverUs: number
    ops: number
    hits: number
    byCommand: Map<string, number>
  }
  const totals = new Map<NearContenderName, Totals>(
    getters.map((g) => [
      g.name,
      { rounds: [], latencies: [], cpuUs: 0, serverUs: 0, ops: 0, hits: 0, byCommand: new Map() },
    ]),
  )
  for (let r = 0; r < settings.rounds; r++) {
    ctx.log(` ${r + 1}`)
    for (const g of rotate(getters, r)) {
      const total = totals.get(g.name) as Totals
      const cpuBefore = own ? await serverCpuUs(ctx.server.admin) : 0
      const statsBefore = own ? await commandStats(ctx) : undefined
      const hitsBefore = g.hits?.() ?? 0
      const result = await loop(opOf(g), concurrency, settings.roundMs, 1)
      const hits = (g.hits?.() ?? 0) - hitsBefore
      const statsAfter = own ? await commandStats(ctx) : undefined
      const serverUs = own ? (await serverCpuUs(ctx.server.admin)) - cpuBefore : 0
      check(g, result.wrong, result.ops)
      let commands: number | undefined
      if (statsBefore && statsAfter) {
        commands = 0
        for (const [command, calls] of statsAfter) {
          const delta = calls - (statsBefore.get(command) ?? 0)
          if (delta <= 0) continue
          commands += delta
          total.byCommand.set(command, (total.byCommand.get(command) ?? 0) + delta)
        }
      }
      const sorted = Float64Array.from(result.latencies).sort()
      total.rounds.push({
        opsPerSec: round(result.opsPerSec),
        p50Us: toUs(percentile(sorted, 0.5)),
        p99Us: toUs(percentile(sorted, 0.99)),
        commands,
      })
      total.latencies.push(sorted)
      total.cpuUs += result.cpuUs
      total.serverUs += serverUs
      total.ops += result.ops
      total.hits += hits
    }
  }
  ctx.log('\n')
  const plainRounds = totals.get('plain')?.rounds ?? []
  const contenders = getters.map((g): NearContenderResult => {
    const total = totals.get(g.name) as Totals
    const pooled = new Float64Array(total.latencies.reduce((n, x) => n + x.length, 0))
    let at = 0
    for (const part of total.latencies) {
      pooled.set(part, at)
      at += part.length
    }
    pooled.sort()
    const ratios = total.rounds.map((x, r) => x.opsPerSec / (plainRounds[r]?.opsPerSec ?? Number.NaN))
    const commands = total.rounds.reduce((n, x) => n + (x.commands ?? 0), 0)
    return {
      name: g.name,
      opsPerSec: spread(total.rounds.map((x) => x.opsPerSec)),
      ratioToPlain: roundSpread(spread(ratios), 3),
      p50Us: toUs(percentile(pooled, 0.5)),
      p99Us: toUs(percentile(pooled, 0.99)),
      clientCpuUsPerOp: round(total.cpuUs / Math.max(1, total.ops), 2),
      serverUsPerOp: own ? round(total.serverUs / Math.max(1, total.ops), 2) : undefined,
      commandsPerGet: own ? round(commands / Math.max(1, total.ops), 4) : undefined,
      byCommand: Object.fromEntries(total.byCommand),
      nearHitShare: g.hits ? round(total.hits / Math.max(1, total.ops), 4) : undefined,
      gets: total.ops,
      rounds: total.rounds,
    }
  })
  return { concurrency, contenders }
}

// ---- 2. The staleness window of 'eventual', with worker processes ----

type WorkerCommand = { type: 'arm' } | { type: 'watch'; pollMs: number; timeoutMs: number } | { type: 'exit' }

type WorkerReply =
  | { type: 'ready' }
  | { type: 'armed' }
  | { type: 'watching' }
  /** When the process found the key gone (monotonic ms), or null: not within the timeout. */
  | { type: 'dropped'; at: number | null }
  | { type: 'error'; message: string }

/** One forked process of the staleness measurement; its replies in order. */
class NearWorker {
  private readonly child: ChildProcess
  private readonly replies: WorkerReply[] = []
  private readonly waiting: { resolve: (reply: WorkerReply) => void; reject: (error: Error) => void }[] = []
  private failure: Error | undefined

  constructor(url: string) {
    this.child = fork(new URL(import.meta.url).pathname, [WORKER_FLAG, url], {
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    })
    this.child.on('message', (reply: WorkerReply) => {
      if (reply.type === 'error') this.fail(new Error(`near worker: ${reply.message}`))
      else {
        const next = this.waiting.shift()
        if (next) next.resolve(reply)
        else this.replies.push(reply)
      }
    })
    this.child.on('exit', (code) => this.fail(new Error(`near worker exited with code ${code}`)))
  }

  private fail(error: Error): void {
    this.failure ??= error
    for (const next of this.waiting.splice(0)) next.reject(error)
  }

  /** The next reply, which must be of `type`. */
  async expect<T extends WorkerReply['type']>(type: T): Promise<Extract<WorkerReply, { type: T }>> {
    const queued = this.replies.shift()
    const reply =
      queued ??
      (await new Promise<WorkerReply>((resolve, reject) => {
        if (this.failure) reject(this.failure)
        else this.waiting.push({ resolve, reject })
      }))
    if (reply.type !== type) throw new Error(`near worker: ${reply.type} where ${type} was due`)
    return reply as Extract<WorkerReply, { type: T }>
  }

  send(command: WorkerCommand): void {
    if (this.failure) throw this.failure
    this.child.send(command)
  }

  async exit(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return
    const exited = new Promise((resolve) => this.child.once('exit', resolve))
    this.failure ??= new Error('near worker exited')
    this.child.send({ type: 'exit' } satisfies WorkerCommand)
    await exited
  }
}

async function stalenessWindow(ctx: Context, settings: NearSettings): Promise<StalenessResult> {
  const s = settings.staleness
  const value = valueFor(ID)
  const writer = ctx.contenders['group-cache']
  const expire = writer.expireGroup as (group: string) => Promise<void>
  ctx.log(`near staleness: starting ${s.processes} processes\n`)
  const workers = Array.from({ length: s.processes }, () => new NearWorker(ctx.server.url))
  const windowsMs: (number | null)[][] = []
  const expireMs: number[] = []
  try {
    await Promise.all(workers.map((w) => w.expect('ready')))
    ctx.log('near staleness:')
    const t0 = performance.now()
    for (let n = 0; n < s.invalidations; n++) {
      await writer.set(KEY, value, GROUPS)
      for (const w of workers) w.send({ type: 'arm' })
      await Promise.all(workers.map((w) => w.expect('armed')))
      await sleep(Math.max(0, t0 + n * s.periodMs - performance.now()))
      for (const w of workers) w.send({ type: 'watch', pollMs: s.pollMs, timeoutMs: s.dropTimeoutMs })
      await Promise.all(workers.map((w) => w.expect('watching')))
      const started = clock()
      await expire(GROUPS[n % GROUPS.length] as string)
      const resolved = clock()
      expireMs.push(resolved - started)
      const drops = await Promise.all(workers.map((w) => w.expect('dropped')))
      windowsMs.push(drops.map((d) => (d.at === null ? null : round(d.at - resolved, 4))))
      if ((n + 1) % 50 === 0) ctx.log(` ${n + 1}`)
    }
    ctx.log('\n')
  } finally {
    await Promise.all(workers.map((w) => w.exit()))
  }
  const signed = windowsMs.flat().filter((x): x is number => x !== null)
  const clamped = Float64Array.from(signed.map((x) => Math.max(0, x))).sort()
  const notDropped = windowsMs.flat().length - signed.length
  return {
    processes: s.processes,
    invalidations: s.invalidations,
    periodMs: s.periodMs,
    pollMs: s.pollMs,
    windowsMs,
    p50Ms: round(percentile(clamped, 0.5), 3),
    p99Ms: round(percentile(clamped, 0.99), 3),
    maxMs: round(clamped.at(-1) ?? Number.NaN, 3),
    minSignedMs: round(Math.min(...signed), 3),
    droppedBeforeResolve: signed.filter((x) => x <= 0).length,
    notDropped,
    expireMedianMs: round(median(expireMs), 3),
  }
}

/** The worker: an eventual near cache on its own connections; `arm` makes it hold the key, `watch` times its drop. */
async function runWorker(url: string): Promise<void> {
  const send = (reply: WorkerReply) => process.send?.(reply)
  const cache = new GroupCache({
    redis: url,
    namespace: GROUP_CACHE_NAMESPACE,
    timeout: 10_000,
    nearCache: { maxEntries: 1000, consistency: 'eventual' },
  })
  cache.on('error', (error) => send({ type: 'error', message: `${error.code}: ${error.message}` }))
  const nap = new Int32Array(new SharedArrayBuffer(4))
  const held = () => cache.nearCacheStats()?.held ?? 0
  const handle = async (command: WorkerCommand) => {
    switch (command.type) {
      case 'arm': {
        if (!isValueFor(await cache.get<Value>(KEY), ID)) throw new Error(`${KEY} is not stored`)
        await until(`worker holds ${KEY}`, () => held() === 1)
        send({ type: 'armed' })
        return
      }
      case 'watch': {
        if (held() !== 1) throw new Error(`watch: ${KEY} not held`)
        send({ type: 'watching' })
        const deadline = clock() + command.timeoutMs
        for (;;) {
          if (held() === 0) {
            send({ type: 'dropped', at: clock() })
            return
          }
          if (clock() > deadline) {
            send({ type: 'dropped', at: null })
            return
          }
          // Sleep without spinning, then let the event loop read what came meanwhile.
          Atomics.wait(nap, 0, 0, command.pollMs)
          await new Promise((resolve) => setImmediate(resolve))
        }
      }
      case 'exit':
        await cache.close()
        process.exit(0)
    }
  }
  process.on('message', (command: WorkerCommand) => {
    handle(command).catch((error: Error) => send({ type: 'error', message: error.stack ?? error.message }))
  })
  await until('worker in sync', () => cache.nearCacheStats()?.inSync === true)
  send({ type: 'ready' })
}

if (process.argv[2] === WORKER_FLAG) {
  const url = process.argv[3]
  if (!url || !process.send) throw new Error('near worker: forked by scenarios/near.ts with the Redis URL')
  await runWorker(url)
}

// ---- 3. The copy ----

async function copyCost(
  ctx: Context,
  settings: NearSettings,
  hit: () => Promise<Value | undefined>,
): Promise<CopyResult> {
  const { rounds, iterations } = settings.copy
  const text = JSON.stringify(valueFor(ID))
  const parsed = JSON.parse(text) as Value
  const compiled = compiledCopy(parsed)
  if (compiled === undefined) throw new Error('near copy: the value was not compiled')
  const kinds = ['parse', 'clone', 'copy', 'compiled', 'hit'] as const
  let sink = 0
  const time = async (kind: (typeof kinds)[number]) => {
    const t0 = process.hrtime.bigint()
    if (kind === 'parse') for (let i = 0; i < iterations; i++) sink += (JSON.parse(text) as Value).id
    else if (kind === 'clone') for (let i = 0; i < iterations; i++) sink += structuredClone(parsed).id
    else if (kind === 'copy') for (let i = 0; i < iterations; i++) sink += (jsonCopy(parsed) as Value).id
    else if (kind === 'compiled') for (let i = 0; i < iterations; i++) sink += (compiled(parsed) as Value).id
    else for (let i = 0; i < iterations; i++) sink += (await hit())?.id ?? Number.NaN
    return Number(process.hrtime.bigint() - t0) / iterations
  }
  ctx.log('near copy:')
  for (const kind of kinds) await time(kind) // warm-up
  const ns: Record<(typeof kinds)[number], number[]> = { parse: [], clone: [], copy: [], compiled: [], hit: [] }
  for (let r = 0; r < rounds; r++) {
    ctx.log(` ${r + 1}`)
    for (const kind of rotate(kinds, r)) ns[kind].push(await time(kind))
  }
  ctx.log('\n')
  if (sink !== ID * iterations * kinds.length * (rounds + 1)) throw new Error('near copy: a copy had another id')
  const per = (a: number[], b: number[]) => roundSpread(spread(a.map((x, r) => x / (b[r] as number))), 3)
  return {
    rounds,
    iterations,
    textBytes: Buffer.byteLength(text),
    parseNs: roundSpread(spread(ns.parse), 0),
    cloneNs: roundSpread(spread(ns.clone), 0),
    copyNs: roundSpread(spread(ns.copy), 0),
    copyToParse: per(ns.copy, ns.parse),
    compiledNs: roundSpread(spread(ns.compiled), 0),
    compiledToParse: per(ns.compiled, ns.parse),
    hitNs: roundSpread(spread(ns.hit), 0),
    cloneToParse: per(ns.clone, ns.parse),
    parseToHit: per(ns.parse, ns.hit),
  }
}
