import { describe, expect, it } from 'vitest'
import { modes } from '../check/faults.js'
import {
  type CheckReport,
  checkHistory,
  type FillRecord,
  type InvalidationRecord,
  type LogRecord,
  matchLost,
  type ReadRecord,
  type Universe,
  type WriteRecord,
} from '../check/history.js'
import { mutantNames, mutants, mutatedSources } from '../check/mutants.js'
import { lostEffects, parseCommands } from '../check/replication.js'
import { type ModeResult, passes, runCheck } from '../check/run.js'
import { allScripts } from '../src/commands.js'

/**
 * The history checker (check/): its verdicts on hand-made logs, then short real runs: the
 * unmutated cache passes in normal and fault modes, and every mutant of the Lua is caught.
 * Real runs start their own redis-servers (startRedisServer fails with how to provide one).
 */

const U: Universe = { keys: 8, buckets: 4 }
const LIMITS = { timeout: 300, margin: 200, fnMax: 20 }
const ms = (n: number) => n * 1e6

const write = (row: number, v: number, s: number, e: number): WriteRecord => ({ t: 'w', w: 0, row, v, s, e })
const fill = (row: number, v: number, s: number): FillRecord => ({ t: 'f', w: 0, row, v, s, e: s + 1 })
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

/** Row 0 goes 0 -> 1 (INCR over [0, 10]); whatever invalidation the test adds; final row values. */
function check(records: LogRecord[], finalRows = [1, 0, 0, 0, 0, 0, 0, 0]): CheckReport {
  return checkHistory(U, [fill(0, 0, -5), write(0, 1, 0, 10), ...records], finalRows, LIMITS)
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
      invalidate({ groups: ['row_0'] }, 11, 20),
      get(0, 1, 30),
      get(0, undefined, 31),
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
    const base: LogRecord[] = [fill(5, 0, -5), write(5, 1, 0, 10)]
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

  it('reports phantom reads: a value no fill read, above the final value, or for another row', () => {
    const phantom = (item: ReadRecord['items'][number]) =>
      check([{ ...get(0, 0, 30), items: [item] }], [5, 0, 0, 0, 0, 0, 0, 0]).phantomReads.map((p) => p.why)
    expect(phantom({ row: 0, out: 'hit', vr: 0, v: 4 })).toEqual([expect.stringMatching(/no fill/)])
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
  it('reports a get, getMany or wrap that rejected (they fail open); read() may reject', () => {
    const failed = (op: ReadRecord['op']): ReadRecord => ({ ...get(0, 0, 30), op, items: [], err: 'E_TIMEOUT' })
    const report = check([failed('get'), failed('getMany'), failed('wrap'), failed('read')])
    expect(report.rejectedReads).toBe(3)
    expect(report.rejectedCalls).toBe(4)
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
    expect(lostEffects(commands, 'n')).toEqual([
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

  it('a measurement mode reports stale reads without failing; phantom reads fail every mode', () => {
    const report = check([invalidate({ groups: ['row_0'] }, 11, 20), get(0, 0, 30)])
    expect(report.stale).toBe(1)
    const failover = modes.failover
    expect(failover?.measures).toBeDefined()
    expect(passes(report, failover as NonNullable<typeof failover>)).toBe(true)
    expect(passes(report, modes['failover-wait'] as NonNullable<typeof failover>)).toBe(false)
    const phantom = check([{ ...get(0, 0, 30), items: [{ row: 0, out: 'hit', vr: 0, v: 7 }] }])
    expect(passes(phantom, failover as NonNullable<typeof failover>)).toBe(false)
  })
})

describe('mutants', () => {
  it('each mutation finds its target text in the current Lua, and changes the scripts it names', () => {
    for (const name of mutantNames()) {
      const sources = mutatedSources(name)
      for (const { scripts } of mutants[name]?.replacements ?? []) {
        for (const script of scripts) {
          const original = allScripts.find((candidate) => candidate.name === script)?.source
          expect(sources.get(script), `${name}: ${script}`).toBeDefined()
          expect(sources.get(script), `${name}: ${script}`).not.toBe(original)
        }
      }
    }
  })
})

/** Short real runs: 2 workers, a few seconds each. A generous latency margin: other test files share the CPU. */
const RUN = { workers: 2, margin: 1500, print: () => {} }

function summary(result: ModeResult): string {
  const r = result.report
  return r
    ? `${result.mode}${result.mutant ? `/${result.mutant}` : ''}: ${r.operations} ops, ${r.hits} hits, ${r.misses} misses, ` +
        `${r.invalidations} invalidations, stale ${r.stale}, phantom ${r.phantom}, late ${r.late}, faults ${JSON.stringify(result.faults)}`
    : `${result.mode}: refused: ${result.refused}`
}

describe('real runs', () => {
  it('normal and kill: no stale, phantom or late read, with hits, misses and invalidations', async () => {
    const results = await runCheck({ ...RUN, modes: ['normal', 'kill'], seconds: 3 })
    for (const result of results) {
      const r = result.report
      expect(r, summary(result)).toBeDefined()
      if (!r) continue
      expect(
        { stale: r.stale, phantom: r.phantom, late: r.late, rejectedReads: r.rejectedReads },
        summary(result),
      ).toEqual({ stale: 0, phantom: 0, late: 0, rejectedReads: 0 })
      expect(r.operations, summary(result)).toBeGreaterThan(2000)
      expect(r.hits, summary(result)).toBeGreaterThan(0)
      expect(r.misses, summary(result)).toBeGreaterThan(0)
      expect(r.invalidations, summary(result)).toBeGreaterThan(0)
      expect(result.passed).toBe(true)
    }
    const kill = results[1] as ModeResult
    expect(kill.faults.kill, summary(kill)).toBeGreaterThan(0)
    expect(kill.errorEvents + (kill.report?.rejectedCalls ?? 0), summary(kill)).toBeGreaterThan(0)
  }, 60_000)

  it('failover-wait: no stale or phantom read across failovers that lose invalidations in flight', async () => {
    // A replica 2 ms away: each failover loses what was on the link, invalidations whose WAIT was
    // pending among them; the new primary soon has a replica that would answer a resent WAIT.
    const [result] = await runCheck({ ...RUN, modes: ['failover-wait'], seconds: 4, linkDelay: 2 })
    const r = result?.report
    expect(r, result && summary(result)).toBeDefined()
    if (!result || !r) return
    expect(result.faults.failover, summary(result)).toBeGreaterThanOrEqual(1)
    expect(
      { stale: r.stale, phantom: r.phantom, late: r.late, rejectedReads: r.rejectedReads },
      summary(result),
    ).toEqual({ stale: 0, phantom: 0, late: 0, rejectedReads: 0 })
    // no invalidation the old primary confirmed was lost with it
    expect(result.stats.lost_resolved_invalidations, summary(result)).toBe(0)
    expect(r.invalidations, summary(result)).toBeGreaterThan(0)
    expect(r.hits, summary(result)).toBeGreaterThan(0)
    expect(result.passed).toBe(true)
  }, 60_000)

  it.each(mutantNames())(
    'mutant %s: the checker reports stale reads',
    async (name) => {
      const mutant = mutants[name]
      if (!mutant) throw new Error(name)
      // restart-at-zero needs a version deleted inside a fill's window: the rarest of the three
      const seconds = name === 'restart-at-zero' ? 4 : 2
      const [result] = await runCheck({ ...RUN, modes: [mutant.mode], mutant: name, seconds })
      expect(result?.report, result && summary(result)).toBeDefined()
      expect(result?.report?.stale, result && summary(result)).toBeGreaterThan(0)
      expect(result?.passed).toBe(false)
    },
    60_000,
  )
})
