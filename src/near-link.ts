import type { Redis, RedisOptions } from 'ioredis'

/**
 * The near cache's link to Redis: its two connections of its own and the sync point. The held
 * entries, and what an invalidation drops, are src/near.ts's.
 *
 * `tracked` reads the entries the near cache holds, with Redis's client tracking on (default
 * mode: Redis remembers the keys this connection read, and a write to any of them, by any client,
 * an eviction, an expiry or a FLUSHDB, sends their names), redirected to `feed`, subscribed to
 * `__redis__:invalidate`; each message goes to the holder's `message`.
 *
 * In sync: both connections ready, `feed` subscribed and `tracked`'s tracking redirected to it.
 * Either one closing loses messages (and `tracked`'s tracking goes with it; `feed` comes back
 * under another client id): the holder's `lost` drops everything, and nothing is in sync until
 * both are back, subscribed and redirected anew.
 *
 * The sync point. The invalidation of an expireGroup that resolved in another process may still
 * be on its way to this one when a read begins here. `sync()` resolves true once a PING written
 * on `feed` after the read began has been answered: Redis sends the invalidations of every
 * command it ran before that PING first, on that connection, and TCP keeps their order. Reads that
 * begin before the PING is written share it: one PING per batch.
 *
 * Where the namespace lives. At most every SERVES_CHECK_MS a sync point also asks whether
 * `tracked`'s node still serves the namespace as its master: a master demoted by a failover keeps
 * answering PINGs while the writes are elsewhere, and reach it only by replication, later. A node
 * that does not (or a MOVED reply, `relocate()`) closes both connections and opens new ones where
 * the namespace lives now, after a pause that grows while it is not found.
 */

const CHANNEL = '__redis__:invalidate'
/** ms before the connections are opened anew after their node stopped serving the namespace, doubling up to the max */
const RELOCATE_MIN = 100
const RELOCATE_MAX = 2000
/** ms a sync point trusts the last check that the node serves the namespace as its master */
const SERVES_CHECK_MS = 100

/** A Redis node: where a Cluster's namespace lives. */
export interface NearNode {
  host: string
  port: number
}

/** Where the near cache's connections go (src/connection.ts makes one from the `redis` option). */
export interface NearSource {
  /** A connection of the near cache's own, to `node` (a Cluster's), or to the cache's Redis. */
  open(options: RedisOptions, node: NearNode | undefined): Redis
  /** The node the namespace lives on now: a Cluster's master of its slot; undefined for one server. */
  locate(): Promise<NearNode | undefined>
  /** Whether the node `tracked` is connected to serves the namespace as its master now. */
  serves(tracked: Redis): Promise<boolean>
}

/** A reply saying the key's slot is served by another node. */
export function isMoved(error: unknown): boolean {
  return error instanceof Error && /^(MOVED|ASK|CLUSTERDOWN|READONLY)\b/.test(error.message)
}

/** What the link tells the entries it serves. */
export interface LinkHolder {
  /** A message on `feed`: a key's name, several, or none (everything). */
  message(message: unknown): void
  /** Messages may be lost from now on, or the link just came into sync: drop everything held. */
  clear(): void
  /** Moves whenever everything held is dropped: a sync point begun before counts for nothing. */
  readonly epoch: number
}

/**
 * The near cache's links to Redis: one NearLink (a server, or the master of a Cluster namespace's
 * slot), or one per master (src/near-links.ts: a Cluster under sharding 'key').
 */
export interface NearLinks {
  /** Whether values are held and served now: every link in sync. */
  readonly inSync: boolean
  /** One connection reads every key: an entry and its versions in one MGET, at one instant. */
  readonly single: boolean
  /** The connection to read `name` on to hold it (the master of its slot), while in sync. */
  readerOf(name: string): Redis | undefined
  /** A sync point over every link (see NearLink's). */
  sync(): Promise<boolean>
  /** A read on a reader answered MOVED or ASK: its slot is served elsewhere now. */
  moved(): void
  close(): Promise<void>
}

/** Makes the links of a near cache (src/connection.ts makes one from the `redis` option). */
export type OpenLinks = (
  holder: LinkHolder,
  /** ms a sync point may take before the link counts as out of sync */
  timeout: number,
  report: (error: unknown) => void,
) => NearLinks

export class NearLink implements NearLinks {
  readonly single = true

  /** The two connections, to the node the namespace lives on (none while it is located). */
  private tracked: Redis | undefined
  private feed: Redis | undefined
  /** While the connections are replaced (a failover, a moved slot), and how long the next wait is. */
  private relocating = false
  private relocateDelay = RELOCATE_MIN
  /** When (performance.now()) the node was last seen to serve the namespace; -Infinity: never */
  private servedAt = Number.NEGATIVE_INFINITY
  /** Both connections ready, subscribed and redirected: only then is anything held or served. */
  private synced = false
  /** Moves whenever a connection closes: a resync begun before counts for nothing. */
  private connections = 0
  /** The sync point the reads beginning now will share, until its PING is written. */
  private next: Promise<boolean> | undefined
  /** `feed`'s client id, once it is subscribed on its current connection */
  private feedId: string | undefined
  /** Moves whenever `feed` closes. */
  private feedSession = 0
  private closed = false

  constructor(
    private readonly source: NearSource,
    /** ms a sync point may take before the link counts as out of sync */
    private readonly timeout: number,
    private readonly holder: LinkHolder,
    private readonly report: (error: unknown) => void,
  ) {
    void this.connect()
  }

  /** Whether values are held and served now (both connections in sync). */
  get inSync(): boolean {
    return this.synced
  }

  /** The connection entries are read on to be held: defined while in sync. */
  get reader(): Redis | undefined {
    return this.synced ? this.tracked : undefined
  }

  readerOf(): Redis | undefined {
    return this.reader
  }

  moved(): void {
    this.relocate()
  }

  /** Opens the two connections to where the namespace lives now (a Cluster: its slot's master). */
  private async connect(): Promise<void> {
    if (this.closed) return
    let node: NearNode | undefined
    try {
      node = await this.source.locate()
    } catch (error) {
      this.report(error)
      this.relocate()
      return
    }
    if (this.closed) return
    // Commands fail at once while a connection is down (no offline queue): the near cache is then
    // out of sync anyway, and a read goes to Redis by the usual path.
    const options: RedisOptions = { enableOfflineQueue: false, autoResubscribe: false, maxRetriesPerRequest: 1 }
    const tracked = this.source.open(options, node)
    const feed = this.source.open(options, node)
    this.tracked = tracked
    this.feed = feed
    for (const connection of [tracked, feed]) {
      connection.on('error', () => {}) // the cache's own connection reports outages
      connection.on('close', () => {
        if (connection === this.feed) {
          this.feedId = undefined
          this.feedSession++
        }
        this.lost()
      })
      connection.on('ready', () => void this.resync())
    }
    feed.on('message', (channel: string, message: unknown) => {
      if (channel === CHANNEL) this.holder.message(message)
    })
  }

  /**
   * The node stopped serving the namespace as its master (a failover, a slot moved): drop
   * everything, close both connections and open new ones where it lives now, after a pause that
   * grows while the node is not found.
   */
  relocate(): void {
    if (this.relocating || this.closed) return
    this.relocating = true
    this.lost()
    for (const connection of [this.tracked, this.feed]) {
      connection?.removeAllListeners()
      connection?.on('error', () => {})
      connection?.disconnect()
    }
    this.tracked = undefined
    this.feed = undefined
    this.feedId = undefined
    this.feedSession++
    const delay = this.relocateDelay
    this.relocateDelay = Math.min(this.relocateDelay * 2, RELOCATE_MAX)
    setTimeout(() => {
      this.relocating = false
      void this.connect()
    }, delay).unref()
  }

  async close(): Promise<void> {
    this.closed = true
    this.synced = false
    const connections = [this.tracked, this.feed].filter((connection) => connection !== undefined)
    await Promise.allSettled(connections.map((connection) => connection.quit()))
    for (const connection of connections) connection.disconnect()
  }

  /**
   * A sync point for the reads that begin before it is sent: true once a PING written after they
   * began was answered on `feed`, with the link still in sync and nothing dropped meanwhile. (A
   * check of the node's role on every sync point would cost a second command per batch, half a
   * strict hit's speed at concurrency 1; the data path reading a demoted node has the same window
   * until its client notices.)
   */
  sync(): Promise<boolean> {
    if (this.next === undefined) {
      const epoch = this.holder.epoch
      this.next = new Promise<boolean>((resolve) => {
        // Sent once the reads beginning now have asked: they share it.
        queueMicrotask(() => {
          this.next = undefined
          this.ping(epoch).then(resolve)
        })
      })
    }
    return this.next
  }

  private ping(epoch: number): Promise<boolean> {
    const { feed, tracked } = this
    if (feed === undefined || tracked === undefined) return Promise.resolve(false)
    return new Promise<boolean>((resolve) => {
      // A feed that does not answer may have lost messages: drop everything, and reconnect it
      // (its `ready` resyncs).
      const timer = setTimeout(() => {
        this.lost()
        feed.disconnect(true)
        resolve(false)
      }, this.timeout)
      const due = performance.now() - this.servedAt >= SERVES_CHECK_MS
      const checked = due ? this.source.serves(tracked) : true
      Promise.all([feed.ping(), checked]).then(
        ([, serves]) => {
          clearTimeout(timer)
          if (!serves) this.relocate()
          else if (due) {
            this.servedAt = performance.now()
            this.relocateDelay = RELOCATE_MIN
          }
          resolve(serves && this.synced && this.holder.epoch === epoch)
        },
        () => {
          clearTimeout(timer)
          resolve(false)
        },
      )
    })
  }

  /** A connection closed: messages may be lost from now on. Nothing is held or served until a resync. */
  private lost(): void {
    this.connections++
    this.synced = false
    this.servedAt = Number.NEGATIVE_INFINITY
    this.holder.clear()
  }

  /**
   * Both connections up: subscribe `feed`, learn its client id, and redirect `tracked`'s tracking
   * to it. A connection that closed meanwhile makes it count for nothing (its own `ready` resyncs).
   */
  private async resync(): Promise<void> {
    const { tracked, feed } = this
    if (this.closed || this.synced || tracked?.status !== 'ready' || feed?.status !== 'ready') return
    const connections = this.connections
    try {
      if (!(await this.source.serves(tracked))) {
        this.relocate()
        return
      }
      this.servedAt = performance.now()
      // CLIENT ID before SUBSCRIBE: a subscribed connection takes no other command. Once per
      // connection of `feed` (it does not resubscribe by itself: its id changes).
      if (this.feedId === undefined) {
        const session = this.feedSession
        const id = String(await feed.client('ID'))
        await feed.subscribe(CHANNEL)
        if (this.feedSession !== session) return
        this.feedId = id
      }
      await tracked.client('TRACKING', 'ON', 'REDIRECT', this.feedId)
      if (this.connections !== connections || this.closed) return
      this.holder.clear()
      this.synced = true
    } catch (error) {
      if (this.connections === connections) this.report(error)
    }
  }
}

/** Whether the node this connection reaches is a master (ROLE), as a near cache's feed must be. */
export async function isMaster(tracked: Redis): Promise<boolean> {
  return ((await tracked.call('ROLE')) as unknown[])[0] === 'master'
}
