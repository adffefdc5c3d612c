import type { Redis } from 'ioredis'
import type { Keys, Sharding } from './keys.js'
import { type LuaScript, loadScript, runScript, type ScriptClient } from './scripts.js'

/**
 * What the cache asks of Redis, one method per operation (the `Store`), and its implementation
 * for sharding 'namespace': one typed function per script of `lua/`, and the plain MGET that reads
 * a key whose groups are known. Each builds its KEYS and ARGV in the order the script's header
 * gives and decodes its reply. Arguments are already validated. Sharding 'key' implements the
 * same operations over many slots (src/spread.ts).
 */

/**
 * What the cache needs of a client: an ioredis `Redis`, a `Cluster` and the in-memory backend
 * all have it.
 */
export type CacheClient = ScriptClient & Pick<Redis, 'mgetBuffer' | 'getBuffer'>

const scripts = {
  get: loadScript('get'),
  read: loadScript('read'),
  set: loadScript('set'),
  delete: loadScript('delete'),
  expireGroups: loadScript('expire-groups'),
  release: loadScript('release'),
}

/** The scripts of sharding 'key' (src/spread.ts), which also sends expire-groups and release. */
export const spreadScripts = {
  peek: loadScript('peek'),
  claim: loadScript('claim'),
  stamp: loadScript('stamp'),
  store: loadScript('store'),
  discard: loadScript('discard'),
  delete: scripts.delete,
}

/** Every script, for tests that load them into a server and check their SHA. */
export const allScripts = [...new Set([...Object.values(scripts), ...Object.values(spreadScripts)])]

/** The scripts each sharding mode sends. */
export const scriptsOf: Record<Sharding, readonly LuaScript[]> = {
  namespace: Object.values(scripts),
  key: [...Object.values(spreadScripts), scripts.expireGroups, scripts.release],
}

/**
 * What a miss hands to the later `set` that fills it: the Redis time of the read, the key's
 * generation and each group's version. A set with it stores only if none of them moved.
 * Plain data: it may be passed to another process.
 */
export interface FillToken {
  readonly key: string
  readonly groups: readonly string[]
  readonly versions: readonly string[]
  readonly generation: string
  readonly issuedAt: readonly [seconds: string, microseconds: string]
  /** Set when the read that made this token took the key's fill lease: its owner, released by the set. */
  readonly owner?: string
}

/**
 * A hit carries the live entry as stored (see src/entry.ts). A miss carries its token, whether it
 * took the key's fill lease (else `wait`: ms the holder's lease has left), and within grace the
 * stale entry.
 */
export type ReadReply =
  | { hit: true; entry: string }
  | { hit: false; token: FillToken; leased: boolean; wait: number; stale: string | undefined }

/** Why a set stored or did not (see `lua/set.lua`). */
export type SetStatus = 'stored' | 'exists' | 'lease-expired' | 'deleted' | 'group-expired' | 'group-unknown'

const setStatuses: Record<string, SetStatus> = {
  '1': 'stored',
  '0': 'exists',
  '-1': 'lease-expired',
  '-2': 'deleted',
  '-3': 'group-expired',
  '-4': 'group-unknown',
}

/**
 * Every operation the cache sends, on a client the transport hands it (src/transport.ts). One
 * implementation per sharding mode: `namespaceStore` (every key of the namespace in one slot:
 * each operation one script or one MGET) and `spreadStore` (src/spread.ts).
 */
export interface Store {
  readonly keys: Keys
  /** Entries and group versions by Redis key (from hints), as bytes: the client checks them (src/entry.ts). */
  fetch(client: CacheClient, names: readonly string[]): Promise<(Buffer | null)[]>
  /** A key's live entry as stored, or null. */
  get(client: CacheClient, key: string): Promise<string | null>
  /** Two keys or more: their live entries. */
  getMany(client: CacheClient, keys: readonly string[]): Promise<(string | null)[]>
  /** A hit, or a miss's token (and the fill lease when free). */
  read(client: CacheClient, request: ReadRequest): Promise<ReadReply>
  set(client: CacheClient, entry: SetEntry): Promise<SetStatus>
  /** Deletes the entries of `keys` (no repeats); resolves how many were live. */
  delete(client: CacheClient, keys: readonly string[], lease: number): Promise<number>
  /** Moves each group's version; resolves how many had one. */
  expireGroups(client: CacheClient, groups: readonly string[], hard: boolean): Promise<number>
  /** Gives up a fill lease this owner holds: now (`hold` 0), or after `hold` ms. True if it held it. */
  release(client: CacheClient, key: string, owner: string, hold: number): Promise<boolean>
}

/** Sharding 'namespace': every key of the namespace in its `{ns}` slot, each operation one command. */
export function namespaceStore(keys: Keys): Store {
  return {
    keys,
    fetch: fetchEntries,
    get: (client, key) => getEntry(client, keys, key),
    getMany: (client, cacheKeys) => getEntries(client, keys, cacheKeys),
    read: (client, request) => readEntry(client, keys, request),
    set: (client, entry) => setEntry(client, keys, entry),
    delete: (client, cacheKeys, lease) => deleteEntries(client, keys, cacheKeys, lease),
    expireGroups: (client, groups, hard) => expireGroups(client, keys, groups, hard),
    release: (client, key, owner, hold) => releaseLease(client, keys, key, owner, hold),
  }
}

/**
 * Entries and group versions by key, at one instant: `keys` come from hints. As bytes: the client
 * compares them as such, and converts only the value it keeps.
 */
function fetchEntries(client: CacheClient, keys: readonly string[]): Promise<(Buffer | null)[]> {
  return client.mgetBuffer(keys as string[])
}

/** One key: the script answers with the live entry itself. */
function getEntry(client: CacheClient, keys: Keys, cacheKey: string): Promise<string | null> {
  return runScript(client, scripts.get, [keys.entry(cacheKey)], []) as Promise<string | null>
}

/** Two keys or more: an array of live entries. */
function getEntries(client: CacheClient, keys: Keys, cacheKeys: readonly string[]): Promise<(string | null)[]> {
  return runScript(client, scripts.get, cacheKeys.map(keys.entry, keys), []) as Promise<(string | null)[]>
}

/** What a read asks for besides the entry: the fill lease's length and owner, and the grace it accepts. */
export interface ReadRequest {
  key: string
  groups: readonly string[]
  lease: number
  owner: string
  /** ms: a stale entry within this grace comes back as `stale`; 0: never */
  grace: number
}

function readEntry(client: CacheClient, keys: Keys, request: ReadRequest): Promise<ReadReply> {
  const { key, groups, lease, owner, grace } = request
  return runScript(
    client,
    scripts.read,
    [keys.entry(key), keys.generation(key), keys.lease(key), ...groups.map(keys.group, keys)],
    [lease, owner, grace],
  ).then((reply) => {
    const [status, ...rest] = reply as [number, ...unknown[]]
    if (status === 1) return { hit: true, entry: rest[0] as string }
    const [entry, leased, wait, seconds, micros, generation, ...versions] = rest as [
      string,
      number,
      number,
      string,
      string,
      string,
      ...string[],
    ]
    const token: FillToken = { key, groups, versions, generation, issuedAt: [seconds, micros] }
    return {
      hit: false,
      token: leased === 1 ? { ...token, owner } : token,
      leased: leased === 1,
      wait: Number(wait),
      stale: status === 2 ? entry : undefined,
    }
  })
}

export interface SetEntry {
  key: string
  value: string
  /** With a token: the token's groups first, then any late ones (named after the read). */
  groups: readonly string[]
  /** ms, or undefined for no expiry */
  ttl: number | undefined
  lease: number
  /** ms the entry may be served stale after it stops being live; 0: never */
  grace: number
  token: FillToken | undefined
}

function setEntry(client: CacheClient, keys: Keys, entry: SetEntry): Promise<SetStatus> {
  const { key, value, groups, ttl, lease, grace, token } = entry
  const args: (string | number)[] = [value, ttl ?? '', lease, grace]
  if (token) {
    const owner = token.owner === undefined ? '' : `,${token.owner}`
    args.push(`${token.issuedAt[0]},${token.issuedAt[1]},${token.generation}${owner}`, ...token.versions)
  } else args.push('')
  return runScript(
    client,
    scripts.set,
    [keys.entry(key), keys.generation(key), keys.lease(key), ...groups.map(keys.group, keys)],
    args,
  ).then((reply) => {
    return toSetStatus(reply)
  })
}

/** A set script's reply as a status (lua/set.lua and lua/store.lua answer alike). */
export function toSetStatus(reply: unknown): SetStatus {
  const status = setStatuses[String(reply)]
  if (status === undefined) throw new Error(`set: unexpected reply ${String(reply)}`)
  return status
}

/** Deletes the entries of `cacheKeys` (no repeats), in one script; resolves how many were live. */
export function deleteEntries(
  client: CacheClient,
  keys: Keys,
  cacheKeys: readonly string[],
  lease: number,
): Promise<number> {
  return runScript(
    client,
    scripts.delete,
    cacheKeys.flatMap((key) => [keys.entry(key), keys.generation(key)]),
    [lease],
  ) as Promise<number>
}

export function expireGroups(
  client: CacheClient,
  keys: Keys,
  groups: readonly string[],
  hard: boolean,
): Promise<number> {
  return runScript(client, scripts.expireGroups, groups.map(keys.group, keys), [hard ? 1 : 0]) as Promise<number>
}

/** Gives up a fill lease this owner holds: now (`hold` 0), or after `hold` ms. True if it held it. */
export function releaseLease(
  client: CacheClient,
  keys: Keys,
  key: string,
  owner: string,
  hold: number,
): Promise<boolean> {
  return runScript(client, scripts.release, [keys.lease(key)], [owner, hold]).then((reply) => reply === 1)
}
