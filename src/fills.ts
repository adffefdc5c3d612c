import { setTimeout as sleep } from 'node:timers/promises'
import type { FillToken } from './commands.js'
import type { Deadlines } from './deadlines.js'
import { ClosedError, RefreshError } from './errors.js'
import type { Leases } from './leases.js'
import type { CachedOptions, ReadOptions, ReadResult, SetOptions, WrapOptions } from './options.js'
import type { RawRead, Reads } from './reads.js'
import type { Transport } from './transport.js'
import { checkFunction, checkGrace, checkGroups, checkKey, checkTimeout, checkTtl } from './validate.js'
import type { Values } from './values.js'
import { checkToken } from './writes.js'

/** What one `wrap` call fills with. */
interface Fill<T> {
  key: string
  groups: readonly string[]
  /** ms, or undefined for no expiry */
  ttl: number | undefined
  grace: number
  /** the call's own timeout, ms (undefined: the cache's), and its deadlines, for every call of the fill */
  timeout: number | undefined
  deadlines: Deadlines | null | undefined
  fn: () => T | Promise<T>
}

/**
 * Read-through: `read` hands a miss its fill token, and `wrap` and `cached` run the caller's
 * function on a miss and store its value with that token.
 *
 * One fill per key across the fleet (src/leases.ts): the miss that takes the key's fill lease runs
 * the function; the others wait for its value. In one process, callers that miss the same key at
 * the same versions share one call, or one wait. With grace, a value invalidated less than grace
 * ago is returned at once while the lease holder refreshes it in the background.
 */
export class Fills {
  /**
   * Fills and waits in flight in this process, by key and token (callers that saw the same miss
   * share one), or by key alone while Redis fails (callers whose reads failed share one).
   */
  private readonly fills = new Map<string, Promise<unknown>>()

  constructor(
    private readonly transport: Transport,
    private readonly reads: Reads,
    private readonly leases: Leases,
    private readonly values: Values,
    /** the cache's default entry TTL, ms */
    private readonly ttl: number | undefined,
    /** the cache's default grace, ms */
    private readonly grace: number,
    /** Stores a value: the cache's own `set`, so that every store of a fill goes through it. */
    private readonly store: (key: string, value: unknown, options: SetOptions) => Promise<boolean>,
    /** Deletes a stored value the serializer cannot read (the cache's own delete). */
    private readonly discard: (key: string) => Promise<void>,
  ) {}

  async read<T>(key: string, options: ReadOptions): Promise<ReadResult<T>> {
    const cacheKey = checkKey(key)
    const groups = checkGroups(options.groups)
    const deadlines = this.transport.deadlinesOf(options)
    const reply = await this.reads.readOrToken(cacheKey, groups, () => this.ask(0), deadlines)
    if (!reply.hit) return { hit: false, token: reply.token, leased: reply.leased }
    return { hit: true, value: this.values.decode<T>(reply.value) }
  }

  /** Gives up the fill lease a token from `read` holds, so that another fill may start at once. */
  async release(token: FillToken): Promise<void> {
    checkToken(token, checkKey((token as { key?: unknown } | null)?.key), undefined)
    return this.leases.release(token)
  }

  async wrap<T>(key: string, options: WrapOptions, fn: (() => T | Promise<T>) | undefined): Promise<T> {
    const cacheKey = checkKey(key)
    const groups = checkGroups(options.groups)
    const ttl = options.ttl === undefined ? this.ttl : checkTtl(options.ttl)
    const grace = options.grace === undefined ? this.grace : checkGrace(options.grace)
    const timeout = checkTimeout(options.timeout)
    checkFunction(fn, 'fn')
    if (this.transport.closed) throw new ClosedError('wrap')
    const deadlines = this.transport.deadlinesFor(timeout)
    const fill: Fill<T> = { key: cacheKey, groups, ttl, grace, timeout, deadlines, fn }
    let reply: RawRead
    try {
      reply = await this.reads.readOrToken(cacheKey, groups, () => this.ask(grace), deadlines)
    } catch (error) {
      if (error instanceof ClosedError) throw error
      return this.failOpen(fill, error)
    }
    if (reply.hit) return this.decodeOrRun(fill, reply.value)
    if (reply.stale !== undefined) return this.serveStale(fill, reply)
    const flight = [cacheKey, reply.token.generation, ...groups, ...reply.token.versions].join('\u0000')
    // A lease taken is a lease to use: a fill of an older lease in flight here is not joined.
    if (reply.leased) return this.share(flight, () => this.fill(fill, reply.token), true)
    return this.share(flight, () => this.wait(fill, reply.wait))
  }

  cached<A extends unknown[], R>(
    fn: (...args: A) => R | Promise<R>,
    options: CachedOptions<A>,
  ): (...args: A) => Promise<R> {
    checkFunction(fn, 'fn')
    checkFunction(options?.key, 'options.key')
    if (options.groups !== undefined) checkFunction(options.groups, 'options.groups')
    const { ttl, grace, timeout } = options
    if (ttl !== undefined) checkTtl(ttl)
    if (grace !== undefined) checkGrace(grace)
    checkTimeout(timeout)
    return (...args: A) =>
      this.wrap(options.key(...args), { groups: options.groups?.(...args), ttl, grace, timeout }, () => fn(...args))
  }

  private ask(grace: number) {
    return { lease: this.leases.lease, owner: this.leases.owner(), grace }
  }

  /** Redis is failing: the function's value is returned, not stored. One call per key, still. */
  private failOpen<T>(fill: Fill<T>, error: unknown): Promise<T> {
    this.transport.report(error)
    return this.share(`${fill.key}\u0000`, async () => fill.fn())
  }

  private async decodeOrRun<T>(fill: Fill<T>, value: string): Promise<T> {
    try {
      return this.values.decode<T>(value)
    } catch (error) {
      this.transport.report(error)
      await this.discard(fill.key)
      return fill.fn()
    }
  }

  /**
   * Another process holds the lease: read again until its value lands (a hit), the lease is free
   * (this wait takes it and fills: the holder threw, was refused, or died), or two leases' length
   * have passed: the function then runs here, its value not stored. Two, because the lease this
   * wait found may end just as another waiter takes it, and that one's fill takes a lease at most.
   */
  private async wait<T>(fill: Fill<T>, wait: number): Promise<T> {
    const deadline = performance.now() + 2 * this.leases.lease
    for (let attempt = 0; ; attempt++) {
      const left = deadline - performance.now()
      if (left <= 0) return fill.fn()
      await sleep(Math.min(this.leases.nextPoll(attempt, wait), left))
      if (this.transport.closed) throw new ClosedError('wrap')
      let reply: RawRead
      try {
        reply = await this.reads.readOrToken(fill.key, fill.groups, () => this.ask(fill.grace), fill.deadlines)
      } catch (error) {
        if (error instanceof ClosedError) throw error
        this.transport.report(error)
        return fill.fn()
      }
      if (reply.hit) return this.decodeOrRun(fill, reply.value)
      if (reply.stale !== undefined) return this.serveStale(fill, reply)
      if (reply.leased) return this.fill(fill, reply.token)
      wait = reply.wait
    }
  }

  /** The lease holder's fill: the function, then a set with the token, which releases the lease. */
  private async fill<T>(fill: Fill<T>, token: FillToken): Promise<T> {
    let value: T
    try {
      value = await fill.fn()
    } catch (error) {
      // The waiters take over at once.
      void this.leases.release(token)
      throw error
    }
    if (value === undefined || this.transport.closed) {
      void this.leases.release(token)
      return value
    }
    try {
      await this.storeFill(fill, value, token)
    } catch (error) {
      this.transport.report(error)
      void this.leases.release(token)
    }
    return value
  }

  /** A fill's value, stored with its token (which releases the lease). */
  private storeFill<T>(fill: Fill<T>, value: T, token: FillToken): Promise<boolean> {
    return this.store(fill.key, value, {
      token,
      ttl: fill.ttl ?? Number.POSITIVE_INFINITY,
      grace: fill.grace,
      timeout: fill.timeout,
    })
  }

  /**
   * A value invalidated less than grace ago: returned now. The caller that took the lease
   * refreshes it in the background; a refresh that fails keeps the lease a while (backing off)
   * and goes to `error`, and the stale value keeps being served within grace.
   */
  private serveStale<T>(fill: Fill<T>, reply: RawRead & { hit: false }): Promise<T> {
    const stale = reply.stale as string
    if (reply.leased) {
      const { token } = reply
      const flight = `${fill.key}\u0000refresh\u0000${token.owner}`
      void this.share(flight, () => this.refresh(fill, token))
    }
    return this.decodeOrRun(fill, stale)
  }

  private async refresh<T>(fill: Fill<T>, token: FillToken): Promise<void> {
    try {
      const value = await fill.fn()
      if (value === undefined || this.transport.closed) {
        await this.leases.release(token)
        return
      }
      await this.storeFill(fill, value, token)
      this.leases.refreshed(fill.key)
    } catch (error) {
      this.transport.report(new RefreshError(fill.key, error))
      await this.leases.refreshFailed(token)
    }
  }

  /**
   * The promise of the call in flight under `flight`, or a new one from `run`, shared until it
   * settles. `replace`: run anew even if one is in flight, and share the new one from now on.
   */
  private share<T>(flight: string, run: () => Promise<T>, replace = false): Promise<T> {
    const shared = this.fills.get(flight)
    if (shared && !replace) return shared as Promise<T>
    const fill = run()
    this.fills.set(flight, fill)
    const forget = () => {
      if (this.fills.get(flight) === fill) this.fills.delete(flight)
    }
    fill.then(forget, forget)
    return fill
  }
}
