import { setTimeout as sleep } from 'node:timers/promises'
import { describe, expect, it } from 'vitest'
import { Deadlines } from '../src/deadlines.js'

/** The one timer behind every call's timeout: order and exclusivity, not durations, are asserted. */
describe('Deadlines', () => {
  it('expires what was not settled, in the order it started, each once', async () => {
    const deadlines = new Deadlines(20)
    const expired: string[] = []
    const a = deadlines.start(() => expired.push('a'))
    const b = deadlines.start(() => expired.push('b'))
    deadlines.start(() => expired.push('c'))
    deadlines.settle(b)
    await sleep(5)
    deadlines.start(() => expired.push('d'))
    await expect.poll(() => expired, { timeout: 2000 }).toEqual(['a', 'c', 'd'])
    deadlines.settle(a) // after it expired: nothing happens
    await sleep(40)
    expect(expired).toEqual(['a', 'c', 'd'])
  })

  it('a settled head, middle or tail leaves the others to expire; settling twice is harmless', async () => {
    const deadlines = new Deadlines(10)
    const expired: number[] = []
    const all = Array.from({ length: 6 }, (_, i) => deadlines.start(() => expired.push(i)))
    for (const i of [0, 3, 5, 3]) deadlines.settle(all[i] as NonNullable<(typeof all)[number]>)
    await expect.poll(() => expired, { timeout: 2000 }).toEqual([1, 2, 4])
  })

  it('keeps working after it ran empty', async () => {
    const deadlines = new Deadlines(5)
    const expired: string[] = []
    deadlines.start(() => expired.push('first'))
    await expect.poll(() => expired, { timeout: 2000 }).toEqual(['first'])
    const settled = deadlines.start(() => expired.push('never'))
    deadlines.settle(settled)
    deadlines.start(() => expired.push('second'))
    await expect.poll(() => expired, { timeout: 2000 }).toEqual(['first', 'second'])
  })
})
