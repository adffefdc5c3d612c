import type { Cluster, Redis } from 'ioredis'
import type { Keys } from '../keys.js'

/** What `redis-group-cache stats` counts: the namespace's keys of each kind present now, and their memory. */
export interface NamespaceStats {
  entries: number
  groups: number
  generations: number
  leases: number
  /** groups' records of their last soft move (grace) */
  records: number
  /** bytes of each kind's keys (MEMORY USAGE), and of all */
  bytes: { entries: number; groups: number; generations: number; leases: number; records: number; total: number }
  /** nodes scanned: one server, or every master of a Cluster */
  nodes: number
}

const KINDS = { e: 'entries', g: 'groups', t: 'generations', l: 'leases', p: 'records' } as const
type Kind = (typeof KINDS)[keyof typeof KINDS]

/** Every master of a Cluster, or the one server. */
export function nodesOf(client: Redis | Cluster): Redis[] {
  return (client as Cluster).isCluster ? (client as Cluster).nodes('master') : [client as Redis]
}

/**
 * Counts the namespace's keys by SCAN of its pattern (never KEYS), on each master, with the
 * memory of each (MEMORY USAGE, sent per batch). `progress` hears how many keys were seen so far.
 */
export async function scanNamespace(
  client: Redis | Cluster,
  keys: Keys,
  progress: (seen: number) => void = () => {},
): Promise<NamespaceStats> {
  const stats: NamespaceStats = {
    entries: 0,
    groups: 0,
    generations: 0,
    leases: 0,
    records: 0,
    bytes: { entries: 0, groups: 0, generations: 0, leases: 0, records: 0, total: 0 },
    nodes: 0,
  }
  let seen = 0
  for (const node of nodesOf(client)) {
    stats.nodes++
    let cursor = '0'
    do {
      const [next, names] = await node.scan(cursor, 'MATCH', keys.pattern, 'COUNT', 1000)
      cursor = next
      const kinds = names.map((name) => {
        const letter = keys.split(name)?.kind as keyof typeof KINDS | undefined
        return letter === undefined ? undefined : (KINDS[letter] as Kind | undefined)
      })
      const sizes = await Promise.all(names.map((name) => node.memory('USAGE', name)))
      kinds.forEach((kind, i) => {
        if (kind === undefined) return
        const size = sizes[i] ?? 0
        stats[kind]++
        stats.bytes[kind] += size
        stats.bytes.total += size
      })
      seen += names.length
      progress(seen)
    } while (cursor !== '0')
  }
  return stats
}
