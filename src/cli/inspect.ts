import type { Cluster, Redis } from 'ioredis'
import { decodeEntry } from '../entry.js'
import type { Keys } from '../keys.js'

/** One group of an entry: the version its snapshot holds, and the group's version now. */
export interface InspectedGroup {
  name: string
  snapshot: string
  /** null: the group has no version (it was evicted, or expired with its TTL) */
  current: string | null
  moved: boolean
}

/** What `redis-group-cache inspect <key>` finds. */
export interface Inspection {
  key: string
  /** the Redis key of the entry */
  redisKey: string
  exists: boolean
  /** live: every group at its snapshot's version, and its TTL (if any) not over */
  live: boolean
  /** what a `get` would do, in words */
  get: string
  groups: InspectedGroup[]
  /** ms the Redis key has left; null: no TTL (or no key) */
  ttlMs: number | null
  /** ms it may be served stale by `wrap` once it is no longer live (0: never) */
  graceMs: number
  /** bytes of the Redis key (MEMORY USAGE), and of its value as stored */
  bytes: number | null
  valueBytes: number | null
}

type Client = Redis | Cluster

/** Reads `key`'s entry, its groups' versions and TTL, and says what a `get` would do. */
export async function inspect(client: Client, keys: Keys, key: string): Promise<Inspection> {
  const redisKey = keys.entry(key)
  const [text, ttl, bytes, time] = await Promise.all([
    client.get(redisKey),
    client.pttl(redisKey),
    client.memory('USAGE', redisKey),
    client.time(),
  ])
  const base = { key, redisKey, groups: [], ttlMs: null, graceMs: 0, bytes: null, valueBytes: null }
  if (text === null) return { ...base, exists: false, live: false, get: 'miss: no entry' }
  let entry: ReturnType<typeof decodeEntry>
  try {
    entry = decodeEntry(text)
  } catch {
    return { ...base, exists: true, live: false, get: 'miss: the key does not hold an entry of this cache' }
  }
  // one GET per group: under sharding 'key' each lives on its own slot
  const current = await Promise.all(entry.groups.map((group) => client.get(keys.group(group))))
  const groups = entry.groups.map((name, i) => ({
    name,
    snapshot: entry.versions[i] as string,
    current: current[i] ?? null,
    moved: current[i] !== entry.versions[i],
  }))
  const now = Number(time[0]) + Number(time[1]) / 1e6
  const moved = groups.filter((group) => group.moved)
  const ended = entry.fresh !== undefined && now >= entry.fresh
  let get = 'hit'
  if (moved.length > 0) {
    get = `miss: ${moved.map((group) => (group.current === null ? `${group.name} has no version` : `${group.name} moved`)).join(', ')}`
  } else if (ended) {
    get = `miss: its TTL ended ${((now - (entry.fresh as number)) * 1000).toFixed(0)} ms ago`
  }
  if (get !== 'hit' && entry.grace > 0) get += ` (wrap may serve it stale within its grace of ${entry.grace} ms)`
  return {
    key,
    redisKey,
    exists: true,
    live: get === 'hit',
    get,
    groups,
    ttlMs: ttl < 0 ? null : ttl,
    graceMs: entry.grace,
    bytes: bytes ?? null,
    valueBytes: Buffer.byteLength(entry.value),
  }
}

/** `inspection` for a person: one line per fact. */
export function describe(inspection: Inspection): string {
  const lines = [
    `${inspection.key} (${inspection.redisKey}): ${inspection.exists ? (inspection.live ? 'live' : 'stale') : 'no entry'}`,
  ]
  lines.push(`  get: ${inspection.get}`)
  for (const group of inspection.groups) {
    const now = group.current === null ? 'no version' : group.current
    lines.push(`  group ${group.name}: snapshot ${group.snapshot}, now ${now}${group.moved ? ' (moved)' : ''}`)
  }
  if (inspection.exists) {
    lines.push(
      `  ttl: ${inspection.ttlMs === null ? 'none' : `${inspection.ttlMs} ms`}; grace: ${inspection.graceMs} ms`,
    )
    lines.push(`  size: ${inspection.bytes ?? '?'} bytes in Redis, ${inspection.valueBytes ?? '?'} bytes of value`)
  }
  return lines.join('\n')
}
