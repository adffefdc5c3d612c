import calculateSlot from 'cluster-key-slot'
import type { Cluster, Redis } from 'ioredis'
import type { CacheClient, Store } from './commands.js'
import { Deadlines } from './deadlines.js'
import { InvalidArgumentError, ReplicationError } from './errors.js'
import type { Hints } from './hints.js'
import type { CallOptions, ExpireOptions } from './options.js'
import { same, type Transport } from './transport.js'
import { checkFlag, checkGroups, checkKey, checkKeys, checkMs, MAX_BATCH } from './validate.js'

export interface WaitForReplicas {
  replicas: number
  timeout: number
}

/**
 * Invalidations (delete, expireGroups) and, with `waitForReplicas`, the WAIT that makes them
 * resolve only once replicas have them. They never fail silently: each rejects with a typed error
 * when Redis does not confirm it.
 */
export class Invalidation {
  /** Deadlines of WAITs: the script, then WAIT for up to its own timeout. */
  private readonly waitDeadlines: Deadlines | undefined
  /** With `waitForReplicas`: how many times the connection closed (see `invalidate`). */
  private connectionCount = 0
  private readonly countClose = () => {
    this.connectionCount++
  }

  constructor(
    private readonly transport: Transport,
    private readonly store: Store,
    private readonly hints: Hints,
    private readonly lease: number,
    timeout: number,
    private readonly waitForReplicas: WaitForReplicas | undefined,
  ) {
    const waitMs = (waitForReplicas?.timeout ?? Number.NaN) + timeout
    if (Number.isFinite(waitMs)) this.waitDeadlines = new Deadlines(waitMs)
    if (waitForReplicas) (transport.client as unknown as Redis).on('close', this.countClose)
  }

  async delete(key: string, options: CallOptions = {}): Promise<boolean> {
    const cacheKey = checkKey(key)
    const deadlines = this.transport.deadlinesOf(options)
    this.hints.forget(cacheKey)
    const removed = await this.invalidate(
      'delete',
      (client) => this.store.delete(client, [cacheKey], this.lease),
      deadlines,
    )
    return removed === 1
  }

  /** Deletes every key's entry at once, in one round trip; resolves how many live entries it removed. */
  async deleteMany(keys: readonly string[], options: CallOptions = {}): Promise<number> {
    const cacheKeys = [...new Set(checkKeys(keys))]
    const deadlines = this.transport.deadlinesOf(options)
    if (cacheKeys.length === 0) return 0
    for (const key of cacheKeys) this.hints.forget(key)
    return this.invalidate('deleteMany', (client) => this.store.delete(client, cacheKeys, this.lease), deadlines)
  }

  /** Soft by default: a value stored with grace may be served for that grace; `hard`: never. */
  async expireGroups(
    groups: readonly string[],
    options: ExpireOptions = {},
    operation: 'expireGroup' | 'expireGroups' = 'expireGroups',
  ): Promise<void> {
    if (!Array.isArray(groups)) throw new InvalidArgumentError('groups must be an array')
    if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('options must be an object')
    const hard = checkFlag(options.hard, 'hard')
    const deadlines = this.transport.deadlinesOf(options)
    const names = checkGroups(groups, MAX_BATCH)
    if (names.length === 0) return
    await this.invalidate(operation, (client) => this.store.expireGroups(client, names, hard), deadlines)
  }

  /**
   * Deletes every key of the namespace, and only those: SCAN of its pattern, then DEL in batches
   * (on a Cluster, on every master). Not atomic: a value stored meanwhile may stay. Safe for
   * fills in flight: their keys' generations and groups' versions go too, so their sets are
   * refused. Resolves how many keys it deleted.
   */
  async clear(): Promise<number> {
    const client = this.transport.client as unknown as Partial<Cluster> & Pick<Redis, 'scan' | 'del'>
    const nodes = typeof client.nodes === 'function' && client.isCluster ? client.nodes('master') : [client]
    let deleted = 0
    for (const node of nodes) {
      let cursor = '0'
      do {
        const [next, found] = await this.transport.request('clear', () =>
          node.scan(cursor, 'MATCH', this.store.keys.pattern, 'COUNT', 1000),
        )
        cursor = next
        // one DEL per slot: under sharding 'key' a node's keys are of many slots
        for (const names of bySlot(found)) deleted += await this.transport.request('clear', () => node.del(...names))
      } while (cursor !== '0')
    }
    this.hints.clear()
    return deleted
  }

  /** Stops listening to the client (the cache is closing). */
  close(): void {
    if (this.waitForReplicas) (this.transport.client as unknown as Redis).off('close', this.countClose)
  }

  /**
   * An invalidation, and with `waitForReplicas` a WAIT for it to reach the replicas. WAIT only
   * speaks for writes made on its own connection: if the connection was replaced in between
   * (ioredis resends a pending WAIT after reconnecting, maybe to a newly promoted primary that
   * never had the write), its answer proves nothing and the invalidation is rejected.
   */
  private async invalidate<T>(
    operation: string,
    run: (client: CacheClient) => Promise<T>,
    deadlines?: Deadlines | null,
  ): Promise<T> {
    const wanted = this.waitForReplicas
    const connection = this.connectionCount
    const result = await this.transport.request(operation, run, deadlines)
    if (wanted === undefined) return result
    const acknowledged = await this.transport.call(
      operation,
      (client) => (client as unknown as Pick<Redis, 'wait'>).wait(wanted.replicas, wanted.timeout),
      same,
      undefined,
      this.waitDeadlines,
    )
    if (this.connectionCount !== connection) {
      throw new ReplicationError(operation, 0, wanted.replicas, 'the connection was replaced before WAIT answered')
    }
    if (acknowledged < wanted.replicas) throw new ReplicationError(operation, acknowledged, wanted.replicas)
    return result
  }
}

function bySlot(names: readonly string[]): string[][] {
  const slots = new Map<number, string[]>()
  for (const name of names) {
    const slot = calculateSlot(name)
    const list = slots.get(slot)
    if (list === undefined) slots.set(slot, [name])
    else list.push(name)
  }
  return [...slots.values()]
}

/** `waitForReplicas` needs WAIT on one connection: a standalone Redis, not a Cluster or 'memory'. */
export function checkWaitForReplicas(option: unknown, redis: unknown): WaitForReplicas | undefined {
  if (option === undefined) return undefined
  const { replicas, timeout } = (option ?? {}) as { replicas?: unknown; timeout?: unknown }
  const client = redis as { wait?: unknown; isCluster?: unknown } | null
  if (redis === 'memory' || (typeof redis === 'object' && (client?.isCluster || typeof client?.wait !== 'function'))) {
    throw new InvalidArgumentError('waitForReplicas needs a standalone ioredis Redis or a redis:// URL')
  }
  return {
    replicas: checkMs(replicas, 'waitForReplicas.replicas'),
    timeout: checkMs(timeout, 'waitForReplicas.timeout'),
  }
}
