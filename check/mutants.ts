/**
 * Mutants: deliberately broken copies of the library, to prove that the checker and the test
 * suite catch the bugs they exist for. A mutant is a list of targeted edits to files of `lua/` or
 * `src/`, each made as a careful reviewer would make it by hand. `mutantTree` writes a copy of
 * the project's code and tests with the edits applied under `.mutants/<name>-<pid>/`, inside the
 * project so that its imports resolve to the project's node_modules; the checker's workers
 * (check/run.ts) and the test files a mutant names (test/mutants.test.ts) then run from that
 * copy, so what runs is exactly the edited code, Lua and TypeScript alike. Every edit throws when
 * its target text is missing or not unique, so that a change to the code cannot silently turn a
 * mutant into the unmutated code: `npm test` runs every mutant, and one whose target moved, or
 * that nothing catches any more, fails the build.
 */
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

/** One replacement in one file, by its path from the project's root (`lua/set.lua`, `src/entry.ts`). */
export interface Edit {
  readonly file: string
  readonly target: string
  readonly replacement: string
}

/**
 * What the checker reports for the mutant's bug: stale reads, lost hits, reads that rejected, hits
 * of values stored outside the groups asked for, or in a herd mode a herd (fill calls per key and
 * invalidation, or waits, past their bounds).
 */
export type Catch = 'stale' | 'lost' | 'rejected reads' | 'herd' | 'foreign'

export interface Mutant {
  readonly name: string
  readonly description: string
  /**
   * Caught by the checker: in `mode` (whose workload or faults make the bug show), which must
   * report `caught` (test/checker.test.ts runs it).
   */
  readonly checker?: {
    readonly mode: string
    readonly caught: Catch
    /** how long a short run needs for the bug to show, s @default 2 */
    readonly seconds?: number
    /** the caches' lease in that run, ms @default the checker's */
    readonly lease?: number
    /** every cache with a near cache of this consistency (the mode may set one of its own) */
    readonly nearCache?: 'strict' | 'eventual'
    /** every cache's sharding @default 'namespace' */
    readonly sharding?: 'namespace' | 'key'
  }
  /** Caught by the test suite: each of these files fails against the mutant (test/mutants.test.ts runs them). */
  readonly tests?: readonly string[]
  readonly edits: readonly Edit[]
}

/** read.lua's check of an entry stored under exactly the groups asked (isExactHit, lua/include/common.lua) compares the names alone. */
const exactHitSkipsVersions: Edit = {
  file: 'lua/include/common.lua',
  target: '  if string.sub(entry, 1, pos - 1) ~= snapshot then return false end\n',
  replacement: "  pos = (string.find(entry, ';', 1, true) or 0) + 1\n",
}

const list: Mutant[] = [
  {
    name: 'no-compare',
    description: 'every read skips the version comparison (the scripts and the client): an entry is live if it exists',
    checker: { mode: 'normal', caught: 'stale' },
    tests: ['test/invalidation.test.ts'],
    edits: [
      exactHitSkipsVersions,
      // judgeEntry (lua/include/common.lua), spliced into every script that reads an entry
      {
        file: 'lua/include/common.lua',
        target: 'if current[i] ~= snapshot[i] then\n        live = false',
        replacement: 'if false then\n        live = false',
      },
      {
        file: 'src/entry.ts',
        target: 'if (version == null || !bytesAt(entry, pos, version)) return -1',
        replacement: 'if (version == null) return -1',
      },
    ],
  },
  {
    name: 'exact-hit-skips-versions',
    description:
      "only the read script's check of an entry stored under exactly the groups asked skips the versions: it compares the names alone",
    checker: { mode: 'normal', caught: 'stale' },
    tests: ['test/invalidation.test.ts', 'test/scripts.test.ts'],
    edits: [exactHitSkipsVersions],
  },
  {
    name: 'no-compare-mget',
    description:
      'only the MGET read of a key whose groups are known skips the version comparison (the scripts are right)',
    checker: { mode: 'normal', caught: 'stale' },
    tests: ['test/invalidation.test.ts'],
    edits: [
      {
        file: 'src/entry.ts',
        target: 'if (version == null || !bytesAt(entry, pos, version)) return -1',
        replacement: 'if (version == null) return -1',
      },
    ],
  },
  {
    name: 'mget-skips-groups',
    description:
      "the MGET read compares the snapshot's versions but not its group names: an entry rewritten under other groups whose versions equal the hinted ones reads as live",
    checker: { mode: 'move-groups', caught: 'stale' },
    tests: ['test/hints.test.ts'],
    edits: [
      {
        file: 'src/entry.ts',
        target: 'return bytesAt(entry, pos, part) ? pos + part.length : -1',
        replacement: 'return pos + part.length',
      },
    ],
  },
  {
    name: 'ignore-token',
    description: 'set with a token stores whatever moved since the read (no compare-and-set)',
    checker: { mode: 'normal', caught: 'stale' },
    tests: ['test/fills.test.ts'],
    edits: [
      {
        file: 'lua/set.lua',
        target: 'if hasToken then\n  -- Only a live entry',
        replacement: 'if false then\n  -- Only a live entry',
      },
    ],
  },
  {
    name: 'wrap-without-token',
    description:
      "wrap stores its function's value with a plain set (its groups, no token), then gives up the lease: the read-compute-set race",
    // herd: one fill per key makes fills few elsewhere; the herd's many callers and long fills give the race room.
    // The lease is given up after the set, as the token's set would, so that the one thing changed is the
    // compare: kept, the waiters would wait out every lease, few fills would run, and a slow run could show
    // only a herd of waits.
    checker: { mode: 'herd', caught: 'stale', seconds: 3 },
    tests: ['test/fills.test.ts'],
    edits: [
      {
        file: 'src/fills.ts',
        target:
          '    return this.store(fill.key, notFound ? NOT_FOUND : run.value, {\n      token,\n      groups: run.groups.length === 0 ? undefined : [...token.groups, ...run.groups],\n',
        replacement:
          '    const untokened = this.store(fill.key, notFound ? NOT_FOUND : run.value, {\n      groups: [...token.groups, ...run.groups],\n',
      },
      {
        file: 'src/fills.ts',
        target: '      timeout: fill.timeout,\n    })\n  }\n\n  /**\n   * A value invalidated less than grace ago',
        replacement:
          '      timeout: fill.timeout,\n    })\n    return untokened.finally(() => this.leases.release(token))\n  }\n\n  /**\n   * A value invalidated less than grace ago',
      },
    ],
  },
  {
    name: 'restart-at-zero',
    description:
      'a missing version is created as 0 instead of from Redis TIME, and expireGroup INCRs a missing version from 0',
    // it needs a version deleted inside a fill's window: the rarest of the races here. 4 s found none in
    // about one run in six (between 1 and 14 stale reads in the others), and 8 s none in one CI run
    // on a loaded machine (18,104 operations): 12 s
    checker: { mode: 'evict-versions', caught: 'stale', seconds: 12 },
    tests: ['test/invalidation.test.ts'],
    edits: [
      // versionAt (lua/include/common.lua), spliced into read, claim, set, delete and stamp
      {
        file: 'lua/include/common.lua',
        target: "return t[1] .. string.format('%06d', tonumber(t[2]))",
        replacement: "return '0'",
      },
      { file: 'lua/expire-groups.lua', target: 'if isVersion(versions[i]) then', replacement: 'if true then' },
    ],
  },
  {
    name: 'expire-first-group-only',
    description: 'expireGroups moves only the first group it names',
    checker: { mode: 'normal', caught: 'stale' },
    tests: ['test/invalidation.test.ts'],
    edits: [
      {
        file: 'lua/expire-groups.lua',
        target: 'for i = 1, #KEYS do\n  local record',
        replacement: 'for i = 1, 1 do\n  local record',
      },
    ],
  },
  {
    name: 'delete-keeps-generation',
    description: "delete removes the entry but leaves the key's generation: a fill that read before it still stores",
    checker: { mode: 'normal', caught: 'stale' },
    tests: ['test/invalidation.test.ts', 'test/fills.test.ts'],
    edits: [
      {
        file: 'lua/delete.lua',
        target: "    redis.call('INCR', KEYS[i + 1])\n",
        replacement: '',
      },
    ],
  },
  {
    name: 'plain-set-keeps-generation',
    description:
      "a set without token does not move the key's generation: once its entry is gone, a fill that read before it stores the older value",
    // the race needs a fill that outlives a written-through entry of a few ms: give it time
    checker: { mode: 'write-through', caught: 'stale', seconds: 4 },
    tests: ['test/fills.test.ts'],
    edits: [{ file: 'lua/set.lua', target: '  moveGeneration(generationKey)\n', replacement: '' }],
  },
  {
    name: 'no-version-ttl-upkeep',
    description:
      "set does not extend the TTL of a version that exists: a version a miss created expires after the lease, taking its entries' hits with it",
    // a short lease: the versions a miss creates expire soon after their entries are stored
    checker: { mode: 'normal', caught: 'lost', lease: 100 },
    tests: ['test/version-ttl.test.ts'],
    edits: [{ file: 'lua/set.lua', target: '    lengthen(KEYS[3 + i], keep)\n', replacement: '' }],
  },
  {
    name: 'version-ttl-shortens',
    description:
      "a set's version upkeep drops PEXPIRE's GT: a set with a shorter TTL, or a stamp's hold, shortens a version that a longer-lived entry needs, and its hits are lost when it expires",
    tests: ['test/version-ttl.test.ts'],
    edits: [
      {
        file: 'lua/include/common.lua',
        target: "    redis.call('PEXPIRE', key, ttl, 'GT')\n",
        replacement: "    redis.call('PEXPIRE', key, ttl)\n",
      },
    ],
  },
  {
    name: 'get-rejects',
    description: 'get rejects when Redis fails instead of failing open',
    // a pause (its first 1-2 s in) fails every call for a second: a kill, briefer, may miss every
    // get; 5 s hold one pause whole, and maybe a second
    checker: { mode: 'pause', caught: 'rejected reads', seconds: 5 },
    tests: ['test/failures.test.ts'],
    edits: [
      {
        file: 'src/reads.ts',
        target:
          '(reply) => this.settleHinted<T>(cacheKey, hint, reply, 0, hint.at, deadlines, trace),\n      this.failOpen(trace),\n',
        replacement:
          '(reply) => this.settleHinted<T>(cacheKey, hint, reply, 0, hint.at, deadlines, trace),\n      undefined,\n',
      },
      {
        file: 'src/reads.ts',
        target: 'resolve(this.transport.failOpen(failure, this.miss(undefined)))',
        replacement: 'reject(failure)',
      },
      {
        file: 'src/reads.ts',
        target: 'return this.decodeOrDiscard<T>(key, this.learn(key, entry))\n      },\n      this.failOpen(trace),\n',
        replacement: 'return this.decodeOrDiscard<T>(key, this.learn(key, entry))\n      },\n      undefined,\n',
      },
    ],
  },
  {
    name: 'set-skips-exists',
    description: 'a token set overwrites an entry someone stored since its read (the live entry check dropped)',
    tests: ['test/fills.test.ts'],
    edits: [
      {
        file: 'lua/set.lua',
        target: 'if live ~= nil and covers(held, names) then',
        replacement: 'if false then',
      },
    ],
  },
  {
    name: 'set-skips-lease',
    description: 'a token set stores however old its token is (the age check dropped)',
    tests: ['test/fills.test.ts'],
    edits: [{ file: 'lua/set.lua', target: '  if ageMs >= tonumber(lease) then return -1 end\n', replacement: '' }],
  },
  {
    name: 'set-skips-generation',
    description: 'a token set stores after a delete of its key (the generation check dropped)',
    checker: { mode: 'normal', caught: 'stale' },
    tests: ['test/fills.test.ts'],
    edits: [
      {
        file: 'lua/set.lua',
        target:
          "  if redis.call('GET', generationKey) ~= tokenGeneration then return -2 end\n  for i = 1, tokenCount do",
        replacement: '  for i = 1, tokenCount do',
      },
    ],
  },
  {
    name: 'set-skips-versions',
    description: 'a token set stores after one of its groups was expired (the version check dropped)',
    checker: { mode: 'normal', caught: 'stale' },
    tests: ['test/fills.test.ts'],
    edits: [{ file: 'lua/set.lua', target: '    if versions[i] ~= ARGV[5 + i] then return -3 end\n', replacement: '' }],
  },
  {
    name: 'resend-claims-any-entry',
    description:
      'a token set that finds the very entry it would store says it stored, live or not, whatever moved since its read',
    // Tests only: with one fill per key, a second set of one read's token is a resend, and the
    // checker's workers do not resend.
    tests: ['test/fills.test.ts'],
    edits: [
      {
        file: 'lua/set.lua',
        target: 'if live ~= nil and covers(held, names) then',
        replacement: "if redis.call('EXISTS', entryKey) == 1 then",
      },
      {
        file: 'lua/include/common.lua',
        target: "  if redis.call('GET', generationKey) ~= tokenGeneration then return 0 end\n  local storedGrace",
        replacement: '  local storedGrace',
      },
    ],
  },
  {
    name: 'read-empty-version',
    description: "a miss hands out '' for a group with no version instead of creating one",
    tests: ['test/fills.test.ts', 'test/scripts.test.ts'],
    edits: [
      {
        file: 'lua/read.lua',
        target: "    local version = versionAt(t)\n    redis.call('SET', KEYS[3 + i], version, 'PX', lease)",
        replacement: "    local version = ''",
      },
    ],
  },
  {
    name: 'invalidation-swallows-errors',
    description: 'expireGroup(s) and delete resolve when Redis fails (the failure is dropped)',
    tests: ['test/failures.test.ts'],
    edits: [
      {
        file: 'src/invalidation.ts',
        target: 'const result = await this.transport.request(operation, run, deadlines)',
        replacement:
          'const result = await this.transport.request(operation, run, deadlines).catch(() => undefined as T)',
      },
    ],
  },
  {
    name: 'no-fleet-lease',
    description: 'a miss takes the fill lease even when another process holds it: every process fills (a herd)',
    checker: { mode: 'herd', caught: 'herd', seconds: 3 },
    tests: ['test/leases.test.ts'],
    edits: [
      {
        // takeLease (lua/include/common.lua), spliced into read and claim
        file: 'lua/include/common.lua',
        target: "if isOk(redis.call('SET', leaseKey, owner, 'NX', 'PX', lease)) then",
        replacement: "if isOk(redis.call('SET', leaseKey, owner, 'PX', lease)) then",
      },
    ],
  },
  {
    name: 'lease-never-released',
    description: 'a fill that lands (or fails) never releases its lease: waiters wait for it to end',
    checker: { mode: 'herd', caught: 'herd', seconds: 3 },
    tests: ['test/leases.test.ts'],
    edits: [
      {
        file: 'lua/set.lua',
        target: "redis.call('GET', leaseKey) == tokenOwner then redis.call('DEL', leaseKey) end",
        replacement: "redis.call('GET', leaseKey) == tokenOwner then end",
      },
      {
        file: 'lua/release.lua',
        target: "if hold == '0' then\n  redis.call('DEL', leaseKey)",
        replacement: "if hold == '0' then\n  redis.call('PEXPIRE', leaseKey, redis.call('PTTL', leaseKey))",
      },
    ],
  },
  {
    name: 'lease-never-ends',
    description: 'the fill lease is taken without an expiry: a holder that dies holds its key for good',
    checker: { mode: 'dead-holder', caught: 'herd', seconds: 4 },
    tests: ['test/leases.test.ts'],
    edits: [
      {
        // takeLease (lua/include/common.lua), spliced into read and claim
        file: 'lua/include/common.lua',
        target: "redis.call('SET', leaseKey, owner, 'NX', 'PX', lease)",
        replacement: "redis.call('SET', leaseKey, owner, 'NX')",
      },
    ],
  },
  {
    name: 'grace-without-bound',
    description: 'a value invalidated with grace is served stale however long ago its invalidation was',
    checker: { mode: 'grace', caught: 'stale', seconds: 3 },
    tests: ['test/grace.test.ts'],
    edits: [
      { file: 'lua/include/common.lua', target: '      if age < grace then', replacement: '      if true then' },
      {
        file: 'lua/include/common.lua',
        target: 'if graceLimit ~= nil and age < graceLimit then',
        replacement: 'if graceLimit ~= nil and graceLimit > 0 then',
      },
    ],
  },
  {
    name: 'hard-is-soft',
    description: 'a hard expireGroup dates its move like a soft one: its values are served stale within grace',
    checker: { mode: 'grace', caught: 'stale', seconds: 3 },
    tests: ['test/grace.test.ts'],
    edits: [{ file: 'lua/expire-groups.lua', target: "    if hard == '1' then", replacement: '    if false then' }],
  },
  {
    name: 'hit-ignores-groups',
    description: 'a read that names groups hits an entry stored under other groups (its invalidations never reach it)',
    checker: { mode: 'move-groups', caught: 'foreign' },
    tests: ['test/fills.test.ts'],
    edits: [
      {
        file: 'lua/read.lua',
        target: 'if entry ~= nil and covers(held, names) then return {1, entry} end',
        replacement: 'if entry ~= nil then return {1, entry} end',
      },
      {
        file: 'src/reads.ts',
        target: 'if (hint !== undefined && covers(hint.groups, groups)) {',
        replacement: 'if (hint !== undefined) {',
      },
      {
        file: 'src/spread.ts',
        target: 'if (found !== undefined && covers(found.groups, groups)) {',
        replacement: 'if (found !== undefined) {',
      },
    ],
  },
  {
    name: 'late-groups-unchecked',
    description:
      'a fill stores under groups it named after its read without checking that they did not move since (only a missing one refuses)',
    checker: { mode: 'late-groups', caught: 'stale', seconds: 3 },
    tests: ['test/late-groups.test.ts'],
    edits: [
      {
        file: 'lua/set.lua',
        target: '    elseif isLater(versions[i], readAt) then',
        replacement: '    elseif false then',
      },
    ],
  },
  {
    name: 'versions-not-times',
    description:
      'expireGroup moves a version by one (INCR), not to the Redis time: a late group moved during a fill still reads as older than the fill',
    checker: { mode: 'late-groups', caught: 'stale', seconds: 3 },
    tests: ['test/late-groups.test.ts'],
    edits: [
      {
        file: 'lua/expire-groups.lua',
        target: '    if isLater(time, versions[i]) then',
        replacement: '    if false then',
      },
    ],
  },
  {
    name: 'late-unknown-stored',
    description:
      'a fill stores under a late group with no version, making one: an invalidation of it during the fill, whose version was then lost, goes unseen',
    tests: ['test/late-groups.test.ts'],
    edits: [
      {
        file: 'lua/set.lua',
        target: '        setFor(KEYS[3 + i], freshVersion(), keep)\n        refused = refused or -4',
        replacement: '        versions[i] = freshVersion()\n        setFor(KEYS[3 + i], versions[i], keep)',
      },
    ],
  },
  {
    name: 'joiners-trust-late-fills',
    description:
      'a wrap that joins a fill in flight in its process takes its value even when the fill named late groups and was refused',
    // Tests only: the race needs two wraps of one key in one process to share a fill across an
    // invalidation of a late group; the checker's late-groups mode shows it in some runs, not in every one.
    tests: ['test/late-groups.test.ts'],
    edits: [
      {
        file: 'src/fills.ts',
        target: 'return joined && !outcome.vouched ? this.through(fill) : outcome.value',
        replacement: 'return outcome.value',
      },
    ],
  },
  {
    name: 'near-skips-sync',
    description:
      'the strict near cache serves what it holds at once, with no sync point: a late invalidation message is not waited for',
    checker: { mode: 'normal', caught: 'stale', seconds: 3, nearCache: 'strict' },
    tests: ['test/near.test.ts'],
    edits: [
      {
        file: 'src/near.ts',
        target: "if (this.settings.consistency === 'eventual') return this.hit(key, held)",
        replacement: 'return this.hit(key, held)',
      },
    ],
  },
  {
    name: 'near-keeps-on-reconnect',
    description:
      'the near cache keeps what it held when one of its connections drops (its messages meanwhile are lost)',
    checker: { mode: 'near-client-kill', caught: 'stale', seconds: 3 },
    tests: ['test/near.test.ts'],
    edits: [
      {
        file: 'src/near-link.ts',
        target:
          '    this.connections++\n    this.synced = false\n    this.servedAt = Number.NEGATIVE_INFINITY\n    this.holder.clear()',
        replacement: '    this.connections++',
      },
    ],
  },
  {
    name: 'near-holds-late-reads',
    description: 'the near cache holds a read answered after an invalidation of what it read arrived',
    // 4 to 6 stale reads in a 4 s run, and none in one run seen: 8 s
    checker: { mode: 'normal', caught: 'stale', seconds: 8, nearCache: 'strict' },
    tests: ['test/near.test.ts'],
    edits: [
      {
        file: 'src/near.ts',
        target: 'if (entry == null || pending.dead || this.generation !== epoch || !this.link.inSync) return',
        replacement: 'if (entry == null) return',
      },
      {
        file: 'src/near.ts',
        target: 'if (pending.groups !== undefined && groups.some((group) => pending.groups?.has(group))) return',
        replacement: '',
      },
    ],
  },
  {
    name: 'near-ignores-ttl',
    description: 'the near cache holds an entry past its TTL, until a message from Redis',
    tests: ['test/near.test.ts'],
    edits: [
      {
        file: 'src/near.ts',
        target: 'const until = ttl < 0 ? Number.POSITIVE_INFINITY : sent + ttl - decoded.grace',
        replacement: 'const until = Number.POSITIVE_INFINITY',
      },
    ],
  },
  {
    name: 'near-ignores-flush',
    description: 'the near cache ignores the message without a key that FLUSHDB sends',
    // 12 to 26 stale reads in a 3 s run of it alone, and none in one CI run on a loaded machine
    // (7,738 operations, 7 FLUSHDBs): 8 s
    checker: { mode: 'flush', caught: 'stale', seconds: 8, nearCache: 'strict' },
    tests: ['test/near.test.ts'],
    edits: [
      {
        file: 'src/near.ts',
        target: "      if (typeof name !== 'string' || name === '') {\n        this.clear()\n        return\n      }",
        replacement: "      if (typeof name !== 'string' || name === '') continue",
      },
    ],
  },
  {
    name: 'near-ignores-failover',
    description:
      'the near cache keeps serving from a node that no longer serves the namespace as its master (a failover demoted it)',
    tests: ['test/near.test.ts', 'test/near-cluster.test.ts'],
    edits: [
      {
        file: 'src/near-link.ts',
        target: 'const checked = due ? this.source.serves(tracked) : true',
        replacement: 'const checked = true',
      },
    ],
  },
  {
    name: 'near-spread-syncs-any-master',
    description:
      "sharding 'key' on a Cluster: the strict near cache's sync point is answered by the first master's feed, not every master's: an invalidation another master's feed brings late is not waited for",
    tests: ['test/near-cluster.test.ts'],
    edits: [
      {
        file: 'src/near-links.ts',
        target: 'return Promise.all(links.map((link) => link.sync())).then((answers) => answers.every(Boolean))',
        replacement: 'return Promise.race(links.map((link) => link.sync()))',
      },
    ],
  },
  {
    name: 'compiled-copy-shares-arrays',
    description:
      "a near-cache copy compiled for a value's shape hands out the held value's arrays: a caller's push changes the next read",
    tests: ['test/copy.test.ts'],
    edits: [
      {
        file: 'src/copy.ts',
        target: "    return `[${parts.join(',')}]`",
        replacement: '    return path',
      },
    ],
  },
  {
    name: 'compiled-copy-literal-proto',
    description:
      'a near-cache copy compiled for a value\'s shape writes an own "__proto__" key as a plain literal key, which sets the prototype',
    tests: ['test/copy.test.ts'],
    edits: [
      {
        file: 'src/copy.ts',
        target: "parts.push(key === '__proto__' ? `[${name}]:${part}` : `${name}:${part}`)",
        replacement: 'parts.push(`${name}:${part}`)',
      },
    ],
  },
  {
    name: 'next-stores-without-token',
    description:
      "the Next.js handlers store a render's value with a plain set, not the miss's token: a render that began before a revalidation is stored as fresh",
    tests: ['test/next-handlers.test.ts'],
    edits: [
      {
        file: 'src/next/store.ts',
        target: '        token: read.token,\n        groups: unique([...read.groups, ...tags]),',
        replacement: '        groups: unique([...read.groups, ...tags]),',
      },
    ],
  },
  {
    name: 'next-ignores-soft-tags',
    description:
      "the Next.js handlers read an entry without the request's soft tags: revalidatePath leaves fetch and 'use cache' entries of the path fresh",
    tests: ['test/next-handlers.test.ts'],
    edits: [
      {
        file: 'src/next/store.ts',
        target: 'const groups = unique(softTags)',
        replacement: 'const groups: string[] = []',
      },
    ],
  },
  {
    name: 'next-shared-namespace',
    description:
      "both Next.js handlers default to one namespace: Next revalidates through both, so 'max' moves each version twice and serves nothing stale",
    tests: ['test/next-handlers.test.ts'],
    edits: [
      {
        file: 'src/next/store.ts',
        target: "namespace: options.namespace ?? (this.kind === 'i' ? 'next' : 'next-use-cache'),",
        replacement: "namespace: options.namespace ?? 'next',",
      },
    ],
  },
  {
    name: 'next-keeps-old-misses',
    description:
      'the Next.js handlers store with a miss older than the lease: a key read again and again stores nothing (its oldest token is refused)',
    tests: ['test/next-handlers.test.ts'],
    edits: [
      {
        file: 'src/next/store.ts',
        target: 'const reads = (this.pending.get(key) ?? []).filter((read) => read.at > oldest || !this.drop(read))',
        replacement: 'const reads = this.pending.get(key) ?? []',
      },
    ],
  },
  {
    name: 'next-newest-miss',
    description:
      "a 'use cache' set takes the newest miss of its key, not one read before its render began: a render from before a revalidation is stored",
    tests: ['test/next-handlers.test.ts'],
    edits: [
      {
        file: 'src/next/store.ts',
        target: 'reads.findLastIndex((read) => read.at <= startedAt)',
        replacement: 'reads.length - 1',
      },
    ],
  },
  {
    name: 'empty-key-accepted',
    description: 'an empty key or group name is accepted',
    tests: ['test/validation.test.ts'],
    edits: [
      {
        file: 'src/validate.ts',
        target: "if (typeof value !== 'string' || value.length === 0) {",
        replacement: "if (typeof value !== 'string') {",
      },
    ],
  },
  {
    name: 'spread-ignores-token',
    description:
      "sharding 'key': the store does not compare the stamped versions with the token's (no compare-and-set)",
    checker: { mode: 'normal', caught: 'stale', sharding: 'key' },
    tests: ['test/fills.test.ts'],
    edits: [
      {
        file: 'lua/store.lua',
        target: '    if versions[i] ~= ARGV[7 + 3 * n + i] then return -3 end\n',
        replacement: '',
      },
    ],
  },
  {
    name: 'spread-late-unchecked',
    description:
      "sharding 'key': a late group's version is not checked against the read's time: a group that moved during the fill is stored as fresh",
    checker: { mode: 'late-groups', caught: 'stale', seconds: 3, sharding: 'key' },
    tests: ['test/late-groups.test.ts'],
    edits: [
      {
        file: 'lua/store.lua',
        target: '    elseif seconds(versions[i]) >= stamped[i] - since - 0.000002 then',
        replacement: '    elseif false then',
      },
    ],
  },
  {
    name: 'spread-plain-set-keeps-generation',
    description:
      "sharding 'key': a set without token does not move the key's generation (as plain-set-keeps-generation)",
    checker: { mode: 'write-through', caught: 'stale', seconds: 4, sharding: 'key' },
    tests: ['test/fills.test.ts'],
    edits: [{ file: 'lua/store.lua', target: '  moveGeneration(generationKey)\n', replacement: '' }],
  },
  {
    name: 'spread-versions-before-read',
    description:
      "sharding 'key': a read compares the entry with versions this process read up to 100 ms before (a cache of version replies), not after the read began: an invalidation that resolved before the read is missed",
    checker: { mode: 'normal', caught: 'stale', seconds: 3, sharding: 'key' },
    tests: ['test/invalidation.test.ts'],
    edits: [
      {
        file: 'src/spread.ts',
        target: '    fetch: (client, names) => Promise.all(names.map((name) => client.getBuffer(name))),',
        replacement:
          "    fetch: (client, names) =>\n      Promise.all(names.map((name) => (name.includes(':g{') ? remembered(client, name) : client.getBuffer(name)))),",
      },
      {
        file: 'src/spread.ts',
        target: '  const versions = await Promise.all(groups.map((group) => client.getBuffer(keys.group(group))))',
        replacement:
          '  const versions = await Promise.all(groups.map((group) => remembered(client, keys.group(group))))',
      },
      {
        file: 'src/spread.ts',
        target: 'const sum = (counts: number[]) => counts.reduce((a, b) => a + b, 0)\n',
        replacement: [
          'const sum = (counts: number[]) => counts.reduce((a, b) => a + b, 0)',
          'const seen = new Map<string, { at: number; reply: Promise<Buffer | null> }>()',
          'function remembered(client: CacheClient, name: string): Promise<Buffer | null> {',
          '  const known = seen.get(name)',
          '  if (known !== undefined && performance.now() - known.at < 100) return known.reply',
          '  const reply = client.getBuffer(name)',
          '  seen.set(name, { at: performance.now(), reply })',
          '  return reply',
          '}',
          '',
        ].join('\n'),
      },
    ],
  },
]

export const mutants: Record<string, Mutant> = Object.fromEntries(list.map((mutant) => [mutant.name, mutant]))

export function mutantNames(): string[] {
  return list.map((mutant) => mutant.name)
}

const root = fileURLToPath(new URL('..', import.meta.url))

/** What a mutant's edits make of each file it changes, by path. Throws if a target is missing or not unique. */
export function mutatedFiles(name: string, from = root): Map<string, string> {
  const mutant = mutants[name]
  if (!mutant) throw new Error(`unknown mutant ${JSON.stringify(name)}; known: ${mutantNames().join(', ')}`)
  const files = new Map<string, string>()
  for (const { file, target, replacement } of mutant.edits) {
    const text = files.get(file) ?? readFileSync(join(from, file), 'utf8')
    const at = text.indexOf(target)
    if (at < 0) throw new Error(`mutant ${name}: ${file} no longer contains ${JSON.stringify(target)}`)
    if (text.indexOf(target, at + target.length) >= 0) {
      throw new Error(`mutant ${name}: ${file} contains ${JSON.stringify(target)} more than once`)
    }
    files.set(file, text.slice(0, at) + replacement + text.slice(at + target.length))
  }
  return files
}

/** What runs from a copy: the checker's workers and the test suite, with what they import or read. */
const COPIED = ['src', 'lua', 'check', 'test', 'package.json', 'vitest.config.ts', 'README.md']

/**
 * Writes `.mutants/<name>-<pid>/`, the project's code with the mutant's edits, and returns its
 * path. The process id keeps two processes that run one mutant at once (the checker's tests and
 * the suite's, side by side) out of each other's copy. Copies of processes that have ended are
 * removed here (a test worker is stopped without running its exit handlers).
 */
export function mutantTree(name: string): string {
  const files = mutatedFiles(name)
  pruneMutantTrees()
  const dir = join(root, '.mutants', `${name}-${process.pid}`)
  rmSync(dir, { recursive: true, force: true })
  for (const part of COPIED) cpSync(join(root, part), join(dir, part), { recursive: true })
  for (const [file, text] of files) {
    mkdirSync(join(dir, file, '..'), { recursive: true })
    writeFileSync(join(dir, file), text)
  }
  return dir
}

/** Removes the `.mutants/` copies whose process has ended. */
function pruneMutantTrees(): void {
  const parent = join(root, '.mutants')
  if (!existsSync(parent)) return
  for (const entry of readdirSync(parent)) {
    const pid = Number(/-(\d+)$/.exec(entry)?.[1])
    if (!Number.isInteger(pid) || !alive(pid)) rmSync(join(parent, entry), { recursive: true, force: true })
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}
