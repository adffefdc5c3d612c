import calculateSlot from 'cluster-key-slot'
import type { Cluster, Redis } from 'ioredis'
import type { CacheClient, Store } from './commands.js'
import type { Deadlines } from './deadlines.js'
import { InvalidArgumentError } from './errors.js'
import type { Hints } from './hints.js'
import type { CallOptions, ExpireOptions } from './options.js'
import { ReplicaWait, type WaitForReplicas } from './replicas.js'
import type { Counters } from './stats.js'
import type { Transport } from './transport.js'
import { checkFlag, checkGroups, checkKey, checkKeys, MAX_BATCH } from './validate.js'

/**
 * Invalidations (delete, expireGroups) and, with `waitForReplicas`, the WAIT that makes them
 * resolve only once replicas have them (src/replicas.ts). They never fail silently: each rejects
 * with a typed error when Redis does not confirm it.
 */
export class Invalidation {
  private readonly replicas: ReplicaWait | undefined

  constructor(
    private readonly transport: Transport,
    private readonly store: Store,
    private readonly hints: Hints,
    private readonly lease: number,
    timeout: number,
    waitForReplicas: WaitForReplicas | undefined,
    private readonly counters: Counters,
  ) {
    if (waitForReplicas) this.replicas = new ReplicaWait(transport, waitForReplicas, timeout)
  }

  async delete(key: string, options: CallOptions = {}): Promise<boolean> {
    const cacheKey = checkKey(key)
    const deadlines = this.transport.deadlinesOf(options)
    this.hints.forget(cacheKey)
    const removed = await this.invalidate(
      'delete',
      (client) => this.store.delete(client, [cacheKey], this.lease),
      [this.store.keys.entry(cacheKey)],
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
    return this.invalidate(
      'deleteMany',
      (client) => this.store.delete(client, cacheKeys, this.lease),
      cacheKeys.map((key) => this.store.keys.entry(key)),
      deadlines,
    )
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
    await this.invalidate(
      operation,
      (client) => this.store.expireGroups(client, names, hard),
      names.map((group) => this.store.keys.group(group)),
      deadlines,
    )
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
    this.replicas?.close()
  }

  /**
   * An invalidation, and with `waitForReplicas` a WAIT for it to reach the replicas of every
   * master it wrote on: the masters of `names`' slots (each key's entry and generation share a
   * slot, as each group's version and record do).
   */
  private async invalidate<T>(
    operation: string,
    run: (client: CacheClient) => Promise<T>,
    names: readonly string[],
    deadlines?: Deadlines | null,
  ): Promise<T> {
    const mark = this.replicas?.mark()
    const result = await this.transport.request(operation, run, deadlines)
    if (mark !== undefined) await this.replicas?.confirm(operation, mark, names)
    this.counters.invalidations++
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
