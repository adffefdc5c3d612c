import type { FillToken, SetEntry, SetStatus, Store } from './commands.js'
import type { Deadlines } from './deadlines.js'
import { InvalidArgumentError } from './errors.js'
import type { Hints } from './hints.js'
import type { SetManyEntry, SetOptions } from './options.js'
import type { SetContext } from './tracing.js'
import type { Transport } from './transport.js'
import { checkGrace, checkGroups, checkKey, checkTtl, MAX_BATCH } from './validate.js'
import type { Values } from './values.js'

/**
 * Stores values: a plain set (write-through), or with a fill token from a `read` miss a
 * compare-and-set that stores only if nothing the token saw has moved (lua/set.lua).
 */
export class Writes {
  constructor(
    private readonly transport: Transport,
    private readonly store: Store,
    private readonly hints: Hints,
    private readonly values: Values,
    /** the cache's default entry TTL, ms */
    private readonly ttl: number | undefined,
    private readonly lease: number,
    /** the cache's default grace, ms */
    private readonly grace: number,
    /** A token set stored, or was refused and why: the cache's `refused` event and its warning. */
    private readonly filled: (key: string, status: SetStatus) => void = () => {},
  ) {}

  /** Resolves false when a token set refused; rejects when Redis fails. Nothing is sent before the arguments pass. */
  set(key: string, value: unknown, options: SetOptions, trace?: SetContext): Promise<boolean> {
    let entry: SetEntry
    let deadlines: Deadlines | null | undefined
    try {
      entry = this.prepare(key, value, options)
      deadlines = this.transport.deadlinesOf(options)
    } catch (error) {
      return Promise.reject(error)
    }
    return this.send(entry, deadlines, trace)
  }

  private send(entry: SetEntry, deadlines?: Deadlines | null, trace?: SetContext): Promise<boolean> {
    return this.transport.call(
      'set',
      (client) => this.store.set(client, entry),
      (status) => {
        if (trace !== undefined) trace.status = status
        if (entry.token !== undefined) this.filled(entry.key, status)
        if (status !== 'stored') return false
        // Written through: likely read live next. Filled after a miss: maybe not (see Hint). An
        // entry with a TTL and grace is only checked by a script (src/entry.ts).
        if (entry.grace > 0 && entry.ttl !== undefined) this.hints.forget(entry.key)
        else this.hints.remember(entry.key, entry.groups, entry.token === undefined)
        return true
      },
      undefined,
      deadlines,
    )
  }

  /**
   * Plain sets of many entries, all validated and encoded before any is sent, then sent together:
   * one round trip, each entry a set of its own (not one atomic write). Rejects if any failed.
   */
  async setMany(entries: readonly SetManyEntry[]): Promise<void> {
    if (!Array.isArray(entries))
      throw new InvalidArgumentError('entries must be an array of { key, value, groups?, ttl? }')
    if (entries.length > MAX_BATCH)
      throw new InvalidArgumentError(`at most ${MAX_BATCH} entries per call (got ${entries.length})`)
    const prepared = entries.map((entry, i) => {
      if (typeof entry !== 'object' || entry === null)
        throw new InvalidArgumentError(`entries[${i}] must be { key, value, groups?, ttl? }`)
      const { key, value, ...options } = entry
      if ('token' in options) throw new InvalidArgumentError(`entries[${i}]: setMany takes no token`)
      return this.prepare(key, value, options)
    })
    await Promise.all(prepared.map((entry) => this.send(entry)))
  }

  /** A set's arguments, validated and encoded: nothing is sent before this succeeds. */
  private prepare(key: string, value: unknown, options: SetOptions): SetEntry {
    const cacheKey = checkKey(key)
    const token = options.token
    const groups = token ? checkToken(token, cacheKey, options.groups) : checkGroups(options.groups)
    const ttl = options.ttl === undefined ? this.ttl : checkTtl(options.ttl)
    const grace = options.grace === undefined ? this.grace : checkGrace(options.grace)
    return { key: cacheKey, value: this.values.encode(value), groups, ttl, lease: this.lease, grace, token }
  }
}

/**
 * A token must be for this key. The value's groups are the token's, then any `groups` names
 * besides them: late groups, decided after the read, which lua/set.lua checks by time.
 */
export function checkToken(token: FillToken, key: string, groups: readonly string[] | undefined): readonly string[] {
  const valid =
    typeof token === 'object' &&
    token !== null &&
    typeof token.generation === 'string' &&
    Array.isArray(token.groups) &&
    Array.isArray(token.versions) &&
    token.groups.length === token.versions.length &&
    Array.isArray(token.issuedAt) &&
    token.issuedAt.length === 2 &&
    token.issuedAt.every((part) => typeof part === 'string' && /^\d+$/.test(part)) &&
    token.versions.every((version) => typeof version === 'string' && /^\d+$/.test(version)) &&
    (token.owner === undefined || (typeof token.owner === 'string' && /^[\w-]{1,64}$/.test(token.owner)))
  if (!valid) throw new InvalidArgumentError('token is not a FillToken from read()')
  if (token.key !== key)
    throw new InvalidArgumentError(`token is for key ${JSON.stringify(token.key)}, not ${JSON.stringify(key)}`)
  const tokenGroups = checkGroups(token.groups)
  if (groups === undefined) return tokenGroups
  const given = checkGroups(groups)
  const missing = tokenGroups.filter((group) => !given.includes(group))
  if (missing.length > 0) {
    throw new InvalidArgumentError(
      `groups must include every group the token was read with (missing ${missing.map((g) => JSON.stringify(g)).join(', ')})`,
    )
  }
  const late = given.filter((group) => !tokenGroups.includes(group))
  return late.length === 0 ? tokenGroups : checkGroups([...tokenGroups, ...late])
}
