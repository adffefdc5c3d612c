/**
 * The history checker: pure functions over the log the workers write, so that it can be
 * unit-tested on hand-made logs.
 *
 * Times are nanoseconds on one clock for every process of the machine (`process.hrtime.bigint()`
 * is CLOCK_MONOTONIC), minus a base the coordinator hands to every worker so that they fit in a
 * JS number. A record's `s` is taken just before the call and its `e` just after it settled, so
 * whatever the call did in Redis happened inside [s, e].
 */

/**
 * The data set: key `key_<i>` caches database row `i`. Its groups are `row_<i>` and
 * `bucket_<i % buckets>`; with `moveGroups`, a reader may instead store it under `alt_<i>` (a name as long as `row_<i>`, so that an entry of either reads alike) and
 * the same bucket (the same key stored under other groups). With `writeThrough`, the last
 * `writeThrough` rows are written by one worker only, which stores each new value itself with a
 * plain `set` instead of invalidating (check/worker.ts).
 */
export interface Universe {
  readonly keys: number
  readonly buckets: number
  readonly moveGroups?: boolean
  readonly writeThrough?: number
}

export const keyName = (row: number): string => `key_${row}`
export const rowGroup = (row: number): string => `row_${row}`
export const altGroup = (row: number): string => `alt_${row}`
export const bucketGroup = (bucket: number): string => `bucket_${bucket}`
/** The groups a value of `row` is stored under by default (`alt`: its other home, with moveGroups). */
export const groupsOf = (universe: Universe, row: number, alt = false): string[] => [
  alt ? altGroup(row) : rowGroup(row),
  bucketGroup(row % universe.buckets),
]
export const dbKey = (row: number): string => `db:row:${row}`

/** The rows a group holds values of: `row_<i>` and `alt_<i>` row i, `bucket_<b>` every row i with i % buckets = b. */
export function rowsOfGroup(universe: Universe, group: string): number[] {
  const index = (prefix: string): number | undefined => {
    if (!group.startsWith(prefix)) return undefined
    const n = Number(group.slice(prefix.length))
    return Number.isInteger(n) && n >= 0 ? n : undefined
  }
  const row = index('row_') ?? index('alt_')
  if (row !== undefined) return row < universe.keys ? [row] : []
  const bucket = index('bucket_')
  const rows: number[] = []
  if (bucket !== undefined) for (let i = bucket; i < universe.keys; i += universe.buckets) rows.push(i)
  return rows
}

/** The row whose key `key` is (`key_<i>`), if any. */
export function rowOfKey(universe: Universe, key: string): number | undefined {
  if (!key.startsWith('key_')) return undefined
  const n = Number(key.slice('key_'.length))
  return Number.isInteger(n) && n >= 0 && n < universe.keys ? n : undefined
}

/**
 * What invalidates a value: each of its groups, and its key (a delete, or a plain set that
 * replaces it). Requirements are kept per target, and a value needs the largest of its targets'.
 */
const groupTarget = (row: number, group: string) => `${row}|g|${group}`
const keyTarget = (row: number) => `${row}|k`

/** `INCR db:row:<row>` returned `v`: the database now holds `v` (published once an invalidation covering the row resolves). */
export interface WriteRecord {
  t: 'w'
  w: number
  row: number
  v: number
  s: number
  e: number
}

/**
 * One attempt at an invalidation: `expireGroup`, `expireGroups`, `delete`, or `collide` (with
 * moveGroups: a raw script that moves two groups' versions forward to one equal value, so that
 * an entry of one and a hint of the other hold the same version).
 */
export interface InvalidationRecord {
  t: 'i'
  w: number
  op: 'expireGroup' | 'expireGroups' | 'delete' | 'collide'
  /** the first row whose write this invalidation publishes (it may publish others: every row its groups hold) */
  row: number
  groups: string[]
  keys: string[]
  s: number
  e: number
  /** resolved (true) or rejected (false): a rejected one publishes nothing */
  ok: boolean
  err?: string
  /** expireGroup(s) with { hard: true } (absent: soft, the default) */
  hard?: boolean
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
  /** the groups it stored the value under (absent: the row's default groups) */
  groups?: string[]
  /** the entry's TTL, ms (absent: longer than any run) */
  ttl?: number
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
  /** the groups the returned value was stored under, as the value records them (absent: the row's default groups) */
  groups?: string[]
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
  /** wrap and read: the groups asked for (a hit must be an entry stored under all of them) */
  asked?: string[]
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
  /**
   * the cache's lease, ms: a wrap that finds another process filling its key waits for that fill,
   * two leases at most (then it runs its own function)
   */
  lease: number
}

export interface StaleRead {
  read: ReadRecord
  row: number
  /** the value returned */
  v: number
  /** the value it should have been at least */
  required: number
  /** what published `required` before the read started: a resolved invalidation, or a plain set */
  because: Publisher
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

/**
 * A lost hit: a read missed a key although a set had stored it before the read began, and nothing
 * since could have removed or invalidated that entry: no invalidation attempt of one of its
 * groups or of its key, no other set of the key, no TTL passed.
 */
export interface LostRead {
  read: ReadRecord
  row: number
  /** the set whose entry the read should have found */
  set: SetRecord
}

export interface LateCall {
  record: ReadRecord | InvalidationRecord
  ms: number
  bound: number
}

export interface Latency {
  count: number
  max: number
  p50: number
  p90: number
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
  /** wrap and read hits of a value stored under groups that do not include the ones asked for */
  foreign: number
  /** misses nothing explains (counted only with `lostHits`) */
  lost: number
  staleReads: StaleRead[]
  lostReads: LostRead[]
  phantomReads: PhantomRead[]
  lateCalls: LateCall[]
  wrongWrapCalls: WrongWrap[]
  rejectedReadCalls: ReadRecord[]
  /** per operation, the time spent in the cache (not in the caller's own fill function), ms */
  latency: Record<string, Latency>
  /**
   * fill function calls, and the distinct (row, epoch) pairs they ran in, an epoch of a row being
   * the time between the starts of two invalidations that cover it: their ratio is the herd
   */
  fills: number
  fillEpochs: number
  /** wraps whose own function ran and returned, with no set of its value by that worker during the wrap */
  unstoredFills: number
}

const MS = 1e6
const EXAMPLES = 20

/** What published a requirement: a resolved invalidation, or a plain set that stored (write-through). */
export type Publisher = InvalidationRecord | SetRecord

/** The largest value published for one target (a row's group, or its key), as a step function of time. */
interface Requirement {
  /** times the publishers resolved, ascending */
  at: number[]
  /** at[k]: the largest value published by any publisher that resolved at or before at[k] */
  value: number[]
  /** the publisher and write behind value[k] */
  because: Publisher[]
  write: WriteRecord[]
}

/** -1 when nothing is required. */
function required(req: Requirement | undefined, start: number): number {
  if (req === undefined) return -1
  const k = lastBefore(req.at, start)
  return k < 0 ? -1 : (req.value[k] as number)
}

/** The last index k with list[k] < time, or -1 (list ascending). */
function lastBefore(list: readonly number[], time: number): number {
  let lo = 0
  let hi = list.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if ((list[mid] as number) < time) lo = mid + 1
    else hi = mid
  }
  return lo - 1
}

/**
 * Per target, what a read must return at least (see `checkHistory`). A resolved invalidation
 * publishes, for each group it names and each row that group holds (and for each key it deletes),
 * the largest `v` of a write of that row whose INCR ended before the invalidation began. A plain
 * set that stored publishes its own value for its key: its row has one writer, the one that set
 * it, so nothing older can legitimately replace it (check/worker.ts, writeThrough).
 */
function requirements(
  universe: Universe,
  writes: WriteRecord[],
  invalidations: InvalidationRecord[],
  sets: SetRecord[],
  /** ns: a soft expireGroup(s) requires its values only this long after it resolved (grace) */
  grace = 0,
): Map<string, Requirement> {
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
  type Point = { at: number; value: number; because: Publisher; write: WriteRecord }
  const points = new Map<string, Point[]>()
  const add = (target: string, point: Point) => {
    const list = points.get(target)
    if (list) list.push(point)
    else points.set(target, [point])
  }
  for (const inv of invalidations) {
    if (!inv.ok) continue
    const soft = (inv.op === 'expireGroup' || inv.op === 'expireGroups') && inv.hard !== true
    const at = soft ? inv.e + grace : inv.e
    const publish = (row: number, target: string) => {
      const list = byRow.get(row)
      const k = list ? lastBefore(list.e, inv.s) : -1
      if (!list || k < 0) return
      add(target, { at, value: list.max[k] as number, because: inv, write: list.write[k] as WriteRecord })
    }
    for (const group of inv.groups)
      for (const row of rowsOfGroup(universe, group)) publish(row, groupTarget(row, group))
    for (const key of inv.keys) {
      const row = rowOfKey(universe, key)
      if (row !== undefined) publish(row, keyTarget(row))
    }
  }
  const firstWrittenThrough = universe.keys - (universe.writeThrough ?? 0)
  for (const set of sets) {
    if (set.token || set.out !== 'stored' || set.row < firstWrittenThrough) continue
    if (set.vr !== set.row || typeof set.v !== 'number') continue
    const write = byRow.get(set.row)?.write.find((candidate) => candidate.v === set.v)
    if (write) add(keyTarget(set.row), { at: set.e, value: set.v, because: set, write })
  }
  const out = new Map<string, Requirement>()
  for (const [target, list] of points) {
    list.sort((a, b) => a.at - b.at)
    const req: Requirement = { at: [], value: [], because: [], write: [] }
    let best = list[0] as Point
    for (const point of list) {
      if (point.value > best.value) best = point
      req.at.push(point.at)
      req.value.push(best.value)
      req.because.push(best.because)
      req.write.push(best.write)
    }
    out.set(target, req)
  }
  return out
}

/** The groups a returned value was stored under: as it records them, else the row's defaults. */
function valueGroups(universe: Universe, row: number, groups: unknown): readonly string[] {
  return Array.isArray(groups) && groups.every((group) => typeof group === 'string') ? groups : groupsOf(universe, row)
}

/** Wraps whose function ran and returned a value that no set of the same worker tried to store during the wrap. */
function unstoredFills(reads: ReadRecord[], sets: SetRecord[]): number {
  const setsOf = new Map<string, number[]>()
  for (const set of sets) {
    const key = `${set.w}:${set.row}:${String(set.v)}`
    const list = setsOf.get(key)
    if (list) list.push(set.s)
    else setsOf.set(key, [set.s])
  }
  let count = 0
  for (const read of reads) {
    if (read.op !== 'wrap' || read.err !== undefined) continue
    for (const item of read.items) {
      if (item.out !== 'fill') continue
      const starts = setsOf.get(`${read.w}:${item.row}:${String(item.v)}`) ?? []
      if (!starts.some((s) => s >= read.s && s <= read.e)) count++
    }
  }
  return count
}

/** Per row, the invalidations that cover it: its groups' and its key's. */
function invalidationsByRow(
  universe: Universe,
  invalidations: InvalidationRecord[],
): Map<number, InvalidationRecord[]> {
  const byRow = new Map<number, InvalidationRecord[]>()
  for (const inv of invalidations) {
    const rows = new Set<number>()
    for (const group of inv.groups) for (const row of rowsOfGroup(universe, group)) rows.add(row)
    for (const key of inv.keys) {
      const row = rowOfKey(universe, key)
      if (row !== undefined) rows.add(row)
    }
    for (const row of rows) {
      const list = byRow.get(row)
      if (list) list.push(inv)
      else byRow.set(row, [inv])
    }
  }
  return byRow
}

/** The distinct (row, epoch) pairs of `fills`: a row's epoch is how many invalidations covering it had started. */
function fillEpochs(universe: Universe, fills: FillRecord[], invalidations: InvalidationRecord[]): number {
  const starts = new Map<number, number[]>()
  for (const [row, list] of invalidationsByRow(universe, invalidations)) {
    starts.set(
      row,
      list.map((inv) => inv.s).sort((x, y) => x - y),
    )
  }
  const epochs = new Set<string>()
  for (const fill of fills) epochs.add(`${fill.row}:${lastBefore(starts.get(fill.row) ?? [], fill.s)}`)
  return epochs.size
}

/** Sorted by start, with the longest duration: the records that overlap a window are found from its end back. */
interface ByStart<R extends { s: number; e: number }> {
  list: R[]
  starts: number[]
  longest: number
}

function byStart<R extends { s: number; e: number }>(records: R[]): ByStart<R> {
  const list = [...records].sort((a, b) => a.s - b.s)
  return { list, starts: list.map((r) => r.s), longest: list.reduce((max, r) => Math.max(max, r.e - r.s), 0) }
}

/** Whether some record of `index` other than `not` overlaps (from, to) and satisfies `test`. */
function overlaps<R extends { s: number; e: number }>(
  index: ByStart<R> | undefined,
  from: number,
  to: number,
  test: (record: R) => boolean,
): boolean {
  if (!index) return false
  for (let k = lastBefore(index.starts, to); k >= 0; k--) {
    const record = index.list[k] as R
    if (record.s < from - index.longest) break
    if (record.e > from && test(record)) return true
  }
  return false
}

/**
 * Misses that nothing explains (`LostRead`): for each key a read missed, the last set that stored
 * it before the read began must have been removed by something the log shows. Sound only where
 * nothing else removes entries: no eviction, flush or restart, no failed call (a read that failed
 * open misses), so check/run.ts asks for it only in modes without such faults.
 */
function lostHits(
  universe: Universe,
  reads: ReadRecord[],
  sets: SetRecord[],
  invalidations: InvalidationRecord[],
): LostRead[] {
  /** per row, the sets that stored, by end time */
  const stored = new Map<number, { list: SetRecord[]; ends: number[] }>()
  const setsByRow = new Map<number, SetRecord[]>()
  for (const set of sets) {
    if (set.out === 'refused') continue
    const list = setsByRow.get(set.row)
    if (list) list.push(set)
    else setsByRow.set(set.row, [set])
  }
  for (const [row, list] of setsByRow) {
    const done = list.filter((set) => set.out === 'stored').sort((a, b) => a.e - b.e)
    stored.set(row, { list: done, ends: done.map((set) => set.e) })
  }
  const setIndex = new Map([...setsByRow].map(([row, list]) => [row, byStart(list)]))
  const invByRow = invalidationsByRow(universe, invalidations)
  const invIndex = new Map([...invByRow].map(([row, list]) => [row, byStart(list)]))
  const out: LostRead[] = []
  for (const read of reads) {
    if (read.err !== undefined) continue
    const end = read.re ?? read.e
    for (const item of read.items) {
      if (item.out === 'hit') continue
      const row = item.row
      const done = stored.get(row)
      const k = done ? lastBefore(done.ends, read.s) : -1
      if (!done || k < 0) continue
      const set = done.list[k] as SetRecord
      if (set.ttl !== undefined && end >= set.s + set.ttl * MS) continue
      const groups = valueGroups(universe, row, set.groups)
      // an entry stored under other groups than the read asked for is no hit of that read
      if (read.asked && !read.asked.every((group) => groups.includes(group))) continue
      const key = keyName(row)
      const invalidated = overlaps(
        invIndex.get(row),
        set.s,
        end,
        (inv) =>
          inv.keys.includes(key) ||
          inv.groups.some((g) => groups.includes(g) && rowsOfGroup(universe, g).includes(row)),
      )
      if (invalidated || overlaps(setIndex.get(row), set.s, end, (other) => other !== set)) continue
      out.push({ read, row, set })
    }
  }
  return out
}

function latency(samples: number[]): Latency {
  if (samples.length === 0) return { count: 0, max: 0, p50: 0, p90: 0, p99: 0 }
  const sorted = Float64Array.from(samples).sort()
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * q))] as number
  return { count: samples.length, max: sorted[sorted.length - 1] as number, p50: at(0.5), p90: at(0.9), p99: at(0.99) }
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
  rules: {
    lostHits?: boolean
    /**
     * The caches' grace, ms: a wrap may return a value up to this long after the soft
     * invalidation that made it stale resolved; never after a hard one, a delete or a raw move
     */
    grace?: number
  } = {},
): CheckReport {
  const writes: WriteRecord[] = []
  const invalidations: InvalidationRecord[] = []
  const reads: ReadRecord[] = []
  const sets: SetRecord[] = []
  const drops: DropRecord[] = []
  /** `${w}:${row}:${v}` -> the earliest start of a fill function of worker w that read v */
  const fillStart = new Map<string, number>()
  const fillRecords: FillRecord[] = []
  for (const record of log) {
    if (record.t === 'w') writes.push(record)
    else if (record.t === 'i') invalidations.push(record)
    else if (record.t === 'r') reads.push(record)
    else if (record.t === 's') sets.push(record)
    else if (record.t === 'd') drops.push(record)
    else if (record.t === 'f') {
      fillRecords.push(record)
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
  const reqs = requirements(universe, writes, invalidations, sets)
  const graceful = rules.grace ? requirements(universe, writes, invalidations, sets, rules.grace * MS) : reqs

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
    foreign: 0,
    lost: 0,
    staleReads: [],
    phantomReads: [],
    lateCalls: [],
    wrongWrapCalls: [],
    rejectedReadCalls: [],
    lostReads: [],
    latency: {},
    fills: 0,
    fillEpochs: 0,
    unstoredFills: 0,
  }
  for (const set of sets) report.sets[set.out]++
  report.fills = fillRecords.length
  report.unstoredFills = unstoredFills(reads, sets)
  report.fillEpochs = fillEpochs(universe, fillRecords, invalidations)
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
    // its store, not its own function, or a wait for another's fill: up to two leases of polls,
    // the last of which may take a timeout, then its own function and store.
    const total = (read.e - read.s) / MS
    const own = (read.fn ?? 0) / MS
    if (read.op === 'read') {
      const ms = ((read.re ?? read.e) - read.s) / MS
      sample('read', ms)
      if (limits) late(read, ms, limits.timeout + limits.margin)
    } else if (read.op === 'wrap') {
      const ms = total - own
      sample('wrap', ms)
      if (limits) late(read, ms, 2 * limits.lease + 3 * limits.timeout + limits.fnMax + limits.margin)
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
      if (item.out === 'hit') {
        report.hits++
        const held = valueGroups(universe, item.row, item.groups)
        if (read.asked && !read.asked.every((group) => held.includes(group))) report.foreign++
      } else report.misses++
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
      // The largest requirement of the value's targets: each group it was stored under, and its key.
      let need = -1
      let by: Requirement | undefined
      for (const target of [
        keyTarget(row),
        ...valueGroups(universe, row, item.groups).map((g) => groupTarget(row, g)),
      ]) {
        const req = (read.op === 'wrap' ? graceful : reqs).get(target)
        const value = required(req, read.s)
        if (value > need) {
          need = value
          by = req
        }
      }
      if (v < need && by) {
        report.stale++
        if (report.staleReads.length < EXAMPLES) {
          const k = lastBefore(by.at, read.s)
          report.staleReads.push({
            read,
            row,
            v,
            required: need,
            because: by.because[k] as Publisher,
            write: by.write[k] as WriteRecord,
          })
        }
      }
    }
  }
  if (rules.lostHits) {
    const lost = lostHits(universe, reads, sets, invalidations)
    report.lost = lost.length
    report.lostReads = lost.slice(0, EXAMPLES)
  }
  for (const [name, list] of Object.entries(samples)) report.latency[name] = latency(list)
  return report
}

/** A stale read, for people: what was read, when, and which invalidation made it stale. */
export function describeStale(stale: StaleRead, base = 0): string {
  const t = (ns: number) => `${((ns - base) / MS).toFixed(3)}ms`
  const { read, because, write } = stale
  const what =
    because.t === 's'
      ? `set(key_${because.row}, v=${String(because.v)})`
      : `${because.op}(${JSON.stringify(because.op === 'delete' ? because.keys : because.groups)})`
  return (
    `worker ${read.w} ${read.op} of key_${stale.row} [${t(read.s)}..${t(read.e)}] returned v=${stale.v}, ` +
    `but worker ${write.w} wrote v=${write.v} (INCR ended ${t(write.e)}) and worker ${because.w}'s ` +
    `${what} [${t(because.s)}..${t(because.e)}] resolved before the read started`
  )
}

export function describeLost(lost: LostRead, base = 0): string {
  const t = (ns: number) => `${((ns - base) / MS).toFixed(3)}ms`
  const { read, set } = lost
  return (
    `worker ${read.w} ${read.op} of key_${lost.row} [${t(read.s)}..${t(read.e)}] missed, but worker ${set.w}'s ` +
    `set of v=${String(set.v)} under ${JSON.stringify(set.groups ?? [])} [${t(set.s)}..${t(set.e)}] stored it, ` +
    'and no invalidation, set or TTL since explains its loss'
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
