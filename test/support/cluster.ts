import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { createServer, type Server } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { Redis } from 'ioredis'
import { type RedisServer, startLocalRedisServer, waitForPing } from './redis-server.js'

/**
 * A Redis Cluster for the behaviour suite's [cluster] backend: REDIS_CLUSTER_URL, else three
 * masters the run starts from the `redis-server` on PATH. Without either, the [cluster] tests
 * fail with HOW_TO_PROVIDE_CLUSTER: they never skip.
 */
export const HOW_TO_PROVIDE_CLUSTER = [
  'The [cluster] backend needs a Redis Cluster (7.0 or newer). Provide one of:',
  '  - redis-server on PATH (apt-get install redis-server, brew install redis): the run starts 3 masters with a replica each on free ports',
  '  - REDIS_CLUSTER_URL=redis://host:port (a node of a cluster the tests may write to; each test uses its own namespace)',
].join('\n')

export interface RedisCluster {
  /** `redis://host:port` of each master: startup nodes for an ioredis `Cluster`. */
  readonly nodes: readonly string[]
  /**
   * Every server of a cluster this run started, masters first then replicas, each of which a
   * fault may kill and restart (it rejoins with its nodes.conf, empty); none for a cluster the
   * environment provides.
   */
  readonly servers: readonly RedisServer[]
  /** Starts a replica of the master at `url`, in sync when this resolves; `stop()` stops it too. */
  addReplica(url: string): Promise<RedisServer>
  stop(): Promise<void>
}

const SLOTS = 16_384

/** `count` distinct free ports: all held at once, so none is handed out twice. */
async function freePorts(count: number): Promise<number[]> {
  const servers: Server[] = []
  try {
    for (let i = 0; i < count; i++) {
      const server = createServer()
      servers.push(server)
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject)
        server.listen(0, '127.0.0.1', resolve)
      })
    }
    return servers.map((server) => {
      const address = server.address()
      if (address === null || typeof address === 'string') throw new Error('no free port')
      return address.port
    })
  } finally {
    for (const server of servers) server.close()
  }
}

async function clusterInfo(client: Redis): Promise<Record<string, string>> {
  const text = String(await client.cluster('INFO'))
  return Object.fromEntries(text.split(/\r?\n/).map((line) => line.split(':') as [string, string]))
}

/** Until every node says the cluster is ok, knows all the others and serves every slot. */
async function waitForClusterOk(clients: readonly Redis[], deadline: number): Promise<void> {
  for (;;) {
    const infos = await Promise.all(clients.map(clusterInfo))
    const ok = infos.every(
      (info) =>
        info.cluster_state === 'ok' &&
        info.cluster_known_nodes === String(clients.length) &&
        info.cluster_slots_ok === String(SLOTS),
    )
    if (ok) return
    if (Date.now() > deadline) throw new Error(`the cluster did not reach cluster_state:ok: ${JSON.stringify(infos)}`)
    await sleep(50)
  }
}

/**
 * `masters` redis-servers with --cluster-enabled yes on free ports (client and bus), each with
 * its own data dir and nodes.conf under one temp dir; slots split evenly with CLUSTER
 * ADDSLOTSRANGE, joined with CLUSTER MEET. `stop()` kills them and removes the dir.
 */
export async function startCluster(masters = 3): Promise<RedisCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'rgc-cluster-'))
  const ports = await freePorts(masters * 2)
  const started = await Promise.allSettled(
    Array.from({ length: masters }, (_, i) => {
      const nodeDir = join(dir, `node${i}`)
      mkdirSync(nodeDir)
      const args = ['--dir', nodeDir, '--cluster-enabled', 'yes', '--cluster-config-file', join(nodeDir, 'nodes.conf')]
      // The bus port is given, not port + 10000: that one may be taken or above 65535.
      return startLocalRedisServer([...args, '--cluster-port', String(ports[masters + i])], ports[i])
    }),
  )
  const servers = started.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []))
  const stop = async () => {
    await Promise.all(servers.map((server) => server.stop()))
    rmSync(dir, { recursive: true, force: true })
  }
  const addReplica = async (url: string) => {
    const replica = await startReplica(url)
    servers.push(replica)
    return replica
  }
  const clients = servers.map((server) => new Redis(server.url))
  try {
    const failed = started.find((result): result is PromiseRejectedResult => result.status === 'rejected')
    if (failed) throw failed.reason
    await Promise.all(
      clients.map((client, i) =>
        client.cluster('ADDSLOTSRANGE', Math.floor((i * SLOTS) / masters), Math.floor(((i + 1) * SLOTS) / masters) - 1),
      ),
    )
    const first = clients[0] as Redis
    for (let i = 1; i < masters; i++) {
      // MEET with a bus port: Redis 7.0 and newer; ioredis types only the two-argument form.
      await first.call('CLUSTER', 'MEET', '127.0.0.1', ports[i] as number, ports[masters + i] as number)
    }
    await waitForClusterOk(clients, Date.now() + 20_000)
  } catch (error) {
    await stop()
    throw error
  } finally {
    for (const client of clients) client.disconnect()
  }
  return { nodes: servers.map((server: RedisServer) => server.url), servers, addReplica, stop }
}

/** A cluster the environment provides: answering, and its state ok. */
export async function clusterFromUrl(url: string): Promise<RedisCluster> {
  await waitForPing(url, Date.now() + 5000)
  const client = new Redis(url)
  try {
    const info = await clusterInfo(client)
    if (info.cluster_state !== 'ok') throw new Error(`cluster_state is ${info.cluster_state ?? 'missing'}, not ok`)
  } finally {
    client.disconnect()
  }
  return {
    nodes: [url],
    servers: [],
    addReplica: () => Promise.reject(new Error('a cluster from REDIS_CLUSTER_URL takes no replicas from the tests')),
    stop: async () => {},
  }
}

/**
 * One more redis-server joined to the cluster of `masterUrl` as that master's replica, once it
 * is in sync: a `CLUSTER FAILOVER` sent to it moves the master's slots to it. `stop()` kills it.
 */
export async function startReplica(masterUrl: string): Promise<RedisServer & { url: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'rgc-replica-'))
  const [port, bus] = await freePorts(2)
  const server = await startLocalRedisServer(
    [
      '--dir',
      dir,
      '--cluster-enabled',
      'yes',
      '--cluster-config-file',
      join(dir, 'nodes.conf'),
      '--cluster-port',
      String(bus),
    ],
    port,
  )
  const replica = new Redis(server.url)
  const master = new Redis(masterUrl)
  try {
    const masterId = String(await master.cluster('MYID'))
    // `<id> <ip>:<port>@<bus port> myself,master ...`: the bus port is not port + 10000 here
    const myself = String(await master.cluster('NODES'))
      .split('\n')
      .find((line) => line.includes('myself'))
    const [, masterPort, masterBus] = /:(\d+)@(\d+)/.exec(myself ?? '') ?? []
    if (!masterPort || !masterBus) throw new Error(`no address in CLUSTER NODES: ${myself}`)
    await replica.call('CLUSTER', 'MEET', '127.0.0.1', Number(masterPort), Number(masterBus))
    const deadline = Date.now() + 20_000
    // REPLICATE needs the replica to know the master first
    for (;;) {
      try {
        await replica.cluster('REPLICATE', masterId)
        break
      } catch (error) {
        if (Date.now() > deadline) throw error
        await sleep(50)
      }
    }
    for (;;) {
      const info = String(await replica.info('replication'))
      if (info.includes('master_link_status:up')) break
      if (Date.now() > deadline) throw new Error(`the replica did not sync: ${info}`)
      await sleep(50)
    }
  } catch (error) {
    await server.stop()
    throw error
  } finally {
    replica.disconnect()
    master.disconnect()
  }
  return {
    ...server,
    async stop() {
      await server.stop()
      rmSync(dir, { recursive: true, force: true })
    },
  }
}
