/**
 * Scenario 4: memory per entry. For each row: an empty server (or the contender's keys deleted),
 * INFO used_memory, N entries of the same 1 KiB value written, used_memory again; the delta over
 * N is the cost of one entry, its share of group keys included. Then where the bytes go:
 * MEMORY USAGE of one entry's keys and of its group keys, and the entry hash's encoding.
 */
import type { Redis } from 'ioredis'
import type { ContenderName } from '../contenders.js'
import { pooledGroupsFor, valueFor } from '../data.js'
import { round } from '../measure.js'
import { usedMemory } from '../server.js'
import { type Context, indexes, inParallel } from '../settings.js'

interface Row {
  contender: ContenderName
  label: string
  groups: (i: number) => readonly string[]
}

const pooled = (n: number) => (i: number) => pooledGroupsFor(i).slice(0, n)

const ROWS: readonly Row[] = [
  { contender: 'plain', label: 'plain SET', groups: () => [] },
  { contender: 'group-cache', label: '0 groups', groups: () => [] },
  { contender: 'group-cache', label: '1 group', groups: pooled(1) },
  { contender: 'group-cache', label: '3 groups', groups: pooled(3) },
  {
    contender: 'group-cache',
    label: '3 groups, one of them per entry',
    groups: (i) => [`user_${i}`, ...pooledGroupsFor(i).slice(0, 2)],
  },
  { contender: 'bentocache', label: '3 tags', groups: pooled(3) },
  { contender: 'async-cache-dedupe', label: '3 references', groups: pooled(3) },
]

export interface KeyUsage {
  key: string
  bytes: number | null
  encoding: string | null
  /** Members of a set or hash key (a reference set's members are entries). */
  size: number | null
  /** Bytes of a string key's value (STRLEN). */
  length: number | null
}

export interface MemoryRow {
  contender: ContenderName
  label: string
  perEntryBytes: number
  ratioToPlain: number
  /** The Redis keys of entry 0. */
  entryKeys: KeyUsage[]
  /** The keys of entry 0's groups (shared with the other entries of the group). */
  groupKeys: KeyUsage[]
}

export interface MemoryResult {
  entries: number
  rows: MemoryRow[]
}

const memKey = (i: number) => `mem:${i}`

export async function memoryScenario(ctx: Context): Promise<MemoryResult> {
  const { admin } = ctx.server
  const n = ctx.settings.memory.entries
  const rows: MemoryRow[] = []
  const allPatterns = Object.values(ctx.contenders).flatMap((c) => c.patterns)
  for (const row of ROWS) {
    const c = ctx.contenders[row.contender]
    ctx.log(`memory, ${row.contender}, ${row.label}: ${n.toLocaleString('en-US')} entries`)
    await ctx.server.reset(allPatterns)
    const before = await usedMemory(admin)
    await inParallel(indexes(n), 128, (i) => c.set(memKey(i), valueFor(i), row.groups(i)))
    const after = await usedMemory(admin)
    const perEntryBytes = (after - before) / n
    ctx.log(` ${Math.round(perEntryBytes)} B/entry\n`)
    rows.push({
      contender: row.contender,
      label: row.label,
      perEntryBytes: round(perEntryBytes, 1),
      ratioToPlain: 0,
      entryKeys: await Promise.all(c.entryKeys(memKey(0)).map((key) => usage(admin, key))),
      groupKeys: await Promise.all(
        row
          .groups(0)
          .map((group) => c.groupKey(group))
          .filter((key): key is string => key !== undefined)
          .map((key) => usage(admin, key)),
      ),
    })
  }
  const plain = rows.find((r) => r.contender === 'plain')?.perEntryBytes ?? Number.NaN
  for (const row of rows) row.ratioToPlain = round(row.perEntryBytes / plain, 3)
  await ctx.server.reset(allPatterns)
  return { entries: n, rows }
}

async function usage(admin: Redis, key: string): Promise<KeyUsage> {
  const bytes = (await admin.call('MEMORY', 'USAGE', key, 'SAMPLES', '0')) as number | null
  const encoding = (await admin.call('OBJECT', 'ENCODING', key).catch(() => null)) as string | null
  const type = await admin.type(key)
  const size = type === 'set' ? await admin.scard(key) : type === 'hash' ? await admin.hlen(key) : null
  const length = type === 'string' ? await admin.strlen(key) : null
  return { key, bytes, encoding, size, length }
}
