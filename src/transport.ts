import type { CacheClient } from './commands.js'
import { type Deadline, Deadlines } from './deadlines.js'
import { ClosedError, GroupCacheError, InvalidArgumentError, RedisError, TimeoutError } from './errors.js'
import { checkTimeout } from './validate.js'

/** A call's reply as it came. */
export const same = <R>(reply: R): R => reply

/**
 * How every call reaches Redis: through one client, with typed errors, and with a deadline of
 * `timeout` ms after which the call counts as failed. After `close()` it takes no more calls.
 */
export class Transport {
  /** Set by the cache's close(): every later call rejects with ClosedError. */
  closed = false
  /** Deadlines of the calls in flight (none with an infinite timeout). */
  private readonly deadlines: Deadlines | undefined
  /** Deadlines of calls with a `timeout` of their own, by duration. */
  private readonly byMs = new Map<number, Deadlines>()

  constructor(
    readonly client: CacheClient,
    timeout: number,
    /** Where a failure that a read absorbed goes (the cache's `error` event). */
    readonly report: (error: unknown) => void,
  ) {
    this.deadlines = timeout === Infinity ? undefined : new Deadlines(timeout)
  }

  /**
   * One Redis call: `send` it, `settle` the reply, with typed errors and a deadline after which
   * it counts as failed. Without `failOpen` a failure rejects; with it (a read) the failure is
   * reported and answered with `failOpen(failure)`. A call after close() rejects either way. One
   * promise and one deadline, no timer of its own: this is on every call's path.
   */
  call<R, T>(
    operation: string,
    send: (client: CacheClient) => Promise<R>,
    settle: (reply: R) => T | PromiseLike<T>,
    failOpen?: (failure: GroupCacheError) => T,
    deadlines: Deadlines | null | undefined = this.deadlines,
  ): Promise<T> {
    if (this.closed) return Promise.reject(new ClosedError(operation))
    return new Promise<T>((resolve, reject) => {
      const call = new InFlight(this, operation, settle, failOpen, deadlines, resolve, reject)
      try {
        send(this.client).then(
          (reply) => call.answered(reply),
          (error: unknown) => call.failed(error),
        )
      } catch (error) {
        call.failed(error)
      }
    })
  }

  /** One Redis call that rejects on failure (see `call`). */
  request<R>(
    operation: string,
    send: (client: CacheClient) => Promise<R>,
    deadlines: Deadlines | null | undefined = this.deadlines,
  ): Promise<R> {
    return this.call(operation, send, same, undefined, deadlines)
  }

  /** The deadlines of a call's `options.timeout`, validated (see `deadlinesFor`); undefined options: the cache's. */
  deadlinesOf(options: { timeout?: unknown } | undefined): Deadlines | null | undefined {
    if (options === undefined) return undefined
    if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('options must be an object')
    return this.deadlinesFor(checkTimeout(options.timeout))
  }

  /**
   * The deadlines of a call's own `timeout` (ms, Infinity for none): undefined (the cache's) when
   * it has none, null when it waits forever. One list per duration, kept: a call costs a node.
   */
  deadlinesFor(timeout: number | undefined): Deadlines | null | undefined {
    if (timeout === undefined) return undefined
    if (timeout === Number.POSITIVE_INFINITY) return null
    let deadlines = this.byMs.get(timeout)
    if (deadlines === undefined) {
      if (this.byMs.size >= 64) this.byMs.delete(this.byMs.keys().next().value as number)
      deadlines = new Deadlines(timeout)
      this.byMs.set(timeout, deadlines)
    }
    return deadlines
  }

  /** A read that failed: reported, and answered with `fallback` (a call after close() throws). */
  failOpen<R>(error: unknown, fallback: R): R {
    if (error instanceof ClosedError) throw error
    this.report(error)
    return fallback
  }
}

/**
 * A call of `Transport.call` in flight: its own deadline node, and how it ends, in one object
 * (not a closure per step: this is on every call's path). It ends once, by its reply, its
 * failure or its deadline, whichever comes first.
 */
class InFlight<R, T> implements Deadline {
  at = 0
  prev: Deadline | undefined = undefined
  next: Deadline | undefined = undefined
  private ended = false

  constructor(
    private readonly transport: Transport,
    private readonly operation: string,
    private readonly settle: (reply: R) => T | PromiseLike<T>,
    private readonly failOpen: ((failure: GroupCacheError) => T) | undefined,
    private readonly deadlines: Deadlines | null | undefined,
    private readonly resolve: (value: T | PromiseLike<T>) => void,
    private readonly reject: (reason: unknown) => void,
  ) {
    deadlines?.add(this)
  }

  answered(reply: R): void {
    if (!this.end()) return
    try {
      this.resolve(this.settle(reply))
    } catch (error) {
      this.fail(error)
    }
  }

  failed(error: unknown): void {
    if (this.end()) this.fail(error)
  }

  /** Its deadline passed first (called by Deadlines, which has taken it off the list). */
  expire(): void {
    if (this.end()) this.fail(new TimeoutError(this.operation, (this.deadlines as Deadlines).ms))
  }

  /** Whether this ends the call now (false: it has ended already). */
  private end(): boolean {
    if (this.ended) return false
    this.ended = true
    this.deadlines?.settle(this)
    return true
  }

  private fail(error: unknown): void {
    const failure = error instanceof GroupCacheError ? error : new RedisError(this.operation, error)
    if (this.failOpen === undefined) {
      this.reject(failure)
    } else {
      this.transport.report(failure)
      this.resolve(this.failOpen(failure))
    }
  }
}
