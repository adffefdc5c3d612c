import calculateSlot from 'cluster-key-slot'
import type { Cluster, Redis } from 'ioredis'
import { Deadlines } from './deadlines.js'
import { InvalidArgumentError, ReplicationError } from './errors.js'
import type { Transport } from './transport.js'
import { checkMs } from './validate.js'

export interface WaitForReplicas {
  replicas: number
  timeout: number
}

/** The connections' closes counted when an invalidation began (see `ReplicaWait.confirm`). */
export type Mark = ReadonlyMap<Redis, number>

/**
 * `waitForReplicas`: after an invalidation, a Redis WAIT on each connection its writes went
 * through, so that it resolves only once that many replicas have them.
 *
 * WAIT speaks only for the writes made on its own connection. A connection that closed between
 * the writes and WAIT's answer (ioredis resends a pending WAIT after reconnecting, maybe to a newly
 * promoted primary that never had the writes) proves nothing: the invalidation is rejected.
 *
 * One server (Sentinel too): one WAIT on the client. A Cluster: one WAIT per master serving a slot
 * of the keys written, sent at once, each on the Cluster's own connection to that master, the one
 * its writes went through; the fewest acknowledgements of them is the answer.
 */
export class ReplicaWait {
  /** Deadlines of WAITs: the invalidation's time, then WAIT's own timeout. */
  private readonly deadlines: Deadlines | undefined
  /** Each connection watched: how many times it closed since it was first seen, and how to stop. */
  private readonly watched = new Map<Redis, { closes: number; stop(): void }>()
  private readonly cluster: Cluster | undefined

  constructor(
    private readonly transport: Transport,
    private readonly wanted: WaitForReplicas,
    timeout: number,
  ) {
    const waitMs = wanted.timeout + timeout
    if (Number.isFinite(waitMs)) this.deadlines = new Deadlines(waitMs)
    const client = transport.client as unknown as Cluster | Redis
    if (client.isCluster) {
      const cluster = client as Cluster
      this.cluster = cluster
      cluster.on('+node', this.watch)
      cluster.on('-node', this.unwatch)
      for (const node of cluster.nodes('all')) this.watch(node)
    } else this.watch(client as Redis)
  }

  private readonly watch = (connection: Redis) => {
    if (this.watched.has(connection)) return
    const closed = () => state.closes++
    const state = { closes: 0, stop: () => connection.off('close', closed) }
    connection.on('close', closed)
    this.watched.set(connection, state)
  }

  private readonly unwatch = (connection: Redis) => {
    this.watched.get(connection)?.stop()
    this.watched.delete(connection)
  }

  /** Taken before an invalidation's writes are sent. */
  mark(): Mark {
    return new Map([...this.watched].map(([connection, { closes }]) => [connection, closes]))
  }

  /**
   * Resolves once `wanted.replicas` replicas of every master the invalidation wrote `names` on
   * acknowledged them; rejects with ReplicationError when fewer did in time, or when a connection
   * the writes may have gone through closed since `mark`.
   */
  async confirm(operation: string, mark: Mark, names: readonly string[]): Promise<void> {
    const { replicas, timeout } = this.wanted
    const connections = this.cluster ? this.mastersOf(operation, names) : [this.transport.client as unknown as Redis]
    const acknowledged = await Promise.all(
      connections.map((connection) =>
        this.transport.request(operation, () => connection.wait(replicas, timeout), this.deadlines),
      ),
    )
    for (const connection of connections) {
      const before = mark.get(connection)
      if (before === undefined || this.watched.get(connection)?.closes !== before) {
        throw new ReplicationError(operation, 0, replicas, 'the connection was replaced before WAIT answered')
      }
    }
    const fewest = Math.min(...acknowledged)
    if (fewest < replicas) throw new ReplicationError(operation, fewest, replicas)
  }

  /** The Cluster's connection to the master of each slot `names` are on, each once. */
  private mastersOf(operation: string, names: readonly string[]): Redis[] {
    const cluster = this.cluster as Cluster
    const byAddress = new Map(
      cluster.nodes('master').map((node) => [`${node.options.host}:${node.options.port}`, node]),
    )
    const masters = new Set<Redis>()
    for (const name of names) {
      const address = cluster.slots[calculateSlot(name)]?.[0]
      const master = address === undefined ? undefined : byAddress.get(address)
      if (master === undefined) {
        throw new ReplicationError(operation, 0, this.wanted.replicas, `no master is known for the slot of ${name}`)
      }
      masters.add(master)
    }
    return [...masters]
  }

  /** Stops listening to the client (the cache is closing). */
  close(): void {
    this.cluster?.off('+node', this.watch)
    this.cluster?.off('-node', this.unwatch)
    for (const connection of [...this.watched.keys()]) this.unwatch(connection)
  }
}

/** `waitForReplicas` needs WAIT on connections of its own: an ioredis Redis, Cluster, or URL; not 'memory'. */
export function checkWaitForReplicas(option: unknown, redis: unknown): WaitForReplicas | undefined {
  if (option === undefined) return undefined
  const { replicas, timeout } = (option ?? {}) as { replicas?: unknown; timeout?: unknown }
  const client = redis as { wait?: unknown; isCluster?: unknown } | null
  if (redis === 'memory' || (typeof redis === 'object' && !client?.isCluster && typeof client?.wait !== 'function')) {
    throw new InvalidArgumentError('waitForReplicas needs an ioredis Redis or Cluster, or a redis:// URL')
  }
  return {
    replicas: checkMs(replicas, 'waitForReplicas.replicas'),
    timeout: checkMs(timeout, 'waitForReplicas.timeout'),
  }
}
