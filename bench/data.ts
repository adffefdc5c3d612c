/**
 * What the bench stores: a ~1 KiB JSON object per key (its `id` is the key's index, so a
 * wrong value is caught by one comparison), and the groups each key belongs to.
 */

export interface Value {
  id: number
  name: string
  email: string
  roles: string[]
  createdAt: string
  settings: { theme: string; locale: string; notifications: { email: boolean; sms: boolean; push: boolean } }
  tags: string[]
  history: { at: number; action: string; ok: boolean }[]
  bio: string
}

/** Every value serializes to exactly this many bytes of JSON. */
export const VALUE_BYTES = 1024

function buildValue(id: number, bio: string): Value {
  return {
    id,
    name: 'Ada Lovelace',
    email: 'ada.lovelace@example.com',
    roles: ['admin', 'editor', 'viewer'],
    createdAt: '2024-01-15T10:30:00.000Z',
    settings: { theme: 'dark', locale: 'en-GB', notifications: { email: true, sms: false, push: true } },
    tags: Array.from({ length: 12 }, (_, i) => `tag-${i}`),
    history: Array.from({ length: 8 }, (_, i) => ({
      at: 1_700_000_000_000 + i * 86_400_000,
      action: 'login',
      ok: true,
    })),
    bio,
  }
}

const BIO = 'Mathematician and writer, known for work on the Analytical Engine. '.repeat(5)

/** Values and group lists of the first MEMO_SIZE indexes are built once: timed loops only look them up. */
const MEMO_SIZE = 10_000
const values: Value[] = []

/** The value stored under key index `id`: VALUE_BYTES of JSON. */
export function valueFor(id: number): Value {
  if (id < MEMO_SIZE) {
    values[id] ??= buildSized(id)
    return values[id]
  }
  return buildSized(id)
}

function buildSized(id: number): Value {
  const short = buildValue(id, '')
  const room = VALUE_BYTES - Buffer.byteLength(JSON.stringify(short))
  if (room < 0 || room > BIO.length) throw new Error(`value for id ${id} does not fit in ${VALUE_BYTES} bytes`)
  return buildValue(id, BIO.slice(0, room))
}

/** A small value for populating groups with many members (scenario 3), where size does not matter. */
export function smallValueFor(id: number): Value {
  return { ...buildValue(id, ''), tags: [], history: [], roles: [] }
}

/** True when `value` is the value stored for `id` (a cheap check fit for timed loops). */
export function isValueFor(value: unknown, id: number): boolean {
  return typeof value === 'object' && value !== null && (value as { id?: unknown }).id === id
}

const GROUP_KINDS: ((i: number) => string)[] = [
  (i) => `user_${i}`,
  (i) => `bucket_${i % 10}`,
  () => 'all',
  (i) => `region_${i % 5}`,
  (i) => `team_${i % 50}`,
  (i) => `plan_${i % 3}`,
  (i) => `org_${i % 20}`,
  (i) => `shard_${i % 8}`,
  (i) => `day_${i % 7}`,
  (i) => `tier_${i % 4}`,
]

const groupLists = new Map<number, string[][]>()

/** `count` (0 to 10) groups of key index `i`: one of its own, then groups shared with other keys. */
export function groupsFor(i: number, count: number): readonly string[] {
  if (count > GROUP_KINDS.length) throw new Error(`at most ${GROUP_KINDS.length} groups`)
  const build = () => GROUP_KINDS.slice(0, count).map((kind) => kind(i))
  if (i >= MEMO_SIZE) return build()
  const lists = groupLists.get(count) ?? []
  groupLists.set(count, lists)
  lists[i] ??= build()
  return lists[i]
}

const pooled: string[][] = []

/** Three distinct groups out of a pool of 100 for key index `i`, spread evenly (the fleet, memory). */
export function pooledGroupsFor(i: number): readonly string[] {
  if (i >= MEMO_SIZE) return buildPooled(i)
  pooled[i] ??= buildPooled(i)
  return pooled[i]
}

export const GROUP_POOL = 100

function buildPooled(i: number): string[] {
  const pool = GROUP_POOL
  const half = Math.floor(pool / 2)
  const a = i % pool
  const spread = Math.floor(i / pool) % (half - 1)
  const b = (a + 1 + spread) % pool
  const c = (a + half + spread) % pool
  return [`g_${a}`, `g_${b}`, `g_${c}`]
}

/** xorshift32: a fast, seeded generator of floats in [0, 1). */
export function random(seed: number): () => number {
  let x = seed >>> 0 || 1
  return () => {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    return (x >>> 0) / 4_294_967_296
  }
}

/** What the fleet mix does to key index `i` (its groups pooledGroupsFor(i)), by the caller's cache. */
export interface MixOps {
  /** 90%: a read through (wrap) */
  read(i: number): Promise<void>
  /** 9%: a write */
  write(i: number): Promise<void>
  /** 1%: an invalidation of one pooled group (of the pool's GROUP_POOL) */
  invalidate(i: number, group: string): Promise<void>
}

/**
 * The fleet mix, as the fleet and Cluster scenarios run it: `concurrency` loops for `ms`, each
 * drawing an operation and a key from one seeded generator. Resolves the operations done and the
 * seconds it took.
 */
export async function runMix(
  seed: number,
  keys: number,
  ms: number,
  concurrency: number,
  ops: MixOps,
): Promise<{ ops: number; seconds: number }> {
  const rng = random(seed)
  let done = 0
  const start = performance.now()
  const deadline = start + ms
  const loop = async () => {
    while (performance.now() < deadline) {
      const draw = rng()
      const i = Math.floor(rng() * keys)
      if (draw < 0.9) await ops.read(i)
      else if (draw < 0.99) await ops.write(i)
      else await ops.invalidate(i, `g_${Math.floor(rng() * GROUP_POOL)}`)
      done++
    }
  }
  await Promise.all(Array.from({ length: concurrency }, loop))
  return { ops: done, seconds: (performance.now() - start) / 1000 }
}
