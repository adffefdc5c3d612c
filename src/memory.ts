import { createHash } from 'node:crypto'
import { createRequire } from 'node:module'
import type { OwnedClient } from './connection.js'
import { MissingDependencyError } from './errors.js'

/**
 * The in-memory backend: ioredis-mock, running the same Lua as Redis. Where its Lua differs from
 * Redis's, the difference is handled once, in the scripts (lua/include/common.lua) or in
 * src/scripts.ts; this one cannot be handled in Lua. ioredis-mock's TIME pairs the wall clock's
 * rounded seconds with the microseconds of another clock, so its times, and the versions the
 * scripts make from them, jump back and forth by up to a second. Its store lives in this process,
 * so this process's clock is its clock: every script gets the time as one more argument, and a
 * prologue makes redis.call('TIME') answer with it. The prologue also gives `PEXPIRE key ms GT`
 * its Redis meaning, which ioredis-mock ignores (it always sets): only a longer TTL is set, and a
 * key without one keeps none.
 */
const PROLOGUE = [
  'local clock = table.remove(ARGV)',
  'local call = redis.call',
  'redis.call = function(command, ...)',
  '  local name = string.upper(command)',
  "  if name == 'TIME' then return {string.sub(clock, 1, -7), string.sub(clock, -6)} end",
  "  if name == 'PEXPIRE' and select('#', ...) == 3 and string.upper(select(3, ...)) == 'GT' then",
  '    local key, ms = ...',
  "    local remaining = call('PTTL', key)",
  "    if remaining >= 0 and remaining < tonumber(ms) then return call('PEXPIRE', key, ms) end",
  '    return 0',
  '  end',
  '  return call(command, ...)',
  'end',
  '',
].join('\n')

let last = 0

/** Microseconds since the epoch, as a string, never the same twice in this process. */
function now(): string {
  last = Math.max(last + 1, Math.floor((performance.timeOrigin + performance.now()) * 1000))
  return String(last)
}

const sha1 = (text: string) => createHash('sha1').update(text).digest('hex')

export function memoryClient(): OwnedClient {
  let RedisMock: new () => OwnedClient
  try {
    RedisMock = createRequire(import.meta.url)('ioredis-mock')
  } catch (cause) {
    throw new MissingDependencyError(
      "redis: 'memory' needs the optional peer dependency ioredis-mock: npm install ioredis-mock",
      { cause },
    )
  }
  const client = new RedisMock()
  const evalSource = client.eval.bind(client) as (...args: unknown[]) => Promise<unknown>
  const evalSha = client.evalsha.bind(client) as (...args: unknown[]) => Promise<unknown>
  // The mock keeps a script under the SHA of what it ran: the script with its prologue.
  const withPrologue = new Map<string, string>()
  Object.assign(client, {
    eval(source: string, ...rest: unknown[]) {
      const patched = PROLOGUE + source
      withPrologue.set(sha1(source), sha1(patched))
      return evalSource(patched, ...rest, now())
    },
    evalsha(sha: string, ...rest: unknown[]) {
      return evalSha(withPrologue.get(sha) ?? sha, ...rest, now())
    },
  })
  return client
}
