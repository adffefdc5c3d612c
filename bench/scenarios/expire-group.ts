/**
 * Scenario 3: how long one invalidation of a group takes against the group's size. Members are
 * entries written in the group through each library's own API (many concurrent calls). For each
 * size and contender: populate, time the first invalidation (members live), check that members
 * now miss, then take more samples:
 * - group-cache and BentoCache invalidate without touching members (a version, a timestamp), so
 *   further calls cost what the first did; they are timed in pairs, alternating with the
 *   invalidation of a 1-member control group, and the ratio is taken pair by pair;
 * - async-cache-dedupe deletes the members, so each sample needs the group populated again:
 *   repeated up to `repeatUpTo` members, a single sample above.
 * A peer stops after a size where one invalidation took more than `slowMs`, or before a size it
 * would take more than `populateBudgetS` to populate.
 */
import type { Contender, ContenderName } from '../contenders.js'
import { isValueFor, smallValueFor } from '../data.js'
import { median, round, timeMs } from '../measure.js'
import { usedMemory } from '../server.js'
import { type Context, indexes, inParallel } from '../settings.js'

export const EXPIRE_CONTENDERS: readonly ContenderName[] = ['group-cache', 'bentocache', 'async-cache-dedupe']

export interface SizeResult {
  size: number
  populateS: number
  populateRate: number
  /** Redis used_memory after populating, bytes. */
  usedMemory: number
  /** The first invalidation, members live, ms. */
  firstMs: number
  /** Every timed invalidation of the group, ms (the first included). */
  samplesMs: number[]
  medianMs: number
  /** Control (1-member group) invalidations timed alongside, ms. */
  controlMs: number[]
  /** Median over pairs of group / control. */
  pairRatio: number | undefined
}

export interface ContenderExpireResult {
  name: ContenderName
  sizes: SizeResult[]
  /**
   * Where it stopped, if it did: at a size whose invalidation took longer than `slowMs` (measured,
   * larger sizes not tried), or before a size too long to populate (not run).
   */
  stopped: { size: number; reason: string } | undefined
}

export interface ExpireGroupResult {
  /** A peer stops at a size where one invalidation takes longer than this. */
  slowMs: number
  contenders: ContenderExpireResult[]
}

const memberKey = (size: number, i: number) => `m${size}:${i}`
const bigGroup = (size: number) => `big_${size}`
const controlGroup = (size: number) => `control_${size}`
const controlKey = (size: number) => `control${size}:0`

export async function expireGroupScenario(ctx: Context): Promise<ExpireGroupResult> {
  const results: ContenderExpireResult[] = []
  for (const name of EXPIRE_CONTENDERS) results.push(await runContender(ctx, ctx.contenders[name]))
  await ctx.server.reset(EXPIRE_CONTENDERS.flatMap((name) => ctx.contenders[name].patterns))
  return { slowMs: ctx.settings.expireGroup.slowMs, contenders: results }
}

async function runContender(ctx: Context, c: Contender): Promise<ContenderExpireResult> {
  const { sizes, slowMs, populateBudgetS } = ctx.settings.expireGroup
  const expire = c.expireGroup
  if (!expire) throw new Error(`${c.name} has no group invalidation`)
  const out: ContenderExpireResult = { name: c.name, sizes: [], stopped: undefined }
  // Warm the code paths (JIT, script cache) so that the first size is not timed cold.
  for (let i = 0; i < 200; i++) await expire('warm-up')
  let rate = Number.POSITIVE_INFINITY
  for (const size of sizes) {
    const projectedS = size / rate
    if (projectedS > populateBudgetS) {
      out.stopped = {
        size,
        reason: `not run: populating would take ~${Math.round(projectedS)} s at ${Math.round(rate)} sets/s (budget ${populateBudgetS} s)`,
      }
      break
    }
    await ctx.server.reset(c.patterns)
    const populated = await populate(ctx, c, size)
    if (size >= 1000) rate = populated.rate
    const used = await usedMemory(ctx.server.admin)
    await checkMembers(c, size, true)

    await settle(expire)
    const firstMs = await timeMs(() => expire(bigGroup(size)))
    ctx.log(`  first invalidation: ${round(firstMs, 3)} ms\n`)
    await checkMembers(c, size, false)
    const samplesMs = [firstMs]
    const controlMs: number[] = []
    const ratios: number[] = []
    const timedPair = async (controlFirst: boolean) => {
      const control = () => timeMs(() => expire(controlGroup(size)))
      const group = () => timeMs(() => expire(bigGroup(size)))
      let controlTime: number
      let groupTime: number
      if (controlFirst) {
        controlTime = await control()
        groupTime = await group()
      } else {
        groupTime = await group()
        controlTime = await control()
      }
      controlMs.push(controlTime)
      samplesMs.push(groupTime)
      ratios.push(groupTime / controlTime)
    }
    if (c.name !== 'async-cache-dedupe') {
      for (let pair = 0; pair < ctx.settings.expireGroup.pairs; pair++) await timedPair(pair % 2 === 0)
    } else if (size <= ctx.settings.expireGroup.repeatUpTo) {
      // Its invalidation deletes the members: each sample needs the group written again.
      for (let r = 1; r < ctx.settings.expireGroup.repeats; r++) {
        await populate(ctx, c, size, true)
        await settle(expire)
        await timedPair(r % 2 === 0)
        await checkMembers(c, size, false)
      }
    }
    const errors = c.swallowedErrors()
    if (errors.length > 0) throw new Error(`${c.name} reported errors: ${errors.slice(0, 3).join('; ')}`)
    out.sizes.push({
      size,
      populateS: round(populated.seconds, 2),
      populateRate: Math.round(populated.rate),
      usedMemory: used,
      firstMs: round(firstMs, 4),
      samplesMs: samplesMs.map((x) => round(x, 4)),
      medianMs: round(median(samplesMs), 4),
      controlMs: controlMs.map((x) => round(x, 4)),
      pairRatio: ratios.length > 0 ? round(median(ratios), 3) : undefined,
    })
    if (firstMs > slowMs) {
      out.stopped = {
        size,
        reason: `one invalidation took ${(firstMs / 1000).toFixed(1)} s (> ${slowMs / 1000} s), so no larger group is tried`,
      }
      break
    }
  }
  await ctx.server.reset(c.patterns)
  return out
}

/**
 * After populating (garbage to collect, Redis just busy), a pause and a few untimed calls on an
 * empty group, so that the first timed call measures the invalidation and not the aftermath.
 */
async function settle(expire: (group: string) => Promise<void>): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, 200))
  for (let i = 0; i < 20; i++) await expire('warm-up')
}

/** Writes `size` members of the big group and the 1-member control group; returns the rate. */
async function populate(ctx: Context, c: Contender, size: number, quiet = false) {
  if (!quiet) ctx.log(`expireGroup, ${c.name}, ${size.toLocaleString('en-US')} members: populating`)
  const group = [bigGroup(size)]
  const t0 = process.hrtime.bigint()
  let done = 0
  const step = Math.max(1, Math.floor(size / 10))
  await inParallel(indexes(size), 256, async (i) => {
    await c.set(memberKey(size, i), smallValueFor(i), group)
    if (!quiet && ++done % step === 0 && size >= 100_000) ctx.log('.')
  })
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9
  await c.set(controlKey(size), smallValueFor(0), [controlGroup(size)])
  if (!quiet) ctx.log(` ${seconds.toFixed(1)} s (${Math.round(size / seconds)} sets/s)\n`)
  // BentoCache compares millisecond timestamps: let the clock move past the last write.
  await new Promise((resolve) => setTimeout(resolve, 5))
  return { seconds, rate: size / seconds }
}

/** A sample of members (first, last, 100 spread between) all hit, or all miss. */
async function checkMembers(c: Contender, size: number, live: boolean): Promise<void> {
  const sample = new Set([0, size - 1, ...Array.from({ length: 100 }, (_, k) => Math.floor((k * size) / 100))])
  for (const i of sample) {
    const value = await c.get(memberKey(size, i))
    const ok = live ? isValueFor(value, i) : value === undefined
    if (!ok) {
      throw new Error(
        `${c.name}: member ${i} of ${size} ${live ? 'missed before' : 'still hit after'} the group's invalidation`,
      )
    }
  }
}
