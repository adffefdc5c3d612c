/**
 * Mutants: deliberately broken copies of the library, to prove that the checker catches the bugs
 * it exists for. A mutant is a list of targeted edits to files of `lua/` or `src/`, each made
 * as a careful reviewer would make it by hand. `mutantTree` writes a copy of the project's code
 * (src, lua, check, test/support) with the edits applied under `.mutants/<name>/`, inside the
 * project so that its imports resolve to the project's node_modules; the checker's workers then
 * run from that copy (check/run.ts), so what runs is exactly the edited code, Lua and TypeScript
 * alike. Every edit throws when its target text is missing or not unique, so that a change to
 * the code cannot silently turn a mutant into the unmutated code: the test suite runs every
 * mutant (test/checker.test.ts), and one whose target moved fails the build until it is updated.
 */
import { cpSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

/** One replacement in one file, by its path from the project's root (`lua/set.lua`, `src/entry.ts`). */
export interface Edit {
  readonly file: string
  readonly target: string
  readonly replacement: string
}

/** What the checker reports for the mutant's bug: stale reads, lost hits, or reads that rejected. */
export type Catch = 'stale' | 'lost' | 'rejected reads'

export interface Mutant {
  readonly name: string
  readonly description: string
  /** the mode whose workload or faults make this mutant's bug show */
  readonly mode: string
  /** the violation the checker must report for it */
  readonly caught: Catch
  readonly edits: readonly Edit[]
}

const list: Mutant[] = [
  {
    name: 'no-compare',
    description: 'every read skips the version comparison (the scripts and the client): an entry is live if it exists',
    mode: 'normal',
    caught: 'stale',
    edits: [
      // readEntry (lua/include/common.lua), spliced into every script that reads an entry
      { file: 'lua/include/common.lua', target: 'if current[i] ~= snapshot[i] then', replacement: 'if false then' },
      {
        file: 'src/entry.ts',
        target: 'if (version == null || !bytesAt(entry, pos, version)) return -1',
        replacement: 'if (version == null) return -1',
      },
    ],
  },
  {
    name: 'no-compare-mget',
    description:
      'only the MGET read of a key whose groups are known skips the version comparison (the scripts are right)',
    mode: 'normal',
    caught: 'stale',
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
    mode: 'move-groups',
    caught: 'stale',
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
    mode: 'normal',
    caught: 'stale',
    edits: [
      {
        file: 'lua/set.lua',
        target: "if hasToken then\n  if redis.call('EXISTS', entryKey) == 1 then",
        replacement: "if false then\n  if redis.call('EXISTS', entryKey) == 1 then",
      },
    ],
  },
  {
    name: 'wrap-without-token',
    description: "wrap stores its function's value with a plain set (its groups, no token): the read-compute-set race",
    mode: 'normal',
    caught: 'stale',
    edits: [
      {
        file: 'src/cache.ts',
        target: '{ token, ttl: ttl ?? Number.POSITIVE_INFINITY }',
        replacement: '{ groups: token.groups, ttl: ttl ?? Number.POSITIVE_INFINITY }',
      },
    ],
  },
  {
    name: 'restart-at-zero',
    description:
      'a missing version is created as 0 instead of from Redis TIME, and expireGroup INCRs a missing version from 0',
    mode: 'evict-versions',
    caught: 'stale',
    edits: [
      // freshVersion (lua/include/common.lua), spliced into read, set and delete
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
    mode: 'normal',
    caught: 'stale',
    edits: [
      {
        file: 'lua/expire-groups.lua',
        target: 'for i = 1, #KEYS do\n  if isVersion',
        replacement: 'for i = 1, 1 do\n  if isVersion',
      },
    ],
  },
  {
    name: 'delete-keeps-generation',
    description: "delete removes the entry but leaves the key's generation: a fill that read before it still stores",
    mode: 'normal',
    caught: 'stale',
    edits: [
      {
        file: 'lua/delete.lua',
        target: "if isVersion(generation) then\n  redis.call('INCR', generationKey)",
        replacement: "if isVersion(generation) then\n  redis.call('PEXPIRE', generationKey, lease)",
      },
    ],
  },
  {
    name: 'plain-set-keeps-generation',
    description:
      "a set without token does not move the key's generation: once its entry is gone, a fill that read before it stores the older value",
    mode: 'write-through',
    caught: 'stale',
    edits: [{ file: 'lua/set.lua', target: "    redis.call('INCR', generationKey)\n", replacement: '' }],
  },
  {
    name: 'no-version-ttl-upkeep',
    description:
      "set does not extend the TTL of a version that exists: a version a miss created expires after the lease, taking its entries' hits with it",
    mode: 'normal',
    caught: 'lost',
    edits: [
      {
        file: 'lua/set.lua',
        target: "  elseif ttl == '' then\n    redis.call('PERSIST', versionKey)\n  else",
        replacement: '  elseif false then\n  else',
      },
      {
        file: 'lua/set.lua',
        target: "if remaining >= 0 and remaining < tonumber(ttl) then redis.call('PEXPIRE', versionKey, ttl) end",
        replacement: '',
      },
    ],
  },
  {
    name: 'get-rejects',
    description: 'get rejects when Redis fails instead of failing open',
    mode: 'kill',
    caught: 'rejected reads',
    edits: [
      {
        file: 'src/cache.ts',
        target: 'return reply[0] === null ? undefined : this.getByScript<T>(cacheKey)\n      },\n      nothing,\n',
        replacement: 'return reply[0] === null ? undefined : this.getByScript<T>(cacheKey)\n      },\n',
      },
      {
        file: 'src/cache.ts',
        target: 'this.decodeOrDiscard<T>(key, this.learn(key, entry))),\n      nothing,\n',
        replacement: 'this.decodeOrDiscard<T>(key, this.learn(key, entry))),\n',
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

/** The code the checker runs from its copies: what a worker imports, directly or not. */
const COPIED = ['src', 'lua', 'check', 'test/support', 'package.json']

/** Writes `.mutants/<name>/`, the project's code with the mutant's edits, and returns its path. */
export function mutantTree(name: string): string {
  const files = mutatedFiles(name)
  const dir = join(root, '.mutants', name)
  rmSync(dir, { recursive: true, force: true })
  for (const part of COPIED) cpSync(join(root, part), join(dir, part), { recursive: true })
  for (const [file, text] of files) {
    mkdirSync(join(dir, file, '..'), { recursive: true })
    writeFileSync(join(dir, file), text)
  }
  return dir
}
