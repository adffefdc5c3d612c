/** Stable codes: match on these (or on the classes), never on message text. */
export type ErrorCode =
  | 'E_INVALID_ARGUMENT'
  | 'E_SERIALIZE'
  | 'E_TIMEOUT'
  | 'E_REDIS'
  | 'E_CLOSED'
  | 'E_REPLICATION'
  | 'E_MISSING_DEPENDENCY'
  | 'E_REFRESH'

/** Marks the errors of every copy of this library (the ESM and the CommonJS build are two). */
const BRAND = Symbol.for('redis-group-cache.error')

/**
 * Base class of every error this library throws or reports. `instanceof` also holds for an error
 * of another copy of the library in the same process (an app that loads both the ESM and the
 * CommonJS build): it matches the class by name. Matching on `code` needs no class at all.
 */
export class GroupCacheError extends Error {
  readonly code: ErrorCode

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.code = code
    this.name = new.target.name
    Object.defineProperty(this, BRAND, { value: true })
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    if (Function.prototype[Symbol.hasInstance].call(this, value)) return true
    if (typeof value !== 'object' || value === null || (value as { [BRAND]?: unknown })[BRAND] !== true) return false
    return this.name === 'GroupCacheError' || (value as Error).name === this.name
  }
}

/** An argument or option is not acceptable. Thrown before anything is sent to Redis. */
export class InvalidArgumentError extends GroupCacheError {
  constructor(message: string) {
    super('E_INVALID_ARGUMENT', message)
  }
}

/** The serializer could not encode a value (or decode a stored one). Nothing was written. */
export class SerializationError extends GroupCacheError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('E_SERIALIZE', message, options)
  }
}

/** Redis did not answer within `timeout` ms. The command may still run later. */
export class TimeoutError extends GroupCacheError {
  constructor(operation: string, timeout: number) {
    super('E_TIMEOUT', `${operation}: Redis did not answer within ${timeout} ms`)
  }
}

/** Redis refused the command or the connection failed; `cause` holds the original error. */
export class RedisError extends GroupCacheError {
  constructor(operation: string, cause: unknown) {
    super('E_REDIS', `${operation}: ${describeCause(cause)}`, { cause })
  }
}

/** ioredis's text, or what it means where ioredis speaks of its own options. */
function describeCause(cause: unknown): string {
  if (!(cause instanceof Error)) return String(cause)
  // The cache opens its connections with one retry per command, so that calls fail during an
  // outage instead of queueing: ioredis then says its retry limit was reached.
  if (cause.name === 'MaxRetriesPerRequestError') return 'Redis is unreachable (the connection is down)'
  return cause.message
}

/**
 * With `waitForReplicas`: the invalidation ran on the primary, but fewer replicas than asked
 * acknowledged it within the timeout. A failover now could lose it: retry it.
 */
export class ReplicationError extends GroupCacheError {
  readonly acknowledged: number

  constructor(operation: string, acknowledged: number, wanted: number, reason?: string) {
    super('E_REPLICATION', `${operation}: ${reason ?? `${acknowledged} of ${wanted} replicas acknowledged in time`}`)
    this.acknowledged = acknowledged
  }
}

/** The cache was closed; it takes no more calls. */
export class ClosedError extends GroupCacheError {
  constructor(operation: string) {
    super('E_CLOSED', `${operation}: the cache is closed`)
  }
}

/** An optional peer dependency (ioredis-mock, for `redis: 'memory'`) is not installed. */
export class MissingDependencyError extends GroupCacheError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('E_MISSING_DEPENDENCY', message, options)
  }
}

/**
 * A refresh within grace failed: the function threw, or its value could not be stored. The stale
 * value kept being served; `cause` holds the original error. Reported to `error`, never thrown.
 */
export class RefreshError extends GroupCacheError {
  readonly key: string

  constructor(key: string, cause: unknown) {
    super('E_REFRESH', `refresh of ${JSON.stringify(key)}: ${cause instanceof Error ? cause.message : String(cause)}`, {
      cause,
    })
    this.key = key
  }
}
