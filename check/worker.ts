/**
 * A checker worker: one GroupCache and its own connection, running a random mix of writes (INCR
 * database rows, then invalidate them, or store the new value itself) and reads (wrap, get,
 * getMany, read + set) on a small universe of keys, and logging every call with its start and end
 * on the machine's monotonic clock. The coordinator (check/run.ts) forks a process, sends `start`
 * with the configs of the workers it runs (one, or on the in-memory backend all of them, which
 * share the process's store), then `go`; each worker writes its log as JSONL to `logPath` and
 * answers `done` with its counters.
 */
import { createWriteStream, type WriteStream } from 'node:fs'
import { setTimeout as sleep } from 'node:timers/promises'
import { pathToFileURL } from 'node:url'
import { Cluster, Redis } from 'ioredis'
import { type FillContext, GroupCache, type GroupCacheOptions } from '../src/index.js'
import { Keys, type Sharding } from '../src/keys.js'
import {
  altGroup,
  bucketGroup,
  dbKey,
  type FillRecord,
  groupsOf,
  type InvalidationRecord,
  keyName,
  type LogRecord,
  type ReadItem,
  type ReadRecord,
  rowGroup,
  type SetRecord,
  type Universe,
} from './history.js'

/** Where a worker's cache keeps its data: a URL (a server, maybe as an ACL user), a Cluster's nodes, or 'memory'. */
export type CacheTarget =
  | { url: string }
  | { cluster: string[] }
  | { sentinel: { sentinels: { host: string; port: number }[]; name: string } }
  | { memory: true }

export interface WorkerConfig {
  id: number
  /** how many workers the run has (a write-through row belongs to worker row % workers) */
  workers: number
  cache: CacheTarget
  /** the same data as the server's default user: for the faults a worker makes itself (moveGroups' collide) */
  raw: CacheTarget
  dbUrl: string
  namespace: string
  universe: Universe
  /** the cache's timeout and lease, ms */
  timeout: number
  lease: number
  /** entry TTL, ms (so that nothing outlives a run on a shared server for long) */
  ttl: number
  /** operations this worker runs: reads, INCRs and invalidation attempts (a write is 2 or more) */
  ops: number
  /** stop after this many ms even if `ops` are not done */
  ms: number
  /** calls in flight at once in this process */
  concurrency: number
  /** fraction of operations that are writes */
  writeRatio: number
  /** a fill function waits a random 0..fnMax ms before it reads the database */
  fnMax: number
  /** a fraction of fills that instead wait slowFill[1]..slowFill[2] ms (to outlive the lease) */
  slowFill?: [fraction: number, min: number, max: number]
  /** bytes of padding in each cached value, random in [min, max] */
  padding?: [min: number, max: number]
  /** attempts at an invalidation before the writer gives up on it */
  retries: number
  /** the cache's waitForReplicas option */
  waitForReplicas?: { replicas: number; timeout: number }
  /** ms of TTL, random in [min, max], for the values written through (universe.writeThrough) */
  writeThroughTtl?: [min: number, max: number]
  /** the cache's grace, ms: wraps return values invalidated less than this ago (and store with it) */
  grace?: number
  /** the fraction of expireGroup(s) calls that are hard */
  hardRatio?: number
  /** every read is a wrap (a herd: many callers of few keys) */
  wrapOnly?: boolean
  /** every cache has a near cache of this consistency */
  nearCache?: 'strict' | 'eventual'
  /** every cache's sharding */
  sharding?: Sharding
  /**
   * the fraction of fills (wrap, read + set) that name their row's own group only after the
   * function read the row: `ctx.groups`, or a token set's groups beyond the read's
   */
  lateGroups?: number

  seed: number
  /** process.hrtime.bigint() of the coordinator at the start, as a decimal string */
  base: string
  logPath: string
}

export interface WorkerDone {
  type: 'done'
  id: number
  operations: number
  /** `error` events the cache emitted (failures it absorbed) */
  errorEvents: number
  /** error events by code */
  errorCodes: Record<string, number>
  /** invalidations abandoned after `retries` rejected attempts */
  abandoned: number
  /** fill functions that ran longer than the lease (their token was too old to store) */
  fillsPastLease: number
  /** reads the near caches served (with `nearCache`) */
  nearHits: number
}

export type WorkerMessage = { type: 'ready'; id: number } | WorkerDone | { type: 'failed'; id: number; error: string }
export type CoordinatorMessage = { type: 'start'; configs: WorkerConfig[] } | { type: 'go' }

/** mulberry32: a small seeded PRNG, so that a seed reproduces a worker's choices. */
export function prng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

class Log {
  private lines: string[] = []
  private readonly stream: WriteStream

  constructor(path: string) {
    this.stream = createWriteStream(path)
  }

  push(record: LogRecord): void {
    this.lines.push(JSON.stringify(record))
    if (this.lines.length >= 2000) this.flush()
  }

  private flush(): void {
    if (this.lines.length === 0) return
    this.stream.write(`${this.lines.join('\n')}\n`)
    this.lines = []
  }

  close(): Promise<void> {
    this.flush()
    return new Promise((resolve, reject) =>
      this.stream.end((error?: Error | null) => (error ? reject(error) : resolve())),
    )
  }
}

function message(error: unknown): string {
  return error instanceof Error ? `${(error as { code?: string }).code ?? error.name}: ${error.message}` : String(error)
}

/** The `redis` option of a cache (or a raw client) on `target`, and how to let go of what it opened. */
function connectTo(target: CacheTarget): { redis: GroupCacheOptions['redis']; close(): void } {
  if ('memory' in target) return { redis: 'memory', close() {} }
  if ('url' in target) return { redis: target.url, close() {} }
  if ('sentinel' in target) {
    const client = new Redis({ ...target.sentinel, maxRetriesPerRequest: 1 })
    client.on('error', () => {})
    return { redis: client, close: () => client.disconnect() }
  }
  const cluster = new Cluster(target.cluster, { redisOptions: { maxRetriesPerRequest: 1 } })
  cluster.on('error', () => {})
  return { redis: cluster, close: () => cluster.disconnect() }
}

/** A plain client on `target`'s data (the in-memory backend's store is this process's). */
async function rawClient(target: CacheTarget): Promise<Pick<Redis, 'eval' | 'disconnect'>> {
  if ('url' in target) {
    const client = new Redis(target.url, { maxRetriesPerRequest: 1 })
    client.on('error', () => {})
    return client
  }
  if ('cluster' in target) {
    const client = new Cluster(target.cluster, { redisOptions: { maxRetriesPerRequest: 1 } })
    client.on('error', () => {})
    return client as unknown as Redis
  }
  if ('sentinel' in target) {
    const client = new Redis({ ...target.sentinel, maxRetriesPerRequest: 1 })
    client.on('error', () => {})
    return client
  }
  const { default: RedisMock } = await import('ioredis-mock')
  return new RedisMock() as unknown as Redis
}

/**
 * Moves two groups' versions forward to one value, max of both + 1, when both exist: every
 * snapshot of either is stale (an invalidation of both), and an entry stored under one next
 * holds the very version a hint of the other reads. A raw script, not the cache's: only a test
 * makes versions collide on purpose. Lua numbers are doubles, exact for versions (below 2^53).
 */
const COLLIDE = `
local a, b = redis.call('GET', KEYS[1]), redis.call('GET', KEYS[2])
if type(a) ~= 'string' or type(b) ~= 'string' then return 0 end
local x, y = tonumber(a), tonumber(b)
local m = math.max(x, y) + 1
redis.call('INCRBY', KEYS[1], string.format('%d', m - x))
redis.call('INCRBY', KEYS[2], string.format('%d', m - y))
return 1`

export async function runWorker(config: WorkerConfig, go: Promise<void>, ready: () => void): Promise<WorkerDone> {
  const base = BigInt(config.base)
  const now = () => Number(process.hrtime.bigint() - base)
  const random = prng(config.seed)
  const int = (n: number) => Math.floor(random() * n)
  const { universe } = config
  const log = new Log(config.logPath)
  const w = config.id

  const errorCodes: Record<string, number> = {}
  let errorEvents = 0
  const targets: { close(): void }[] = []
  const caches: GroupCache[] = []
  /** A cache on the run's data, its failures counted and its sets logged. */
  const openCache = (): GroupCache => {
    const target = connectTo(config.cache)
    targets.push(target)
    const opened = new GroupCache({
      redis: target.redis,
      namespace: config.namespace,
      timeout: config.timeout,
      lease: config.lease,
      ttl: config.ttl,
      grace: config.grace,
      waitForReplicas: config.waitForReplicas,
      nearCache: config.nearCache && { maxEntries: 10_000, consistency: config.nearCache },
      sharding: config.sharding,
    })
    caches.push(opened)
    // refused fills are the workload's (its invalidations race its fills): no warning for them
    opened.on('refused', () => {})
    opened.on('error', (error) => {
      errorEvents++
      errorCodes[error.code] = (errorCodes[error.code] ?? 0) + 1
    })
    // Every set the cache makes goes through its `set` method: the worker's own after a `read`
    // or a write-through, and the one inside a `wrap`'s fill. Observing the method logs all of
    // them with what they stored (a hit is legitimate only if some set may have stored its
    // value: check/history.ts). Should the cache stop routing wrap's store through `set`, its
    // hits show up as phantoms: loudly, not silently.
    const set = opened.set.bind(opened)
    opened.set = async (key: string, value: unknown, options?: Parameters<typeof set>[2]): Promise<boolean> => {
      const s = now()
      let out: SetRecord['out'] = 'error'
      try {
        const stored = await set(key, value as {} | null, options)
        out = stored ? 'stored' : 'refused'
        return stored
      } finally {
        const e = now()
        const { row: vr, v } = (value ?? {}) as { row?: unknown; v?: unknown }
        const row = Number(key.slice('key_'.length))
        const groups = [...new Set([...(options?.token?.groups ?? []), ...(options?.groups ?? [])])]
        const ttl = Number(options?.ttl ?? config.ttl) // the workers give ms
        const record: SetRecord = { t: 's', w, row, vr, v, token: options?.token !== undefined, groups, s, e, out }
        if (Number.isFinite(ttl)) record.ttl = ttl
        log.push(record)
      }
    }
    return opened
  }
  const cache = openCache()
  // With moveGroups, a second process in this one: its hints are its own (see `moveRound`).
  const mover = universe.moveGroups ? openCache() : undefined
  const db = new Redis(config.dbUrl, { maxRetriesPerRequest: 3 })
  db.on('error', () => {})
  await db.ping()
  const raw = universe.moveGroups ? await rawClient(config.raw) : undefined

  const pads: string[] = []
  if (config.padding) {
    const [min, max] = config.padding
    for (let i = 0; i < 16; i++) pads.push('x'.repeat(min + int(max - min + 1)))
  }

  /** Every value a fill function of this process returned: a `wrap` returning one without running its own function shared another caller's. */
  const computed = new WeakSet<object>()
  let fillsPastLease = 0

  /** A cached value: the row, the value read, and the groups it is stored under (the checker needs them). */
  type Value = { row: number; v: number; g: string[]; pad?: string }
  const cachedValue = (row: number, v: number, groups: string[]): Value => {
    const value: Value = { row, v, g: groups }
    if (pads.length > 0) value.pad = pads[int(pads.length)]
    return value
  }

  /** A fill function: waits, then reads the row from the database; logs what it read. Its value is never undefined. */
  const filler = (row: number, groups: string[]) => {
    const state: { ran: boolean; ns: number; value?: Value } = { ran: false, ns: 0 }
    const fn = async () => {
      state.ran = true
      const start = now()
      const slow = config.slowFill && random() < config.slowFill[0]
      const wait =
        slow && config.slowFill
          ? config.slowFill[1] + int(config.slowFill[2] - config.slowFill[1] + 1)
          : int(config.fnMax + 1)
      // Part of the wait before the database read (a slow query), part after it (work on the
      // data): the part after is where an invalidation can make what was read stale.
      const before = int(wait + 1)
      await sleep(before)
      const s = now()
      const v = Number(await db.get(dbKey(row)))
      const e = now()
      log.push({ t: 'f', w, row, v, s, e } satisfies FillRecord)
      if (wait > before) await sleep(wait - before)
      const took = now() - start
      state.ns += took
      if (took >= config.lease * 1e6) fillsPastLease++
      const value = cachedValue(row, v, groups)
      computed.add(value)
      state.value = value
      return value
    }
    return { fn, state }
  }

  const item = (row: number, out: ReadItem['out'], value: unknown): ReadItem => {
    if (value === undefined || value === null) return { row, out: 'miss' }
    const { row: vr, v, g } = value as { row?: unknown; v?: unknown; g?: unknown }
    const read: ReadItem = { row, out, vr, v }
    if (Array.isArray(g)) read.groups = g as string[]
    return read
  }

  /** The groups a reader stores a row under: its home groups, or with moveGroups either home. */
  const readerGroups = (row: number) => groupsOf(universe, row, universe.moveGroups === true && random() < 0.5)

  // Rows written through belong to one worker each, which writes each of them one at a time: a
  // plain set must not race another write of its row (check/history.ts, requirements).
  const invalidatedRows = universe.keys - (universe.writeThrough ?? 0)
  const ownRows: number[] = []
  for (let row = invalidatedRows; row < universe.keys; row++) if (row % config.workers === w) ownRows.push(row)
  const writing = new Map<number, Promise<void>>()

  let abandoned = 0
  /** Invalidates until it resolves (or `retries` attempts); returns the attempts. */
  const invalidate = async (
    op: InvalidationRecord['op'],
    row: number,
    groups: string[],
    keys: string[],
  ): Promise<number> => {
    const hard =
      config.hardRatio !== undefined && (op === 'expireGroup' || op === 'expireGroups')
        ? random() < config.hardRatio
        : undefined
    for (let attempt = 1; ; attempt++) {
      const is = now()
      const logged = (fields: Pick<InvalidationRecord, 'ok' | 'err'>): InvalidationRecord => {
        const record: InvalidationRecord = { t: 'i', w, op, row, groups, keys, s: is, e: now(), ...fields }
        if (hard !== undefined) record.hard = hard
        return record
      }
      try {
        if (op === 'delete') await cache.delete(keys[0] as string)
        else if (op === 'expireGroup') await cache.expireGroup(groups[0] as string, { hard })
        else if (op === 'expireGroups') await cache.expireGroups(groups, { hard })
        else {
          const moved = await raw?.eval(COLLIDE, 2, ...groups.map((group) => versionKey(config, group)))
          // nothing moved when a version was missing: not an invalidation
          if (moved !== 1) return attempt
        }
        log.push(logged({ ok: true }))
        return attempt
      } catch (error) {
        log.push(logged({ ok: false, err: message(error) }))
      }
      if (attempt >= config.retries) {
        abandoned++
        return attempt
      }
      await sleep(10 * attempt)
    }
  }

  /** INCR one to three rows, then one invalidation that covers every one of them; returns the operations. */
  const write = async (): Promise<number> => {
    const rows = [int(invalidatedRows)]
    const count = random() < 0.7 ? 1 : 2 + int(2)
    for (let tries = 0; rows.length < count && tries < 10; tries++) {
      const other = int(invalidatedRows)
      if (!rows.includes(other)) rows.push(other)
    }
    for (const row of rows) {
      const s = now()
      const v = await db.incr(dbKey(row))
      log.push({ t: 'w', w, row, v, s, e: now() })
    }
    const row = rows[0] as number
    // Mostly narrow invalidations, so that entries live long enough to be read (and races
    // have room): the row's own group, a delete, sometimes the bucket shared by many keys.
    // Several rows: one group per row, in a random order, so that each group must move.
    const own = (r: number) =>
      universe.moveGroups && random() < 0.5
        ? altGroup(r)
        : random() < 0.8
          ? rowGroup(r)
          : bucketGroup(r % universe.buckets)
    const choice = random()
    let attempts: number
    if (rows.length > 1) {
      const groups = rows.map(own).sort(() => random() - 0.5)
      attempts = await invalidate('expireGroups', row, [...new Set(groups)], [])
    } else if (universe.moveGroups) {
      // Versions made equal, then one of the two moved alone: an entry of one home read by a
      // process whose hint is the other sees the very versions its snapshot holds.
      if (choice < 0.4) attempts = await invalidate('collide', row, [rowGroup(row), altGroup(row)], [])
      else if (choice < 0.9)
        attempts = await invalidate('expireGroup', row, [choice < 0.7 ? altGroup(row) : rowGroup(row)], [])
      else attempts = await invalidate('delete', row, [], [keyName(row)])
    } else if (choice < 0.4) {
      attempts = await invalidate('expireGroup', row, [own(row)], [])
    } else if (choice < 0.5) {
      attempts = await invalidate('expireGroup', row, [bucketGroup(row % universe.buckets)], [])
    } else if (choice < 0.6) {
      attempts = await invalidate('expireGroups', row, [own(row), rowGroup(int(universe.keys))], [])
    } else {
      attempts = await invalidate('delete', row, [], [keyName(row)])
    }
    return rows.length + attempts
  }

  /** A row of this worker's own, INCRed and then stored with a plain set (write-through), one write of it at a time. */
  const writeThrough = async (): Promise<number> => {
    const row = ownRows[int(ownRows.length)] as number
    while (writing.has(row)) await writing.get(row)
    let done = () => {}
    writing.set(
      row,
      new Promise<void>((resolve) => {
        done = resolve
      }),
    )
    try {
      const s = now()
      const v = await db.incr(dbKey(row))
      log.push({ t: 'w', w, row, v, s, e: now() })
      const groups = readerGroups(row)
      const [min, max] = config.writeThroughTtl ?? [config.ttl, config.ttl]
      try {
        await cache.set(keyName(row), cachedValue(row, v, groups), { groups, ttl: min + int(max - min + 1) })
      } catch {
        // logged by the observer; a write-through that failed publishes nothing
      }
      return 2
    } finally {
      writing.delete(row)
      done()
    }
  }

  /** A read of a key (random unless given) on a cache: wrap, get, getMany or read + set, as `kind` says. */
  const read = async (
    kind = random(),
    on = cache,
    row = int(universe.keys),
    groups = readerGroups(row),
  ): Promise<ReadRecord> => {
    const key = keyName(row)
    const s = now()
    const record: ReadRecord = { t: 'r', w, op: 'get', s, e: s, items: [] }
    // A fill that names the row's own group late asks only for the others up front.
    const late = config.lateGroups !== undefined && random() < config.lateGroups ? groups[0] : undefined
    const upfront = late === undefined ? groups : groups.slice(1)
    const ask = () => {
      record.asked = upfront
    }
    try {
      if (kind < 0.4 || config.wrapOnly) {
        record.op = 'wrap'
        ask()
        const { fn, state } = filler(row, groups)
        const run = async (ctx: FillContext) => {
          const value = await fn()
          if (late !== undefined) ctx.groups.push(late)
          return value
        }
        const value: unknown = await on.wrap(key, { groups: upfront }, run)
        // With grace, a wrap may return a stale value while its function refreshes it in the
        // background: a function still running when wrap returned is not this call's fill.
        if (state.ran && state.value !== undefined) {
          // what the function returned, beside what wrap returned (undefined included): they must match
          const got = (value ?? {}) as { row?: unknown; v?: unknown }
          const ret = state.value
          record.items.push({ row, out: 'fill', vr: got.row, v: got.v, fn: { vr: ret?.row, v: ret?.v } })
        } else {
          const shared = typeof value === 'object' && value !== null && computed.has(value)
          record.items.push(item(row, shared ? 'shared' : 'hit', value))
        }
        record.fn = state.value !== undefined ? state.ns : 0
      } else if (kind < 0.6) {
        record.op = 'get'
        record.items.push(item(row, 'hit', await on.get(key)))
      } else if (kind < 0.75) {
        record.op = 'getMany'
        const rows = [row]
        const n = 2 + int(3)
        while (rows.length < n) {
          const other = int(universe.keys)
          if (!rows.includes(other)) rows.push(other)
        }
        const values = await on.getMany(rows.map(keyName))
        rows.forEach((r, i) => {
          record.items.push(item(r, 'hit', values[i]))
        })
      } else {
        record.op = 'read'
        ask()
        const result = await on.read<unknown>(key, { groups: upfront })
        record.re = now()
        if (result.hit) {
          record.items.push(item(row, 'hit', result.value))
        } else {
          const { fn, state } = filler(row, groups)
          const value = await fn()
          record.fn = state.ns
          record.items.push(item(row, 'fill', value))
          try {
            const options = late === undefined ? { token: result.token } : { token: result.token, groups }
            record.set = (await on.set(key, value, options)) ? 'stored' : 'refused'
          } catch {
            record.set = 'error'
          }
        }
      }
    } catch (error) {
      record.err = message(error)
      record.re ??= now()
    }
    record.e = now()
    log.push(record)
    return record
  }

  /**
   * With moveGroups: a key moved to its other home under a process that still holds the old one.
   * `cache` reads the key until it holds a hint of the groups it found, the two homes' versions
   * are made equal, `mover` refills the key under the other home, a write of its row expires
   * that home alone, and `cache` reads the key again: its hint's versions are exactly the new
   * entry's snapshot, and only the group names tell the entry apart.
   */
  const moveRound = async (): Promise<number> => {
    const row = int(universe.keys)
    await read(0.3, cache, row)
    const held = (await read(0.5, cache, row)).items[0]
    if (!mover || held?.out !== 'hit') return 2
    const other = held.groups?.[0] === altGroup(row) ? rowGroup(row) : altGroup(row)
    let ops = 2 + (await invalidate('collide', row, [rowGroup(row), altGroup(row)], []))
    await read(0.3, mover, row, [other, bucketGroup(row % universe.buckets)])
    const s = now()
    const v = await db.incr(dbKey(row))
    log.push({ t: 'w', w, row, v, s, e: now() })
    ops += 2 + (await invalidate('expireGroup', row, [other], []))
    await read(0.5, cache, row)
    return ops + 1
  }

  ready()
  await go
  const deadline = Date.now() + config.ms
  let started = 0
  const loop = async () => {
    while (started < config.ops && Date.now() < deadline) {
      // an operation is a logged call: a read, an INCR, an invalidation attempt, a set
      started++
      const dice = random()
      // awaited first, then added: `started += await ...` would add to the count read before
      // the await, dropping what the other loops counted meanwhile
      let more = 0
      if (dice < config.writeRatio) more = universe.moveGroups && random() < 0.5 ? await moveRound() : await write()
      else if (ownRows.length > 0 && dice < config.writeRatio * 1.5) more = await writeThrough()
      else await read()
      started += more
    }
  }
  await Promise.all(Array.from({ length: config.concurrency }, loop))
  await log.close()
  await Promise.all([cache.close(), mover?.close()])
  for (const target of targets) target.close()
  raw?.disconnect()
  db.disconnect()
  const nearHits = caches.reduce((sum, opened) => sum + (opened.nearCacheStats()?.hits ?? 0), 0)
  return { type: 'done', id: w, operations: started, errorEvents, errorCodes, abandoned, fillsPastLease, nearHits }
}

/** A group's version key in the run's namespace, as the cache names it (src/keys.ts). */
function versionKey(config: WorkerConfig, group: string): string {
  return new Keys('rgc', config.namespace, config.sharding).group(group)
}

// As a forked process (the entry point): wait for the coordinator's `start`, then `go`, and run
// every worker it names; each reports `ready`, then `done` (or `failed`), with its id.
if (process.send && process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const send = (msg: WorkerMessage) =>
    new Promise<void>((resolve) => process.send?.(msg, undefined, {}, () => resolve()))
  let go: () => void = () => {}
  const going = new Promise<void>((resolve) => {
    go = resolve
  })
  process.on('message', (msg: CoordinatorMessage) => {
    if (msg.type === 'go') {
      go()
      return
    }
    if (msg.type !== 'start') return
    const runs = msg.configs.map((config) =>
      runWorker(config, going, () => void send({ type: 'ready', id: config.id })).then(
        (done) => send(done),
        (error: unknown) => {
          process.exitCode = 1
          const text = error instanceof Error ? (error.stack ?? error.message) : String(error)
          return send({ type: 'failed', id: config.id, error: text })
        },
      ),
    )
    void Promise.all(runs).then(() => process.disconnect?.())
  })
}
