/**
 * The checker's faults on a Redis Cluster (the `cluster` backend): a replica per master taking
 * over by `CLUSTER FAILOVER`, a master killed with kill -9 and replaced by its replica, slots
 * migrating between masters (`redis-cli --cluster reshard`) while the workers run. Each leaves
 * the cluster serving every slot when the run ends. check/faults.ts lists them as modes.
 */
import { execFile } from 'node:child_process'
import { setTimeout as sleep } from 'node:timers/promises'
import { promisify } from 'node:util'
import { Redis } from 'ioredis'
import type { RedisCluster } from '../test/support/cluster.js'
import type { KillWatch } from './replication.js'

/** A node as CLUSTER NODES describes it. */
export interface ClusterNode {
  id: string
  /** `redis://127.0.0.1:<port>` */
  url: string
  host: string
  port: number
  master: boolean
  /** the id of its master, for a replica */
  of: string | undefined
  /** flagged `fail` or `fail?`, or disconnected */
  failing: boolean
  slots: number
}

/** How many slots a CLUSTER NODES line's slot fields hold (`0-5460`, `42`; migrations in brackets are not). */
function slotCount(fields: readonly string[]): number {
  let count = 0
  for (const field of fields) {
    if (field.startsWith('[')) continue
    const [from, to] = field.split('-').map(Number)
    count += to === undefined ? 1 : to - (from as number) + 1
  }
  return count
}

/** The cluster's nodes, as one live node of `cluster` sees them. */
export async function clusterNodes(cluster: RedisCluster): Promise<ClusterNode[]> {
  let lastError: unknown
  for (const server of cluster.servers) {
    const client = new Redis(server.url, { lazyConnect: true, maxRetriesPerRequest: 0, connectTimeout: 500 })
    client.on('error', () => {})
    try {
      await client.connect()
      const text = String(await client.cluster('NODES'))
      return text
        .trim()
        .split('\n')
        .map((line) => {
          const [id, address, flags, of, , , , link, ...slots] = line.split(' ') as string[]
          const [host, port] = (address as string).split('@')[0]?.split(':') ?? []
          const flagList = (flags as string).split(',')
          return {
            id: id as string,
            url: `redis://${host}:${port}`,
            host: host as string,
            port: Number(port),
            master: flagList.includes('master'),
            of: of === '-' ? undefined : of,
            failing: flagList.includes('fail') || flagList.includes('fail?') || link !== 'connected',
            slots: slotCount(slots),
          }
        })
    } catch (error) {
      lastError = error
    } finally {
      client.disconnect()
    }
  }
  throw new Error(`no node of the cluster answers CLUSTER NODES: ${String(lastError)}`)
}

/** Until every live node says cluster_state:ok (and no node is failing), or `ms` pass. */
export async function untilClusterOk(cluster: RedisCluster, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms
  for (;;) {
    try {
      const nodes = await clusterNodes(cluster)
      if (nodes.every((node) => !node.failing)) {
        const states = await Promise.all(nodes.map((node) => clusterState(node.url)))
        if (states.every((state) => state === 'ok')) return
      }
    } catch {
      // a node is restarting
    }
    if (Date.now() > deadline) throw new Error('the cluster did not come back to cluster_state:ok')
    await sleep(100)
  }
}

async function clusterState(url: string): Promise<string | undefined> {
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, connectTimeout: 500 })
  client.on('error', () => {})
  try {
    await client.connect()
    return /cluster_state:(\w+)/.exec(String(await client.cluster('INFO')))?.[1]
  } catch {
    return undefined
  } finally {
    client.disconnect()
  }
}

/** Until the replica at `url` has its master link up (in sync), or `ms` pass. */
async function untilInSync(url: string, ms = 20_000): Promise<void> {
  const client = new Redis(url, { maxRetriesPerRequest: 0 })
  client.on('error', () => {})
  const deadline = Date.now() + ms
  try {
    for (;;) {
      const info = await client.info('replication').catch(() => '')
      if (info.includes('role:slave') && info.includes('master_link_status:up')) return
      if (Date.now() > deadline) throw new Error(`the replica at ${url} did not sync`)
      await sleep(50)
    }
  } finally {
    client.disconnect()
  }
}

/** ms before a cluster node declares a silent peer failed, in the cluster modes (Redis's default, 15 s, would stall a run). */
export const NODE_TIMEOUT = 1000

/**
 * Every master with slots gets a replica (once per run: they stay for later modes), and every node
 * declares a failed peer within `nodeTimeout` ms (the default, 15 s, would stall the run).
 */
export async function withReplicas(cluster: RedisCluster, nodeTimeout: number): Promise<void> {
  const nodes = await clusterNodes(cluster)
  for (const master of nodes.filter((node) => node.master && node.slots > 0)) {
    if (!nodes.some((node) => node.of === master.id)) await cluster.addReplica(master.url)
  }
  for (const server of cluster.servers) {
    const client = new Redis(server.url, { maxRetriesPerRequest: 0 })
    try {
      await client.config('SET', 'cluster-node-timeout', String(nodeTimeout))
      // any replica may take over, however long its link was down
      await client.config('SET', 'cluster-replica-validity-factor', '0')
    } finally {
      client.disconnect()
    }
  }
  await untilClusterOk(cluster)
}

/** A replica of the cluster, in sync, at random; undefined when there is none. */
async function syncedReplica(cluster: RedisCluster, random: () => number): Promise<ClusterNode | undefined> {
  const replicas = (await clusterNodes(cluster)).filter((node) => !node.master && !node.failing && node.of)
  const replica = replicas[Math.floor(random() * replicas.length)]
  if (replica === undefined) return undefined
  await untilInSync(replica.url)
  return replica
}

/**
 * A manual failover: a replica in sync takes over its master's slots (`CLUSTER FAILOVER`: the
 * master stops taking writes, the replica catches up, then switches), the master becoming its
 * replica. Nothing acknowledged is lost. Resolves once the cluster serves every slot again.
 */
export async function manualFailover(cluster: RedisCluster, random: () => number): Promise<boolean> {
  const replica = await syncedReplica(cluster, random)
  if (replica === undefined) return false
  const client = new Redis(replica.url, { maxRetriesPerRequest: 0 })
  try {
    await client.cluster('FAILOVER')
    const deadline = Date.now() + 15_000
    while (!String(await client.info('replication')).includes('role:master')) {
      if (Date.now() > deadline) throw new Error(`CLUSTER FAILOVER on ${replica.url} did not promote it`)
      await sleep(20)
    }
  } finally {
    client.disconnect()
  }
  await untilClusterOk(cluster)
  return true
}

/**
 * kill -9 of a master with a replica in sync: the cluster fails it after the node timeout and
 * promotes the replica (asynchronous replication: what the master acknowledged and had not sent
 * is lost). The killed node restarts empty after `restartAfter` ms and rejoins, by its
 * nodes.conf, as a replica of its old replica. Resolves with when the kill happened, once the
 * cluster serves every slot again.
 */
export async function killMaster(
  cluster: RedisCluster,
  random: () => number,
  restartAfter: number,
  watch?: KillWatch,
): Promise<boolean> {
  const replica = await syncedReplica(cluster, random)
  if (replica === undefined) return false
  const master = (await clusterNodes(cluster)).find((node) => node.id === replica.of)
  const server = cluster.servers.find((candidate) => candidate.url === master?.url)
  if (master === undefined || server === undefined) return false
  await watch?.before(master.port)
  await server.kill()
  const client = new Redis(replica.url, { maxRetriesPerRequest: 0 })
  try {
    const deadline = Date.now() + 30_000
    while (!String(await client.info('replication')).includes('role:master')) {
      if (Date.now() > deadline) throw new Error(`the replica ${replica.url} was not promoted after its master died`)
      await sleep(50)
    }
  } finally {
    client.disconnect()
  }
  await watch?.promoted(replica.url)
  await sleep(restartAfter)
  await server.restart()
  await untilClusterOk(cluster, 30_000)
  await untilInSync(master.url)
  return true
}

const run = promisify(execFile)

/**
 * Moves `slots` slots, keys and all, from one master to another, as an operator would: `redis-cli
 * --cluster reshard` (CLUSTER SETSLOT ... MIGRATING/IMPORTING, then MIGRATE of each key): while it
 * runs, clients get ASK and then MOVED for the keys that moved. Resolves how many slots moved.
 */
export async function reshard(cluster: RedisCluster, random: () => number, slots: number): Promise<number> {
  const masters = (await clusterNodes(cluster)).filter((node) => node.master && !node.failing && node.slots > 0)
  if (masters.length < 2) return 0
  const from = masters[Math.floor(random() * masters.length)] as ClusterNode
  const others = masters.filter((node) => node !== from)
  const to = others[Math.floor(random() * others.length)] as ClusterNode
  const count = Math.min(slots, from.slots - 1)
  if (count <= 0) return 0
  await run(
    'redis-cli',
    [
      '--cluster',
      'reshard',
      `${from.host}:${from.port}`,
      '--cluster-from',
      from.id,
      '--cluster-to',
      to.id,
      '--cluster-slots',
      String(count),
      '--cluster-yes',
      '--cluster-pipeline',
      '20',
    ],
    { timeout: 60_000 },
  )
  return count
}
