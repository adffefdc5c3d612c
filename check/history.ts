/**
 * The history checker: pure functions over the log the workers write, so that it can be
 * unit-tested on hand-made logs.
 *
 * Times are nanoseconds on one clock for every process of the machine (`process.hrtime.bigint()`
 * is CLOCK_MONOTONIC), minus a base the coordinator hands to every worker so that they fit in a
 * JS number. A record's `s` is taken just before the call and its `e` just after it settled, so
 * whatever the call did in Redis happened inside [s, e].
 */

/** The data set: key `key_<i>` caches database row `i`; its groups are `row_<i>` and `bucket_<i % buckets>`. */
export interface Universe {
  readonly keys: number
  readonly buckets: number
}

export const keyName = (row: number): string => `key_${row}`
export const rowGroup = (row: number): string => `row_${row}`
export const bucketGroup = (bucket: number): string => `bucket_${bucket}`
export const groupsOf = (universe: Universe, row: number): string[] => [
  rowGroup(row),
  bucketGroup(row % universe.buckets),
]
export const dbKey = (row: number): string => `db:row:${row}`

/** The rows whose cached value an invalidation of `groups` and `keys` (deleted keys) makes stale. */
export function coveredRows(universe: Universe, groups: readonly string[], keys: readonly string[]): Set<number> {
  const rows = new Set<number>()
  const index = (text: string, prefix: string): number | undefined => {
    if (!text.startsWith(prefix)) return undefined
    const n = Number(text.slice(prefix.length))
    return Number.isInteger(n) && n >= 0 ? n : undefined
  }
  for (const group of groups) {
    const row = index(group, 'row_')
    if (row !== undefined && row < universe.keys) rows.add(row)
    const bucket = index(group, 'bucket_')
    if (bucket !== undefined) {
      for (let i = bucket; i < universe.keys; i += universe.buckets) rows.add(i)
    }
  }
  for (const key of keys) {
    const row = index(key, 'key_')
    if (row !== undefined && row < universe.keys) rows.add(row)
  }
  return rows
}

/** `INCR db:row:<row>` returned `v`: the database now holds `v` (published once an invalidation covering the row resolves). */
export interface WriteRecord {
  t: 'w'
  w: number
  row: number
  v: number
  s: number
  e: number
}

/** One attempt at an invalidation: `expireGroup`, `expireGroups` or `delete`. */
export interface InvalidationRecord {
  t: 'i'
  w: number
  op: 'expireGroup' | 'expireGroups' | 'delete'
  /** the row whose write this invalidation publishes */
  row: number
  groups: string[]
  keys: string[]
  s: number
  e: number
  /** resolved (true) or rejected (false): a rejected one publishes nothing */
  ok: boolean
  err?: string
}

/** A fill function read `v` from the database row (every value the cache may hold comes from one). */
export interface FillRecord {
  t: 'f'
  w: number
  row: number
  v: number
  s: number
  e: number
}

/**
 * A `set` of key `key_<row>`: the worker's own `set(key, value, { token })` after a `read`, or the
 * one inside a `wrap`'s fill (the worker observes both through the cache's `set` method). `s` is
 * taken just before the call and `e` just after it settled: whatever it stored, it stored in [s, e].
 */
export interface SetRecord {
  t: 's'
  w: number
  /** the row of the key set */
  row: number
  /** the stored value's `row` and `v` fields */
  vr: unknown
  v: unknown
  /** a fill's compare-and-set (with a token), or a plain set */
  token: boolean
  s: number
  e: number
  /** resolved true (`stored`), resolved false (`refused`: it stored nothing), or rejected (it may have stored) */
  out: 'stored' | 'refused' | 'error'
}

/**
 * What one key of a read returned: `hit` (the cache's value), `miss` (nothing), `fill` (this
 * call's own function ran and its value was returned), `shared` (a `wrap` returned the value of
 * another caller's function in the same process: the object that function returned, not a
 * value read from the cache).
 */
export interface ReadItem {
  row: number
  out: 'hit' | 'miss' | 'fill' | 'shared'
  /** the returned value's `row` and `v` fields (absent on a miss) */
  vr?: unknown
  v?: unknown
  /** `wrap` whose own function ran: the `row` and `v` fields of what that function returned (always defined) */
  fn?: { vr: unknown; v: unknown }
}

export interface ReadRecord {
  t: 'r'
  w: number
  op: 'get' | 'getMany' | 'wrap' | 'read'
  s: number
  e: number
  items: ReadItem[]
  /** ns this call spent in its own fill function (wrap, read): not the cache's time */
  fn?: number
  /** `read` only: when the `read()` call itself settled (the fill and set come after) */
  re?: number
  /** `read` only: what `set(key, value, { token })` did */
  set?: 'stored' | 'refused' | 'error'
  /** the call rejected (reads fail open, so this is `read()` or a fill that threw) */
  err?: string
}

/**
 * The coordinator's fault dropped the workers' connections to the cache's server during [s, e]
 * (a kill, CLIENT KILL, a failover). A call in flight then may have run before the drop and been
 * sent again by ioredis after the reconnection (it resends what was unanswered): a set that stored
 * the first time is refused the second (the entry exists), and resolves false although it stored.
 */
export interface DropRecord {
  t: 'd'
  fault: string
  s: number
  e: number
}

export type LogRecord = WriteRecord | InvalidationRecord | FillRecord | ReadRecord | SetRecord | DropRecord

export interface Limits {
  /** the cache's timeout, ms */
  timeout: number
  /** ms before an invalidation rejects at the latest @default timeout (more with waitForReplicas) */
  invalidation?: number
  /** slack on top of a bound, ms */
  margin: number
  /** the longest a fill function waits, ms */
  fnMax: number
}

export interface StaleRead {
  read: ReadRecord
  row: number
  /** the value returned */
  v: number
  /** the value it should have been at least */
  required: number
  /** the resolved invalidation that published `required` before the read started */
  because: InvalidationRecord
  /** the write of `required` */
  write: WriteRecord
}

export interface PhantomRead {
  read: ReadRecord
  row: number
  item: ReadItem
  why: string
}

/** A `wrap` whose own function ran, yet that returned something other than that function's value. */
export interface WrongWrap {
  read: ReadRecord
  item: ReadItem
}

export interface LateCall {
  record: ReadRecord | InvalidationRecord
  ms: number
  bound: number
}

export interface Latency {
  count: number
  max: number
  p99: number
}

export interface CheckReport {
  /** every call the workers made: reads, writes (INCR) and invalidation attempts */
  operations: number
  reads: number
  writes: number
  hits: number
  /** misses, `shared` items and fills included */
  misses: number
  /** `wrap` items that returned another caller's function's value (counted in misses too) */
  shared: number
  /** sets the workers made (their own and the ones inside `wrap`), by outcome */
  sets: { stored: number; refused: number; error: number }
  /** `read` + `set({ token })` fills the cache refused (a `wrap`'s refused store is invisible to its caller) */
  refusedFills: number
  storedFills: number
  invalidations: number
  rejectedInvalidations: number
  /** calls that rejected: invalidations, `read()`, `set()`, fills */
  rejectedCalls: number
  /** get, getMany and wrap calls that rejected: they must fail open (a violation) */
  rejectedReads: number
  stale: number
  phantom: number
  /** reads and invalidations (resolved or rejected) slower than their bound */
  late: number
  /** `wrap` calls whose function ran that did not return that function's value */
  wrongWraps: number
  staleReads: StaleRead[]
  phantomReads: PhantomRead[]
  lateCalls: LateCall[]
  wrongWrapCalls: WrongWrap[]
  rejectedReadCalls: ReadRecord[]
  /** per operation, the time spent in the cache (not in the caller's own fill function), ms */
  latency: Record<string, Latency>
}

const MS = 1e6
const EXAMPLES = 20

/** The largest value the row's writes published, as a step function of time. */
interface Requirement {
  /** resolve times of covering invalidations, ascending */
  at: number[]
  /** at[k]: the largest value published by any invalidation that resolved at or before at[k] */
  value: number[]
  /** the invalidation and write behind value[k] */
  because: InvalidationRecord[]
  write: WriteRecord[]
}

/**
 * The value a read of `row` that started at `start` must return at least: the largest `v`
 * of a write whose INCR ended before some covering invalidation began, that invalidation
 * having resolved before `start`. -1 when there is none.
 */
function required(req: Requirement | undefined, start: number): number {
  if (req === undefined) return -1
  // the last index with at[k] < start
  let lo = 0
  let hi = req.at.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if ((req.at[mid] as number) < start) lo = mid + 1
    else hi = mid
  }
  return lo === 0 ? -1 : (req.value[lo - 1] as number)
}

function requirements(universe: Universe, writes: WriteRecord[], invalidations: InvalidationRecord[]) {
  // Per row: writes by INCR end time, with the running maximum of v.
  const byRow = new Map<number, { e: number[]; max: number[]; write: WriteRecord[] }>()
  const sorted = [...writes].sort((a, b) => a.e - b.e)
  for (const write of sorted) {
    let list = byRow.get(write.row)
    if (!list) {
      list = { e: [], max: [], write: [] }
      byRow.set(write.row, list)
    }
    const last = list.max.length > 0 ? (list.max[list.max.length - 1] as number) : -1
    const lastWrite = list.write[list.write.length - 1]
    list.e.push(write.e)
    if (write.v > last || !lastWrite) {
      list.max.push(write.v)
      list.write.push(write)
    } else {
      list.max.push(last)
      list.write.push(lastWrite)
    }
  }
  // Per row: each resolved covering invalidation publishes the largest v whose INCR ended before it began.
  const points = new Map<number, { at: number; value: number; because: InvalidationRecord; write: WriteRecord }[]>()
  for (const inv of invalidations) {
    if (!inv.ok) continue
    for (const row of coveredRows(universe, inv.groups, inv.keys)) {
      const list = byRow.get(row)
      if (!list) continue
      let lo = 0
      let hi = list.e.length
      while (lo < hi) {
        const mid = (lo + hi) >>> 1
        if ((list.e[mid] as number) < inv.s) lo = mid + 1
        else hi = mid
      }
      if (lo === 0) continue
      let rowPoints = points.get(row)
      if (!rowPoints) {
        rowPoints = []
        points.set(row, rowPoints)
      }
      rowPoints.push({
        at: inv.e,
        value: list.max[lo - 1] as number,
        because: inv,
        write: list.write[lo - 1] as WriteRecord,
      })
    }
  }
  const out = new Map<number, Requirement>()
  for (const [row, rowPoints] of points) {
    rowPoints.sort((a, b) => a.at - b.at)
    const req: Requirement = { at: [], value: [], because: [], write: [] }
    let best = rowPoints[0] as (typeof rowPoints)[number]
    for (const point of rowPoints) {
      if (point.value > best.value) best = point
      req.at.push(point.at)
      req.value.push(best.value)
      req.because.push(best.because)
      req.write.push(best.write)
    }
    out.set(row, req)
  }
  return out
}

function culprit(req: Requirement, start: number): { because: InvalidationRecord; write: WriteRecord } {
  let k = 0
  while (k + 1 < req.at.length && (req.at[k + 1] as number) < start) k++
  return { because: req.because[k] as InvalidationRecord, write: req.write[k] as WriteRecord }
}

function latency(samples: number[]): Latency {
  if (samples.length === 0) return { count: 0, max: 0, p99: 0 }
  const sorted = Float64Array.from(samples).sort()
  return {
    count: samples.length,
    max: sorted[sorted.length - 1] as number,
    p99: sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.99))] as number,
  }
}

/**
 * Checks a history. `finalRows[i]` is row i's value in the database after the run.
 *
 * Stale read (guarantee 1 and 2): a read of row i that started at s and returned v, while some
 * write of row i returned v' > v from its INCR before a covering invalidation (expireGroup of
 * `row_i` or `bucket_<i % buckets>`, expireGroups naming one of them, or delete of `key_i`)
 * began, and that invalidation resolved before s. A read concurrent with the invalidation (it
 * started before the invalidation resolved) may return the old value.
 *
 * Phantom read: a value that is not `{ row: i, v }` for the key read, or whose v is above the
 * row's final value; a hit of v that no set of `{ row: i, v }` to key_i can explain (one that
 * resolved true, or rejected, since it may have stored, and that started before the read ended;
 * a set that resolved false stored nothing, unless a fault dropped its connection meanwhile:
 * `DropRecord`); a `shared` wrap value that no fill function of the
 * same worker read before the read ended. v=0 has no exemption: a row starts at 0, but the cache
 * holds 0 only if a set stored it, and every set is logged.
 *
 * Wrong wrap: a `wrap` whose own function ran but that returned something other than what that
 * function returned.
 *
 * Late call (with `limits`): a read slower than its bound (time in the caller's own function not
 * counted), and an invalidation that settled, resolved or rejected, later than its bound: an
 * invalidation must reject rather than hang, never resolve late.
 */
export function checkHistory(
  universe: Universe,
  log: readonly LogRecord[],
  finalRows: readonly number[],
  limits?: Limits,
): CheckReport {
  const writes: WriteRecord[] = []
  const invalidations: InvalidationRecord[] = []
  const reads: ReadRecord[] = []
  const sets: SetRecord[] = []
  const drops: DropRecord[] = []
  /** `${w}:${row}:${v}` -> the earliest start of a fill function of worker w that read v */
  const fillStart = new Map<string, number>()
  for (const record of log) {
    if (record.t === 'w') writes.push(record)
    else if (record.t === 'i') invalidations.push(record)
    else if (record.t === 'r') reads.push(record)
    else if (record.t === 's') sets.push(record)
    else if (record.t === 'd') drops.push(record)
    else if (record.t === 'f') {
      const key = `${record.w}:${record.row}:${record.v}`
      const first = fillStart.get(key)
      if (first === undefined || record.s < first) fillStart.set(key, record.s)
    }
  }
  /** `${row}:${v}` -> the earliest start of a set of that value that may have stored it */
  const setStart = new Map<string, number>()
  /** `${row}:${v}` -> sets of that value, refused ones included (for the reason a hit is a phantom) */
  const setAny = new Map<string, number>()
  for (const set of sets) {
    if (set.vr !== set.row || typeof set.v !== 'number') continue
    const key = `${set.row}:${set.v}`
    setAny.set(key, (setAny.get(key) ?? 0) + 1)
    // a refusal stored nothing, unless the set was in flight when its connection dropped
    if (set.out === 'refused' && !drops.some((drop) => set.s < drop.e && drop.s < set.e)) continue
    const first = setStart.get(key)
    if (first === undefined || set.s < first) setStart.set(key, set.s)
  }
  const reqs = requirements(universe, writes, invalidations)

  const report: CheckReport = {
    operations: writes.length + invalidations.length + reads.length,
    reads: reads.length,
    writes: writes.length,
    hits: 0,
    misses: 0,
    shared: 0,
    sets: { stored: 0, refused: 0, error: 0 },
    refusedFills: 0,
    storedFills: 0,
    invalidations: 0,
    rejectedInvalidations: 0,
    rejectedCalls: 0,
    rejectedReads: 0,
    stale: 0,
    phantom: 0,
    late: 0,
    wrongWraps: 0,
    staleReads: [],
    phantomReads: [],
    lateCalls: [],
    wrongWrapCalls: [],
    rejectedReadCalls: [],
    latency: {},
  }
  for (const set of sets) report.sets[set.out]++
  const samples: Record<string, number[]> = {}
  const sample = (name: string, ms: number) => {
    const list = samples[name]
    if (list) list.push(ms)
    else samples[name] = [ms]
  }
  const late = (record: ReadRecord | InvalidationRecord, ms: number, bound: number) => {
    if (ms <= bound) return
    report.late++
    if (report.lateCalls.length < EXAMPLES) report.lateCalls.push({ record, ms, bound })
  }

  for (const inv of invalidations) {
    const ms = (inv.e - inv.s) / MS
    sample('invalidate', ms)
    if (inv.ok) report.invalidations++
    else {
      report.rejectedInvalidations++
      report.rejectedCalls++
    }
    // Within the timeout, either way: a rejection must not wait for a reconnection or a paused
    // server, and a resolution after it means a caller was told "done" by a call it had given up on.
    if (limits) late(inv, ms, (limits.invalidation ?? limits.timeout) + limits.margin)
  }

  for (const read of reads) {
    if (read.err !== undefined) {
      report.rejectedCalls++
      if (read.op !== 'read') {
        report.rejectedReads++
        if (report.rejectedReadCalls.length < EXAMPLES) report.rejectedReadCalls.push(read)
      }
    }
    if (read.set === 'stored') report.storedFills++
    else if (read.set === 'refused') report.refusedFills++
    else if (read.set === 'error') report.rejectedCalls++
    // Time in the cache: a get is one call; a read is its read() call; a wrap is its read and
    // its store (or a wait for another caller's function and its store), not its own function.
    const total = (read.e - read.s) / MS
    const own = (read.fn ?? 0) / MS
    if (read.op === 'read') {
      const ms = ((read.re ?? read.e) - read.s) / MS
      sample('read', ms)
      if (limits) late(read, ms, limits.timeout + limits.margin)
    } else if (read.op === 'wrap') {
      const ms = total - own
      sample('wrap', ms)
      if (limits) late(read, ms, 2 * limits.timeout + limits.fnMax + limits.margin)
    } else {
      sample(read.op, total)
      if (limits) late(read, total, limits.timeout + limits.margin)
    }

    for (const item of read.items) {
      if (item.fn !== undefined && (item.vr !== item.fn.vr || item.v !== item.fn.v)) {
        // its function ran, so it is no hit; whatever it returned instead is this violation alone
        report.misses++
        report.wrongWraps++
        if (report.wrongWrapCalls.length < EXAMPLES) report.wrongWrapCalls.push({ read, item })
        continue
      }
      if (item.out === 'miss') {
        report.misses++
        continue
      }
      if (item.out === 'hit') report.hits++
      else report.misses++
      if (item.out === 'shared') report.shared++
      const row = item.row
      const v = item.v
      const phantom = (why: string) => {
        report.phantom++
        if (report.phantomReads.length < EXAMPLES) report.phantomReads.push({ read, row, item, why })
      }
      if (item.vr !== row) {
        phantom(`the value is for row ${String(item.vr)}, not ${row}`)
        continue
      }
      if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
        phantom(`v is not a count: ${JSON.stringify(v)}`)
        continue
      }
      const final = finalRows[row] ?? 0
      if (v > final) {
        phantom(`v=${v} is above the row's final value ${final}`)
        continue
      }
      if (item.out === 'hit') {
        const first = setStart.get(`${row}:${v}`)
        if (first === undefined || first >= read.e) {
          const sets = setAny.get(`${row}:${v}`) ?? 0
          phantom(
            first !== undefined
              ? `the first set of v=${v} that may have stored it started after the read ended`
              : sets > 0
                ? `every set of v=${v} (${sets}) resolved false: none stored it`
                : `no set of v=${v} was ever made`,
          )
          continue
        }
      } else if (item.out === 'shared') {
        const first = fillStart.get(`${read.w}:${row}:${v}`)
        if (first === undefined || first >= read.e) {
          phantom(`no fill function of worker ${read.w} read v=${v} before the read ended`)
          continue
        }
      }
      const req = reqs.get(row)
      const need = required(req, read.s)
      if (v < need && req) {
        report.stale++
        if (report.staleReads.length < EXAMPLES) {
          report.staleReads.push({ read, row, v, required: need, ...culprit(req, read.s) })
        }
      }
    }
  }
  for (const [name, list] of Object.entries(samples)) report.latency[name] = latency(list)
  return report
}

/** A stale read, for people: what was read, when, and which invalidation made it stale. */
export function describeStale(stale: StaleRead, base = 0): string {
  const t = (ns: number) => `${((ns - base) / MS).toFixed(3)}ms`
  const { read, because, write } = stale
  return (
    `worker ${read.w} ${read.op} of key_${stale.row} [${t(read.s)}..${t(read.e)}] returned v=${stale.v}, ` +
    `but worker ${write.w} wrote v=${write.v} (INCR ended ${t(write.e)}) and worker ${because.w}'s ` +
    `${because.op}(${JSON.stringify(because.op === 'delete' ? because.keys : because.groups)}) ` +
    `[${t(because.s)}..${t(because.e)}] resolved before the read started`
  )
}

export function describeWrongWrap(wrong: WrongWrap, base = 0): string {
  const t = (ns: number) => `${((ns - base) / MS).toFixed(3)}ms`
  const { read, item } = wrong
  return `worker ${read.w} wrap of key_${item.row} [${t(read.s)}..${t(read.e)}] ran its function, which returned ${JSON.stringify({ row: item.fn?.vr, v: item.fn?.v })}, but returned ${item.vr === undefined ? 'undefined' : JSON.stringify({ row: item.vr, v: item.v })}`
}

export function describePhantom(phantom: PhantomRead, base = 0): string {
  const t = (ns: number) => `${((ns - base) / MS).toFixed(3)}ms`
  const { read } = phantom
  return `worker ${read.w} ${read.op} of key_${phantom.row} [${t(read.s)}..${t(read.e)}] returned ${JSON.stringify({ row: phantom.item.vr, v: phantom.item.v })}: ${phantom.why}`
}

/**
 * What one script call that a failover lost did, as far as invalidations go (read from the old
 * primary's replication stream: check/replication.ts): the groups whose versions it incremented
 * (expireGroup(s)), or the key whose generation it moved (only a delete does) or created (a
 * delete, or a read's miss).
 */
export interface LostEffect {
  groups: string[]
  deleted?: string
  created?: string
}

/** A failover, on the log's clock: the old primary was dead at `at`; the proxy passed connections to the new one from `switched`. */
export interface FailoverRecord {
  at: number
  switched: number
  lost: readonly LostEffect[]
}

export interface LostInvalidations {
  /** invalidation attempts whose effect the old primary applied and the promoted replica never got */
  lost: number
  /** of those, attempts that resolved for their writer before the switch: answered by the old primary */
  resolved: number
  /**
   * Lost effects that only created a key's generation, matched to a delete that resolved. A
   * delete of a key without a generation leaves that effect, and so does a read's miss: the
   * stream cannot tell them apart. With waitForReplicas a resolved delete reached the promoted
   * replica, so there it was a read's miss; without, either.
   */
  ambiguous: number
  /** lost version increments or generation moves no attempt in flight accounts for (expected: 0) */
  unmatched: number
  resolvedExamples: InvalidationRecord[]
}

/** How long before a failover a lost effect may have run: more than replication lags here, even on a busy machine. */
const LOST_WINDOW = 1000 * MS

/**
 * Matches each lost effect to the invalidation attempt that made it: the latest attempt on the
 * same target that began before the kill and ended at most LOST_WINDOW before it (an estimate
 * when several attempts on one target were in flight). A created generation without such a
 * delete was a read's miss, not an invalidation.
 */
export function matchLost(log: readonly LogRecord[], failovers: readonly FailoverRecord[]): LostInvalidations {
  const attempts = log.filter((record): record is InvalidationRecord => record.t === 'i').sort((a, b) => b.s - a.s)
  const used = new Set<InvalidationRecord>()
  const out: LostInvalidations = { lost: 0, resolved: 0, ambiguous: 0, unmatched: 0, resolvedExamples: [] }
  for (const failover of failovers) {
    for (const effect of failover.lost) {
      const key = effect.deleted ?? effect.created
      const made = (attempt: InvalidationRecord) =>
        effect.groups.length > 0
          ? attempt.op !== 'delete' && effect.groups.every((group) => attempt.groups.includes(group))
          : attempt.op === 'delete' && attempt.keys[0] === key
      const attempt = attempts.find(
        (candidate) =>
          !used.has(candidate) &&
          candidate.s <= failover.at &&
          candidate.e >= failover.at - LOST_WINDOW &&
          made(candidate),
      )
      if (!attempt) {
        if (effect.created === undefined) out.unmatched++
        continue
      }
      used.add(attempt)
      out.lost++
      if (attempt.ok && attempt.e < failover.switched && effect.created !== undefined) {
        out.ambiguous++
      } else if (attempt.ok && attempt.e < failover.switched) {
        out.resolved++
        if (out.resolvedExamples.length < EXAMPLES) out.resolvedExamples.push(attempt)
      }
    }
  }
  return out
}
