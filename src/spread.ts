import {
  type CacheClient,
  expireGroups,
  type FillToken,
  type ReadReply,
  type ReadRequest,
  releaseLease,
  type SetEntry,
  type SetStatus,
  type Store,
  spreadScripts,
  toSetStatus,
} from './commands.js'
import { covers, type DecodedEntry, decodeEntry } from './entry.js'
import type { Keys } from './keys.js'
import { runScript } from './scripts.js'

/**
 * Sharding 'key': a namespace spread over every master of a Cluster. An entry, its generation and
 * its fill lease live on the key's slot, each group's version and record on the group's slot
 * (src/keys.ts), so no command or script may touch an entry and its groups' versions at once.
 * Each operation is done in parts, one per slot, sent together where they do not depend on each
 * other; every script of `lua/` it sends touches one slot.
 *
 * Why a read stays linearizable without reading the entry and its versions at one instant:
 * versions never repeat and only move forward (a lost one comes back as a later Redis time), and
 * an entry is live while each of its groups still has the version its snapshot recorded. A read
 * gets the entry (at some moment E) and the versions (at some moment V), both after it began. If
 * every version equals the snapshot, no group moved between the snapshot and V: a move would have
 * changed the version for good. So the entry was live at E or at V, whichever came later than its
 * write, and that moment is inside the read: the read is linearized there. An `expireGroup` that
 * resolved before the read began moved the version before V, so the read finds it moved and
 * misses. An invalidation that ends during the read is concurrent with it, and may be ordered
 * after it. What a read must never do is compare the entry with versions read before it began
 * (a cache of versions, say): the checker's mutant `spread-versions-before-read` does, and is
 * caught.
 *
 * Why a set stays safe: it stamps each version (reads it on its slot, stamp.lua), then writes the
 * entry with a compare-and-set on the key's slot (store.lua) with the stamped versions as its
 * snapshot. A version that moves between its stamp and the store makes the new entry stale at its
 * first read, never wrongly fresh; a fill's token versions must equal the stamped ones, which are
 * read after any invalidation that resolved before the set.
 *
 * What is atomic: each key's delete (its entry and generation, on one slot), each group's move,
 * each store. Not `deleteMany` or `expireGroups` as a whole: their parts run on several nodes, so
 * a reader may see one group moved and not yet another. Each part is an invalidation of its own,
 * and every part has been done once the call resolves.
 *
 * Round trips: a read of a key whose groups this process knows (a hint) reads the entry and the
 * versions at once, one round trip; a read without a hint reads the entry, then its groups'
 * versions (two); a miss then claims the key and stamps the groups at once (one more). A set is
 * two: the stamps, then the store.
 */
export function spreadStore(keys: Keys): Store {
  return {
    keys,
    fetch: (client, names) => Promise.all(names.map((name) => client.getBuffer(name))),
    get: (client, key) => getEntry(client, keys, key),
    getMany: (client, cacheKeys) => Promise.all(cacheKeys.map((key) => getEntry(client, keys, key))),
    read: (client, request) => readEntry(client, keys, request),
    set: (client, entry) => setEntry(client, keys, entry),
    // One script per key and per group, each on its own slot, all sent at once.
    delete: (client, cacheKeys, lease) =>
      Promise.all(cacheKeys.map((key) => deleteEntry(client, keys, key, lease))).then(sum),
    expireGroups: (client, groups, hard) =>
      Promise.all(groups.map((group) => expireGroups(client, keys, [group], hard))).then(sum),
    release: (client, key, owner, hold) => releaseLease(client, keys, key, owner, hold),
  }
}

const sum = (counts: number[]) => counts.reduce((a, b) => a + b, 0)

/**
 * When (performance.now()) each token this process was handed arrived: what a fill stores is
 * computed after that, so a set with the token bounds how long before its stamps the fill began
 * by this clock too (lua/store.lua). A token from elsewhere (a copy, another process) is not
 * here, and is bounded by Redis's clock alone.
 */
const tokenArrivedAt = new WeakMap<FillToken, number>()

/** Redis seconds (with a fraction) from TIME's two parts. */
const seconds = (s: string, micros: string) => Number(s) + Number(micros) / 1e6

/** An entry as stored, or undefined for a string that is not one. */
function decoded(entry: string): DecodedEntry | undefined {
  if (entry === '') return undefined
  try {
    return decodeEntry(entry)
  } catch {
    return undefined
  }
}

/**
 * Whether an entry is live by `current` (each group's version, read after the read began) at
 * Redis time `at` of the entry's node: each of its groups' snapshot version is current, and its
 * TTL's end (if its header holds one) has not passed.
 */
function isLive(entry: DecodedEntry, current: ReadonlyMap<string, string | null>, at: number): boolean {
  if (entry.fresh !== undefined && at >= entry.fresh) return false
  return entry.groups.every((group, i) => current.get(group) === entry.versions[i])
}

/** The entry of `key` with its node's time (peek.lua). */
async function peek(client: CacheClient, keys: Keys, key: string): Promise<{ entry: string; at: number }> {
  const [entry, s, micros] = (await runScript(client, spreadScripts.peek, [keys.entry(key)], [])) as string[]
  return { entry: entry as string, at: seconds(s as string, micros as string) }
}

/** The current version of each group, by name (plain GETs, each on its group's slot). */
async function versionsOf(
  client: CacheClient,
  keys: Keys,
  groups: readonly string[],
  into = new Map<string, string | null>(),
): Promise<Map<string, string | null>> {
  const versions = await Promise.all(groups.map((group) => client.getBuffer(keys.group(group))))
  for (const [i, group] of groups.entries()) into.set(group, versions[i]?.toString() ?? null)
  return into
}

/**
 * One key's live entry: the entry and its node's time, then its groups' versions. A stale entry
 * is deleted on sight (unless it was stored with grace: it stays for that grace, as under sharding
 * 'namespace'), if the key still holds exactly it.
 */
async function getEntry(client: CacheClient, keys: Keys, key: string): Promise<string | null> {
  const { entry, at } = await peek(client, keys, key)
  if (entry === '') return null
  const found = decoded(entry)
  if (found !== undefined && isLive(found, await versionsOf(client, keys, found.groups), at)) return entry
  if (found === undefined || found.grace === 0)
    await runScript(client, spreadScripts.discard, [keys.entry(key)], [entry])
  return null
}

/** Deletes one key's entry and moves its generation (lua/delete.lua); resolves 1 if the entry it removed was live. */
async function deleteEntry(client: CacheClient, keys: Keys, key: string, lease: number): Promise<number> {
  const [entry, s, micros] = (await runScript(
    client,
    spreadScripts.delete,
    [keys.entry(key), keys.generation(key)],
    [lease],
  )) as string[]
  const found = decoded(entry as string)
  if (found === undefined) return 0
  // live when it was removed if its versions are still current: a version never comes back
  return isLive(found, await versionsOf(client, keys, found.groups), seconds(s as string, micros as string)) ? 1 : 0
}

/** What stamp.lua answers for one group. */
interface Stamp {
  /** '' when the group had no version and none was made */
  version: string
  created: boolean
  /** '<seconds>,<microseconds>' of the group's node */
  time: string
  at: number
  /** the group's record of its last soft move, or '' */
  record: string
  /** the version's TTL after the stamp: ms, -1 for none */
  ttl: number
}

/**
 * A group's version stamped on its slot: made when missing if `create`, with `ttl` ms ('' none).
 * An existing version lives at least `hold` ms from now ('' forever; 0 leaves its TTL alone).
 */
async function stamp(
  client: CacheClient,
  keys: Keys,
  group: string,
  create: boolean,
  ttl: number | '',
  hold: number | '' = 0,
): Promise<Stamp> {
  const [version, created, s, micros, record, left] = (await runScript(
    client,
    spreadScripts.stamp,
    [keys.group(group)],
    [create ? 1 : 0, ttl, hold],
  )) as [string, number, string, string, string, number]
  return { version, created: created === 1, time: `${s},${micros}`, at: seconds(s, micros), record, ttl: left }
}

async function readEntry(client: CacheClient, keys: Keys, request: ReadRequest): Promise<ReadReply> {
  const { key, groups, lease, owner, grace } = request
  // The entry and the asked groups' versions at once; the versions of any other group it holds after.
  const [peeked, current] = await Promise.all([peek(client, keys, key), versionsOf(client, keys, groups)])
  const found = decoded(peeked.entry)
  // An entry stored under other groups than the ones asked for is a miss here; the fill replaces it.
  if (found !== undefined && covers(found.groups, groups)) {
    const others = found.groups.filter((group) => !current.has(group))
    if (others.length > 0) await versionsOf(client, keys, others, current)
    if (isLive(found, current, peeked.at)) return { hit: true, entry: peeked.entry }
  }
  // A miss: the key's lease and generation, and each group's version (made when missing) for the
  // token, at once.
  const [claimed, stamps] = await Promise.all([
    runScript(client, spreadScripts.claim, [keys.entry(key), keys.generation(key), keys.lease(key)], [lease, owner]),
    Promise.all(groups.map((group) => stamp(client, keys, group, true, lease))),
  ])
  const [entry, leased, wait, s, micros, generation] = claimed as [string, number, number, string, string, string]
  // Stored since the peek (another's fill, just done)? The claim read the entry again, and the
  // stamps the versions, both after this read began: live by them, it is a hit (the argument
  // above), and a lease this read took goes back at once. An entry with groups the read did not
  // stamp stays a miss: its fill finds it ('exists').
  const stored = entry === peeked.entry ? undefined : decoded(entry)
  if (stored !== undefined && covers(stored.groups, groups) && covers(groups, stored.groups)) {
    const current = new Map(groups.map((group, i) => [group, (stamps[i] as Stamp).version || null]))
    if (isLive(stored, current, seconds(s, micros))) {
      if (leased === 1) await releaseLease(client, keys, key, owner, 0).catch(() => false)
      return { hit: true, entry }
    }
  }
  const token: FillToken = {
    key,
    groups,
    versions: stamps.map((stamped) => stamped.version),
    generation,
    issuedAt: [s, micros],
  }
  const handed = leased === 1 ? { ...token, owner } : token
  tokenArrivedAt.set(handed, performance.now())
  return {
    hit: false,
    token: handed,
    leased: leased === 1,
    wait: Number(wait),
    stale: grace > 0 ? staleWithin(entry, groups, stamps, seconds(s, micros), grace) : undefined,
  }
}

/**
 * The entry, if it went stale less than `limit` ms ago and less than its own grace ago (as
 * include/common.lua's staleSince and readEntry tell in one slot), else undefined. Only an entry
 * stored under exactly the asked groups, whose records `stamps` hold, is dated: each group that
 * moved must have the record of a soft move from the snapshot's version, and its age is measured
 * on its own node's clock; the TTL's end on the entry's node's clock, at `at`.
 */
function staleWithin(
  entry: string,
  groups: readonly string[],
  stamps: readonly Stamp[],
  at: number,
  limit: number,
): string | undefined {
  const found = decoded(entry)
  if (found === undefined || found.grace === 0 || found.groups.length !== groups.length) return undefined
  let age = found.fresh !== undefined && at >= found.fresh ? (at - found.fresh) * 1000 : -1
  for (const [i, group] of found.groups.entries()) {
    const n = groups.indexOf(group)
    const stamped = stamps[n]
    if (stamped === undefined) return undefined
    if (stamped.version === found.versions[i]) continue
    const moved = /^(\d+),(\d+),(\d+)$/.exec(stamped.record)
    if (moved === null || moved[1] !== found.versions[i]) return undefined
    age = Math.max(age, (stamped.at - seconds(moved[2] as string, moved[3] as string)) * 1000)
  }
  // not stale at all: stored since this read's first look, and live; the fill finds it ('exists')
  if (age < 0) return undefined
  return age < found.grace && age < limit ? entry : undefined
}

async function setEntry(client: CacheClient, keys: Keys, entry: SetEntry): Promise<SetStatus> {
  const { key, value, groups, ttl, lease, grace, token } = entry
  // The versions must outlive the entry, which the store writes after the stamps: a version made
  // here gets the entry's TTL and a lease of margin, one that exists is held a lease (to outlast
  // the store) and, once the entry is stored, as long as the entry if it would end sooner.
  const keep = ttl === undefined ? '' : ttl + (grace > 0 ? grace : 0) + lease
  const named = token?.groups.length ?? 0
  // A token's own groups must still have the versions it saw (none made); a late group's or a plain set's is made.
  const stamps = await Promise.all(
    groups.map((group, i) => stamp(client, keys, group, token === undefined || i >= named, keep, lease)),
  )
  const arrivedAt = token === undefined ? undefined : tokenArrivedAt.get(token)
  const elapsed = arrivedAt === undefined ? '' : Math.ceil((performance.now() - arrivedAt) * 1000)
  const versions = stamps.map((stamped, i) =>
    token !== undefined && i >= named && stamped.created ? '' : stamped.version,
  )
  const args: (string | number)[] = [value, ttl ?? '', lease, grace]
  if (token) {
    const owner = token.owner === undefined ? '' : `,${token.owner}`
    args.push(`${token.issuedAt[0]},${token.issuedAt[1]},${token.generation}${owner}`, groups.length, named)
  } else args.push('', groups.length, 0)
  args.push(...groups, ...versions, ...stamps.map((stamped) => stamped.time))
  if (token) args.push(...token.versions)
  args.push(elapsed)
  const status = toSetStatus(
    await runScript(client, spreadScripts.store, [keys.entry(key), keys.generation(key), keys.lease(key)], args),
  )
  if (status !== 'stored') return status
  // Stored: each version that would end before the entry is made to outlive it (a version
  // shared by many entries usually outlives them all already, and needs nothing).
  const short = groups.filter((_, i) => {
    const left = (stamps[i] as Stamp).ttl
    return left >= 0 && (keep === '' || left < keep - lease)
  })
  await Promise.all(short.map((group) => stamp(client, keys, group, false, keep, keep)))
  return status
}
