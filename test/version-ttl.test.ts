import { setTimeout as sleep } from 'node:timers/promises'
import fc from 'fast-check'
import type { Redis } from 'ioredis'
import { expect, it } from 'vitest'
import { decodeEntry } from '../src/entry.js'
import { GroupCache } from '../src/index.js'
import { entryKey, forEachBackend, groupKey, randomNamespace } from './support/backends.js'

/**
 * Guarantee 4 as a property, with time passing and keys lost: a group version lives at least as
 * long as the longest-lived entry that snapshots it and goes away after them; a version an entry
 * without TTL uses never expires. lua/set.lua keeps versions' TTLs up, lua/read.lua gives the
 * versions it creates the lease. FC_SEED=<seed> replays a run.
 */

const seed = process.env.FC_SEED === undefined ? {} : { seed: Number(process.env.FC_SEED) }
/** Each run sleeps until its longest TTL has passed (up to about half a second). */
const RUNS = 20

const KEYS = ['a', 'b', 'c'] as const
const GROUPS = ['g1', 'g2', 'g3', 'g4', 'g5'] as const
const INFINITE = Number.POSITIVE_INFINITY

type Step =
  | { op: 'set' | 'wrap'; key: string; groups: string[]; ttl: number }
  | { op: 'read'; key: string; groups: string[] }
  | { op: 'sleep'; ms: number }
  | { op: 'evict'; kind: 'e' | 'g'; name: string }
  | { op: 'expireGroup'; group: string }

const keyArb = fc.constantFrom(...KEYS)
const groupArb = fc.constantFrom(...GROUPS)
const groupsArb = fc.shuffledSubarray([...GROUPS], { minLength: 1, maxLength: 3 })
/** Short TTLs, so that a run sees entries and versions expire; now and then none. */
const ttlArb = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: 50, max: 400 }) },
  { weight: 1, arbitrary: fc.constant(INFINITE) },
)
const stepArb: fc.Arbitrary<Step> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ op: fc.constant('set' as const), key: keyArb, groups: groupsArb, ttl: ttlArb }) },
  {
    weight: 2,
    arbitrary: fc.record({ op: fc.constant('wrap' as const), key: keyArb, groups: groupsArb, ttl: ttlArb }),
  },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('read' as const), key: keyArb, groups: groupsArb }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('sleep' as const), ms: fc.integer({ min: 10, max: 80 }) }) },
  {
    weight: 2,
    arbitrary: fc.oneof(
      fc.record({ op: fc.constant('evict' as const), kind: fc.constant('e' as const), name: keyArb }),
      fc.record({ op: fc.constant('evict' as const), kind: fc.constant('g' as const), name: groupArb }),
    ),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('expireGroup' as const), group: groupArb }) },
)

/**
 * Every live entry's groups have versions that outlive it: PTTL -1 for an entry without TTL,
 * else at least the entry's PTTL. One MULTI reads every version and then every entry, so the
 * versions' PTTLs are taken no later than the entries': the clock moving between the commands
 * can only make a version look longer-lived than the entry, never shorter, and no slack is
 * needed (both backends count PTTL in whole ms of one clock, against expiry times in whole ms).
 */
async function checkVersions(raw: Redis, namespace: string, where: string): Promise<void> {
  const entries = await raw.keys(entryKey(namespace, '*'))
  const multi = raw.multi()
  for (const group of GROUPS) multi.get(groupKey(namespace, group)).pttl(groupKey(namespace, group))
  for (const name of entries) multi.get(name).pttl(name)
  const replies = ((await multi.exec()) ?? []).map(([error, reply]) => {
    if (error) throw error
    return reply as string | number | null
  })
  const versions = new Map(
    GROUPS.map((group, i) => [group as string, { version: replies[2 * i], pttl: replies[2 * i + 1] as number }]),
  )
  entries.forEach((name, n) => {
    const text = replies[2 * (GROUPS.length + n)] as string | null
    const pttl = replies[2 * (GROUPS.length + n) + 1] as number
    if (text === null) return // expired since KEYS
    const entry = decodeEntry(text)
    // A stale entry (a group expired, or its version lost) is a miss whatever its versions do.
    if (!entry.groups.every((group, i) => versions.get(group)?.version === entry.versions[i])) return
    for (const group of entry.groups) {
      const version = versions.get(group)?.pttl
      const what = `${where}: version of ${group} (pttl ${version}) for ${name} (pttl ${pttl})`
      if (pttl === -1) expect(version, what).toBe(-1)
      else expect(version === -1 || (version as number) >= pttl, what).toBe(true)
    }
  })
}

/** The longest PTTL of any key of the namespace: once it has passed, everything with a TTL is gone. */
async function longestTtl(raw: Redis, namespace: string): Promise<number> {
  const names = await raw.keys(`rgc:{${namespace}}:*`)
  if (names.length === 0) return 0
  const multi = raw.multi()
  for (const name of names) multi.pttl(name)
  const ttls = ((await multi.exec()) ?? []).map(([, reply]) => reply as number)
  return Math.max(0, ...ttls)
}

forEachBackend('version ttls', (backend) => {
  it(`versions outlive the live entries that use them through sets, reads, fills, time and evictions, then go (${RUNS} runs)`, async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 100, max: 300 }),
        fc.array(stepArb, { minLength: 1, maxLength: 14 }),
        async (lease, steps) => {
          const namespace = randomNamespace()
          const raw = backend.raw
          const cache = new GroupCache({ redis: backend.client, namespace, lease })
          // Groups whose version an entry without TTL made persistent, and that no eviction took
          // since: exactly the versions that must be left once every TTL has passed.
          const persistent = new Set<string>()
          try {
            for (const [i, step] of steps.entries()) {
              const where = `step ${i} ${JSON.stringify(step, (_, value) => (value === INFINITE ? 'Infinity' : value))}`
              switch (step.op) {
                case 'set':
                  expect(await cache.set(step.key, i, { groups: step.groups, ttl: step.ttl }), where).toBe(true)
                  if (step.ttl === INFINITE) for (const group of step.groups) persistent.add(group)
                  break
                case 'wrap': {
                  await cache.wrap(step.key, { groups: step.groups, ttl: step.ttl }, () => i)
                  // Stored only on a miss whose token still held: the entry then holds this step's value.
                  const text = await raw.get(entryKey(namespace, step.key))
                  const stored = text !== null && decodeEntry(text).value === String(i)
                  if (stored && step.ttl === INFINITE) for (const group of step.groups) persistent.add(group)
                  break
                }
                case 'read':
                  await cache.read(step.key, { groups: step.groups })
                  break
                case 'sleep':
                  await sleep(step.ms)
                  break
                case 'evict':
                  await raw.del(`rgc:{${namespace}}:${step.kind}:${step.name}`)
                  if (step.kind === 'g') persistent.delete(step.name)
                  break
                case 'expireGroup':
                  await cache.expireGroup(step.group)
                  break
              }
              await checkVersions(raw, namespace, where)
            }

            await sleep((await longestTtl(raw, namespace)) + 20)
            await checkVersions(raw, namespace, 'after the longest ttl')
            const left = await Promise.all(GROUPS.map((group) => raw.pttl(groupKey(namespace, group))))
            expect(
              Object.fromEntries(GROUPS.map((group, i) => [group, left[i]])),
              'after the longest ttl: persistent versions stay (pttl -1), all others are gone (-2)',
            ).toEqual(Object.fromEntries(GROUPS.map((group) => [group, persistent.has(group) ? -1 : -2])))
          } finally {
            await cache.close()
          }
        },
      ),
      { numRuns: RUNS, ...seed },
    )
  }, 60_000)
})
