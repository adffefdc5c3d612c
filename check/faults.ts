/**
 * The checker's modes: how the cache's Redis is started, how the workers are tuned, and the
 * faults the coordinator injects while they run. One entry per mode in `modes`; a new mode (a
 * failover, say) is one more entry.
 *
 * An injector runs until `ctx.signal` aborts and must leave the server up and answering when it
 * returns. Only modes with `harmsServer: false` may run on a server given through REDIS_URL, and
 * those touch nothing but the run's own namespace.
 *
 * Most modes must pass: no stale, phantom or late read. A mode with `measures` is a measurement of
 * a loss the cache does not claim to prevent (a failover with asynchronous replication): its
 * stale reads are reported, not failures. Every mode must also show hits, misses and resolved
 * invalidations; a mode that injects faults must have injected some; and a mode without
 * `failsCalls` must have no error at all (no `error` event, no rejected call): nothing it does
 * explains one (check/run.ts, `failures`).
 */
import { type ChildProcess, fork } from 'node:child_process'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Redis } from 'ioredis'
import type { Keys } from '../src/keys.js'
import type { RedisCluster } from '../test/support/cluster.js'
import type { RedisServer } from '../test/support/redis-server.js'
import type { RedisSentinel } from '../test/support/sentinel.js'
import { killMaster, manualFailover, reshard } from './cluster-faults.js'
import { bucketGroup, keyName, rowGroup, type Universe } from './history.js'
import { type Failover, KillTap, type ReplicatedServer } from './replication.js'
import type { WorkerConfig } from './worker.js'

export interface FaultContext {
  /** the cache's server, when the checker started it (undefined on REDIS_URL and for `replicated` modes) */
  readonly server: RedisServer | undefined
  /** the cluster of a run on the `cluster` backend that the checker started */
  readonly cluster: RedisCluster | undefined
  /** the primary, replicas and Sentinels of a run on the `sentinel` backend */
  readonly sentinel: RedisSentinel | undefined
  /** the primary and replica of a `replicated` mode */
  readonly pair: ReplicatedServer | undefined
  /** the tree the workers run from (the project, or a mutant's copy): processes a fault starts run from it too */
  readonly tree: string
  readonly url: string
  readonly namespace: string
  /** the run's key names, in its sharding's layout */
  readonly keys: Keys
  readonly universe: Universe
  /** the coordinator's own connection to the cache's server */
  readonly admin: Redis
  readonly signal: AbortSignal
  readonly random: () => number
  /** failover modes: ms from a failover to the fresh replica (default: the mode's) */
  readonly replicaAfter?: number
  /** call once per fault injected */
  count(fault: string, n?: number): void
  /** the log's clock: ns since the run's base (check/history.ts) */
  now(): number
  /**
   * The fault dropped the workers' connections between `since` (a `now()` taken before it) and
   * now: logged, since a call in flight may have run before the drop and then again (a resend).
   */
  dropped(fault: string, since: number): void
  /** A kill that another failed over (a Cluster, the Sentinels): what the promoted replica never got. */
  failedOver(failover: Failover): void
}

/** Worker settings a mode may change. */
export type WorkerTuning = Partial<
  Pick<
    WorkerConfig,
    | 'universe'
    | 'padding'
    | 'lease'
    | 'slowFill'
    | 'writeRatio'
    | 'fnMax'
    | 'concurrency'
    | 'waitForReplicas'
    | 'writeThroughTtl'
    | 'grace'
    | 'hardRatio'
    | 'wrapOnly'
    | 'lateGroups'
    | 'nearCache'
  >
>

/**
 * What the cache may run on in a check (check/run.ts): a redis-server, the same logged in as the
 * README's ACL user, a 3-master Cluster, the in-memory backend.
 */
export type BackendKind = 'redis' | 'acl' | 'cluster' | 'sentinel' | 'memory'
export const BACKENDS: readonly BackendKind[] = ['redis', 'acl', 'cluster', 'sentinel', 'memory']

export interface Mode {
  readonly name: string
  readonly description: string
  /** kills, pauses, flushes, reconfigures the server or kills its clients: needs a server of the checker's own */
  readonly harmsServer: boolean
  /** extra redis-server arguments for the cache's server */
  readonly serverArgs?: readonly string[]
  /**
   * The cache's server is a primary with one replica, reached through a proxy in the coordinator
   * that follows failovers (check/replication.ts): `ctx.pair`.
   */
  readonly replicated?: boolean
  /**
   * A herd: many callers of few keys in every process. The mode also fails when the fill functions
   * ran more than 1.5 times per (key, invalidation) (one fill per key across the fleet), or when
   * wraps waited more than half the lease at p90 (a fill that landed must free its waiters).
   */
  readonly herd?: boolean
  /** A measurement mode, expected to lose writes: what it measures. Its stale reads do not fail the run. */
  readonly measures?: string
  /**
   * Why this mode's faults make calls fail (`error` events, rejected invalidations, reads, sets).
   * Without it the mode must end with no error at all: eviction, deleted keys or slow fill
   * functions are no reason for a call to fail.
   */
  readonly failsCalls?: string
  /**
   * Why this mode's faults remove entries the log does not show (eviction, FLUSHDB, a restart):
   * without it, and without `failsCalls`, a miss that the log cannot explain fails the mode (a
   * lost hit).
   */
  readonly removesKeys?: string
  /** On the cluster backend: a replica per master, set up before the run's first mode (check/cluster-faults.ts). */
  readonly clusterReplicas?: boolean
  /**
   * The backends the mode runs on. @default every backend for a mode that leaves its server
   * alone and injects nothing; else redis and acl
   */
  readonly backends?: readonly BackendKind[]
  readonly worker?: WorkerTuning
  /** injects faults until ctx.signal aborts; leaves the server up */
  inject?(ctx: FaultContext): Promise<void>
  /** numbers to report after the run (read before the server stops) */
  stats?(ctx: FaultContext): Promise<Record<string, number>>
}

export function modeBackends(
  mode: Pick<Mode, 'backends' | 'harmsServer' | 'inject' | 'serverArgs'>,
): readonly BackendKind[] {
  if (mode.backends) return mode.backends
  return mode.harmsServer || mode.inject || mode.serverArgs ? ['redis', 'acl'] : BACKENDS
}

/** Waits `ms`; false if the run ended meanwhile. */
async function wait(ctx: FaultContext, ms: number): Promise<boolean> {
  if (ctx.signal.aborted) return false
  try {
    await sleep(ms, undefined, { signal: ctx.signal })
    return true
  } catch {
    return false
  }
}

const between = (ctx: FaultContext, min: number, max: number) => min + Math.floor(ctx.random() * (max - min + 1))

function ownCluster(ctx: FaultContext): RedisCluster {
  if (!ctx.cluster || ctx.cluster.servers.length === 0)
    throw new Error("this mode needs a cluster of the checker's own")
  return ctx.cluster
}

/** kill -9 of the Sentinels' primary every 2-4 s, each time once the last failover is over. */
async function sentinelKills(ctx: FaultContext): Promise<void> {
  const sentinel = ctx.sentinel
  if (!sentinel) throw new Error('this mode needs the Sentinels of a sentinel run')
  while (await wait(ctx, between(ctx, 2000, 4000))) {
    const since = ctx.now()
    const loss = new KillTap(ctx.keys)
    await sentinel.killPrimary(loss)
    ctx.count('kill')
    ctx.dropped('kill', since)
    if (loss.failover) ctx.failedOver(loss.failover)
  }
}

function ownServer(ctx: FaultContext): RedisServer {
  if (!ctx.server) throw new Error("this mode needs a redis-server of the checker's own")
  return ctx.server
}

async function info(admin: Redis, section: string, field: string): Promise<number> {
  const text = await admin.info(section)
  const match = new RegExp(`^${field}:(\\d+)`, 'm').exec(text)
  return match ? Number(match[1]) : Number.NaN
}

/** Every key name the cache writes for the universe: entries, key generations, group versions. */
function namespaceKeys(ctx: FaultContext): { versions: string[]; generations: string[]; entries: string[] } {
  const { keys } = ctx
  const versions: string[] = []
  const generations: string[] = []
  const entries: string[] = []
  for (let row = 0; row < ctx.universe.keys; row++) {
    versions.push(keys.group(rowGroup(row)))
    generations.push(keys.generation(keyName(row)))
    entries.push(keys.entry(keyName(row)))
  }
  for (let bucket = 0; bucket < ctx.universe.buckets; bucket++) versions.push(keys.group(bucketGroup(bucket)))
  return { versions, generations, entries }
}

/** Deletes 1-3 random keys of `pool` every 1-10 ms: an eviction that picks exactly the keys that matter. */
async function evict(ctx: FaultContext, pool: string[], fault: string): Promise<void> {
  while (await wait(ctx, between(ctx, 1, 10))) {
    const victims = Array.from(
      { length: between(ctx, 1, 3) },
      () => pool[Math.floor(ctx.random() * pool.length)] as string,
    )
    // one DEL per key: on a cluster with sharding 'key' they are on several slots
    const deleted = await Promise.all(victims.map((victim) => ctx.admin.del(victim)))
    ctx.count(
      fault,
      deleted.reduce((a, b) => a + b, 0),
    )
  }
}

/**
 * Every 0.8-1.5 s: a failover (SIGKILL the primary while the workers write, promote the replica),
 * then, 100-300 ms later (or `ctx.replicaAfter`), a fresh replica of the new primary for the next.
 */
async function failovers(ctx: FaultContext): Promise<void> {
  const pair = ctx.pair
  if (!pair) throw new Error('this mode needs a replicated server')
  while (await wait(ctx, between(ctx, 800, 1500))) {
    const since = ctx.now()
    await pair.failover(ctx.keys)
    ctx.count('failover')
    ctx.dropped('failover', since)
    // the new primary runs alone a moment, as after a real failover
    await sleep(ctx.replicaAfter ?? between(ctx, 100, 300))
    await pair.addReplica()
  }
}

/**
 * A holder that dies inside its fill: a process (check/holder.ts) wraps random keys of the universe
 * with a function that tells this one it is inside and never returns; it is killed with SIGKILL
 * there, holding the key's lease, 0-400 ms in. The next one is started while the last one runs
 * (a process takes a second or more to load), and takes over at once.
 */
async function killHolders(ctx: FaultContext, lease: number): Promise<void> {
  const spawn = () => {
    const child = fork(join(ctx.tree, 'check', 'holder.ts'), [], {
      cwd: ctx.tree,
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    })
    child.on('error', () => {})
    return child
  }
  const kill = (child: ChildProcess) =>
    new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve()
      child.once('exit', () => resolve())
      child.kill('SIGKILL')
    })
  let next = spawn()
  try {
    while (!ctx.signal.aborted) {
      const child = next
      next = spawn()
      child.send({ url: ctx.url, namespace: ctx.namespace, universe: ctx.universe, lease })
      let aborted = () => {}
      const inside = await new Promise<boolean>((resolve) => {
        aborted = () => resolve(false)
        ctx.signal.addEventListener('abort', aborted, { once: true })
        // the function of a fill that holds the key's lease: a wrap whose read failed open (a
        // holder just started, on a loaded machine) runs it too, and its death leaves no lease
        const inFill = (key: string) =>
          void ctx.admin.exists(ctx.keys.lease(key)).then(
            (held) => (held === 1 ? resolve(true) : child.once('message', inFill)),
            () => resolve(false),
          )
        child.once('message', inFill)
        child.once('exit', () => resolve(false))
      })
      ctx.signal.removeEventListener('abort', aborted)
      // after a random while inside: a fill in progress, as a crash finds it
      if (inside) await wait(ctx, between(ctx, 0, 400))
      await kill(child)
      if (inside) ctx.count('holders killed')
    }
  } finally {
    await kill(next)
  }
}

const modeList: Mode[] = [
  {
    name: 'normal',
    description: 'no faults',
    harmsServer: false,
  },
  {
    name: 'maxmemory',
    description:
      'maxmemory 4mb, allkeys-lru, values of 16-48 KiB on 100 keys: entries, versions and generations get evicted',
    harmsServer: true,
    serverArgs: ['--maxmemory', '4mb', '--maxmemory-policy', 'allkeys-lru', '--notify-keyspace-events', 'Ee'],
    removesKeys: 'memory is full: entries, versions and generations are evicted',
    worker: { universe: { keys: 100, buckets: 10 }, padding: [16 * 1024, 48 * 1024], writeRatio: 0.08 },
    async inject(ctx) {
      // Counts what was evicted, by kind, from the server's keyspace events.
      const kinds: Record<string, string> = { e: 'evicted entries', g: 'evicted versions', t: 'evicted generations' }
      const subscriber = ctx.admin.duplicate()
      subscriber.on('error', () => {})
      const prefix = ctx.keys.pattern.slice(0, -1)
      subscriber.on('message', (_channel: string, key: string) => {
        const kind = key.startsWith(prefix) ? kinds[key.charAt(prefix.length)] : undefined
        ctx.count(kind ?? 'evicted other keys')
      })
      try {
        await subscriber.subscribe('__keyevent@0__:evicted')
        while (await wait(ctx, 1000)) {}
      } finally {
        subscriber.disconnect()
      }
    },
    async stats(ctx) {
      return {
        evicted_keys: await info(ctx.admin, 'stats', 'evicted_keys'),
        used_memory: await info(ctx.admin, 'memory', 'used_memory'),
      }
    },
  },
  {
    name: 'kill',
    description: 'kill -9 the server every 0.6-1.5 s, restart it empty 100-300 ms later',
    failsCalls: 'the server dies and comes back: calls in flight and sent meanwhile fail',
    removesKeys: 'the server restarts empty',
    harmsServer: true,
    // the ACL user goes with the server's memory
    backends: ['redis'],
    async inject(ctx) {
      const server = ownServer(ctx)
      while (await wait(ctx, between(ctx, 600, 1500))) {
        const since = ctx.now()
        await server.kill()
        ctx.count('kill')
        await sleep(ctx.replicaAfter ?? between(ctx, 100, 300))
        await server.restart()
        ctx.dropped('kill', since)
      }
    },
  },
  {
    name: 'flush',
    description: 'SCRIPT FLUSH, FLUSHDB or both every 100-400 ms',
    failsCalls: "SCRIPT FLUSH can land between a script's load and its call",
    removesKeys: 'FLUSHDB',
    harmsServer: true,
    async inject(ctx) {
      while (await wait(ctx, between(ctx, 100, 400))) {
        const which = Math.floor(ctx.random() * 3)
        if (which !== 1) {
          await ctx.admin.script('FLUSH')
          ctx.count('script flush')
        }
        if (which !== 0) {
          await ctx.admin.flushdb()
          ctx.count('flushdb')
        }
      }
    },
  },
  {
    name: 'client-kill',
    description: 'CLIENT KILL TYPE normal SKIPME yes every 200-600 ms (every worker connection drops)',
    failsCalls: 'every connection drops: calls on it fail',
    harmsServer: true,
    async inject(ctx) {
      while (await wait(ctx, between(ctx, 200, 600))) {
        const since = ctx.now()
        const killed = (await ctx.admin.call('CLIENT', 'KILL', 'TYPE', 'normal', 'SKIPME', 'yes')) as number
        ctx.count('clients killed', killed)
        ctx.dropped('client kill', since)
      }
    },
  },
  {
    name: 'near-client-kill',
    description:
      "a strict near cache in every worker; every 200-400 ms CLIENT KILL of the workers' subscribed connections (the near caches' invalidation feeds) or of all their other connections (data and tracked reads)",
    failsCalls: 'every connection of a kind drops: calls on it fail',
    harmsServer: true,
    backends: ['redis', 'acl'],
    worker: { nearCache: 'strict', universe: { keys: 8, buckets: 2 }, writeRatio: 0.1 },
    async inject(ctx) {
      let round = 0
      while (await wait(ctx, between(ctx, 200, 400))) {
        const since = ctx.now()
        const type = round++ % 2 === 0 ? 'pubsub' : 'normal'
        const killed = (await ctx.admin.call('CLIENT', 'KILL', 'TYPE', type, 'SKIPME', 'yes')) as number
        ctx.count(`${type} clients killed`, killed)
        if (type === 'normal') ctx.dropped('client kill', since)
      }
    },
  },
  {
    name: 'pause',
    description: 'SIGSTOP the server for 1 s every 1-2 s, then SIGCONT',
    failsCalls: 'the server answers nobody for 1 s: calls time out',
    harmsServer: true,
    async inject(ctx) {
      const server = ownServer(ctx)
      while (await wait(ctx, between(ctx, 1000, 2000))) {
        server.pause()
        ctx.count('pause')
        try {
          await sleep(1000)
        } finally {
          server.resume()
        }
      }
    },
  },
  {
    name: 'slow',
    description: 'DEBUG SLEEP 0.5 every 0.5-1.2 s (the server answers nobody for 500 ms)',
    failsCalls: 'the server answers nobody for 500 ms: calls time out',
    harmsServer: true,
    serverArgs: ['--enable-debug-command', 'local'],
    async inject(ctx) {
      while (await wait(ctx, between(ctx, 500, 1200))) {
        await ctx.admin.call('DEBUG', 'SLEEP', '0.5')
        ctx.count('debug sleep')
      }
    },
  },
  {
    name: 'long-fill',
    description:
      'lease 50 ms; 20% of fill functions take 100-200 ms, longer than the lease; few writes (no server fault)',
    harmsServer: false,
    // the in-memory backend's Lua, one thread for every worker, takes a good part of the lease itself
    backends: ['redis', 'acl', 'cluster'],
    worker: { lease: 50, slowFill: [0.95, 60, 150], writeRatio: 0.05, concurrency: 32 },
  },
  {
    name: 'late-groups',
    description:
      "70% of fills name their row's own group only after the function read the row (wrap's ctx.groups, a token set's extra groups); writers mostly expire that group",
    harmsServer: false,
    worker: { universe: { keys: 8, buckets: 2 }, lateGroups: 0.7, writeRatio: 0.25, fnMax: 30 },
  },
  {
    name: 'move-groups',
    description:
      'each key is stored under its row group or its alt group (readers pick either), and writers make the two versions equal on purpose, then expire one',
    harmsServer: false,
    worker: {
      universe: { keys: 8, buckets: 2, moveGroups: true },
      writeRatio: 0.25,
    },
  },
  {
    name: 'write-through',
    description:
      '4 of the 20 rows are written by one worker each, which stores the new value itself with a plain set (TTL 5-30 ms, so its entry soon goes) instead of invalidating',
    harmsServer: false,
    worker: {
      universe: { keys: 20, buckets: 4, writeThrough: 4 },
      writeThroughTtl: [1, 10],
      writeRatio: 0.3,
      fnMax: 30,
    },
  },
  {
    name: 'herd',
    description:
      '16 keys, 24 wrap callers per worker, fills of 0-60 ms, bulk invalidations: one fill per (key, value) across the workers',
    harmsServer: false,
    herd: true,
    // the in-memory backend runs every worker in one process: no fleet to herd
    backends: ['redis', 'acl', 'cluster'],
    worker: {
      universe: { keys: 16, buckets: 1 },
      wrapOnly: true,
      concurrency: 24,
      fnMax: 60,
      writeRatio: 0.02,
      lease: 2000,
    },
  },
  {
    name: 'grace',
    description:
      'grace 40 ms on every value; 30% of expireGroup(s) hard: a wrap may return a value up to 40 ms after its soft invalidation, never after a hard one',
    harmsServer: false,
    worker: {
      universe: { keys: 8, buckets: 2 },
      grace: 40,
      hardRatio: 0.3,
      fnMax: 60,
      writeRatio: 0.2,
    },
  },
  {
    name: 'dead-holder',
    description:
      'a holder process wraps random keys with a function that never returns and is killed (kill -9) inside it every 0.5-1 s: its lease (400 ms) ends, a waiter takes over',
    harmsServer: false,
    herd: true,
    backends: ['redis', 'acl'],
    worker: {
      universe: { keys: 16, buckets: 2 },
      wrapOnly: true,
      concurrency: 16,
      lease: 400,
      fnMax: 30,
      writeRatio: 0.15,
    },
    async inject(ctx) {
      await killHolders(ctx, 400)
    },
  },
  {
    name: 'evict-versions',
    description: 'DEL 1-3 random group version keys every 1-10 ms (an eviction of version keys only)',
    harmsServer: false,
    removesKeys: 'version keys are deleted',
    backends: ['redis', 'acl', 'cluster'],
    async inject(ctx) {
      await evict(ctx, namespaceKeys(ctx).versions, 'versions deleted')
    },
  },
  {
    name: 'evict',
    description: 'DEL 1-3 random keys of the namespace (generations, versions, entries) every 1-10 ms',
    harmsServer: false,
    removesKeys: 'keys are deleted',
    backends: ['redis', 'acl', 'cluster'],
    async inject(ctx) {
      const { versions, generations, entries } = namespaceKeys(ctx)
      // Tombstones three times as likely as the others: they are the keys whose loss is subtle.
      await evict(ctx, [...versions, ...generations, ...generations, ...generations, ...entries], 'keys deleted')
    },
  },
  {
    name: 'failover',
    description:
      'a primary and a replica; every 0.8-1.5 s kill -9 the primary while workers write, promote the replica, add a fresh one',
    failsCalls: 'the primary dies and the proxy switches: calls in flight fail',
    removesKeys: 'a failover loses what had not replicated',
    harmsServer: true,
    replicated: true,
    backends: ['redis'],
    measures:
      'what asynchronous replication loses: invalidations the old primary acknowledged that the promoted replica never got',
    async inject(ctx) {
      await failovers(ctx)
    },
  },
  {
    name: 'failover-wait',
    description: 'failover, with the caches waiting for the replica: waitForReplicas { replicas: 1, timeout: 200 }',
    failsCalls: 'the primary dies and the proxy switches: calls in flight fail, and WAIT times out without a replica',
    removesKeys: 'a failover loses what had not replicated',
    harmsServer: true,
    replicated: true,
    backends: ['redis'],
    worker: { waitForReplicas: { replicas: 1, timeout: 200 } },
    async inject(ctx) {
      await failovers(ctx)
    },
  },
  {
    name: 'cluster-failover',
    description:
      "a replica per master; every 1-2 s a replica in sync takes over its master's slots (CLUSTER FAILOVER), the master becoming its replica",
    failsCalls: 'a failover moves slots to another node: calls in flight may time out before they are redirected',
    harmsServer: true,
    backends: ['cluster'],
    clusterReplicas: true,
    async inject(ctx) {
      const cluster = ownCluster(ctx)
      while (await wait(ctx, between(ctx, 1000, 2000))) {
        const since = ctx.now()
        if (!(await manualFailover(cluster, ctx.random))) continue
        ctx.count('failover')
        ctx.dropped('failover', since)
      }
    },
  },
  {
    name: 'cluster-kill',
    description:
      'a replica per master; every 2-4 s kill -9 a master: the cluster promotes its replica, and the killed node comes back empty as its replica',
    failsCalls: 'a master dies: calls to its slots fail until the cluster promotes its replica',
    removesKeys: 'a failover loses what had not replicated',
    harmsServer: true,
    backends: ['cluster'],
    clusterReplicas: true,
    measures:
      'what asynchronous replication loses: invalidations the killed master acknowledged that its promoted replica never got',
    async inject(ctx) {
      const cluster = ownCluster(ctx)
      while (await wait(ctx, between(ctx, 2000, 4000))) {
        const since = ctx.now()
        const loss = new KillTap(ctx.keys)
        if (!(await killMaster(cluster, ctx.random, between(ctx, 100, 300), loss))) continue
        ctx.count('kill')
        ctx.dropped('kill', since)
        if (loss.failover) ctx.failedOver(loss.failover)
      }
    },
  },
  {
    name: 'cluster-reshard',
    description:
      'every 0.5-1.5 s move 100 slots, keys and all, from one master to another (redis-cli --cluster reshard)',
    failsCalls:
      'while a slot migrates, a call whose keys are split between its two nodes is refused (TRYAGAIN) until its keys have moved',
    harmsServer: true,
    backends: ['cluster'],
    async inject(ctx) {
      const cluster = ownCluster(ctx)
      while (await wait(ctx, between(ctx, 500, 1500))) {
        const moved = await reshard(cluster, ctx.random, 100)
        if (moved === 0) continue
        ctx.count('reshard')
        ctx.count('slots moved', moved)
      }
    },
  },
  {
    name: 'sentinel-kill',
    description:
      'a primary, two replicas and three Sentinels; every 2-4 s kill -9 the primary: the Sentinels promote a replica, and the killed server comes back empty as a replica',
    failsCalls: 'the primary dies: calls fail until the Sentinels promote a replica and the clients find it',
    removesKeys: 'a failover loses what had not replicated',
    harmsServer: true,
    backends: ['sentinel'],
    measures:
      'what asynchronous replication loses: invalidations the killed primary acknowledged that the promoted replica never got',
    async inject(ctx) {
      await sentinelKills(ctx)
    },
  },
  {
    name: 'sentinel-kill-wait',
    description:
      'sentinel-kill, with the caches waiting for the replicas: waitForReplicas { replicas: 1, timeout: 500 }',
    failsCalls:
      'the primary dies: calls fail until the Sentinels promote a replica, and WAIT times out while the new primary has no replica in sync',
    removesKeys: 'a failover loses what had not replicated',
    harmsServer: true,
    backends: ['sentinel'],
    worker: { waitForReplicas: { replicas: 1, timeout: 500 } },
    async inject(ctx) {
      await sentinelKills(ctx)
    },
  },
]

/**
 * A mode that injects faults (a server fault, or fills slower than the lease): a run of it that
 * counted none tested nothing it exists for.
 */
export function injectsFaults(mode: Pick<Mode, 'inject' | 'worker'>): boolean {
  return mode.inject !== undefined || mode.worker?.slowFill !== undefined
}

export const modes: Record<string, Mode> = Object.fromEntries(modeList.map((mode) => [mode.name, mode]))

export function modeNames(): string[] {
  return modeList.map((mode) => mode.name)
}
