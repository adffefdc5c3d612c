import ms, { type StringValue } from 'ms'
import { InvalidArgumentError } from './errors.js'
import type { Sharding } from './keys.js'

/** Most groups one entry may belong to: each is a field of the entry and a key the read checks. */
export const MAX_GROUPS = 64
/** Most keys one getMany, or groups one expireGroups, may name: each call is one atomic script. */
export const MAX_BATCH = 10_000

const NAME = /^[A-Za-z0-9_.:-]{1,128}$/

/** A namespace or prefix: it goes inside the `{...}` hash tag, so no braces. */
export function checkName(value: unknown, what: string): string {
  if (typeof value !== 'string' || !NAME.test(value)) {
    throw new InvalidArgumentError(`${what} must be 1-128 letters, digits or _ . : - (got ${describe(value)})`)
  }
  return value
}

/**
 * A key or group name: any non-empty string that encodes to UTF-8 one way only. A lone
 * surrogate would be stored as U+FFFD and collide with other names, so it is refused.
 */
export function checkString(value: unknown, what: string): string {
  if (typeof value !== 'string' || value.length === 0) {
    throw new InvalidArgumentError(`${what} must be a non-empty string (got ${describe(value)})`)
  }
  if (!value.isWellFormed()) {
    throw new InvalidArgumentError(`${what} must not contain a lone UTF-16 surrogate`)
  }
  return value
}

export function checkKey(key: unknown): string {
  return checkString(key, 'key')
}

export function checkKeys(keys: unknown): string[] {
  if (!Array.isArray(keys)) throw new InvalidArgumentError(`keys must be an array (got ${describe(keys)})`)
  if (keys.length > MAX_BATCH) throw new InvalidArgumentError(`at most ${MAX_BATCH} keys per call (got ${keys.length})`)
  return keys.map(checkKey)
}

export const NO_GROUPS: readonly string[] = Object.freeze([])

/** Group names, without repeats (a group listed twice is one group): the caller's array when it has none. */
export function checkGroups(groups: unknown, max = MAX_GROUPS): readonly string[] {
  if (groups === undefined) return NO_GROUPS
  if (!Array.isArray(groups)) throw new InvalidArgumentError(`groups must be an array (got ${describe(groups)})`)
  for (const group of groups) checkString(group, 'group')
  const unique: readonly string[] = hasRepeats(groups) ? [...new Set<string>(groups)] : groups
  if (unique.length > max) throw new InvalidArgumentError(`at most ${max} groups (got ${unique.length})`)
  return unique
}

function hasRepeats(list: readonly unknown[]): boolean {
  if (list.length > 16) return new Set(list).size !== list.length
  for (let i = 1; i < list.length; i++) for (let j = 0; j < i; j++) if (list[i] === list[j]) return true
  return false
}

/**
 * A length of time: ms, or a string the `ms` package reads (`'200ms'`, `'30s'`, `'5m'`, `'1h'`,
 * `'2d'`). A string it cannot read stays a string, and the check after this refuses it.
 */
function duration(value: unknown): unknown {
  if (typeof value !== 'string') return value
  let parsed: number | undefined
  try {
    parsed = ms(value as StringValue) as number | undefined
  } catch {
    // ms throws for an empty string: refused below like any other
  }
  return typeof parsed === 'number' && Number.isFinite(parsed) ? parsed : value
}

/** A TTL in ms (or a duration string), or Infinity for none. Returns undefined for none. */
export function checkTtl(ttl: unknown, what = 'ttl'): number | undefined {
  if (ttl === undefined || ttl === Number.POSITIVE_INFINITY) return undefined
  return checkMs(duration(ttl), what)
}

/** How long a fill remembers "not found": undefined (not at all), Infinity (no expiry), or a TTL. */
export function checkNotFoundTtl(value: unknown): number | undefined {
  if (value === undefined || value === Number.POSITIVE_INFINITY) return value
  return checkMs(duration(value), 'notFoundTtl')
}

/** A positive whole number of milliseconds. */
export function checkMs(value: unknown, what: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) {
    throw new InvalidArgumentError(
      `${what} must be a positive whole number of ms${what.includes('ttl') ? " or a duration such as '30s' or '1h'" : ''} (got ${describe(value)})`,
    )
  }
  return value
}

export function checkFunction(value: unknown, what: string): asserts value is (...args: never[]) => unknown {
  if (typeof value !== 'function') throw new InvalidArgumentError(`${what} must be a function (got ${describe(value)})`)
}

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}...` : value)
  if (typeof value === 'bigint') return `${value}n`
  return typeof value === 'object' && value !== null ? (Array.isArray(value) ? 'an array' : 'an object') : String(value)
}

/** A whole number, zero or more. */
export function checkCount(value: unknown, what: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new InvalidArgumentError(`${what} must be a whole number, 0 or more (got ${describe(value)})`)
  }
  return value
}

/** A call's own timeout: ms or a duration string, or Infinity to wait; undefined: the cache's. */
export function checkTimeout(value: unknown): number | undefined {
  if (value === undefined || value === Number.POSITIVE_INFINITY) return value
  return checkMs(duration(value), 'timeout')
}

/** A grace in ms: a whole number, 0 or more (0: none). */
export function checkGrace(grace: unknown, what = 'grace'): number {
  const value = duration(grace)
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new InvalidArgumentError(`${what} must be a whole number of ms, 0 or more (got ${describe(value)})`)
  }
  return value
}

/** An optional boolean flag. */
export function checkFlag(value: unknown, what: string): boolean {
  if (value === undefined) return false
  if (typeof value !== 'boolean') throw new InvalidArgumentError(`${what} must be a boolean (got ${describe(value)})`)
  return value
}

/** The `sharding` option: 'namespace' (the default) or 'key' (src/keys.ts). */
export function checkSharding(value: unknown): Sharding {
  if (value === undefined) return 'namespace'
  if (value !== 'namespace' && value !== 'key') {
    throw new InvalidArgumentError(`sharding must be 'namespace' or 'key' (got ${describe(value)})`)
  }
  return value
}
