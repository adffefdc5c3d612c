import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import type { Redis } from 'ioredis'

/**
 * What running a script needs of a client. Scripts go through EVALSHA with an explicit key count
 * (never `defineCommand`, which the in-memory backend misreads when the key count varies per call).
 */
export type ScriptClient = Pick<Redis, 'evalsha' | 'eval'>

type Arg = string | number

/** A Lua script of `lua/`, with its `-- @include name` lines replaced by `lua/include/name.lua`. */
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
  const source = readLua(`${name}.lua`).replace(/^-- @include ([\w-]+)$/gm, (_, include: string) =>
    readLua(`include/${include}.lua`).trimEnd(),
  )
  return { name, source, sha: createHash('sha1').update(source).digest('hex') }
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
