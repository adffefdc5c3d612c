import { readFileSync } from 'node:fs'
import { performance } from 'node:perf_hooks'
import fc from 'fast-check'
import type { Redis } from 'ioredis'
import { expect, it } from 'vitest'
import { type ErrorCode, GroupCache, GroupCacheError, MAX_GROUPS } from '../src/index.js'
import {
  type Backend,
  type BackendName,
  dumpNamespace,
  entryKey,
  forEachBackend,
  groupKey,
  randomNamespace,
  storedEntry,
} from './support/backends.js'

/**
 * Properties over the public API, on both backends. fast-check prints the seed and the
 * shrunk counterexample of a failure; FC_SEED=<seed> replays one run.
 */

const seed = process.env.FC_SEED === undefined ? {} : { seed: Number(process.env.FC_SEED) }
/** Runs per property: the in-memory backend runs Lua in fengari, a few ms a script. */
const RUNS: Record<BackendName, { inputs: number; model: number; token: number }> = {
  redis: { inputs: 200, model: 200, token: 200 },
  memory: { inputs: 200, model: 150, token: 150 },
}

/** The error codes the README's Errors table documents (read at test time, so it cannot drift). */
const DOCUMENTED_CODES: readonly string[] = [
  ...readFileSync(new URL('../README.md', import.meta.url), 'utf8').matchAll(/^\| `\w+Error` \| `(E_[A-Z_]+)` \|/gm),
].map((match) => match[1] as string)

/** The oracle for names, written apart from src/validate.ts: non-empty, no unpaired surrogate. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/
const validName = (name: string) => name.length > 0 && !LONE_SURROGATE.test(name)

/**
 * How far a TTL measured here may be from Redis's: Redis keeps expiry times in whole ms (up to
 * 1 ms lost when it sets one), and its clock is not this process's monotonic one.
 */
const CLOCK_SLACK = 2

/** A TTL the README accepts: undefined, Infinity, or a positive whole number of ms. */
const validTtl = (ttl: number | undefined) =>
  ttl === undefined || ttl === Number.POSITIVE_INFINITY || (Number.isSafeInteger(ttl) && ttl > 0)

const jsonRoundTrip = (value: unknown) => JSON.parse(JSON.stringify(value))

// ---------------------------------------------------------------------------------------------
// Arbitraries

const surrogateHalf = fc.integer({ min: 0xd800, max: 0xdfff }).map((code) => String.fromCharCode(code))
const oneGrapheme = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 1 })
const tricky = fc.constantFrom(
  '',
  '{',
  '}',
  '{}',
  '}{',
  '{B}',
  ':',
  '::',
  ' ',
  'a b',
  'e:k',
  'g:x',
  't:k',
  '\u0000',
  'rgc:{other}:e:k',
  '*',
  '?',
  '[a]',
  '\\',
  '\n',
  '__proto__',
  'constructor',
  '😀',
  'e\u0301',
)
const shortName = fc.oneof(
  fc.string({ unit: 'grapheme', maxLength: 12 }),
  fc.string({ unit: 'binary', maxLength: 12 }),
  fc.string({ unit: 'binary-ascii', maxLength: 12 }),
  tricky,
)
/** Any string a caller may pass as a key or group, valid or not. */
const anyName: fc.Arbitrary<string> = fc.oneof(
  { weight: 8, arbitrary: shortName },
  { weight: 2, arbitrary: fc.tuple(shortName, tricky, shortName).map((parts) => parts.join('')) },
  { weight: 1, arbitrary: fc.string({ unit: fc.oneof(oneGrapheme, surrogateHalf), maxLength: 6 }) },
  {
    // long: 1 KiB to 10 KiB code units (cut by code unit, so an astral character may be halved)
    weight: 1,
    arbitrary: fc
      .tuple(fc.string({ unit: 'binary', minLength: 1, maxLength: 4 }), fc.integer({ min: 1024, max: 10_240 }))
      .map(([seedText, length]) => seedText.repeat(Math.ceil(length / seedText.length)).slice(0, length)),
  },
)
const goodName = anyName.filter(validName)

/** 0..80 groups, duplicates allowed: all valid, more than MAX_GROUPS distinct valid ones, or anything. */
const groupList: fc.Arbitrary<string[] | undefined> = fc.oneof(
  { weight: 1, arbitrary: fc.constant(undefined) },
  {
    weight: 4,
    arbitrary: fc
      .integer({ min: 0, max: 80 })
      .chain((n) =>
        fc.array(fc.oneof(fc.constantFrom('g1', 'g2', 'g3', '{B}'), goodName), { minLength: n, maxLength: n }),
      ),
  },
  {
    weight: 1,
    arbitrary: fc
      .uniqueArray(goodName, { minLength: MAX_GROUPS + 1, maxLength: 80 })
      .chain((groups) => fc.shuffledSubarray([...groups, ...groups.slice(0, 5)], { minLength: groups.length })),
  },
  {
    weight: 1,
    arbitrary: fc.integer({ min: 0, max: 80 }).chain((n) => fc.array(anyName, { minLength: n, maxLength: n })),
  },
)

const ttlArb: fc.Arbitrary<number | undefined> = fc.oneof(
  { weight: 4, arbitrary: fc.constant(undefined) },
  { weight: 4, arbitrary: fc.integer({ min: 1, max: 2 ** 31 }) },
  // Short enough to run out while a run looks at what the set wrote: what it finds must hold then too.
  { weight: 2, arbitrary: fc.integer({ min: 1, max: 50 }) },
  { weight: 1, arbitrary: fc.integer({ min: -100_000, max: 0 }) },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      1,
      60_000,
      2 ** 31,
      2 ** 32,
      2 ** 53 - 1,
      2 ** 53,
      2 ** 60,
      -0,
      0.5,
      1.5,
      1e-300,
      Number.NaN,
      Number.POSITIVE_INFINITY,
      Number.NEGATIVE_INFINITY,
    ),
  },
  { weight: 1, arbitrary: fc.double() },
)

interface ValueCase {
  value: unknown
  /** The code a set of it must reject with; undefined when it is storable. */
  code: ErrorCode | undefined
}
const cyclic: Record<string, unknown> = { a: 1 }
cyclic.self = cyclic
const valueArb: fc.Arbitrary<ValueCase> = fc.oneof(
  { weight: 6, arbitrary: fc.jsonValue().map((value) => ({ value, code: undefined })) },
  {
    weight: 3,
    arbitrary: fc
      .jsonValue({ stringUnit: fc.oneof(fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }), surrogateHalf) })
      .map((value) => ({ value, code: undefined })),
  },
  {
    weight: 1,
    arbitrary: fc.constantFrom<ValueCase>(
      { value: undefined, code: 'E_INVALID_ARGUMENT' },
      { value: 10n, code: 'E_SERIALIZE' },
      { value: { nested: [1n] }, code: 'E_SERIALIZE' },
      { value: cyclic, code: 'E_SERIALIZE' },
      { value: () => 1, code: 'E_SERIALIZE' },
      { value: Symbol('s'), code: 'E_SERIALIZE' },
    ),
  },
)

// ---------------------------------------------------------------------------------------------
// Helpers

async function settle<T>(promise: Promise<T>): Promise<{ ok: true; value: T } | { ok: false; error: unknown }> {
  return promise.then(
    (value) => ({ ok: true as const, value }),
    (error: unknown) => ({ ok: false as const, error }),
  )
}

/** Removes every key of a namespace a run created (on the real Redis they would outlive the run). */
async function dropNamespace(raw: Redis, namespace: string): Promise<void> {
  const names = await raw.keys(`rgc:{${namespace}}:*`)
  if (names.length > 0) await raw.del(...names)
}

/**
 * A cache in a namespace of its own, for one run, connected as the backend's caches are ('memory',
 * the ACL user, a Cluster...) through one client the backend shares.
 */
function runCache(backend: Backend, namespace: string): GroupCache {
  return new GroupCache({ redis: backend.client, namespace })
}

// ---------------------------------------------------------------------------------------------
// The model of the semantics: a set records a value and its groups; expireGroup makes every
// value in the group missing; delete removes.

type Model = Map<string, { value: number; groups: readonly string[] }>

const expire = (model: Model, groups: readonly string[]) => {
  for (const [key, entry] of model) if (entry.groups.some((group) => groups.includes(group))) model.delete(key)
}

const KEYS = ['a', 'b', '{c}:e:a'] as const
const GROUPS = ['g1', 'g2', '{g3}'] as const
const keyArb: fc.Arbitrary<string> = fc.constantFrom(...KEYS)
const groupArb: fc.Arbitrary<string> = fc.constantFrom(...GROUPS)
const groupsArb = fc.array(groupArb, { maxLength: 4 })

type Action =
  | { op: 'evict'; kind: 'g' | 'e' | 't'; name: string }
  | { op: 'set'; key: string; value: number; groups: string[] }
  | { op: 'wrap'; key: string; value: number; groups: string[] }
  | { op: 'get'; key: string }
  | { op: 'getMany'; keys: string[] }
  | { op: 'delete'; key: string }
  | { op: 'expireGroup'; group: string }
  | { op: 'expireGroups'; groups: string[] }

const valueNumber = fc.integer({ min: 0, max: 1_000_000 })
/** A key the cache wrote, deleted by hand as eviction would: a group's version, an entry, a generation. */
const evictArb: fc.Arbitrary<Action> = fc.oneof(
  fc.record({ op: fc.constant('evict' as const), kind: fc.constant('g' as const), name: groupArb }),
  fc.record({ op: fc.constant('evict' as const), kind: fc.constantFrom('e' as const, 't' as const), name: keyArb }),
)
const actionArb: fc.Arbitrary<Action> = fc.oneof(
  { weight: 2, arbitrary: evictArb },
  { weight: 4, arbitrary: fc.record({ op: fc.constant('set'), key: keyArb, value: valueNumber, groups: groupsArb }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('wrap'), key: keyArb, value: valueNumber, groups: groupsArb }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('get'), key: keyArb }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('getMany'), keys: fc.array(keyArb, { maxLength: 4 }) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('delete'), key: keyArb }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('expireGroup'), group: groupArb }) },
  {
    weight: 1,
    arbitrary: fc.record({ op: fc.constant('expireGroups'), groups: fc.array(groupArb, { maxLength: 3 }) }),
  },
)

/**
 * Runs one action on the cache and on the model, and checks the cache's answer against the model's.
 * An eviction deletes the key by hand through `raw` in `namespace`.
 */
async function step(
  cache: GroupCache,
  model: Model,
  action: Action,
  evict?: { raw: Redis; namespace: string },
): Promise<void> {
  const where = JSON.stringify(action)
  switch (action.op) {
    case 'evict': {
      if (!evict) throw new Error('an eviction needs the raw client')
      await evict.raw.del(`rgc:{${evict.namespace}}:${action.kind}:${action.name}`)
      // A lost version makes every snapshot of it stale; a lost entry is a miss; a lost generation
      // changes no value.
      if (action.kind === 'g') expire(model, [action.name])
      if (action.kind === 'e') model.delete(action.name)
      return
    }
    case 'set': {
      expect(await cache.set(action.key, action.value, { groups: action.groups }), where).toBe(true)
      model.set(action.key, { value: action.value, groups: action.groups })
      return
    }
    case 'wrap': {
      const live = model.get(action.key)
      let calls = 0
      const got = await cache.wrap(action.key, { groups: action.groups }, () => {
        calls++
        return action.value
      })
      // a hit only of an entry stored under every group asked for; else the fill replaces it
      if (live && action.groups.every((group) => live.groups.includes(group))) {
        expect([got, calls], where).toEqual([live.value, 0])
      } else {
        expect([got, calls], where).toEqual([action.value, 1])
        model.set(action.key, { value: action.value, groups: action.groups })
      }
      return
    }
    case 'get':
      expect(await cache.get(action.key), where).toBe(model.get(action.key)?.value)
      return
    case 'getMany':
      expect(await cache.getMany(action.keys), where).toEqual(action.keys.map((key) => model.get(key)?.value))
      return
    case 'delete': {
      const live = model.delete(action.key)
      expect(await cache.delete(action.key), where).toBe(live)
      return
    }
    case 'expireGroup':
      await cache.expireGroup(action.group)
      expire(model, [action.group])
      return
    case 'expireGroups':
      await cache.expireGroups(action.groups)
      expire(model, action.groups)
      return
  }
}

forEachBackend('properties', (backend) => {
  const runs = RUNS[backend.name]

  it(`set of arbitrary keys, values, ttls and groups: stores and round-trips, or rejects with the expected code and writes nothing (${runs.inputs} runs)`, async () => {
    expect(DOCUMENTED_CODES).toEqual(expect.arrayContaining(['E_INVALID_ARGUMENT', 'E_SERIALIZE', 'E_REDIS']))
    await fc.assert(
      fc.asyncProperty(anyName, valueArb, ttlArb, groupList, async (key, { value, code: valueCode }, ttl, groups) => {
        // What must happen, decided from the input alone.
        const expected = new Set<ErrorCode>()
        if (!validName(key)) expected.add('E_INVALID_ARGUMENT')
        if (groups !== undefined && (!groups.every(validName) || new Set(groups).size > MAX_GROUPS)) {
          expected.add('E_INVALID_ARGUMENT')
        }
        if (!validTtl(ttl)) expected.add('E_INVALID_ARGUMENT')
        if (valueCode) expected.add(valueCode)

        const namespace = randomNamespace()
        const cache = runCache(backend, namespace)
        try {
          // Something already there that a refused set must leave alone, under the same key too.
          await cache.set('existing', 'old', { groups: ['g1'] })
          if (validName(key)) await cache.set(key, 'previous', { groups: ['g2'] })
          const before = await dumpNamespace(backend.raw, namespace)

          const started = performance.now()
          const result = await settle(cache.set(key, value as {} | null, { groups, ttl }))
          if (expected.size > 0) {
            expect(result.ok, 'set should have been refused').toBe(false)
            if (result.ok) return
            expect(result.error).toBeInstanceOf(GroupCacheError)
            const error = result.error as GroupCacheError
            expect(DOCUMENTED_CODES).toContain(error.code)
            // With one fault, exactly its code; with several, the code of one of them.
            expect([...expected]).toContain(error.code)
            expect(await dumpNamespace(backend.raw, namespace)).toEqual(before)
            return
          }

          if (!result.ok) throw result.error
          expect(result.value).toBe(true)
          const ttlMs = ttl === undefined || ttl === Number.POSITIVE_INFINITY ? undefined : ttl
          // A key may be gone only once the TTL it was given has passed since the set was sent,
          // less CLOCK_SLACK.
          const ranOut = () => ttlMs !== undefined && performance.now() - started >= ttlMs - CLOCK_SLACK
          const gone = (what: string) =>
            expect(ranOut(), `${what} gone ${performance.now() - started} ms after a set with ttl ${ttlMs}`).toBe(true)
          // Whether a PTTL answer says the key is gone. The in-memory backend keeps an expired key
          // until it is read, and answers PTTL with the (negative) ms since it expired, -1 and -2
          // among them: there, any negative answer once the TTL has run out is a key gone.
          const isGone = (pttl: number) => pttl === -2 || (backend.name === 'memory' && pttl < 0 && ranOut())
          const stored = await cache.get(key)
          if (stored === undefined) gone('the entry')
          else expect(stored).toEqual(jsonRoundTrip(value))
          if (key !== 'existing') expect(await cache.get('existing')).toBe('old')

          // The entry's snapshot holds exactly one version per distinct group, and every
          // group version outlives it (guarantee 4). Versions are looked at before the entry: both
          // TTLs shrink as time passes, so a version read first never looks shorter than it is.
          const distinct = [...new Set(groups ?? [])]
          const versionTtls = await Promise.all(distinct.map((group) => backend.raw.pttl(groupKey(namespace, group))))
          const entryTtl = await backend.raw.pttl(entryKey(namespace, key))
          const lookedAt = performance.now() - started
          const entry = await storedEntry(backend.raw, entryKey(namespace, key))
          if (entry === null) {
            gone('the entry')
          } else {
            expect(entry.groups).toEqual(distinct)
            expect(entry.versions).toHaveLength(distinct.length)
          }
          // Without a TTL, nothing it wrote expires. With one, a version is persistent only if it
          // was before this set (an entry without TTL made it so); every other one expires, no
          // sooner than the entry.
          const persistentBefore = (group: string) => before[groupKey(namespace, group)]?.endsWith(' -1') === true
          if (ttlMs === undefined) {
            expect(entryTtl).toBe(-1)
            expect(versionTtls).toEqual(distinct.map(() => -1))
          } else {
            // The in-memory backend keeps expiry times as doubles: past 2^53 ms from the epoch they
            // round, up to 2 ms (see test/scripts.test.ts, backend differences).
            const rounding = backend.name === 'memory' && Date.now() + ttlMs > Number.MAX_SAFE_INTEGER ? 2 : 0
            if (isGone(entryTtl)) {
              gone('the entry')
            } else {
              // What is left of the TTL: no more than it, no less than it less the time since the set.
              expect(entryTtl).toBeGreaterThanOrEqual(Math.max(0, ttlMs - lookedAt - CLOCK_SLACK - rounding))
              expect(entryTtl).toBeLessThanOrEqual(ttlMs + rounding)
            }
            distinct.forEach((group, i) => {
              const versionTtl = versionTtls[i] as number
              const where = `the version of ${group}, ttl ${versionTtl}`
              if (persistentBefore(group)) expect(versionTtl, where).toBe(-1)
              else if (isGone(versionTtl)) gone(where)
              else expect(versionTtl, where).toBeGreaterThanOrEqual(Math.max(entryTtl, 0))
            })
          }
        } finally {
          await cache.close()
          await dropNamespace(backend.raw, namespace)
        }
      }),
      { numRuns: runs.inputs, ...seed },
    )
  })

  it(`every other method with arbitrary keys and groups: valid names work, others reject with E_INVALID_ARGUMENT and write nothing (${runs.inputs} runs)`, async () => {
    const methods = ['get', 'getMany', 'delete', 'expireGroup', 'expireGroups', 'read', 'wrap', 'cached'] as const
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...methods), anyName, groupList, async (method, name, groups) => {
        const groupsValid = groups === undefined || (groups.every(validName) && new Set(groups).size <= MAX_GROUPS)
        const valid = {
          get: validName(name),
          getMany: validName(name),
          delete: validName(name),
          expireGroup: validName(name),
          expireGroups: (groups ?? [name]).every(validName),
          read: validName(name) && groupsValid,
          wrap: validName(name) && groupsValid,
          cached: validName(name) && groupsValid,
        }[method]
        const namespace = randomNamespace()
        const cache = runCache(backend, namespace)
        try {
          await cache.set('existing', 'old', { groups: ['g1'] })
          const before = await dumpNamespace(backend.raw, namespace)
          const computed = () => 'computed'
          const call = {
            get: () => cache.get(name),
            getMany: () => cache.getMany([name, 'existing']),
            delete: () => cache.delete(name),
            expireGroup: () => cache.expireGroup(name),
            expireGroups: () => cache.expireGroups(groups ?? [name]),
            read: () => cache.read(name, { groups }),
            wrap: () => cache.wrap(name, { groups }, computed),
            cached: () => cache.cached(computed, { key: () => name, groups: () => groups ?? [] })(),
          }[method]
          const result = await settle(call())
          if (!valid) {
            expect(result.ok, `${method} should have been refused`).toBe(false)
            expect(result.ok ? undefined : result.error).toBeInstanceOf(GroupCacheError)
            expect((result as { error: GroupCacheError }).error.code).toBe('E_INVALID_ARGUMENT')
            expect(await dumpNamespace(backend.raw, namespace)).toEqual(before)
            return
          }
          if (!result.ok) throw result.error
          const existing = name === 'existing'
          const expireHitsG1 = method === 'expireGroups' ? (groups ?? [name]).includes('g1') : name === 'g1'
          switch (method) {
            case 'get':
              expect(result.value).toBe(existing ? 'old' : undefined)
              break
            case 'getMany':
              expect(result.value).toEqual([existing ? 'old' : undefined, 'old'])
              break
            case 'delete':
              expect(result.value).toBe(existing)
              break
            case 'expireGroup':
            case 'expireGroups':
              expect(await cache.get('existing')).toBe(expireHitsG1 ? undefined : 'old')
              break
            case 'read':
              if (existing) expect(result.value).toEqual({ hit: true, value: 'old' })
              else
                expect(result.value).toMatchObject({ hit: false, token: { key: name, groups: [...new Set(groups)] } })
              break
            case 'wrap':
            case 'cached':
              expect(result.value).toBe(existing ? 'old' : 'computed')
              expect(await cache.get(name)).toBe(existing ? 'old' : 'computed')
              break
          }
        } finally {
          await cache.close()
          await dropNamespace(backend.raw, namespace)
        }
      }),
      { numRuns: runs.inputs, ...seed },
    )
  })

  it(`model-based: two caches (two processes) and evictions; every get, getMany, wrap and delete answers as a map of values with groups does (${runs.model} runs)`, async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(actionArb, fc.integer({ min: 0, max: 1 })), { minLength: 1, maxLength: 25 }),
        async (actions) => {
          const namespace = randomNamespace()
          // Each remembers the groups of what it read and stored: hints one of them holds go stale
          // when the other writes, invalidates or an eviction strikes.
          const caches = [runCache(backend, namespace), runCache(backend, namespace)] as const
          const model: Model = new Map()
          try {
            for (const [action, via] of actions) {
              await step(caches[via as 0 | 1], model, action, { raw: backend.raw, namespace })
            }
            // and at the end, every key of the universe at once, through both
            for (const cache of caches) {
              expect(await cache.getMany([...KEYS])).toEqual(KEYS.map((key) => model.get(key)?.value))
            }
          } finally {
            await Promise.all(caches.map((cache) => cache.close()))
            await dropNamespace(backend.raw, namespace)
          }
        },
      ),
      { numRuns: runs.model, ...seed },
    )
  })

  it(`read → anything → set({ token }) stores iff no group of the token was expired, and the key was neither deleted nor stored since the read (${runs.token} runs)`, async () => {
    const TOKEN_KEYS = ['k', 'other'] as const
    const tokenKeyArb = fc.constantFrom(...TOKEN_KEYS)
    /** What may run between the read and the set: other writers, readers and invalidators. */
    const between: fc.Arbitrary<Action> = fc.oneof(
      { weight: 3, arbitrary: fc.record({ op: fc.constant('expireGroup'), group: groupArb }) },
      {
        weight: 1,
        arbitrary: fc.record({ op: fc.constant('expireGroups'), groups: fc.array(groupArb, { maxLength: 3 }) }),
      },
      { weight: 2, arbitrary: fc.record({ op: fc.constant('delete'), key: tokenKeyArb }) },
      {
        weight: 2,
        arbitrary: fc.record({ op: fc.constant('set'), key: tokenKeyArb, value: valueNumber, groups: groupsArb }),
      },
      { weight: 2, arbitrary: fc.record({ op: fc.constant('get'), key: tokenKeyArb }) },
    )
    await fc.assert(
      fc.asyncProperty(
        fc.array(between, { maxLength: 3 }),
        groupsArb,
        fc.array(between, { maxLength: 6 }),
        valueNumber,
        async (setup, groups, interleaved, value) => {
          const namespace = randomNamespace()
          const cache = runCache(backend, namespace)
          const model: Model = new Map()
          try {
            for (const action of setup) await step(cache, model, action)
            const read = await cache.read<number>('k', { groups })
            const live = model.get('k')
            // a hit only of an entry stored under every group asked for
            if (live && groups.every((group) => live.groups.includes(group))) {
              expect(read).toEqual({ hit: true, value: live.value })
              return
            }
            expect(read.hit).toBe(false)
            if (read.hit) return

            // The model decides: did anything covering the key move since the read?
            let groupOrDelete = false
            let storedSinceRead = false
            for (const action of interleaved) {
              await step(cache, model, action)
              if (action.op === 'expireGroup' && groups.includes(action.group)) groupOrDelete = true
              if (action.op === 'expireGroups' && action.groups.some((group) => groups.includes(group))) {
                groupOrDelete = true
              }
              if (action.op === 'delete' && action.key === 'k') groupOrDelete = true
              if (action.op === 'set' && action.key === 'k') storedSinceRead = true
            }
            // The README: stores only if no group was expired and the key was neither deleted
            // nor stored by someone else since the read.
            const expected = !groupOrDelete && !storedSinceRead
            const stored = await cache.set('k', value, { token: read.token })
            expect(stored).toBe(expected)
            if (stored) model.set('k', { value, groups })
            expect(await cache.getMany([...TOKEN_KEYS])).toEqual(TOKEN_KEYS.map((key) => model.get(key)?.value))
          } finally {
            await cache.close()
            await dropNamespace(backend.raw, namespace)
          }
        },
      ),
      { numRuns: runs.token, ...seed },
    )
  })

  // A set without token since the read refuses the fill even once its own entry is gone again
  // (its TTL, eviction, an invalidation through a group outside the token): it moved the
  // key's generation.
  it('a fill after a write-through set whose entry expired by TTL is refused (README: "not stored by someone else")', async () => {
    const cache = backend.cache()
    const miss = await cache.read('k', { groups: ['users'] }) // a reader misses, starts loading row v1
    if (miss.hit) throw new Error('expected a miss')
    await cache.set('k', 'v2', { groups: ['users'], ttl: 30 }) // a writer updates the row, writes v2 through
    await new Promise((resolve) => setTimeout(resolve, 80)) // v2's TTL runs out (or LRU evicts it)
    expect(await cache.set('k', 'v1', { token: miss.token })).toBe(false)
    expect(await cache.get('k')).toBeUndefined()
  })

  it('a fill after a write-through set invalidated through a group outside the token is refused', async () => {
    const cache = backend.cache()
    const miss = await cache.read('k', { groups: ['users'] })
    if (miss.hit) throw new Error('expected a miss')
    await cache.set('k', 'v2', { groups: ['other'] })
    await cache.expireGroup('other')
    expect(await cache.get('k')).toBeUndefined() // finds v2 stale and deletes it
    expect(await cache.set('k', 'v1', { token: miss.token })).toBe(false)
  })

  // Names that are special to JavaScript objects: ioredis-mock keeps a hash in a plain object,
  // where a field named __proto__ would vanish; entries are strings, so none does.
  it.each(['__proto__', 'constructor', 'hasOwnProperty'])('a group named %s invalidates its values', async (group) => {
    const cache = backend.cache()
    await cache.set('k', 1, { groups: [group] })
    expect(await cache.get('k')).toBe(1)
    await cache.expireGroup(group)
    expect(await cache.get('k')).toBeUndefined()
  })
})
