/**
 * Scenarios 1 and 2: get hit with 0, 1, 3 and 10 groups; set with 3 groups; wrap on a hit;
 * getMany of 100 keys. Every contender reads its own copy of the same 1 KiB values; plain reads
 * them without groups. Each op checks the value it got (its `id`), and the data is read back and
 * compared in full before and after the timed rounds.
 */
import { isDeepStrictEqual } from 'node:util'
import { CONTENDERS, type Contender, type ContenderName } from '../contenders.js'
import { groupsFor, isValueFor, type Value, valueFor } from '../data.js'
import { type Op, type Race, type RaceResult, race } from '../measure.js'
import { serverCpuUs } from '../server.js'
import { type Context, indexes, inParallel } from '../settings.js'

export const GROUP_COUNTS = [0, 1, 3, 10] as const
export const CONCURRENCIES = [1, 64] as const
export const GET_MANY_SIZE = 100
export const GET_MANY_CONCURRENCIES = [1, 16] as const

export interface ThroughputResult {
  races: RaceResult[]
  /** Calls of async-cache-dedupe's defined function answered by its in-process dedupe while timed. */
  acdDedupesDuringWrap: number
}

/** The key each contender reads for index i with n groups; plain has one copy, without groups. */
const keyOf = (name: ContenderName, n: number, i: number) => (name === 'plain' ? `s1:${i}` : `s1:n${n}:${i}`)
const setKey = (i: number) => `s2:set:${i}`

/** get of a key written with n groups. */
const getHit =
  (n: number) =>
  (c: Contender): Op =>
  async (i) =>
    isValueFor(await c.get(keyOf(c.name, n, i)), i)

/**
 * set with 3 groups. `written` keeps the keys each contender set: a round is time-bound, so a slow
 * contender in a short round may not reach every key, and only what it set can be read back.
 */
const set3 =
  (written: Map<string, Set<number>>) =>
  (c: Contender): Op => {
    const mine = written.get(c.name) ?? new Set<number>()
    written.set(c.name, mine)
    return async (i) => {
      await c.set(setKey(i), valueFor(i), groupsFor(i, 3))
      mine.add(i)
      return true
    }
  }

/** wrap of a key that is cached: right only if the function did not run. */
const wrapHit =
  (c: Contender): Op =>
  async (i) => {
    let loaded = false
    const load = () => {
      loaded = true
      return valueFor(i)
    }
    return isValueFor(await c.wrap(keyOf(c.name, 3, i), groupsFor(i, 3), load), i) && !loaded
  }

/** getMany of batch i (100 keys written with 3 groups). */
const getMany =
  (batches: readonly number[][]) =>
  (c: Contender): Op =>
  async (i) => {
    const batch = batches[i] as number[]
    const read = c.getMany as NonNullable<Contender['getMany']>
    const values = await read(batch.map((k) => keyOf(c.name, 3, k)))
    return values.length === batch.length && values.every((value, j) => isValueFor(value, batch[j] as number))
  }

export async function throughput(ctx: Context): Promise<ThroughputResult> {
  const { contenders, settings } = ctx
  const keys = settings.race.keys
  const all = CONTENDERS.map((name) => contenders[name])
  const serverCpu = ctx.server.own ? () => serverCpuUs(ctx.server.admin) : undefined
  const races: RaceResult[] = []
  const run = async (name: string, concurrency: number, among: readonly Contender[], make: (c: Contender) => Op) => {
    const ops: Race['ops'] = Object.fromEntries(among.map((c) => [c.name, make(c)]))
    races.push(await race({ name, concurrency, ops }, settings.race, ctx.log, serverCpu))
  }

  // Every group is expired once before it is written, as in a running system: BentoCache reads a
  // tag that was never invalidated through its lock-and-factory path, which would slow it down.
  const groups = GROUP_COUNTS.flatMap((n) => Array.from({ length: keys }, (_, i) => groupsFor(i, n)).flat())
  await expireAll(all, groups)
  for (const n of GROUP_COUNTS) {
    for (const c of all) {
      await inParallel(indexes(keys), 64, (i) => c.set(keyOf(c.name, n, i), valueFor(i), groupsFor(i, n)))
      await verify(c, indexes(keys), (i) => keyOf(c.name, n, i))
    }
  }

  for (const n of GROUP_COUNTS) {
    for (const concurrency of CONCURRENCIES) await run(`get hit, ${n} groups`, concurrency, all, getHit(n))
  }

  const written = new Map<string, Set<number>>()
  for (const concurrency of CONCURRENCIES) await run('set, 3 groups', concurrency, all, set3(written))
  for (const c of all) await verify(c, [...(written.get(c.name) ?? [])], setKey)

  const dedupesBefore = contenders['async-cache-dedupe'].dedupes()
  for (const concurrency of CONCURRENCIES) await run('wrap hit, 3 groups', concurrency, all, wrapHit)
  const acdDedupesDuringWrap = contenders['async-cache-dedupe'].dedupes() - dedupesBefore

  const batches = Array.from({ length: keys }, (_, i) =>
    Array.from({ length: GET_MANY_SIZE }, (_, j) => (i * GET_MANY_SIZE + j) % keys),
  )
  const batchReaders = all.filter((c) => c.getMany)
  for (const concurrency of GET_MANY_CONCURRENCIES) {
    await run(`getMany ${GET_MANY_SIZE} keys, 3 groups`, concurrency, batchReaders, getMany(batches))
  }

  for (const c of all) {
    await verify(c, indexes(keys), (i) => keyOf(c.name, 3, i))
    const errors = c.swallowedErrors()
    if (errors.length > 0) throw new Error(`${c.name} reported errors: ${errors.slice(0, 3).join('; ')}`)
  }
  return { races, acdDedupesDuringWrap }
}

async function expireAll(contenders: readonly Contender[], groups: readonly string[]): Promise<void> {
  const distinct = [...new Set(groups)]
  for (const c of contenders) {
    const expire = c.expireGroup
    if (expire) await inParallel(distinct, 32, (group) => expire(group))
  }
  // BentoCache compares millisecond timestamps: an entry written in the same ms as an
  // invalidation of one of its tags counts as invalidated.
  await new Promise((resolve) => setTimeout(resolve, 5))
}

/** Reads each key back and compares it in full with what was written. */
async function verify(c: Contender, written: Iterable<number>, key: (i: number) => string): Promise<void> {
  await inParallel(written, 64, async (i) => {
    const got: Value | undefined = await c.get(key(i))
    if (!isDeepStrictEqual(got, valueFor(i))) {
      throw new Error(`${c.name}: ${key(i)} holds ${JSON.stringify(got)?.slice(0, 80)}, not the value written`)
    }
  })
}
