import { readFileSync } from 'node:fs'
import { afterAll, describe, expect, it } from 'vitest'
import { modeNames, modes } from '../check/faults.js'
import {
  type CheckReport,
  checkHistory,
  describeLost,
  describeStale,
  type FillRecord,
  type InvalidationRecord,
  type LogRecord,
  matchLost,
  type ReadRecord,
  type SetRecord,
  type Universe,
  type WriteRecord,
} from '../check/history.js'
import { mutantNames, mutants, mutatedFiles } from '../check/mutants.js'
import { lostEffects, parseCommands } from '../check/replication.js'
import { failures, type ModeResult, passes, runCheck } from '../check/run.js'
import { Keys } from '../src/keys.js'

/**
 * The history checker (check/): its verdicts on hand-made logs, then short real runs: the
 * unmutated cache passes in normal and fault modes, and every mutant of the Lua is caught.
 * Real runs start their own redis-servers (startRedisServer fails with how to provide one).
 */

const U: Universe = { keys: 8, buckets: 4 }
const LIMITS = { timeout: 300, margin: 200, fnMax: 20, lease: 1000 }
const ms = (n: number) => n * 1e6

const write = (row: number, v: number, s: number, e: number): WriteRecord => ({ t: 'w', w: 0, row, v, s, e })
const fill = (row: number, v: number, s: number, w = 0): FillRecord => ({ t: 'f', w, row, v, s, e: s + 1 })
/** A set of `{ row, v }` to key_<row> over [s, e]: a fill's token set unless `token` is false. */
const store = (
  row: number,
  v: number,
  s: number,
  e = s + 1,
  out: SetRecord['out'] = 'stored',
  token = true,
): SetRecord => ({
  t: 's',
  w: 3,
  row,
  vr: row,
  v,
  token,
  s,
  e,
  out,
})
const invalidate = (
  what: { groups?: string[]; keys?: string[] },
  s: number,
  e: number,
  ok = true,
): InvalidationRecord => ({
  t: 'i',
  w: 1,
  op: what.keys ? 'delete' : (what.groups?.length ?? 0) > 1 ? 'expireGroups' : 'expireGroup',
  row: 0,
  groups: what.groups ?? [],
  keys: what.keys ?? [],
  s,
  e,
  ok,
})
const get = (row: number, v: number | undefined, s: number, e = s + 1): ReadRecord => ({
  t: 'r',
  w: 2,
  op: 'get',
  s,
  e,
  items: [v === undefined ? { row, out: 'miss' } : { row, out: 'hit', vr: row, v }],
})

/** Row 0 goes 0 -> 1 (INCR over [0, 10]), its 0 read and stored before; whatever the test adds; final row values. */
function check(records: LogRecord[], finalRows = [1, 0, 0, 0, 0, 0, 0, 0]): CheckReport {
  return checkHistory(U, [fill(0, 0, -5), store(0, 0, -4), write(0, 1, 0, 10), ...records], finalRows, LIMITS)
}

describe('checkHistory on hand-made logs', () => {
  it('reports a read that started after the invalidation resolved and returned the old value', () => {
    const report = check([invalidate({ groups: ['row_0'] }, 11, 20), get(0, 0, 30)])
    expect(report.stale).toBe(1)
    expect(report.staleReads[0]).toMatchObject({ row: 0, v: 0, required: 1 })
    expect(report.phantom).toBe(0)
  })

  it('does not report a read of the new value, a miss, or a read of another row', () => {
    const report = check([
      fill(0, 1, 12),
      store(0, 1, 13),
      invalidate({ groups: ['row_0'] }, 11, 20),
      get(0, 1, 30),
      get(0, undefined, 31),
      store(1, 0, 25),
      get(1, 0, 32),
    ])
    expect(report.stale).toBe(0)
    expect(report.phantom).toBe(0)
    expect(report.hits).toBe(2)
    expect(report.misses).toBe(1)
  })

  it('does not report a read concurrent with the invalidation (it started before it resolved)', () => {
    const report = check([invalidate({ groups: ['row_0'] }, 11, 20), get(0, 0, 19, 40)])
    expect(report.stale).toBe(0)
  })

  it('does not count a rejected invalidation, nor one that began before the INCR returned', () => {
    expect(check([invalidate({ groups: ['row_0'] }, 11, 20, false), get(0, 0, 30)]).stale).toBe(0)
    expect(check([invalidate({ groups: ['row_0'] }, 9, 20), get(0, 0, 30)]).stale).toBe(0)
  })

  it('knows what covers a key: its bucket, a delete, expireGroups naming one; not another row or bucket', () => {
    // row 5 is in bucket 1 (5 % 4); the write is to row 5 here
    const base: LogRecord[] = [fill(5, 0, -5), store(5, 0, -4), write(5, 1, 0, 10)]
    const final = [0, 0, 0, 0, 0, 1, 0, 0]
    const stale = (inv: InvalidationRecord) => checkHistory(U, [...base, inv, get(5, 0, 30)], final, LIMITS).stale
    expect(stale(invalidate({ groups: ['bucket_1'] }, 11, 20))).toBe(1)
    expect(stale(invalidate({ keys: ['key_5'] }, 11, 20))).toBe(1)
    expect(stale(invalidate({ groups: ['row_2', 'bucket_1'] }, 11, 20))).toBe(1)
    expect(stale(invalidate({ groups: ['bucket_2'] }, 11, 20))).toBe(0)
    expect(stale(invalidate({ groups: ['row_1'] }, 11, 20))).toBe(0)
    expect(stale(invalidate({ keys: ['key_1'] }, 11, 20))).toBe(0)
  })

  it('takes the largest value published before the read, whichever write and invalidation published it', () => {
    const report = check(
      [
        fill(0, 1, 12),
        store(0, 1, 13),
        write(0, 2, 40, 50),
        write(0, 3, 55, 60),
        // a bucket invalidation by another writer publishes v=3 (its INCR ended before it began)
        invalidate({ groups: ['bucket_0'] }, 61, 70),
        get(0, 1, 80),
        get(0, 1, 65), // concurrent with it: only v=1... which nobody published yet either
      ],
      [3, 0, 0, 0, 0, 0, 0, 0],
    )
    expect(report.stale).toBe(1)
    expect(report.staleReads[0]).toMatchObject({ v: 1, required: 3 })
  })

  it('reports phantom reads: a value no set stored, above the final value, or for another row', () => {
    const phantom = (item: ReadRecord['items'][number]) =>
      check([{ ...get(0, 0, 30), items: [item] }], [5, 0, 0, 0, 0, 0, 0, 0]).phantomReads.map((p) => p.why)
    expect(phantom({ row: 0, out: 'hit', vr: 0, v: 4 })).toEqual([expect.stringMatching(/no set of v=4/)])
    expect(phantom({ row: 0, out: 'hit', vr: 0, v: 9 })).toEqual([expect.stringMatching(/above the row's final/)])
    expect(phantom({ row: 0, out: 'hit', vr: 3, v: 0 })).toEqual([expect.stringMatching(/for row 3/)])
    expect(phantom({ row: 0, out: 'hit', vr: 0, v: 'x' })).toEqual([expect.stringMatching(/not a count/)])
    expect(phantom({ row: 0, out: 'hit', vr: 0, v: 0 })).toEqual([])
  })

  it('reports reads slower than the timeout, not counting the time in their own fill function', () => {
    const wrap: ReadRecord = {
      ...get(0, 0, 0, ms(700)),
      op: 'wrap',
      fn: ms(600),
      items: [{ row: 0, out: 'fill', vr: 0, v: 0 }],
    }
    expect(check([get(0, 0, 0, ms(400)), wrap]).late).toBe(0)
    const report = check([get(0, 0, 0, ms(600))])
    expect(report.late).toBe(1)
    expect(report.lateCalls[0]?.bound).toBe(500)
  })
  it("allows a wrap to wait up to two leases for other processes' fills, and no longer", () => {
    const wrap = (total: number): ReadRecord => ({ ...get(0, 0, 0, ms(total)), op: 'wrap' })
    // 2 leases of 1000 + 3 timeouts of 300 (its read, the last poll, its set) + fnMax 20 + margin 200
    expect(check([wrap(3100)]).late).toBe(0)
    expect(check([wrap(3200)]).lateCalls[0]?.bound).toBe(3120)
  })

  it('reports a get, getMany or wrap that rejected (they fail open); read() may reject', () => {
    const failed = (op: ReadRecord['op']): ReadRecord => ({ ...get(0, 0, 30), op, items: [], err: 'E_TIMEOUT' })
    const report = check([failed('get'), failed('getMany'), failed('wrap'), failed('read')])
    expect(report.rejectedReads).toBe(3)
    expect(report.rejectedCalls).toBe(4)
  })

  it('reports an invalidation that resolved later than the timeout plus the margin; a rejection in time is fine', () => {
    const inv = (e: number, ok: boolean) => invalidate({ groups: ['row_0'] }, 0, e, ok)
    const report = check([inv(ms(600), true), inv(ms(400), true), inv(ms(450), false)])
    expect(report.late).toBe(1)
    expect(report.lateCalls[0]).toMatchObject({ record: { ok: true }, bound: 500 })
    // a rejection after the bound is late too (it waited for a paused server instead of timing out)
    expect(check([inv(ms(700), false)]).late).toBe(1)
    // with waitForReplicas the bound is the mode's invalidation bound
    const waiting = checkHistory(U, [inv(ms(700), true)], [0], { ...LIMITS, invalidation: 800 })
    expect(waiting.late).toBe(0)
  })

  it("reports a wrap whose function ran but that returned something else than the function's value", () => {
    const wrap = (item: ReadRecord['items'][number]): ReadRecord => ({ ...get(0, 0, 30), op: 'wrap', items: [item] })
    const report = check([
      fill(0, 1, 12),
      wrap({ row: 0, out: 'fill', vr: 0, v: 1, fn: { vr: 0, v: 1 } }), // what it returned
      wrap({ row: 0, out: 'fill', vr: 0, v: 0, fn: { vr: 0, v: 1 } }), // a cached value instead
      wrap({ row: 0, out: 'fill', fn: { vr: 0, v: 1 } }), // undefined instead
    ])
    expect(report.wrongWraps).toBe(2)
    expect(report.wrongWrapCalls.map((wrong) => wrong.item.v)).toEqual([0, undefined])
    expect(report.phantom).toBe(0)
    expect(report.misses).toBe(3)
    expect(report.hits).toBe(0)
  })

  it('a hit is legitimate only if a set that may have stored its value started before the hit ended', () => {
    // row 0's v=1: hits over [30, 40]; final value 1
    const hit = get(0, 1, 30, 40)
    const verdict = (...records: LogRecord[]) => {
      const report = check([...records, hit])
      return report.phantom === 0 ? 'ok' : (report.phantomReads[0]?.why ?? '')
    }
    expect(verdict(store(0, 1, 20, 25))).toBe('ok') // stored before
    expect(verdict(store(0, 1, 35, 60))).toBe('ok') // in flight when the hit ended: it may have been applied
    expect(verdict(store(0, 1, 20, 25, 'error'))).toBe('ok') // rejected or timed out: it may have been applied
    expect(verdict(store(0, 1, 20, 25, 'stored', false))).toBe('ok') // a plain set
    expect(verdict({ ...store(0, 1, 20, 25), w: 9 })).toBe('ok') // any worker's
    // a fill that read v=1 is not enough: something must have stored it
    expect(verdict(fill(0, 1, 12))).toMatch(/no set of v=1/)
    expect(verdict(store(0, 1, 40, 41))).toMatch(/started after the read ended/)
    expect(verdict(store(0, 1, 20, 25, 'refused'))).toMatch(/resolved false/)
    // unless a fault dropped its connection meanwhile: ioredis resent it, and the resend was refused
    const drop = (s: number, e: number): LogRecord => ({ t: 'd', fault: 'client kill', s, e })
    expect(verdict(store(0, 1, 20, 25, 'refused'), drop(22, 23))).toBe('ok')
    expect(verdict(store(0, 1, 20, 25, 'refused'), drop(26, 27))).toMatch(/resolved false/)
    expect(verdict(store(1, 1, 20, 25))).toMatch(/no set of v=1/) // another key's
    expect(verdict({ ...store(0, 1, 20, 25), vr: 1 })).toMatch(/no set of v=1/) // another row's value
  })

  it('v=0 is no exception: a row starts at 0, but only a set puts 0 in the cache', () => {
    const zero = get(1, 0, 30)
    const without = checkHistory(U, [fill(1, 0, 5), zero], [1, 0, 0, 0, 0, 0, 0, 0], LIMITS)
    expect(without.phantomReads.map((p) => p.why)).toEqual([expect.stringMatching(/no set of v=0/)])
    const stored = checkHistory(U, [fill(1, 0, 5), store(1, 0, 6), zero], [1, 0, 0, 0, 0, 0, 0, 0], LIMITS)
    expect(stored.phantom).toBe(0)
  })

  it("a wrap that shared another caller's function needs a fill of v in its own worker before it ended", () => {
    const shared: ReadRecord = {
      ...get(0, 1, 30, 40),
      w: 2,
      op: 'wrap',
      items: [{ row: 0, out: 'shared', vr: 0, v: 1 }],
    }
    const why = (...records: LogRecord[]) => check([...records, shared]).phantomReads.map((p) => p.why)
    expect(why(fill(0, 1, 35, 2))).toEqual([])
    expect(why(fill(0, 1, 35, 1))).toEqual([expect.stringMatching(/no fill function of worker 2/)])
    expect(why(fill(0, 1, 41, 2))).toEqual([expect.stringMatching(/no fill function of worker 2/)])
    const report = check([fill(0, 1, 35, 2), shared])
    expect({ hits: report.hits, misses: report.misses, shared: report.shared }).toEqual({
      hits: 0,
      misses: 1,
      shared: 1,
    })
  })
})

describe('checkHistory: groups, write-through and lost hits', () => {
  it('an invalidation of several groups publishes the rows of every group it names, not only the first', () => {
    const log: LogRecord[] = [
      fill(0, 0, -5),
      store(0, 0, -4),
      fill(5, 0, -5),
      store(5, 0, -4),
      write(0, 1, 0, 10),
      write(5, 1, 0, 10),
      invalidate({ groups: ['row_0', 'row_5'] }, 11, 20),
      get(0, 0, 30),
      get(5, 0, 31),
    ]
    const report = checkHistory(U, log, [1, 0, 0, 0, 0, 1, 0, 0], LIMITS)
    expect(report.staleReads.map((stale) => stale.row)).toEqual([0, 5])
  })

  it("holds a value to its own groups: one stored under alt_<i> is stale after alt_<i>'s invalidation, not row_<i>'s", () => {
    const moving: Universe = { ...U, moveGroups: true }
    const alt = ['alt_0', 'bucket_0']
    const hit = (s: number): ReadRecord => ({
      ...get(0, 0, s),
      items: [{ row: 0, out: 'hit', vr: 0, v: 0, groups: alt }],
    })
    const stale = (group: string) =>
      checkHistory(
        moving,
        [
          fill(0, 0, -5),
          { ...store(0, 0, -4), groups: alt },
          write(0, 1, 0, 10),
          invalidate({ groups: [group] }, 11, 20),
          hit(30),
        ],
        [1, 0, 0, 0, 0, 0, 0, 0],
        LIMITS,
      ).stale
    expect(stale('row_0')).toBe(0)
    expect(stale('alt_0')).toBe(1)
    expect(stale('bucket_0')).toBe(1)
    // a value that records no groups has the row's defaults
    expect(check([invalidate({ groups: ['row_0'] }, 11, 20), get(0, 0, 30)]).stale).toBe(1)
  })

  it('a plain set that stored publishes its value for a written-through row (one writer), and only there', () => {
    const through: Universe = { ...U, writeThrough: 2 }
    const log = (row: number): LogRecord[] => [
      fill(row, 0, -5),
      store(row, 0, -4),
      write(row, 1, 0, 10),
      store(row, 1, 11, 20, 'stored', false),
      get(row, 0, 30),
    ]
    const final = [1, 1, 1, 1, 1, 1, 1, 1]
    expect(checkHistory(through, log(7), final, LIMITS).stale).toBe(1)
    expect(checkHistory(through, log(7), final, LIMITS).staleReads[0]?.because).toMatchObject({ t: 's', v: 1 })
    expect(checkHistory(through, log(3), final, LIMITS).stale).toBe(0)
    // a refused or failed plain set publishes nothing
    const failed: LogRecord[] = [...log(7).slice(0, 3), store(7, 1, 11, 20, 'error', false), get(7, 0, 30)]
    expect(checkHistory(through, failed, final, LIMITS).stale).toBe(0)
  })

  describe('lost hits: a miss nothing explains', () => {
    const lost = (...records: LogRecord[]) =>
      checkHistory(U, [fill(1, 0, -5), store(1, 0, -4), ...records], [0, 0, 0, 0, 0, 0, 0, 0], LIMITS, {
        lostHits: true,
      })
    const miss = (s: number) => get(1, undefined, s)

    it('reports a miss after a set stored the key, with nothing since', () => {
      const report = lost(miss(10))
      expect(report.lost).toBe(1)
      expect(report.lostReads[0]).toMatchObject({ row: 1, set: { v: 0 } })
    })

    it('is explained by an invalidation of one of its groups or of its key, resolved or not, that may have run after the set', () => {
      expect(lost(invalidate({ groups: ['row_1'] }, 5, 6), miss(10)).lost).toBe(0)
      expect(lost(invalidate({ groups: ['bucket_1'] }, 5, 6, false), miss(10)).lost).toBe(0)
      expect(lost(invalidate({ keys: ['key_1'] }, -5, 6), miss(10)).lost).toBe(0)
      // before the set began, or of another row: no explanation
      expect(lost(invalidate({ groups: ['row_1'] }, -9, -6), miss(10)).lost).toBe(1)
      expect(lost(invalidate({ groups: ['row_2'] }, 5, 6), miss(10)).lost).toBe(1)
    })

    it('is explained by another set of the key in between, or by the TTL the set gave the entry', () => {
      expect(lost(store(1, 0, 5, 6, 'error'), miss(10)).lost).toBe(0)
      expect(lost(store(1, 0, 5, 6, 'refused'), miss(10)).lost).toBe(1)
      expect(lost({ ...store(1, 0, 0, 1), ttl: 5 }, miss(ms(6))).lost).toBe(0)
      expect(lost({ ...store(1, 0, 0, 1), ttl: 5 }, miss(ms(4))).lost).toBe(1)
    })

    it('is not counted for a read that rejected, nor without the rule', () => {
      expect(lost({ ...miss(10), err: 'E_REDIS' }).lost).toBe(0)
      expect(checkHistory(U, [fill(1, 0, -5), store(1, 0, -4), miss(10)], [0], LIMITS).lost).toBe(0)
    })
  })
})

describe('checkHistory: grace and herds', () => {
  const graced = (records: LogRecord[]) =>
    checkHistory(
      U,
      [fill(0, 0, -5), store(0, 0, -4), write(0, 1, 0, 10), ...records],
      [1, 0, 0, 0, 0, 0, 0, 0],
      LIMITS,
      {
        grace: 40,
      },
    )
  const wrapHit = (v: number, s: number): ReadRecord => ({ ...get(0, v, s), op: 'wrap' })

  it('lets a wrap return a value up to grace after the soft invalidation that made it stale, and no later', () => {
    expect(graced([invalidate({ groups: ['row_0'] }, ms(11), ms(20)), wrapHit(0, ms(50))]).stale).toBe(0)
    expect(graced([invalidate({ groups: ['row_0'] }, ms(11), ms(20)), wrapHit(0, ms(61))]).stale).toBe(1)
  })

  it('gives no grace after a hard invalidation or a delete, nor to get', () => {
    const hard = { ...invalidate({ groups: ['row_0'] }, ms(11), ms(20)), hard: true }
    expect(graced([hard, wrapHit(0, ms(30))]).stale).toBe(1)
    expect(graced([invalidate({ keys: ['key_0'] }, ms(11), ms(20)), wrapHit(0, ms(30))]).stale).toBe(1)
    expect(graced([invalidate({ groups: ['row_0'] }, ms(11), ms(20)), get(0, 0, ms(30))]).stale).toBe(1)
  })

  it('reports a wrap or read hit of a value stored outside the groups it asked for', () => {
    const hit = (groups: string[]): ReadRecord => ({
      ...get(0, 0, 30),
      op: 'wrap',
      asked: ['row_0'],
      items: [{ row: 0, out: 'hit', vr: 0, v: 0, groups }],
    })
    expect(check([hit(['row_0', 'bucket_0'])]).foreign).toBe(0)
    expect(check([hit(['alt_0', 'bucket_0'])]).foreign).toBe(1)
  })

  it('counts fill calls per (row, invalidation) and wrap fills that stored nothing', () => {
    const wrapFill = (v: number, s: number, e: number): ReadRecord => ({
      ...get(0, v, s, e),
      op: 'wrap',
      w: 3,
      items: [{ row: 0, out: 'fill', vr: 0, v, fn: { vr: 0, v } }],
    })
    const report = check([
      invalidate({ groups: ['row_0'] }, 11, 20),
      fill(0, 1, 25),
      fill(0, 1, 26, 1),
      invalidate({ groups: ['bucket_0'] }, 30, 40),
      fill(0, 1, 45),
      wrapFill(1, 24, 60),
      store(0, 1, 50),
      wrapFill(1, 70, 80),
    ])
    // before the first invalidation, between the two, after the second
    expect(report.fills).toBe(4)
    expect(report.fillEpochs).toBe(3)
    expect(report.unstoredFills).toBe(1)
  })
})

describe('mode verdicts', () => {
  /** A sound report: a hit, a miss, a resolved invalidation; `extra` adds to its log. */
  const sound = (...extra: LogRecord[]) =>
    check([
      fill(0, 1, 12),
      store(0, 1, 13),
      invalidate({ groups: ['row_0'] }, 11, 20),
      get(0, 1, 30),
      get(0, undefined, 31),
      ...extra,
    ])
  const mode = (name: string) => {
    const found = modes[name]
    if (!found) throw new Error(name)
    return found
  }
  const quiet = { errorEvents: 0, faults: {} }

  it('passes a sound run of normal', () => {
    expect(failures(sound(), mode('normal'), quiet)).toEqual([])
  })

  it('fails a mode whose faults explain no error on any error event or rejected call; a fault mode may have them', () => {
    const noErrors = ['normal', 'maxmemory', 'evict', 'evict-versions', 'long-fill', 'move-groups', 'write-through']
    const faults = { 'some fault': 1 }
    const rejected = sound(invalidate({ groups: ['row_1'] }, 40, 50, false))
    for (const name of noErrors) {
      expect(mode(name).failsCalls, name).toBeUndefined()
      expect(failures(sound(), mode(name), { errorEvents: 1, faults }), name).toEqual([
        expect.stringMatching(/1 errors \(1 error events, 0 rejected calls\)/),
      ])
      expect(failures(rejected, mode(name), { errorEvents: 0, faults }), name).toEqual([
        expect.stringMatching(/1 errors \(0 error events, 1 rejected calls\)/),
      ])
    }
    for (const name of ['kill', 'flush', 'client-kill', 'pause', 'slow', 'failover', 'failover-wait']) {
      expect(failures(rejected, mode(name), { errorEvents: 5, faults }), name).toEqual([])
    }
  })

  it('fails a run with no hits, no misses or no resolved invalidations', () => {
    const noHits = check([invalidate({ groups: ['row_0'] }, 11, 20), get(0, undefined, 31)])
    const noMisses = check([invalidate({ groups: ['row_0'] }, 11, 20), get(0, 0, 5)])
    const noInvalidations = check([get(0, 0, 5), get(0, undefined, 31)])
    expect(failures(noHits, mode('normal'), quiet)).toEqual(['no hits'])
    expect(failures(noMisses, mode('normal'), quiet)).toEqual(['no misses'])
    expect(failures(noInvalidations, mode('normal'), quiet)).toEqual(['no resolved invalidations'])
    // a measurement mode too: a failover run that exercised nothing measured nothing
    expect(failures(noHits, mode('failover'), { errorEvents: 0, faults: { failover: 1 } })).toEqual(['no hits'])
  })

  it('fails a fault mode that injected no fault; the workload modes inject none', () => {
    const workloads = ['normal', 'move-groups', 'late-groups', 'write-through', 'herd', 'grace']
    for (const name of modeNames().filter((name) => !workloads.includes(name))) {
      expect(failures(sound(), mode(name), quiet), name).toEqual(['no fault injected'])
      expect(failures(sound(), mode(name), { errorEvents: 0, faults: { x: 0 } }), name).toEqual(['no fault injected'])
      expect(failures(sound(), mode(name), { errorEvents: 0, faults: { x: 2 } }), name).toEqual([])
    }
    for (const name of workloads) expect(failures(sound(), mode(name), quiet), name).toEqual([])
  })

  it('fails a herd mode on more than 1.5 fill calls per (key, invalidation), unstored fills or long waits', () => {
    const facts = { errorEvents: 0, faults: {} }
    const herd = (fields: Partial<CheckReport>) => failures({ ...sound(), ...fields }, mode('herd'), facts)
    expect(herd({ fills: 15, fillEpochs: 10 })).toEqual([])
    expect(herd({ fills: 16, fillEpochs: 10 })).toEqual(['1.60 fill function calls per (key, invalidation): a herd'])
    expect(herd({ fills: 100, fillEpochs: 100, unstoredFills: 6 })).toEqual([
      '6 of 100 wrap fills not stored: a herd of waits that outlived a lease',
    ])
    const waits = { count: 10, max: 1500, p50: 10, p90: 1100, p99: 1500 }
    expect(herd({ latency: { wrap: waits } })).toEqual([
      'wraps waited 1100 ms at p90, over half the lease (2000 ms): a herd of waits',
    ])
    // the rules are a herd mode's only
    expect(failures({ ...sound(), fills: 16, fillEpochs: 10 }, mode('normal'), facts)).toEqual([])
  })

  it('fails every mode on a late call or a wrong wrap, and names each reason', () => {
    const bad = sound(get(0, 1, 50, ms(600)), {
      ...get(0, 0, 60),
      op: 'wrap',
      items: [{ row: 0, out: 'fill', vr: 0, v: 0, fn: { vr: 0, v: 1 } }],
    })
    const reasons = failures(bad, mode('failover'), { errorEvents: 0, faults: { failover: 1 } })
    expect(reasons).toEqual(['1 late calls', "1 wraps that did not return their function's value"])
  })
})

describe('failovers: what the old primary applied and the promoted replica never got', () => {
  const resp = (...commands: string[][]) =>
    Buffer.from(
      commands
        .map((args) => `*${args.length}\r\n${args.map((arg) => `$${Buffer.byteLength(arg)}\r\n${arg}\r\n`).join('')}`)
        .join(''),
    )
  const ns = (rest: string) => `rgc:{n}:${rest}`

  it('splits a replication stream into commands with their end offsets, leaving an incomplete tail', () => {
    const data = resp(['INCR', ns('g:a')], ['DEL', ns('e:k')])
    const { commands, used } = parseCommands(Buffer.concat([data, Buffer.from('*2\r\n$3\r\nDEL')]), 100)
    expect(commands.map((command) => command.args)).toEqual([
      ['INCR', ns('g:a')],
      ['DEL', ns('e:k')],
    ])
    expect(used).toBe(data.length)
    expect(commands[1]?.end).toBe(100 + data.length)
  })

  it("picks out the script calls that invalidate: a version INCR, a generation moved or created; not a read's miss", () => {
    const { commands } = parseCommands(
      resp(
        ['MULTI'],
        ['INCR', ns('g:a')],
        ['INCR', ns('g:b')],
        ['EXEC'],
        ['MULTI'],
        ['DEL', ns('e:k')],
        ['INCR', ns('t:k')],
        ['PEXPIREAT', ns('t:k'), '1'],
        ['EXEC'],
        ['SET', ns('t:j'), '17', 'PXAT', '1'], // a delete with no generation, or a read's miss
        ['MULTI'],
        ['SET', ns('t:m'), '17', 'PXAT', '1'],
        ['SET', ns('g:a'), '18', 'PXAT', '1'], // a read's miss: it also created a version
        ['EXEC'],
        ['INCR', 'rgc:{other}:g:a'],
        ['SET', ns('e:x'), '1;1:av'],
      ),
      0,
    )
    expect(lostEffects(commands, new Keys('rgc', 'n'))).toEqual([
      { groups: ['a', 'b'] },
      { groups: [], deleted: 'k' },
      { groups: [], created: 'j' },
    ])
  })

  it('matches lost effects to the attempts that made them, and counts those their writer saw resolve', () => {
    const attempt = (op: InvalidationRecord['op'], target: string[], s: number, e: number, ok = true) =>
      ({ ...invalidate(op === 'delete' ? { keys: target } : { groups: target }, s, e, ok), op }) as InvalidationRecord
    const log: LogRecord[] = [
      attempt('expireGroup', ['a'], ms(10), ms(11)), // lost and resolved by the old primary
      attempt('expireGroups', ['b', 'c'], ms(12), ms(40)), // lost, resolved after the switch
      attempt('delete', ['key_1'], ms(13), ms(14), false), // lost, rejected
      attempt('expireGroup', ['d'], ms(-2000), ms(-1999)), // long before: not the lost one
    ]
    const lost = matchLost(log, [
      {
        at: ms(15),
        switched: ms(20),
        lost: [
          { groups: ['a'] },
          { groups: ['c'] },
          { groups: [], deleted: 'key_1' },
          { groups: [], created: 'key_2' }, // a read's miss
          { groups: ['d'] }, // no attempt in flight accounts for it
        ],
      },
    ])
    expect(lost).toMatchObject({ lost: 3, resolved: 1, unmatched: 1 })
    expect(lost.resolvedExamples.map((inv) => inv.groups)).toEqual([['a']])
  })

  it('a lost generation creation matched to a resolved delete is ambiguous (a read miss leaves the same effect), not a lost resolved delete', () => {
    const attempt = { ...invalidate({ keys: ['key_3'] }, ms(10), ms(11), true), op: 'delete' } as InvalidationRecord
    const lost = matchLost([attempt], [{ at: ms(15), switched: ms(20), lost: [{ groups: [], created: 'key_3' }] }])
    expect(lost).toMatchObject({ lost: 1, resolved: 0, ambiguous: 1, unmatched: 0 })
    const moved = matchLost([attempt], [{ at: ms(15), switched: ms(20), lost: [{ groups: [], deleted: 'key_3' }] }])
    expect(moved).toMatchObject({ lost: 1, resolved: 1, ambiguous: 0 })
  })

  it('a measurement mode reports stale reads without failing; phantom reads fail every mode', () => {
    const report = check([invalidate({ groups: ['row_0'] }, 11, 20), get(0, 0, 30), get(0, undefined, 31)])
    expect(report.stale).toBe(1)
    const failover = modes.failover
    expect(failover?.measures).toBeDefined()
    const facts = { errorEvents: 3, faults: { failover: 2 } }
    expect(passes(report, failover as NonNullable<typeof failover>, facts)).toBe(true)
    expect(passes(report, modes['failover-wait'] as NonNullable<typeof failover>, facts)).toBe(false)
    const phantom = check([{ ...get(0, 0, 30), items: [{ row: 0, out: 'hit', vr: 0, v: 7 }] }])
    expect(passes(phantom, failover as NonNullable<typeof failover>, facts)).toBe(false)
  })
})

describe('mutants', () => {
  it('each edit finds its target text, once, in the current code, and changes the file it names', () => {
    for (const name of mutantNames()) {
      const files = mutatedFiles(name)
      for (const { file } of mutants[name]?.edits ?? []) {
        expect(files.get(file), `${name}: ${file}`).toBeDefined()
        expect(files.get(file), `${name}: ${file}`).not.toBe(
          readFileSync(new URL(`../${file}`, import.meta.url), 'utf8'),
        )
      }
    }
  })

  it('refuses an edit whose target is missing', () => {
    expect(() => mutatedFiles('no-compare', '/nonexistent')).toThrow()
  })
})

/**
 * Short real runs: 2 workers, a few seconds each, the cache's timeout at its default 300 ms.
 * MARGIN is the slack on top of each latency bound (a read: timeout + MARGIN): reads under
 * pause and slow take the timeout and a few ms; the rest covers other test files sharing the CPU.
 */
const MARGIN = 100
const TIMEOUT = 300
const RUN = { workers: 2, margin: MARGIN, print: () => {} }

function summary(result: ModeResult): string {
  const r = result.report
  return r
    ? `${result.mode}${result.mutant ? `/${result.mutant}` : ''}: ${r.operations} ops, ${r.hits} hits, ${r.misses} misses, ` +
        `${r.invalidations} invalidations, stale ${r.stale}, lost ${r.lost}, phantom ${r.phantom}, late ${r.late}, wrong wraps ${r.wrongWraps}, ` +
        `errors ${result.errorEvents}+${r.rejectedCalls} ${JSON.stringify(result.errorCodes)}, faults ${JSON.stringify(result.faults)}, ` +
        `slowest read ${slowestRead(result).toFixed(0)} ms; failures: ${JSON.stringify(result.failures)}` +
        [
          ...r.staleReads.slice(0, 3).map((stale) => `\n  stale: ${describeStale(stale)}`),
          ...r.lostReads.slice(0, 3).map((lost) => `\n  lost: ${describeLost(lost)}`),
        ].join('')
    : `${result.mode}: refused: ${result.refused}`
}

function slowestRead(result: ModeResult): number {
  const latency = result.report?.latency ?? {}
  return Math.max(0, ...['get', 'getMany', 'read'].map((op) => latency[op]?.max ?? 0))
}

/** The slowest read of every passing real run, against its bound: printed once, to tune MARGIN by. */
const slowest: { mode: string; read: number; invalidate: number; invalidationBound: number }[] = []
afterAll(() => {
  if (slowest.length === 0) return
  const worst = slowest.reduce((a, b) => (b.read > a.read ? b : a))
  const inv = slowest.reduce((a, b) =>
    b.invalidate - b.invalidationBound > a.invalidate - a.invalidationBound ? b : a,
  )
  console.log(
    `checker real runs: slowest read ${worst.read.toFixed(0)} ms (${worst.mode}) against a bound of ` +
      `${TIMEOUT + MARGIN} ms (timeout ${TIMEOUT} + margin ${MARGIN}); closest invalidation ` +
      `${inv.invalidate.toFixed(0)} ms (${inv.mode}) against ${inv.invalidationBound} ms`,
  )
})

/** The run passed every rule (check/run.ts `failures`), with some volume. */
function expectSound(
  result: ModeResult | undefined,
  minimum = 1000,
): asserts result is ModeResult & { report: CheckReport } {
  expect(result?.report, result && summary(result)).toBeDefined()
  if (!result?.report) throw new Error('no report')
  const wait = modes[result.mode]?.worker?.waitForReplicas
  slowest.push({
    mode: result.mode,
    read: slowestRead(result),
    invalidate: result.report.latency.invalidate?.max ?? 0,
    // as check/run.ts bounds them: with WAIT, the script, the WAIT and the cache's timeout
    invalidationBound: (wait ? 2 * TIMEOUT + wait.timeout : TIMEOUT) + MARGIN,
  })
  expect(result.failures, summary(result)).toEqual([])
  expect(result.passed, summary(result)).toBe(true)
  expect(result.report.operations, summary(result)).toBeGreaterThan(minimum)
}

describe('real runs', () => {
  it('normal and kill: every rule holds, and kill surfaces errors', async () => {
    const [normal, kill] = await runCheck({ ...RUN, modes: ['normal', 'kill'], seconds: 2.5 })
    expectSound(normal)
    expectSound(kill)
    expect(kill.faults.kill, summary(kill)).toBeGreaterThan(0)
    expect(kill.errorEvents + kill.report.rejectedCalls, summary(kill)).toBeGreaterThan(0)
  }, 60_000)

  // pause: its first SIGSTOP comes 1-2 s in; the others inject from the start
  it.each([
    ['maxmemory', 2],
    ['flush', 2],
    ['client-kill', 2],
    ['pause', 3],
    ['evict-versions', 2],
    ['move-groups', 2],
    ['late-groups', 3],
    ['write-through', 2],
    ['herd', 3],
    ['grace', 3],
    // its holder is a process of its own, started with tsx: under load it can take seconds to start
    ['dead-holder', 6],
    ['near-client-kill', 3],
  ] as const)(
    '%s: every rule holds under the fault (%d s)',
    async (mode, seconds) => {
      const [result] = await runCheck({ ...RUN, modes: [mode], seconds })
      expectSound(result)
    },
    60_000,
  )

  it('failover-wait: no stale or phantom read across failovers that lose invalidations in flight', async () => {
    // A replica 2 ms away: each failover loses what was on the link, invalidations whose WAIT was
    // pending among them; the new primary soon has a replica that would answer a resent WAIT.
    const [result] = await runCheck({ ...RUN, modes: ['failover-wait'], seconds: 4, linkDelay: 2 })
    expectSound(result)
    expect(result.faults.failover, summary(result)).toBeGreaterThanOrEqual(1)
    // no invalidation the old primary confirmed was lost with it
    expect(result.stats.lost_resolved_invalidations, summary(result)).toBe(0)
  }, 60_000)

  it.each([
    ['normal', 2],
    ['flush', 2],
    ['kill', 2],
    ['late-groups', 2],
  ] as const)(
    'with a strict near cache in every worker, %s: every rule holds, and the near caches serve reads',
    async (mode, seconds) => {
      const [result] = await runCheck({ ...RUN, modes: [mode], seconds, nearCache: 'strict' })
      expectSound(result)
      expect(result.stats.near_hits, summary(result)).toBeGreaterThan(0)
    },
    60_000,
  )

  it.each([
    ['acl', 'namespace'],
    ['cluster', 'namespace'],
    ['cluster', 'key'],
  ] as const)(
    'with a strict near cache on the %s backend (sharding %s), normal: every rule holds, and the near caches serve reads',
    async (backend, sharding) => {
      const [result] = await runCheck({ ...RUN, modes: ['normal'], backend, seconds: 2, nearCache: 'strict', sharding })
      expectSound(result)
      expect(result.stats.near_hits, summary(result)).toBeGreaterThan(0)
    },
    60_000,
  )

  it.each([
    ['acl', 'normal'],
    ['cluster', 'normal'],
    ['cluster', 'move-groups'],
    ['cluster', 'late-groups'],
  ] as const)(
    'on the %s backend, %s: every rule holds',
    async (backend, mode) => {
      const [result] = await runCheck({ ...RUN, modes: [mode], backend, seconds: 2 })
      expectSound(result)
      expect(result.backend).toBe(backend)
    },
    60_000,
  )

  // sharding 'key' (src/spread.ts): on the cluster, where a namespace spreads over the masters,
  // and on one server, whose faults the checker can make (the same per-slot protocol)
  it.each([
    ['cluster', 'normal', 2],
    ['cluster', 'long-fill', 2],
    ['cluster', 'late-groups', 3],
    ['cluster', 'grace', 3],
    ['redis', 'kill', 2],
    ['redis', 'evict-versions', 2],
    ['redis', 'move-groups', 2],
  ] as const)(
    "with sharding 'key' on the %s backend, %s: every rule holds",
    async (backend, mode, seconds) => {
      const [result] = await runCheck({ ...RUN, modes: [mode], backend, seconds, sharding: 'key' })
      expectSound(result)
      expect(result.backend).toBe(backend)
    },
    60_000,
  )

  // Topology changes under sharding 'key': a replica taking over its master's slots, slots moving
  // between masters; and a Sentinel failover after kill -9 of the primary, the caches waiting for
  // a replica (its kill and recovery take several seconds: one per run)
  it.each([
    ['cluster', 'cluster-failover', 4, 'failover'],
    ['cluster', 'cluster-reshard', 4, 'reshard'],
    ['sentinel', 'sentinel-kill-wait', 6, 'kill'],
  ] as const)(
    "on the %s backend with sharding 'key', %s: every rule holds under the fault (%d s)",
    async (backend, mode, seconds, fault) => {
      const [result] = await runCheck({ ...RUN, modes: [mode], backend, seconds, sharding: 'key' })
      expectSound(result)
      expect(result.faults[fault], summary(result)).toBeGreaterThan(0)
      // a kill's failover is the Sentinels': what it lost is read from a tap of the old primary
      if (fault === 'kill') {
        expect(result.stats.failovers, summary(result)).toBe(result.faults.kill)
        expect(result.stats.lost_resolved_invalidations, summary(result)).toBeTypeOf('number')
      }
    },
    90_000,
  )

  // The in-memory backend runs every script on the caller's own thread, slowly (its Lua is
  // interpreted by a JS Lua), and all workers share one process: far fewer operations, and a
  // call waits for the scripts of the calls before it. Its latency bound gets a second of
  // slack for that; every other rule is the same.
  it.each(['normal', 'move-groups', 'late-groups'] as const)(
    'on the memory backend, %s: every rule holds',
    async (mode) => {
      const [result] = await runCheck({ ...RUN, modes: [mode], backend: 'memory', seconds: 3, margin: 1000 })
      expectSound(result, 100)
      expect(result.backend).toBe('memory')
    },
    60_000,
  )

  it('refuses a mode on a backend it cannot run on, saying why', async () => {
    const [result] = await runCheck({ ...RUN, modes: ['kill'], backend: 'memory', seconds: 1 })
    expect(result?.refused).toMatch(/runs on redis, not memory/)
    expect(result?.report).toBeUndefined()
  })

  it.each(mutantNames().filter((name) => mutants[name]?.checker))(
    'mutant %s: the checker reports the violation it is there for',
    async (name) => {
      const mutant = mutants[name]?.checker
      if (!mutant) throw new Error(name)
      const [result] = await runCheck({
        ...RUN,
        modes: [mutant.mode],
        mutant: name,
        seconds: mutant.seconds ?? 2,
        lease: mutant.lease,
        nearCache: mutant.nearCache,
        sharding: mutant.sharding,
      })
      const report = result?.report
      expect(report, result && summary(result)).toBeDefined()
      const herd = result?.failures.filter((failure) => /a herd/.test(failure)).length
      const found = {
        stale: report?.stale,
        lost: report?.lost,
        'rejected reads': report?.rejectedReads,
        foreign: report?.foreign,
        herd,
      }[mutant.caught]
      expect(found, result && summary(result)).toBeGreaterThan(0)
      expect(result?.passed).toBe(false)
    },
    60_000,
  )
})
