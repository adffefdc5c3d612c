/**
 * Mutants: deliberately broken Lua (and client code), to prove the checker catches the bugs it
 * exists for. A worker applies one before it creates its cache, by patching the scripts the client
 * runs (`allScripts` of src/commands.ts: plain `{ name, source, sha }` objects) and, where the
 * client does the same work, the client's own function (`codec` of src/entry.ts). Every Lua
 * mutation is a targeted replacement that throws when its target text is missing, so that a change
 * to the Lua cannot silently turn a mutant into the unmutated code.
 */
import { createHash } from 'node:crypto'
import { allScripts } from '../src/commands.js'
import { codec } from '../src/entry.js'

interface Replacement {
  /** the scripts (by name) that must contain `target` */
  scripts: readonly string[]
  target: string
  replacement: string
}

export interface Mutant {
  readonly name: string
  readonly description: string
  /** the mode whose faults make this mutant's bug show */
  readonly mode: string
  readonly replacements: readonly Replacement[]
  /** the same bug in the client, where it has a twin there */
  readonly client?: () => void
}

export const mutants: Record<string, Mutant> = {
  'no-compare': {
    name: 'no-compare',
    description: 'get and read skip the version comparison: an entry is live if it exists',
    mode: 'normal',
    client: skipMgetComparison,
    replacements: [
      {
        // readEntry (lua/include/common.lua), spliced into get, read, set and delete
        scripts: ['get', 'read'],
        target: 'if current[i] ~= snapshot[i] then',
        replacement: 'if false then',
      },
    ],
  },
  'no-compare-mget': {
    name: 'no-compare-mget',
    description:
      'only the MGET read of a key whose groups are known skips the version comparison (the scripts are right)',
    mode: 'normal',
    client: skipMgetComparison,
    replacements: [],
  },
  'ignore-token': {
    name: 'ignore-token',
    description: 'set with a token stores whatever moved since the read (no compare-and-set)',
    mode: 'normal',
    replacements: [
      {
        scripts: ['set'],
        target: "if hasToken then\n  if redis.call('EXISTS', entryKey) == 1 then",
        replacement: "if false then\n  if redis.call('EXISTS', entryKey) == 1 then",
      },
    ],
  },
  'restart-at-zero': {
    name: 'restart-at-zero',
    description:
      'a missing version is created as 0 instead of from Redis TIME, and expireGroup INCRs a missing version from 0',
    mode: 'evict-versions',
    replacements: [
      {
        // freshVersion (lua/include/common.lua), spliced into read, set and delete
        scripts: ['read', 'set', 'delete'],
        target: "return t[1] .. string.format('%06d', tonumber(t[2]))",
        replacement: "return '0'",
      },
      {
        scripts: ['expire-groups'],
        target: 'if isVersion(versions[i]) then',
        replacement: 'if true then',
      },
    ],
  },
}

/** The MGET read's check: the entry's groups must match, its versions are not compared. */
function skipMgetComparison(): void {
  codec.liveAt = (entry, _reply, _at, part) => {
    const start = entry.indexOf(';') + 1
    return start > 0 && entry.subarray(start, start + part.length).equals(part) ? start + part.length : -1
  }
}

export function mutantNames(): string[] {
  return Object.keys(mutants)
}

/** The mutated source of every script a mutant changes, by script name. Throws if a target is missing. */
export function mutatedSources(name: string): Map<string, string> {
  const mutant = mutants[name]
  if (!mutant) throw new Error(`unknown mutant ${JSON.stringify(name)}; known: ${mutantNames().join(', ')}`)
  const sources = new Map<string, string>()
  for (const { scripts, target, replacement } of mutant.replacements) {
    for (const scriptName of scripts) {
      const script = allScripts.find((candidate) => candidate.name === scriptName)
      if (!script) throw new Error(`mutant ${name}: no script named ${scriptName}`)
      const source = sources.get(scriptName) ?? script.source
      const at = source.indexOf(target)
      if (at < 0) {
        throw new Error(`mutant ${name}: script ${scriptName} no longer contains ${JSON.stringify(target)}`)
      }
      if (source.indexOf(target, at + target.length) >= 0) {
        throw new Error(`mutant ${name}: script ${scriptName} contains ${JSON.stringify(target)} more than once`)
      }
      sources.set(scriptName, source.slice(0, at) + replacement + source.slice(at + target.length))
    }
  }
  return sources
}

/** Patches the scripts this process's caches run, and the client's twin. Call before creating a cache. */
export function applyMutant(name: string): void {
  mutants[name]?.client?.()
  for (const [scriptName, source] of mutatedSources(name)) {
    const script = allScripts.find((candidate) => candidate.name === scriptName)
    if (!script) throw new Error(`mutant ${name}: no script named ${scriptName}`)
    Object.assign(script, { source, sha: createHash('sha1').update(source).digest('hex') })
  }
}
