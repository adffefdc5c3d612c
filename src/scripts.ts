import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import type { Redis } from 'ioredis'

/**
 * What running a script needs of a client. Scripts go through EVALSHA with an explicit key count
 * (never `defineCommand`, which the in-memory backend misreads when the key count varies per call).
 */
export type ScriptClient = Pick<Redis, 'evalsha' | 'eval'>

type Arg = string | number

/**
 * A Lua script of `lua/`, with its `-- @include name` lines replaced by the definitions of
 * `lua/include/name.lua` that it uses (see `included`).
 */
export interface LuaScript {
  readonly name: string
  readonly source: string
  readonly sha: string
}

const luaDir = new URL('../lua/', import.meta.url)

function readLua(path: string): string {
  return readFileSync(new URL(path, luaDir), 'utf8')
}

export function loadScript(name: string): LuaScript {
  const text = readLua(`${name}.lua`)
  const source = text.replace(/^-- @include ([\w-]+)$/gm, (_, include: string) =>
    included(readLua(`include/${include}.lua`), text),
  )
  return { name, source, sha: createHash('sha1').update(source).digest('hex') }
}

/** Lua without its comments: what a script's code names. */
const code = (lua: string) => lua.replace(/--.*$/gm, '')

/**
 * The definitions of an include that `script` uses, directly or through another, in the include's
 * order, each with its comment: Redis runs a script's whole text on every call, so a `local
 * function` it never calls still costs the closure made for it each time (about 19k of a set's
 * instructions when every one was spliced in). An include is a header comment, then definitions,
 * each its comment lines and one `local function <name>` or `local <name> =`, blank lines between.
 */
export function included(include: string, script: string): string {
  const [header = '', ...chunks] = include.trimEnd().split(/\n\n(?=--)/)
  const definitions = chunks.map((chunk) => {
    const defined = /^local (?:function )?(\w+)/m.exec(chunk)?.[1]
    if (defined === undefined) throw new Error(`an include's part defines nothing: ${chunk.slice(0, 80)}`)
    return { name: defined, chunk, uses: code(chunk) }
  })
  const used = new Set<string>()
  const visit = (text: string) => {
    for (const definition of definitions) {
      if (!used.has(definition.name) && new RegExp(`\\b${definition.name}\\b`).test(text)) {
        used.add(definition.name)
        visit(definition.uses)
      }
    }
  }
  visit(code(script))
  return [header, ...definitions.filter((d) => used.has(d.name)).map((d) => d.chunk)].join('\n\n')
}

/**
 * The one place where replies are made the same across backends: Redis turns a Lua `false`
 * (returned, or inside a returned table) into nil, the in-memory backend keeps it as `false`.
 */
function normalize(reply: unknown): unknown {
  if (reply === false) return null
  return Array.isArray(reply) ? reply.map((item) => (item === false ? null : item)) : reply
}

function isNoScript(error: unknown): boolean {
  return error instanceof Error && error.message.startsWith('NOSCRIPT')
}

/** Runs a script by SHA, and by source when the server does not have it (new server, SCRIPT FLUSH). */
export function runScript(
  client: ScriptClient,
  script: LuaScript,
  keys: readonly string[],
  args: readonly Arg[],
): Promise<unknown> {
  // Not async, and one `then` for both outcomes: this is on every call's path.
  return client.evalsha(script.sha, keys.length, ...keys, ...args).then(normalize, (error: unknown) => {
    if (!isNoScript(error)) throw error
    return client.eval(script.source, keys.length, ...keys, ...args).then(normalize)
  })
}
