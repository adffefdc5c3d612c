import calculateSlot from 'cluster-key-slot'
import { type Cluster, Redis } from 'ioredis'
import { isMaster, type LinkHolder, NearLink, type NearLinks } from './near-link.js'

/**
 * The near cache's links on a Cluster under sharding 'key': an entry lives on its key's slot and
 * each of its groups' versions on the group's, so on up to every master. One NearLink per master
 * (its `tracked` and `feed` connections, src/near-link.ts), all telling the same holder.
 *
 * - A key is read to be held on the link of its slot's master, by the Cluster client's map of
 *   slots; an entry and its versions are read on their own links, each after the read began (the
 *   argument of src/spread.ts: versions only move forward, so versions equal to the snapshot say
 *   the entry was live at a moment inside the read), each tracked by its own master from then on.
 * - In sync only while every master's link is: a sync point is a PING on every feed, at once.
 *   An invalidation that resolved before a read began was sent by its master before that PING's
 *   answer, whichever master it was.
 * - The links follow the masters the Cluster client knows: after each refresh of its slots (a
 *   failover, a resharding, a MOVED), a new master gets a link and a node no longer a master loses
 *   its own, and what was held goes with it. A master demoted by a failover is also found by its
 *   link's own role check (every sync point, at most every 100 ms).
 * - A slot migrating: a key moved away is deleted from its old master, which tells its feed; a
 *   read that meets MOVED or ASK is not held, and asks the Cluster client to refresh its slots.
 */
export class SpreadLinks implements NearLinks {
  readonly single = false
  private readonly links = new Map<string, NearLink>()
  private closed = false

  constructor(
    private readonly cluster: Cluster,
    private readonly holder: LinkHolder,
    private readonly timeout: number,
    private readonly report: (error: unknown) => void,
  ) {
    for (const event of ['refresh', '+node', '-node', 'ready']) cluster.on(event, this.follow)
    this.follow()
  }

  get inSync(): boolean {
    if (this.links.size === 0) return false
    for (const link of this.links.values()) if (!link.inSync) return false
    return true
  }

  readerOf(name: string): Redis | undefined {
    const master = this.cluster.slots[calculateSlot(name)]?.[0]
    return master === undefined ? undefined : this.links.get(master)?.reader
  }

  sync(): Promise<boolean> {
    const links = [...this.links.values()]
    if (links.length === 0) return Promise.resolve(false)
    return Promise.all(links.map((link) => link.sync())).then((answers) => answers.every(Boolean))
  }

  moved(): void {
    this.cluster.refreshSlotsCache()
  }

  /** A link for each master the Cluster client knows now, and none for any other node. */
  private readonly follow = () => {
    if (this.closed) return
    const masters = new Map(this.cluster.nodes('master').map((node) => [addressOf(node), node] as const))
    let dropped = false
    for (const [address, link] of this.links) {
      if (masters.has(address)) continue
      this.links.delete(address)
      void link.close()
      dropped = true
    }
    // What a node that is no longer a master fed may be stale: everything held goes.
    if (dropped) this.holder.clear()
    for (const [address, node] of masters) {
      if (this.links.has(address)) continue
      const { host, port } = node.options
      this.links.set(
        address,
        new NearLink(
          {
            open: (options) => new Redis({ ...this.cluster.options.redisOptions, ...options, host, port }),
            locate: async () => ({ host: host as string, port: port as number }),
            serves: isMaster,
          },
          this.timeout,
          this.holder,
          this.report,
        ),
      )
    }
  }

  async close(): Promise<void> {
    this.closed = true
    for (const event of ['refresh', '+node', '-node', 'ready']) this.cluster.off(event, this.follow)
    const links = [...this.links.values()]
    this.links.clear()
    await Promise.all(links.map((link) => link.close()))
  }
}

/** A Cluster node's address as the client's map of slots names it: `host:port`. */
function addressOf(node: Redis): string {
  return `${node.options.host}:${node.options.port}`
}
