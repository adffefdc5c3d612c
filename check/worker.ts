/**
 * A checker worker: one process, one GroupCache and its own connection, running a random mix of
 * writes (INCR a database row, then invalidate) and reads (wrap, get, getMany, read + set) on a
 * small universe of keys, and logging every call with its start and end on the machine's
 * monotonic clock. The coordinator (check/run.ts) forks it, sends `start`, then `go`; the worker
 * writes its log as JSONL to `logPath` and answers `done` with its counters.
 */
import { createWriteStream, type WriteStream } from 'node:fs'
import { setTimeout as sleep } from 'node:timers/promises'
import { pathToFileURL } from 'node:url'
import { Redis } from 'ioredis'
import { GroupCache } from '../src/index.js'
import {
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
import { applyMutant } from './mutants.js'

export interface WorkerConfig {
  id: number
  cacheUrl: string
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
  mutant?: string
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
}

export type WorkerMessage = { type: 'ready'; id: number } | WorkerDone | { type: 'failed'; id: number; error: string }
export type CoordinatorMessage = { type: 'start'; config: WorkerConfig } | { type: 'go' }

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

export async function runWorker(config: WorkerConfig, go: Promise<void>, ready: () => void): Promise<WorkerDone> {
  if (config.mutant) applyMutant(config.mutant)
  const base = BigInt(config.base)
  const now = () => Number(process.hrtime.bigint() - base)
  const random = prng(config.seed)
  const int = (n: number) => Math.floor(random() * n)
  const { universe } = config
  const log = new Log(config.logPath)
  const w = config.id

  const cache = new GroupCache({
    redis: config.cacheUrl,
    namespace: config.namespace,
    timeout: config.timeout,
    lease: config.lease,
    ttl: config.ttl,
    waitForReplicas: config.waitForReplicas,
  })
  const errorCodes: Record<string, number> = {}
  let errorEvents = 0
  cache.on('error', (error) => {
    errorEvents++
    errorCodes[error.code] = (errorCodes[error.code] ?? 0) + 1
  })
  // Every set the cache makes goes through its `set` method: the worker's own after a `read`, and
  // the one inside a `wrap`'s fill. Observing the method logs both with what they stored (a hit
  // is legitimate only if some set may have stored its value: check/history.ts). Should the cache
  // stop routing wrap's store through `set`, its hits show up as phantoms: loudly, not silently.
  const set = cache.set.bind(cache)
  cache.set = async (key: string, value: unknown, options?: Parameters<typeof set>[2]): Promise<boolean> => {
    const s = now()
    let out: SetRecord['out'] = 'error'
    try {
      const stored = await set(key, value, options)
      out = stored ? 'stored' : 'refused'
      return stored
    } finally {
      const e = now()
      const { row: vr, v } = (value ?? {}) as { row?: unknown; v?: unknown }
      const row = Number(key.slice('key_'.length))
      log.push({ t: 's', w, row, vr, v, token: options?.token !== undefined, s, e, out } satisfies SetRecord)
    }
  }
  const db = new Redis(config.dbUrl, { maxRetriesPerRequest: 3 })
  db.on('error', () => {})
  await db.ping()

  const pads: string[] = []
  if (config.padding) {
    const [min, max] = config.padding
    for (let i = 0; i < 16; i++) pads.push('x'.repeat(min + int(max - min + 1)))
  }

  /** Every value a fill function of this process returned: a `wrap` returning one without running its own function shared another caller's. */
  const computed = new WeakSet<object>()
  let fillsPastLease = 0

  /** A fill function: waits, then reads the row from the database; logs what it read. Its value is never undefined. */
  const filler = (row: number) => {
    const state: { ran: boolean; ns: number; value?: { row: number; v: number } } = { ran: false, ns: 0 }
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
      const value: { row: number; v: number; pad?: string } = { row, v }
      if (pads.length > 0) value.pad = pads[int(pads.length)]
      computed.add(value)
      state.value = value
      return value
    }
    return { fn, state }
  }

  const item = (row: number, out: ReadItem['out'], value: unknown): ReadItem => {
    if (value === undefined || value === null) return { row, out: 'miss' }
    const { row: vr, v } = value as { row?: unknown; v?: unknown }
    return { row, out, vr, v }
  }

  let abandoned = 0
  /** INCR a row, then invalidate until it resolves (or `retries` attempts); returns the attempts. */
  const write = async (): Promise<number> => {
    const row = int(universe.keys)
    const s = now()
    const v = await db.incr(dbKey(row))
    log.push({ t: 'w', w, row, v, s, e: now() })
    // Mostly narrow invalidations, so that entries live long enough to be read (and races
    // have room): the row's own group, a delete, sometimes the bucket shared by many keys.
    const choice = random()
    const groups: string[] = []
    const keys: string[] = []
    let op: InvalidationRecord['op']
    if (choice < 0.3) {
      op = 'expireGroup'
      groups.push(rowGroup(row))
    } else if (choice < 0.4) {
      op = 'expireGroup'
      groups.push(bucketGroup(row % universe.buckets))
    } else if (choice < 0.6) {
      op = 'expireGroups'
      groups.push(random() < 0.8 ? rowGroup(row) : bucketGroup(row % universe.buckets), rowGroup(int(universe.keys)))
    } else {
      op = 'delete'
      keys.push(keyName(row))
    }
    for (let attempt = 1; ; attempt++) {
      const is = now()
      try {
        if (op === 'delete') await cache.delete(keys[0] as string)
        else if (op === 'expireGroup') await cache.expireGroup(groups[0] as string)
        else await cache.expireGroups(groups)
        log.push({ t: 'i', w, op, row, groups, keys, s: is, e: now(), ok: true })
        return attempt
      } catch (error) {
        log.push({ t: 'i', w, op, row, groups, keys, s: is, e: now(), ok: false, err: message(error) })
      }
      if (attempt >= config.retries) {
        abandoned++
        return attempt
      }
      await sleep(10 * attempt)
    }
  }

  const read = async () => {
    const kind = random()
    const row = int(universe.keys)
    const key = keyName(row)
    const groups = groupsOf(universe, row)
    const s = now()
    const record: ReadRecord = { t: 'r', w, op: 'get', s, e: s, items: [] }
    try {
      if (kind < 0.4) {
        record.op = 'wrap'
        const { fn, state } = filler(row)
        const value: unknown = await cache.wrap(key, { groups }, fn)
        if (state.ran) {
          // what the function returned, beside what wrap returned (undefined included): they must match
          const got = (value ?? {}) as { row?: unknown; v?: unknown }
          const ret = state.value
          record.items.push({ row, out: 'fill', vr: got.row, v: got.v, fn: { vr: ret?.row, v: ret?.v } })
        } else {
          const shared = typeof value === 'object' && value !== null && computed.has(value)
          record.items.push(item(row, shared ? 'shared' : 'hit', value))
        }
        record.fn = state.ns
      } else if (kind < 0.6) {
        record.op = 'get'
        record.items.push(item(row, 'hit', await cache.get(key)))
      } else if (kind < 0.75) {
        record.op = 'getMany'
        const rows = [row]
        const n = 2 + int(3)
        while (rows.length < n) {
          const other = int(universe.keys)
          if (!rows.includes(other)) rows.push(other)
        }
        const values = await cache.getMany(rows.map(keyName))
        rows.forEach((r, i) => {
          record.items.push(item(r, 'hit', values[i]))
        })
      } else {
        record.op = 'read'
        const result = await cache.read<unknown>(key, { groups })
        record.re = now()
        if (result.hit) {
          record.items.push(item(row, 'hit', result.value))
        } else {
          const { fn, state } = filler(row)
          const value = await fn()
          record.fn = state.ns
          record.items.push(item(row, 'fill', value))
          try {
            record.set = (await cache.set(key, value, { token: result.token })) ? 'stored' : 'refused'
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
  }

  ready()
  await go
  const deadline = Date.now() + config.ms
  let started = 0
  const loop = async () => {
    while (started < config.ops && Date.now() < deadline) {
      // an operation is a logged call: a read, an INCR, an invalidation attempt
      started++
      if (random() < config.writeRatio) started += await write()
      else await read()
    }
  }
  await Promise.all(Array.from({ length: config.concurrency }, loop))
  await log.close()
  await cache.close()
  db.disconnect()
  return { type: 'done', id: w, operations: started, errorEvents, errorCodes, abandoned, fillsPastLease }
}

// As a forked process (the entry point): wait for the coordinator's `start`, then `go`.
if (process.send && process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const send = (msg: WorkerMessage, then?: () => void) => process.send?.(msg, undefined, {}, () => then?.())
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
    const { config } = msg
    runWorker(config, going, () => send({ type: 'ready', id: config.id })).then(
      (done) => send(done, () => process.disconnect?.()),
      (error: unknown) => {
        process.exitCode = 1
        const text = error instanceof Error ? (error.stack ?? error.message) : String(error)
        send({ type: 'failed', id: config.id, error: text }, () => process.disconnect?.())
      },
    )
  })
}
