/**
 * The history checker's coordinator: `npm run check -- [--mode <name|all>] [--backend <name>]
 * [--workers N] [--ops N | --seconds S] [--mutant <name>] [--seed N]`.
 *
 * Per mode it starts what the cache runs on (a redis-server, one logged in as the README's ACL
 * user, a 3-master Cluster, or the in-memory backend; or REDIS_URL, for modes that do not harm
 * their server) and, always, a separate redis-server as the "database", forks the workers
 * (check/worker.ts; with a mutant, from its edited copy: check/mutants.ts), injects the mode's
 * faults while they run (check/faults.ts), then checks the merged log (check/history.ts) and
 * prints a table. Exits non-zero when a mode fails (`failures`): a stale, phantom or late read, a
 * lost hit, a late invalidation, a wrap that did not return its function's value, a
 * get/getMany/wrap that rejected instead of failing open, an error in a mode whose faults explain
 * none, no hits, misses or invalidations, or a fault mode that injected no fault. In a
 * measurement mode (a failover with asynchronous replication, expected to lose writes) stale
 * reads are reported only.
 */
import { type ChildProcess, fork } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'
import { Cluster, Redis } from 'ioredis'
import { Keys, type Sharding } from '../src/keys.js'
import { createAclUser, readmeNearAcl } from '../test/support/acl.js'
import { type RedisCluster, startCluster } from '../test/support/cluster.js'
import { type RedisServer, startRedisServer } from '../test/support/redis-server.js'
import { type RedisSentinel, startSentinel } from '../test/support/sentinel.js'
import { NODE_TIMEOUT, withReplicas } from './cluster-faults.js'
import {
  BACKENDS,
  type BackendKind,
  type FaultContext,
  injectsFaults,
  type Mode,
  modeBackends,
  modeNames,
  modes,
} from './faults.js'
import {
  type CheckReport,
  checkHistory,
  type DropRecord,
  dbKey,
  describeLost,
  describePhantom,
  describeStale,
  describeWrongWrap,
  type LogRecord,
  matchLost,
  type Universe,
} from './history.js'
import { mutants, mutantTree } from './mutants.js'
import { type Failover, ReplicatedServer } from './replication.js'
import {
  type CacheTarget,
  type CoordinatorMessage,
  prng,
  type WorkerConfig,
  type WorkerDone,
  type WorkerMessage,
} from './worker.js'

const root = fileURLToPath(new URL('..', import.meta.url))

export interface CheckOptions {
  /** mode names, in order */
  modes: readonly string[]
  /** worker processes per mode @default 4 */
  workers?: number
  /** operations per mode, across its workers (with `seconds`: whichever comes first) */
  ops?: number
  /** seconds per mode */
  seconds?: number
  mutant?: string
  seed?: number
  /**
   * What the cache runs on: 'redis' (a redis-server), 'acl' (the same, each worker logged in as a
   * user made from the README's ACL line), 'cluster' (3 masters), 'memory' (the in-memory
   * backend: every worker in one process, sharing its store). A mode that cannot run there is
   * refused. @default 'redis'
   */
  backend?: BackendKind
  /** a Redis for the cache (modes that harm their server are refused on it) */
  redisUrl?: string
  /** calls in flight per worker @default 8 */
  concurrency?: number
  /** the cache's timeout, ms @default 300 */
  timeout?: number
  /** the cache's lease, ms @default 1000 */
  lease?: number
  /**
   * every cache with a near cache of this consistency (a mode may set its own). Stale reads of an
   * eventual one are measured, not failures. @default none
   */
  nearCache?: 'strict' | 'eventual'
  /** every cache's `sharding` (src/keys.ts) @default 'namespace' */
  sharding?: Sharding
  /** slack on top of a latency bound before a call counts as late, ms @default 250 */
  margin?: number
  /** replicated modes: ms each way on the replica's link to the primary @default 0 (a direct link) */
  linkDelay?: number
  /** replicated modes: ms from a failover to the new primary's fresh replica @default 100-300 */
  replicaAfter?: number
  /** keep the JSONL logs (their directory is printed) */
  keepLogs?: boolean
  /** where progress lines go @default console.log */
  print?: (line: string) => void
  /** called after each mode */
  onResult?: (result: ModeResult) => void
}

export interface ModeResult {
  mode: string
  backend: BackendKind
  mutant?: string
  /** why the mode did not run */
  refused?: string
  report?: CheckReport
  /** a measurement mode: its stale reads are reported, not failures */
  measures?: string
  workers: WorkerDone[]
  /** `error` events the caches emitted */
  errorEvents: number
  errorCodes: Record<string, number>
  faults: Record<string, number>
  stats: Record<string, number>
  wallMs: number
  passed: boolean
  /** why the mode failed (empty when it passed) */
  failures: string[]
  logDir?: string
}

const DEFAULT_UNIVERSE: Universe = { keys: 20, buckets: 4 }

/** A process of workers, forked from `tree` (the project, or a mutant's copy of it). */
function startWorkers(tree: string, configs: WorkerConfig[]): ChildProcess {
  const child = fork(join(tree, 'check', 'worker.ts'), [], {
    cwd: tree,
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  })
  child.send({ type: 'start', configs } satisfies CoordinatorMessage)
  return child
}

/** The next message of `type` from worker `id` of `child`; rejects if a worker fails or the child exits first. */
function nextMessage<T extends WorkerMessage['type']>(
  child: ChildProcess,
  id: number,
  type: T,
): Promise<Extract<WorkerMessage, { type: T }>> {
  return new Promise((resolve, reject) => {
    const onMessage = (msg: WorkerMessage) => {
      if (msg.type === 'failed') {
        cleanup()
        reject(new Error(`worker ${msg.id} failed: ${msg.error}`))
      } else if (msg.type === type && msg.id === id) {
        cleanup()
        resolve(msg as Extract<WorkerMessage, { type: T }>)
      }
    }
    const onExit = (code: number | null, signal: string | null) => {
      cleanup()
      reject(new Error(`a worker exited (code ${code}, signal ${signal}) before sending ${type}`))
    }
    const cleanup = () => {
      child.off('message', onMessage)
      child.off('exit', onExit)
    }
    child.on('message', onMessage)
    child.on('exit', onExit)
  })
}

/** Appends a worker's JSONL log to `into`, line by line (a long run's log outgrows one string). */
async function readLog(path: string, into: LogRecord[]): Promise<void> {
  const lines = createInterface({ input: createReadStream(path), crlfDelay: Number.POSITIVE_INFINITY })
  for await (const line of lines) if (line) into.push(JSON.parse(line) as LogRecord)
}

/** Deletes the run's own keys from a server the checker does not own. */
async function dropNamespace(admin: Redis, keys: Keys): Promise<void> {
  let cursor = '0'
  do {
    const [next, names] = await admin.scan(cursor, 'MATCH', keys.pattern, 'COUNT', 1000)
    cursor = next
    if (names.length > 0) await admin.del(...names)
  } while (cursor !== '0')
}

/** What a run shares across its modes: the database, the cluster of a cluster run, the tree the workers run from. */
interface RunContext {
  db: RedisServer
  cluster: RedisCluster | undefined
  /** the primary, replicas and Sentinels of a sentinel run */
  sentinel: RedisSentinel | undefined
  tree: string
}

/**
 * A user made from the README's ACL line, for one namespace, on the server at `url`: `url`
 * logged in as it. Its command rules stay exactly the README's (with a near cache, and the rules
 * the README says it needs besides).
 */
function aclUrl(url: string, keys: Keys, near: boolean): Promise<string> {
  const more = near ? readmeNearAcl() : []
  return createAclUser(url, `checker_${randomBytes(4).toString('hex')}`, [keys.pattern], more)
}

async function runMode(mode: Mode, run: RunContext, options: CheckOptions, index: number): Promise<ModeResult> {
  const started = Date.now()
  const print = options.print ?? console.log
  const workers = options.workers ?? 4
  const seed = (options.seed ?? 1) + index * 1000
  const backend = options.backend ?? 'redis'
  const { db } = run
  const result: ModeResult = {
    mode: mode.name,
    backend,
    mutant: options.mutant,
    workers: [],
    errorEvents: 0,
    errorCodes: {},
    faults: {},
    stats: {},
    wallMs: 0,
    passed: false,
    failures: [],
    measures: mode.measures,
  }
  if (!modeBackends(mode).includes(backend)) {
    result.refused = `mode ${mode.name} runs on ${modeBackends(mode).join(', ')}, not ${backend}`
    result.wallMs = Date.now() - started
    return result
  }
  const near = mode.worker?.nearCache ?? options.nearCache
  const sharding = options.sharding ?? 'namespace'
  // move-groups collides two versions in one script, which a Cluster refuses on two slots
  if (sharding === 'key' && mode.name === 'move-groups' && backend === 'cluster') {
    result.refused = `mode ${mode.name} does not run with sharding 'key' on a cluster`
    result.wallMs = Date.now() - started
    return result
  }
  if (near !== undefined && backend === 'memory') {
    result.refused = 'a near cache needs a Redis server (client tracking), and the memory backend is none'
    result.wallMs = Date.now() - started
    return result
  }
  if (near === 'eventual')
    result.measures ??= 'an eventual near cache serves values until their invalidation message arrives'
  if (options.redisUrl && mode.harmsServer) {
    result.refused = `REDIS_URL is set and mode ${mode.name} would harm that server (${mode.description}); unset REDIS_URL to let the checker start a redis-server of its own`
    result.wallMs = Date.now() - started
    return result
  }

  const onServer = backend === 'redis' || backend === 'acl'
  const pair = mode.replicated
    ? await ReplicatedServer.start({ args: mode.serverArgs, linkDelay: options.linkDelay })
    : undefined
  const server = options.redisUrl || pair || !onServer ? undefined : await startRedisServer(mode.serverArgs ?? [])
  const nodes = run.cluster ? [...run.cluster.nodes] : []
  const sentinel = run.sentinel && { sentinels: [...run.sentinel.sentinels], name: run.sentinel.name }
  const url =
    options.redisUrl ?? pair?.url ?? server?.url ?? nodes[0] ?? (await run.sentinel?.primary())?.url ?? 'memory'
  const namespace = `check_${mode.name.replace(/[^\w]/g, '_')}_${randomBytes(4).toString('hex')}`
  // The coordinator's own connection to the cache's data (the default user), for faults and stats.
  let admin: Redis | undefined
  if (backend === 'cluster')
    admin = new Cluster(nodes, { redisOptions: { maxRetriesPerRequest: 1 } }) as unknown as Redis
  else if (sentinel) admin = new Redis({ ...sentinel, maxRetriesPerRequest: 1, connectionName: 'checker-admin' })
  else if (backend !== 'memory') admin = new Redis(url, { maxRetriesPerRequest: 1, connectionName: 'checker-admin' })
  admin?.on('error', () => {})
  const raw: CacheTarget =
    backend === 'memory'
      ? { memory: true }
      : backend === 'cluster'
        ? { cluster: nodes }
        : sentinel
          ? { sentinel }
          : { url }
  const cache: CacheTarget =
    backend === 'acl' ? { url: await aclUrl(url, new Keys('rgc', namespace, sharding), near !== undefined) } : raw
  const dbClient = new Redis(db.url)
  dbClient.on('error', () => {})
  await dbClient.flushall()
  const logDir = await mkdtemp(join(tmpdir(), `rgc-check-${mode.name}-`))
  const children: ChildProcess[] = []
  const controller = new AbortController()
  try {
    const tuning = mode.worker ?? {}
    const universe = tuning.universe ?? DEFAULT_UNIVERSE
    const ops = options.ops ?? Number.MAX_SAFE_INTEGER
    const ms = options.seconds !== undefined ? options.seconds * 1000 : 3_600_000
    const base = process.hrtime.bigint()
    const timeout = options.timeout ?? 300
    const configs: WorkerConfig[] = Array.from({ length: workers }, (_, id) => ({
      id,
      workers,
      cache,
      raw,
      dbUrl: db.url,
      namespace,
      universe,
      timeout,
      lease: tuning.lease ?? options.lease ?? 1000,
      ttl: 600_000,
      ops: Math.ceil(ops / workers),
      ms,
      // the in-memory backend runs every worker's Lua on one thread of one process
      concurrency: tuning.concurrency ?? options.concurrency ?? (backend === 'memory' ? 2 : 8),
      writeRatio: tuning.writeRatio ?? 0.15,
      fnMax: tuning.fnMax ?? 20,
      slowFill: tuning.slowFill,
      padding: tuning.padding,
      waitForReplicas: tuning.waitForReplicas,
      writeThroughTtl: tuning.writeThroughTtl,
      grace: tuning.grace,
      hardRatio: tuning.hardRatio,
      wrapOnly: tuning.wrapOnly,
      lateGroups: tuning.lateGroups,
      nearCache: near,
      sharding,
      retries: 20,
      seed: seed + id,
      base: base.toString(),
      logPath: join(logDir, `worker-${id}.jsonl`),
    }))
    // A process per worker; on the in-memory backend one for all, whose store they share.
    const placed = configs.map((config) => {
      if (backend !== 'memory' || children.length === 0)
        children.push(startWorkers(run.tree, backend === 'memory' ? configs : [config]))
      return { child: children[children.length - 1] as ChildProcess, id: config.id }
    })
    await Promise.all(placed.map(({ child, id }) => nextMessage(child, id, 'ready')))
    const done = Promise.all(placed.map(({ child, id }) => nextMessage(child, id, 'done')))
    done.catch(() => controller.abort())

    const drops: DropRecord[] = []
    /** failovers after a kill that another made (a Cluster's, the Sentinels'), with what they lost */
    const tapped: Failover[] = []
    const now = () => Number(process.hrtime.bigint() - base)
    const ctx: FaultContext = {
      server,
      cluster: run.cluster,
      sentinel: run.sentinel,
      pair,
      tree: run.tree,
      url,
      namespace,
      keys: new Keys('rgc', namespace, sharding),
      universe,
      get admin(): Redis {
        if (!admin) throw new Error('the in-memory backend has no server for the coordinator to reach')
        return admin
      },
      signal: controller.signal,
      random: prng(seed + 999),
      replicaAfter: options.replicaAfter,
      count(fault, n = 1) {
        result.faults[fault] = (result.faults[fault] ?? 0) + n
      },
      now,
      dropped(fault, since) {
        drops.push({ t: 'd', fault, s: since, e: now() })
      },
      failedOver(failover) {
        tapped.push(failover)
      },
    }
    const runStarted = Date.now()
    for (const child of children) child.send({ type: 'go' } satisfies CoordinatorMessage)
    const injecting = mode.inject ? mode.inject(ctx) : Promise.resolve()
    // An injector that fails ends the run: its faults would silently stop otherwise.
    let injectorError: unknown
    injecting.catch((error) => {
      injectorError = error
      controller.abort()
    })
    let dones: WorkerDone[]
    try {
      dones = await done
    } finally {
      controller.abort()
      await injecting.catch(() => {})
    }
    if (injectorError) throw new Error(`the ${mode.name} injector failed: ${String(injectorError)}`)
    const runMs = Date.now() - runStarted
    result.workers = dones
    for (const worker of dones) {
      result.errorEvents += worker.errorEvents
      for (const [code, n] of Object.entries(worker.errorCodes)) {
        result.errorCodes[code] = (result.errorCodes[code] ?? 0) + n
      }
    }
    if (mode.stats) result.stats = await mode.stats(ctx)
    const nearHits = near === undefined ? undefined : dones.reduce((sum, worker) => sum + worker.nearHits, 0)
    if (nearHits !== undefined) result.stats.near_hits = nearHits
    const pastLease = dones.reduce((sum, worker) => sum + worker.fillsPastLease, 0)
    if (tuning.slowFill && pastLease > 0) result.faults['fills past the lease'] = pastLease
    const abandoned = dones.reduce((sum, worker) => sum + worker.abandoned, 0)
    if (abandoned > 0) result.stats.abandoned_invalidations = abandoned

    const finalRows = (await dbClient.mget(...Array.from({ length: universe.keys }, (_, row) => dbKey(row)))).map(
      (value) => Number(value ?? 0),
    )
    const log: LogRecord[] = []
    for (const config of configs) await readLog(config.logPath, log)
    log.push(...drops)
    const wait = tuning.waitForReplicas
    const report = checkHistory(
      universe,
      log,
      finalRows,
      {
        timeout,
        // with WAIT: the script, then the WAIT for up to its timeout, then the cache's timeout
        invalidation: wait ? 2 * timeout + wait.timeout : timeout,
        margin: options.margin ?? 250,
        fnMax: tuning.slowFill ? tuning.slowFill[2] : (tuning.fnMax ?? 20),
        lease: tuning.lease ?? options.lease ?? 1000,
      },
      { lostHits: keepsEntries(mode), grace: tuning.grace },
    )
    result.report = report
    result.stats.opsPerSecond = Math.round(report.operations / (runMs / 1000))
    const lostTo = pair ? pair.failovers : tapped
    if (pair || tapped.length > 0) {
      const toLog = (t: bigint) => Number(t - base)
      const failovers = lostTo.map((f) => ({
        at: toLog(f.killedAt),
        switched: toLog(f.switchedAt),
        lost: f.lost,
      }))
      const lost = matchLost(log, failovers)
      Object.assign(result.stats, {
        failovers: failovers.length,
        lost_stream_bytes: lostTo.reduce((sum, f) => sum + f.lostBytes, 0),
        lost_stream_commands: lostTo.reduce((sum, f) => sum + (f.lostCommands ?? Number.NaN), 0),
        lost_invalidations: lost.lost,
        lost_resolved_invalidations: lost.resolved,
      })
      if (lost.unmatched > 0) result.stats.lost_unmatched_effects = lost.unmatched
      if (lost.ambiguous > 0) result.stats.lost_generations_matched_to_resolved_deletes = lost.ambiguous
      for (const inv of lost.resolvedExamples.slice(0, 3)) {
        const what = inv.op === 'delete' ? inv.keys : inv.groups
        print(`  lost: worker ${inv.w} ${inv.op}(${JSON.stringify(what)}) resolved, then a failover lost it`)
      }
    }
    result.failures = failures(report, { ...mode, measures: result.measures }, { ...result, nearHits })
    result.passed = result.failures.length === 0
    for (const failure of result.failures) print(`  ${mode.name} fails: ${failure}`)
    for (const stale of report.staleReads.slice(0, 5)) print(`  stale: ${describeStale(stale)}`)
    for (const lost of report.lostReads.slice(0, 5)) print(`  lost: ${describeLost(lost)}`)
    for (const phantom of report.phantomReads.slice(0, 5)) print(`  phantom: ${describePhantom(phantom)}`)
    for (const wrong of report.wrongWrapCalls.slice(0, 5)) print(`  wrong wrap: ${describeWrongWrap(wrong)}`)
    for (const late of report.lateCalls.slice(0, 5)) {
      const { record } = late
      const what = record.t === 'r' ? record.op : `${record.op} (${record.ok ? 'resolved' : `rejected: ${record.err}`})`
      print(`  late: worker ${record.w} ${what} took ${late.ms.toFixed(1)} ms > ${late.bound} ms`)
    }
    for (const read of report.rejectedReadCalls.slice(0, 5)) {
      print(`  rejected read: worker ${read.w} ${read.op} rejected instead of failing open: ${read.err}`)
    }
    // A failing mode keeps its logs, to be read: the violations above name times in them.
    if (options.keepLogs || !result.passed) {
      result.logDir = logDir
      if (!result.passed) print(`  logs of the failing run: ${logDir}`)
    }
    return result
  } finally {
    controller.abort()
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    if (options.redisUrl && admin) await dropNamespace(admin, new Keys('rgc', namespace, sharding)).catch(() => {})
    admin?.disconnect()
    dbClient.disconnect()
    await server?.stop()
    await pair?.stop()
    if (result.logDir === undefined) await rm(logDir, { recursive: true, force: true })
    result.wallMs = Date.now() - started
  }
}

/** Runs each mode in turn; a separate redis-server plays the database for all of them. */
export async function runCheck(options: CheckOptions): Promise<ModeResult[]> {
  for (const name of options.modes) {
    if (!modes[name]) throw new Error(`unknown mode ${JSON.stringify(name)}; known: ${modeNames().join(', ')}, all`)
  }
  if (options.mutant && !mutants[options.mutant]) {
    throw new Error(`unknown mutant ${JSON.stringify(options.mutant)}; known: ${Object.keys(mutants).join(', ')}`)
  }
  const backend = options.backend ?? 'redis'
  if (!BACKENDS.includes(backend))
    throw new Error(`unknown backend ${JSON.stringify(backend)}; known: ${BACKENDS.join(', ')}`)
  const tree = options.mutant ? mutantTree(options.mutant) : root
  const db = await startRedisServer()
  let cluster: RedisCluster | undefined
  let sentinel: RedisSentinel | undefined
  const results: ModeResult[] = []
  try {
    cluster = backend === 'cluster' ? await startCluster() : undefined
    if (cluster && options.modes.some((name) => modes[name]?.clusterReplicas)) await withReplicas(cluster, NODE_TIMEOUT)
    sentinel = backend === 'sentinel' ? await startSentinel() : undefined
    for (const [index, name] of options.modes.entries()) {
      const result = await runMode(modes[name] as Mode, { db, cluster, sentinel, tree }, options, index)
      results.push(result)
      options.onResult?.(result)
    }
  } finally {
    await Promise.all([db.stop(), cluster?.stop(), sentinel?.stop()])
  }
  return results
}

const COLUMNS = [
  'mode',
  'ops',
  'ops/s',
  'hits',
  'misses',
  'refused fills',
  'invalidations ok/rejected',
  'errors (events+rejected)',
  'faults',
  'max read ms',
  'stale',
  'lost',
  'phantom',
  'late',
  'rejected reads',
  'wrong wraps',
  'result',
] as const

function maxRead(report: CheckReport): number {
  let max = 0
  for (const op of ['get', 'getMany', 'read']) max = Math.max(max, report.latency[op]?.max ?? 0)
  return max
}

/**
 * Whether a run of the mode must show no lost hit: nothing in it removes entries but what the
 * log shows (no eviction, flush, restart or failover), and no call fails (a read that fails open
 * misses).
 */
export function keepsEntries(mode: Pick<Mode, 'failsCalls' | 'removesKeys'>): boolean {
  return mode.failsCalls === undefined && mode.removesKeys === undefined
}

/** What a mode did besides its log: the caches' `error` events and the faults injected. */
export interface RunFacts {
  errorEvents: number
  faults: Readonly<Record<string, number>>
  /** reads the near caches served, in a run with them */
  nearHits?: number
}

/**
 * Why a mode fails, empty when it passes:
 * - a phantom or late read, a late invalidation (resolved or rejected), a get/getMany/wrap that
 *   rejected instead of failing open, a wrap that did not return its own function's value;
 * - a stale read, unless the mode measures a loss (`measures`: reported, not failed);
 * - any error (an `error` event or a rejected call) in a mode without `failsCalls`;
 * - no hits, no misses or no resolved invalidations: the run did not exercise the cache;
 * - no fault counted in a mode that injects faults.
 */
export function failures(
  report: CheckReport,
  mode: Pick<Mode, 'measures' | 'failsCalls' | 'inject' | 'worker' | 'herd'>,
  facts: RunFacts,
): string[] {
  const out: string[] = []
  if (mode.herd) {
    const perEpoch = report.fills / Math.max(1, report.fillEpochs)
    if (perEpoch > HERD_FILLS) out.push(`${perEpoch.toFixed(2)} fill function calls per (key, invalidation): a herd`)
    // a wrap that gave up waiting ran its function without storing it: a lease that did not end
    if (report.unstoredFills > UNSTORED_FILLS * report.fills) {
      out.push(
        `${report.unstoredFills} of ${report.fills} wrap fills not stored: a herd of waits that outlived a lease`,
      )
    }
    // with no holder dying, a fill that lands frees its waiters at once
    const lease = mode.worker?.lease ?? 1000
    const p90 = report.latency.wrap?.p90 ?? 0
    if (!mode.inject && p90 > lease / 2) {
      out.push(`wraps waited ${Math.round(p90)} ms at p90, over half the lease (${lease} ms): a herd of waits`)
    }
  }
  if (report.stale > 0 && mode.measures === undefined) out.push(`${report.stale} stale reads`)
  if (report.phantom > 0) out.push(`${report.phantom} phantom reads`)
  if (report.lost > 0) out.push(`${report.lost} lost hits`)
  if (report.late > 0) out.push(`${report.late} late calls`)
  if (report.rejectedReads > 0) out.push(`${report.rejectedReads} reads rejected instead of failing open`)
  if (report.wrongWraps > 0) out.push(`${report.wrongWraps} wraps that did not return their function's value`)
  if (report.foreign > 0) out.push(`${report.foreign} hits of values stored outside the groups asked for`)
  const errors = facts.errorEvents + report.rejectedCalls
  if (errors > 0 && mode.failsCalls === undefined) {
    out.push(
      `${errors} errors (${facts.errorEvents} error events, ${report.rejectedCalls} rejected calls) in a mode whose faults explain none`,
    )
  }
  if (report.hits === 0) out.push('no hits')
  if (report.misses === 0) out.push('no misses')
  if (report.invalidations === 0) out.push('no resolved invalidations')
  if (facts.nearHits === 0) out.push('the near caches served no read')
  if (injectsFaults(mode) && Object.values(facts.faults).every((n) => !(n > 0))) out.push('no fault injected')
  return out
}

/**
 * Most fill function calls per (key, invalidation) a herd mode allows: one fill per key across the
 * fleet, and a few more where a lease ended first (a killed holder, a fill past the lease).
 */
const HERD_FILLS = 1.5
/** Most wrap fills a herd mode may leave unstored, as a fraction of the fills: waits that outlived a lease. */
const UNSTORED_FILLS = 0.05

/** `failures` is empty. */
export function passes(
  report: CheckReport,
  mode: Pick<Mode, 'measures' | 'failsCalls' | 'inject' | 'worker' | 'herd'>,
  facts: RunFacts,
): boolean {
  return failures(report, mode, facts).length === 0
}

/** `pass`, `FAIL`, or for a measurement mode `measured` (its stale reads are what it measures). */
export function verdict(result: ModeResult): string {
  if (!result.passed) return 'FAIL'
  return result.measures ? 'measured' : 'pass'
}

export function formatTable(results: readonly ModeResult[]): string {
  const rows: string[][] = [COLUMNS.slice()]
  for (const result of results) {
    const r = result.report
    if (!r) {
      rows.push([result.mode, ...COLUMNS.slice(1, -1).map(() => '-'), 'refused'])
      continue
    }
    const faults = Object.entries(result.faults)
      .map(([kind, n]) => `${n} ${kind}`)
      .join(', ')
    rows.push([
      result.mode,
      r.operations.toLocaleString('en-US'),
      (result.stats.opsPerSecond ?? 0).toLocaleString('en-US'),
      r.hits.toLocaleString('en-US'),
      r.misses.toLocaleString('en-US'),
      r.refusedFills.toLocaleString('en-US'),
      `${r.invalidations.toLocaleString('en-US')}/${r.rejectedInvalidations.toLocaleString('en-US')}`,
      `${(result.errorEvents + r.rejectedCalls).toLocaleString('en-US')} (${result.errorEvents}+${r.rejectedCalls})`,
      faults || '-',
      `${maxRead(r).toFixed(0)} (wrap ${(r.latency.wrap?.max ?? 0).toFixed(0)})`,
      String(r.stale),
      String(r.lost),
      String(r.phantom),
      String(r.late),
      String(r.rejectedReads),
      String(r.wrongWraps),
      verdict(result),
    ])
  }
  const widths = COLUMNS.map((_, i) => Math.max(...rows.map((row) => (row[i] ?? '').length)))
  const line = (row: string[]) => `| ${row.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join(' | ')} |`
  return [
    line(rows[0] as string[]),
    `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`,
    ...rows.slice(1).map(line),
  ].join('\n')
}

function shardingOption(text: string | undefined): Sharding | undefined {
  if (text === undefined || text === 'namespace' || text === 'key') return text
  throw new Error(`--sharding must be namespace or key (got ${text})`)
}

function nearCacheOption(text: string | undefined): 'strict' | 'eventual' | undefined {
  if (text === undefined || text === 'strict' || text === 'eventual') return text
  throw new Error(`--near-cache must be strict or eventual (got ${text})`)
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      mode: { type: 'string' },
      backend: { type: 'string', default: 'redis' },
      workers: { type: 'string', default: '4' },
      ops: { type: 'string' },
      seconds: { type: 'string' },
      mutant: { type: 'string' },
      seed: { type: 'string', default: '1' },
      concurrency: { type: 'string' },
      margin: { type: 'string' },
      'link-delay': { type: 'string' },
      'replica-after': { type: 'string' },
      'near-cache': { type: 'string' },
      sharding: { type: 'string' },
      'keep-logs': { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  })
  if (values.help) {
    console.log(
      [
        'npm run check -- [--mode <name|all>] [--backend redis|acl|cluster|sentinel|memory] [--workers N] [--ops N | --seconds S]',
        '                 [--mutant <name>] [--seed N]',
        '                 [--concurrency N] [--margin ms] [--link-delay ms] [--replica-after ms] [--keep-logs]',
        '                 [--near-cache strict|eventual] [--sharding namespace|key]',
        `modes: ${modeNames().join(', ')}, all (default: all, or the mutant's mode)`,
        `measurement modes (expected to lose writes: stale reads reported, not failures): ${modeNames()
          .filter((name) => modes[name]?.measures)
          .join(', ')}`,
        '--link-delay: failover modes: ms each way on the replica link (default 0: direct); a failover loses what is on it.',
        '--replica-after: failover modes: ms from a failover to the fresh replica of the new primary (default 100-300).',
        '--backend: what the cache runs on (default redis); a mode that cannot run there is refused.',
        '--near-cache: every cache with a near cache (redis and acl backends); eventual: stale reads are measured, not failures.',
        "--sharding: every cache's sharding (default namespace); key spreads the namespace over a cluster's masters.",
        `mutants: ${Object.keys(mutants).join(', ')} (each run from an edited copy under .mutants/)`,
        '--ops is the total across the modes run (split evenly); --seconds is per mode. Default: --seconds 10.',
        'REDIS_URL: run the cache on that server; modes that kill, pause or flush it are refused.',
      ].join('\n'),
    )
    return 0
  }
  const number = (name: string, text: string | undefined): number | undefined => {
    if (text === undefined) return undefined
    const n = Number(text)
    if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name} must be a positive number (got ${text})`)
    return n
  }
  const mutant = values.mutant
  const modeName = values.mode ?? (mutant ? (mutants[mutant]?.checker?.mode ?? 'all') : 'all')
  const names = modeName === 'all' ? modeNames() : [modeName]
  const ops = number('ops', values.ops)
  const seconds = number('seconds', values.seconds) ?? (ops === undefined ? 10 : undefined)
  const redisUrl = process.env.REDIS_URL || undefined
  if (redisUrl && modeName !== 'all' && modes[modeName]?.harmsServer) {
    console.error(
      `refused: mode ${modeName} would harm the server at REDIS_URL (${modes[modeName]?.description}). Unset REDIS_URL and the checker starts a redis-server of its own.`,
    )
    return 2
  }
  const backend = values.backend as BackendKind
  if (!BACKENDS.includes(backend)) throw new Error(`--backend must be one of ${BACKENDS.join(', ')} (got ${backend})`)
  const options: CheckOptions = {
    modes: names,
    backend,
    workers: number('workers', values.workers),
    ops: ops === undefined ? undefined : Math.ceil(ops / names.length),
    seconds,
    mutant,
    seed: number('seed', values.seed),
    redisUrl,
    concurrency: number('concurrency', values.concurrency),
    margin: number('margin', values.margin),
    linkDelay: values['link-delay'] === '0' ? 0 : number('link-delay', values['link-delay']),
    replicaAfter: number('replica-after', values['replica-after']),
    keepLogs: values['keep-logs'],
    nearCache: nearCacheOption(values['near-cache']) ?? (mutant ? mutants[mutant]?.checker?.nearCache : undefined),
    sharding: shardingOption(values.sharding) ?? (mutant ? mutants[mutant]?.checker?.sharding : undefined),
  }
  const started = Date.now()
  console.log(
    `checking ${names.join(', ')}${mutant ? ` with mutant ${mutant}` : ''}: ${options.workers} workers, ` +
      `${ops !== undefined ? `${options.ops?.toLocaleString('en-US')} ops per mode` : ''}${ops !== undefined && seconds ? ', ' : ''}${seconds ? `${seconds} s per mode` : ''}, seed ${options.seed}` +
      `, backend ${backend}` +
      (options.sharding === 'key' ? ", sharding 'key'" : '') +
      (options.linkDelay ? `, replica link delay ${options.linkDelay} ms` : '') +
      (redisUrl ? `, cache on REDIS_URL=${redisUrl}` : ''),
  )
  const results = await runCheck({
    ...options,
    onResult(result) {
      if (result.refused) {
        console.log(`${result.mode}: refused: ${result.refused}`)
        return
      }
      const extra = Object.entries(result.stats)
        .filter(([key]) => key !== 'opsPerSecond')
        .map(([key, value]) => `${key}=${value}`)
        .join(' ')
      const codes = Object.entries(result.errorCodes)
        .map(([code, n]) => `${code}=${n}`)
        .join(' ')
      const r = result.report
      const herd =
        r && modes[result.mode]?.herd
          ? `; ${(r.fills / Math.max(1, r.fillEpochs)).toFixed(2)} fill calls per (key, invalidation), ${r.unstoredFills} unstored, wrap p50/p90 ${Math.round(r.latency.wrap?.p50 ?? 0)}/${Math.round(r.latency.wrap?.p90 ?? 0)} ms`
          : ''
      console.log(
        `${result.mode}: ${verdict(result)} in ${(result.wallMs / 1000).toFixed(1)} s${herd}` +
          `${result.measures ? ` (measures ${result.measures}: ${result.report?.stale ?? 0} stale reads)` : ''}` +
          `${extra ? `; ${extra}` : ''}${codes ? `; error events ${codes}` : ''}` +
          `${result.logDir ? `; logs in ${result.logDir}` : ''}`,
      )
    },
  })
  console.log()
  console.log(formatTable(results))
  const total = results.reduce((sum, result) => sum + (result.report?.operations ?? 0), 0)
  console.log(
    `\n${total.toLocaleString('en-US')} operations in ${((Date.now() - started) / 1000).toFixed(1)} s wall time`,
  )
  const failed = results.filter((result) => result.report && !result.passed)
  if (failed.length > 0) {
    for (const result of failed) console.log(`FAIL: ${result.mode}: ${result.failures.join('; ')}`)
    return 1
  }
  const refused = results.filter((result) => result.refused).length
  const measured = results
    .filter((result) => result.report && result.measures)
    .map((result) => `${result.mode}: ${result.report?.stale} stale`)
  console.log(
    `PASS: no stale read${measured.length > 0 ? ` outside measurement modes (${measured.join(', ')}: expected losses)` : ''}; no phantom, late or rejected read, late invalidation, wrong wrap or unexplained error; hits, misses, invalidations and faults in every mode${refused > 0 ? ` (${refused} modes refused: see above)` : ''}`,
  )
  return 0
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().then(
    (code) => {
      process.exitCode = code
    },
    (error: unknown) => {
      console.error(error instanceof Error ? (error.stack ?? error.message) : error)
      process.exitCode = 2
    },
  )
}
