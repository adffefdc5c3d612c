/**
 * One client process of the cluster scenario (scenarios/cluster.ts), forked with tsx. It opens a
 * GroupCache per target it is told of (a single server, or the Cluster under either sharding),
 * each with connections of its own, and on each `run` drives one for a fixed time: the fleet's
 * mix (90% wrap / 9% set / 1% expireGroup, 3 groups of 100 per key).
 */
import { Cluster } from 'ioredis'
import { GroupCache } from '../src/index.js'
import type { Sharding } from '../src/keys.js'
import { GROUP_POOL, isValueFor, pooledGroupsFor, valueFor } from './data.js'

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
  let x = command.seed >>> 0 || 1
  const rng = () => {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    return (x >>> 0) / 4_294_967_296
  }
  const counts: ClusterCounts = { ops: 0, seconds: 0, wrong: 0, errors: 0 }
  const errorsBefore = opened.errors
  const start = performance.now()
  const deadline = start + command.ms
  const loop = async () => {
    while (performance.now() < deadline) {
      const draw = rng()
      const i = Math.floor(rng() * command.keys)
      const key = `c:${i}`
      const groups = [...pooledGroupsFor(i)]
      if (draw < 0.9) {
        const value = await cache.wrap(key, { groups }, () => valueFor(i))
        if (!isValueFor(value, i)) counts.wrong++
      } else if (draw < 0.99) await cache.set(key, valueFor(i), { groups })
      else await cache.expireGroup(`g_${Math.floor(rng() * GROUP_POOL)}`)
      counts.ops++
    }
  }
  await Promise.all(Array.from({ length: command.concurrency }, loop))
  counts.seconds = (performance.now() - start) / 1000
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
