/**
 * One client process of the cluster scenario (scenarios/cluster.ts), forked with tsx. It opens a
 * GroupCache per target it is told of (a single server, or the Cluster under either sharding),
 * each with connections of its own, and on each `run` drives one for a fixed time: the fleet's
 * mix (90% wrap / 9% set / 1% expireGroup, 3 groups of 100 per key).
 */
import { Cluster } from 'ioredis'
import { GroupCache } from '../src/index.js'
import type { Sharding } from '../src/keys.js'
import { isValueFor, pooledGroupsFor, runMix, valueFor } from './data.js'

export interface Target {
  name: string
  /** a redis:// URL of one server, or the startup nodes of a Cluster */
  redis: string | string[]
  sharding: Sharding
}

export type ClusterCommand =
  | { type: 'open'; targets: Target[] }
  | { type: 'run'; target: string; ms: number; concurrency: number; keys: number; seed: number }
  | { type: 'exit' }

export interface ClusterCounts {
  ops: number
  seconds: number
  /** wrap results that were not the value of the key asked for */
  wrong: number
  errors: number
}

export type ClusterReply =
  | { type: 'ready' }
  | { type: 'result'; counts: ClusterCounts }
  | { type: 'error'; message: string }

const caches = new Map<string, { cache: GroupCache; errors: number; close(): Promise<void> }>()

function open(target: Target) {
  const client = typeof target.redis === 'string' ? undefined : new Cluster(target.redis)
  const cache = new GroupCache({
    redis: client ?? (target.redis as string),
    namespace: 'cluster-bench',
    sharding: target.sharding,
  })
  const entry = {
    cache,
    errors: 0,
    async close() {
      await cache.close()
      client?.disconnect()
    },
  }
  cache.on('error', () => entry.errors++)
  return entry
}

async function run(command: Extract<ClusterCommand, { type: 'run' }>): Promise<ClusterCounts> {
  const opened = caches.get(command.target)
  if (opened === undefined) throw new Error(`no target ${command.target}`)
  const { cache } = opened
  const counts: ClusterCounts = { ops: 0, seconds: 0, wrong: 0, errors: 0 }
  const errorsBefore = opened.errors
  const mix = await runMix(command.seed, command.keys, command.ms, command.concurrency, {
    async read(i) {
      const value = await cache.wrap(`c:${i}`, { groups: [...pooledGroupsFor(i)] }, () => valueFor(i))
      if (!isValueFor(value, i)) counts.wrong++
    },
    async write(i) {
      await cache.set(`c:${i}`, valueFor(i), { groups: [...pooledGroupsFor(i)] })
    },
    async invalidate(_i, group) {
      await cache.expireGroup(group)
    },
  })
  counts.ops = mix.ops
  counts.seconds = mix.seconds
  counts.errors = opened.errors - errorsBefore
  return counts
}

const send = (reply: ClusterReply) => process.send?.(reply)
if (!process.send) throw new Error('cluster-worker is forked by scenarios/cluster.ts')
process.on('message', (command: ClusterCommand) => {
  if (command.type === 'exit') {
    Promise.all([...caches.values()].map((c) => c.close())).finally(() => process.exit(0))
    return
  }
  if (command.type === 'open') {
    for (const target of command.targets) caches.set(target.name, open(target))
    // every cache answers before the first round
    Promise.all([...caches.values()].map(({ cache }) => cache.get('warm'))).then(
      () => send({ type: 'ready' }),
      (error: unknown) => send({ type: 'error', message: String(error) }),
    )
    return
  }
  run(command).then(
    (counts) => send({ type: 'result', counts }),
    (error: unknown) => send({ type: 'error', message: `${command.target}: ${(error as Error)?.stack ?? error}` }),
  )
})
