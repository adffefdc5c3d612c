/**
 * One process of the fleet (scenario 5), forked by scenarios/fleet.ts with tsx. It opens every
 * contender (its own connections) and, on each `run` command, drives one of them for a fixed
 * time: 90% wrap / 9% set / 1% group invalidation, over `keys` keys with 3 groups each out of
 * 100. Plain has no groups: its 1% is a DEL of the key drawn (a read-through with key deletion).
 * It also opens the fleet-only near variants (FLEET_NEAR_VARIANTS: group-cache with a near cache
 * of this process's own, of `maxEntries` from its second argument), and says it is ready once
 * every near cache is in sync; a run of one counts the reads its near cache served (`nearHits`).
 */
import { setTimeout as sleep } from 'node:timers/promises'
import {
  CONTENDERS,
  createContender,
  createNearVariant,
  FLEET_NEAR_VARIANTS,
  type FleetContender,
  type FleetContenderName,
} from './contenders.js'
import { isValueFor, pooledGroupsFor, runMix, valueFor } from './data.js'

export interface RunCommand {
  type: 'run'
  contender: FleetContenderName
  ms: number
  concurrency: number
  keys: number
  seed: number
}

export type Command = RunCommand | { type: 'exit' }

export interface FleetCounts {
  ops: number
  wraps: number
  /** wrap calls whose function ran (misses) */
  loads: number
  sets: number
  invalidations: number
  /** wrap results that were not the value of the key asked for */
  wrong: number
  seconds: number
  swallowedErrors: number
  /** wrap calls its near cache served (the hits counter's delta; 0 without a near cache) */
  nearHits: number
  /** whether its near cache was in sync at the end of the run (true without a near cache) */
  nearInSync: boolean
}

export type Reply = { type: 'ready' } | { type: 'result'; counts: FleetCounts } | { type: 'error'; message: string }

async function run(c: FleetContender, command: RunCommand): Promise<FleetCounts> {
  const counts: FleetCounts = {
    ops: 0,
    wraps: 0,
    loads: 0,
    sets: 0,
    invalidations: 0,
    wrong: 0,
    seconds: 0,
    swallowedErrors: 0,
    nearHits: 0,
    nearInSync: true,
  }
  const errorsBefore = c.swallowedErrors().length
  const nearHitsBefore = c.near?.()?.hits ?? 0
  const mix = await runMix(command.seed, command.keys, command.ms, command.concurrency, {
    async read(i) {
      counts.wraps++
      const value = await c.wrap(`f:${i}`, pooledGroupsFor(i), () => {
        counts.loads++
        return valueFor(i)
      })
      if (!isValueFor(value, i)) counts.wrong++
    },
    async write(i) {
      counts.sets++
      await c.set(`f:${i}`, valueFor(i), pooledGroupsFor(i))
    },
    async invalidate(i, group) {
      counts.invalidations++
      if (c.expireGroup) await c.expireGroup(group)
      else await c.delete(`f:${i}`)
    },
  })
  counts.ops = mix.ops
  counts.seconds = mix.seconds
  counts.swallowedErrors = c.swallowedErrors().length - errorsBefore
  const near = c.near?.()
  if (near) {
    counts.nearHits = near.hits - nearHitsBefore
    counts.nearInSync = near.inSync
  }
  return counts
}

const url = process.argv[2]
const nearMaxEntries = Number(process.argv[3])
const send = (reply: Reply) => process.send?.(reply)
if (!url || !process.send || !(nearMaxEntries > 0)) {
  throw new Error('fleet-worker is forked by scenarios/fleet.ts with the Redis URL and the near caches maxEntries')
}
const contenders = Object.fromEntries([
  ...CONTENDERS.map((name): [FleetContenderName, FleetContender] => [name, createContender(name, url)]),
  ...FLEET_NEAR_VARIANTS.map((name): [FleetContenderName, FleetContender] => [
    name,
    createNearVariant(name, url, nearMaxEntries),
  ]),
]) as Record<FleetContenderName, FleetContender>
process.on('message', (command: Command) => {
  if (command.type === 'exit') {
    Promise.all(Object.values(contenders).map((c) => c.close())).finally(() => process.exit(0))
    return
  }
  run(contenders[command.contender], command).then(
    (counts) => send({ type: 'result', counts }),
    (error: unknown) => send({ type: 'error', message: `${command.contender}: ${(error as Error)?.stack ?? error}` }),
  )
})
// Ready once every near cache is in sync (holding and serving), as scenarios/near.ts waits.
const deadline = performance.now() + 10_000
for (const name of FLEET_NEAR_VARIANTS) {
  while (contenders[name].near?.()?.inSync !== true) {
    if (performance.now() > deadline) throw new Error(`fleet-worker: ${name}: near cache not in sync within 10 s`)
    await sleep(1)
  }
}
send({ type: 'ready' })
