import { setTimeout as sleep } from 'node:timers/promises'
import type { FillToken } from './commands.js'
import type { Deadlines } from './deadlines.js'
import { ClosedError, RefreshError } from './errors.js'
import type { Leases } from './leases.js'
import type {
  CachedOptions,
  FillContext,
  FillFunction,
  ReadOptions,
  ReadResult,
  SetOptions,
  WrapOptions,
} from './options.js'
import type { RawRead, Reads } from './reads.js'
import type { Counters } from './stats.js'
import { channels, type OperationContext, type ReadContext, traced } from './tracing.js'
import type { Transport } from './transport.js'
import {
  checkFunction,
  checkGrace,
  checkGroups,
  checkKey,
  checkNotFoundTtl,
  checkTimeout,
  checkTtl,
} from './validate.js'
import { NOT_FOUND, type Values } from './values.js'
import { checkToken } from './writes.js'

/** What one `wrap` call fills with. */
interface Fill<T> {
  key: string
  groups: readonly string[]
  /** ms, or undefined for no expiry */
  ttl: number | undefined
  grace: number
  /** ms a result of undefined is stored as "not found" (Infinity: no expiry); undefined: not stored */
  notFoundTtl: number | undefined
  /** the call's own timeout, ms (undefined: the cache's), and its deadlines, for every call of the fill */
  timeout: number | undefined
  deadlines: Deadlines | null | undefined
  fn: FillFunction<T>
  /** the call's context when traced (src/tracing.ts): what it counts goes there too */
  trace: ReadContext | undefined
}

/** A run of a fill's function: its value, and the groups it named as it ran (`ctx.groups`). */
interface Run<T> {
  value: T
  groups: readonly string[]
}

/**
 * What a call in flight settles to, for the callers that joined it: its value, and whether that
 * value is good for a caller whose read began later. It is, unless the function named late groups
 * and the set did not store: only a stored set says that none of them moved since the fill's read,
 * and a joiner's read, which knew nothing of them, may have begun after one moved.
 */
interface Outcome<T> {
  value: T
  vouched: boolean
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
    /** the cache's default notFoundTtl, ms (undefined: not stored) */
    private readonly notFoundTtl: number | undefined,
    /** Stores a value: the cache's own `set`, so that every store of a fill goes through it. */
    private readonly store: (key: string, value: unknown, options: SetOptions) => Promise<boolean>,
    /** Deletes a stored value the serializer cannot read (the cache's own delete). */
    private readonly discard: (key: string) => Promise<void>,
    private readonly counters: Counters,
    /** the cache's namespace, for the `fill` channel's context */
    private readonly namespace: string,
  ) {}

  async read<T>(key: string, options: ReadOptions, trace?: ReadContext): Promise<ReadResult<T>> {
    const cacheKey = checkKey(key)
    const groups = checkGroups(options.groups)
    const grace = options.grace === undefined ? 0 : checkGrace(options.grace)
    const deadlines = this.transport.deadlinesOf(options)
    const reply = await this.reads.readOrToken(cacheKey, groups, () => this.ask(grace), deadlines)
    this.count(reply, trace)
    if (!reply.hit) {
      const miss = { hit: false, token: reply.token, leased: reply.leased } as const
      if (reply.stale === undefined) return miss
      // "not found" (notFoundTtl) is stored without grace: a stale value is always a value
      try {
        return { ...miss, stale: { value: this.values.decode<T>(reply.stale) } }
      } catch (error) {
        this.transport.report(error) // a stale value it cannot read is no stale value
        return miss
      }
    }
    if (reply.value === '') return { hit: true, value: undefined, notFound: true }
    return { hit: true, value: reply.decoded ? (reply.decoded.value as T) : this.values.decode<T>(reply.value) }
  }

  /** Gives up the fill lease a token from `read` holds, so that another fill may start at once. */
  async release(token: FillToken): Promise<void> {
    checkToken(token, checkKey((token as { key?: unknown } | null)?.key), undefined)
    return this.leases.release(token)
  }

  async wrap<T>(key: string, options: WrapOptions, fn: FillFunction<T> | undefined, trace?: ReadContext): Promise<T> {
    const cacheKey = checkKey(key)
    const groups = checkGroups(options.groups)
    const ttl = options.ttl === undefined ? this.ttl : checkTtl(options.ttl)
    const grace = options.grace === undefined ? this.grace : checkGrace(options.grace)
    const notFoundTtl = options.notFoundTtl === undefined ? this.notFoundTtl : checkNotFoundTtl(options.notFoundTtl)
    const timeout = checkTimeout(options.timeout)
    checkFunction(fn, 'fn')
    if (this.transport.closed) throw new ClosedError('wrap')
    const deadlines = this.transport.deadlinesFor(timeout)
    const fill: Fill<T> = { key: cacheKey, groups, ttl, grace, notFoundTtl, timeout, deadlines, fn, trace }
    return this.through(fill)
  }

  /** A wrap's read, then its hit, its stale value, its fill, or its wait for another's fill. */
  private async through<T>(fill: Fill<T>): Promise<T> {
    let reply: RawRead
    try {
      reply = await this.reads.readOrToken(fill.key, fill.groups, () => this.ask(fill.grace), fill.deadlines)
    } catch (error) {
      if (error instanceof ClosedError) throw error
      this.counters.miss(fill.trace, 1, error)
      return this.failOpen(fill, error)
    }
    this.count(reply, fill.trace)
    if (!reply.hit && reply.stale === undefined && !reply.leased) this.counters.leaseWait(fill.trace)
    if (reply.hit) return reply.decoded ? (reply.decoded.value as T) : this.decodeOrRun(fill, reply.value)
    if (reply.stale !== undefined) return this.serveStale(fill, reply)
    const flight = [fill.key, reply.token.generation, ...fill.groups, ...reply.token.versions].join('\u0000')
    // A lease taken is a lease to use: a fill of an older lease in flight here is not joined.
    const { token } = reply
    if (reply.leased)
      return this.settle(
        fill,
        this.share(flight, () => this.fill(fill, token), true),
      )
    return this.settle(
      fill,
      this.share(flight, () => this.wait(fill, reply.wait)),
    )
  }

  /** The value of a call in flight; a caller that joined it reads anew if the value is not vouched for. */
  private async settle<T>(fill: Fill<T>, { flight, joined }: Shared<Outcome<T>>): Promise<T> {
    const outcome = await flight
    return joined && !outcome.vouched ? this.through(fill) : outcome.value
  }

  /** `fn` read through `wrap`: the cache's own, so that each call is traced as a wrap. */
  cached<A extends unknown[], R>(
    fn: (...args: A) => R | Promise<R>,
    options: CachedOptions<A, Awaited<R>>,
    wrap: <T>(key: string, options: WrapOptions, fn: FillFunction<T>) => Promise<T>,
  ): (...args: A) => Promise<R> {
    checkFunction(fn, 'fn')
    checkFunction(options?.key, 'options.key')
    if (options.groups !== undefined) checkFunction(options.groups, 'options.groups')
    const { resultGroups, ttl, grace, notFoundTtl, timeout } = options
    if (resultGroups !== undefined) checkFunction(resultGroups, 'options.resultGroups')
    if (ttl !== undefined) checkTtl(ttl)
    if (grace !== undefined) checkGrace(grace)
    checkNotFoundTtl(notFoundTtl)
    checkTimeout(timeout)
    const run = resultGroups
      ? async (ctx: FillContext, args: A) => {
          const result = await fn(...args)
          if (result !== undefined) ctx.groups.push(...resultGroups(result, ...args))
          return result
        }
      : (_ctx: FillContext, args: A) => fn(...args)
    return (...args: A) =>
      wrap(options.key(...args), { groups: options.groups?.(...args), ttl, grace, notFoundTtl, timeout }, (ctx) =>
        run(ctx, args),
      )
  }

  /**
   * Runs the fill's function with a context of its own; the groups it named are checked here, so
   * that a bad one rejects the call (InvalidArgumentError) instead of reaching Redis.
   */
  private async run<T>(fill: Fill<T>): Promise<Run<T>> {
    this.counters.fill(fill.trace)
    const ctx: FillContext = { groups: [] }
    const value = await (channels.fill.hasSubscribers ? this.traceRun(fill, ctx) : fill.fn(ctx))
    const groups = ctx.groups.length === 0 ? ctx.groups : checkGroups(ctx.groups)
    return { value, groups }
  }

  /** The function's run, on the `fill` channel. */
  private traceRun<T>(fill: Fill<T>, ctx: FillContext): Promise<T> {
    const context: OperationContext = {
      operation: 'fill',
      namespace: this.namespace,
      key: fill.key,
      groups: fill.groups,
    }
    return traced('fill', context, async () => fill.fn(ctx))
  }

  /** The function's value alone, for a run whose value is not stored. */
  private async runUnstored<T>(fill: Fill<T>): Promise<T> {
    return (await this.run(fill)).value
  }

  /** A read's answer, counted: a hit (the near cache's, maybe), a stale hit, or a miss. */
  private count(reply: RawRead, trace: ReadContext | undefined): void {
    const { counters } = this
    if (reply.hit) counters.hit(trace, reply.near)
    else if (reply.stale !== undefined) counters.staleHit(trace)
    else counters.miss(trace)
  }

  private ask(grace: number) {
    return { lease: this.leases.lease, owner: this.leases.owner(), grace }
  }

  /** Redis is failing: the function's value is returned, not stored. One call per key, still. */
  private failOpen<T>(fill: Fill<T>, error: unknown): Promise<T> {
    this.transport.report(error)
    return this.share(`${fill.key}\u0000`, () => this.runUnstored(fill)).flight
  }

  private async decodeOrRun<T>(fill: Fill<T>, value: string): Promise<T> {
    try {
      return this.values.decode<T>(value)
    } catch (error) {
      this.transport.report(error)
      await this.discard(fill.key)
      return this.runUnstored(fill)
    }
  }

  /**
   * Another process holds the lease: read again until its value lands (a hit), the lease is free
   * (this wait takes it and fills: the holder threw, was refused, or died), or two leases' length
   * have passed: the function then runs here, its value not stored. Two, because the lease this
   * wait found may end just as another waiter takes it, and that one's fill takes a lease at most.
   */
  private async wait<T>(fill: Fill<T>, wait: number): Promise<Outcome<T>> {
    const vouched = (value: T): Outcome<T> => ({ value, vouched: true })
    const deadline = performance.now() + 2 * this.leases.lease
    for (let attempt = 0; ; attempt++) {
      const left = deadline - performance.now()
      if (left <= 0) return vouched(await this.runUnstored(fill))
      await sleep(Math.min(this.leases.nextPoll(attempt, wait), left))
      if (this.transport.closed) throw new ClosedError('wrap')
      let reply: RawRead
      try {
        reply = await this.reads.readOrToken(fill.key, fill.groups, () => this.ask(fill.grace), fill.deadlines)
      } catch (error) {
        if (error instanceof ClosedError) throw error
        this.transport.report(error)
        return vouched(await this.runUnstored(fill))
      }
      if (reply.hit)
        return vouched(reply.decoded ? (reply.decoded.value as T) : await this.decodeOrRun(fill, reply.value))
      if (reply.stale !== undefined) return vouched(await this.serveStale(fill, reply))
      if (reply.leased) return this.fill(fill, reply.token)
      wait = reply.wait
    }
  }

  /** The lease holder's fill: the function, then a set with the token, which releases the lease. */
  private async fill<T>(fill: Fill<T>, token: FillToken): Promise<Outcome<T>> {
    let run: Run<T>
    try {
      run = await this.run(fill)
    } catch (error) {
      // The waiters take over at once.
      void this.leases.release(token)
      throw error
    }
    let stored = false
    if (!this.storable(fill, run) || this.transport.closed) {
      void this.leases.release(token)
    } else {
      try {
        stored = await this.storeFill(fill, run, token)
      } catch (error) {
        this.transport.report(error)
        void this.leases.release(token)
      }
    }
    return { value: run.value, vouched: stored || run.groups.length === 0 }
  }

  /** A value is stored; undefined only as "not found", with a notFoundTtl. */
  private storable<T>(fill: Fill<T>, run: Run<T>): boolean {
    return run.value !== undefined || fill.notFoundTtl !== undefined
  }

  /**
   * A fill's value, stored with its token (which releases the lease) under the call's groups and
   * the ones its function named; undefined as "not found", for notFoundTtl and without grace.
   */
  private storeFill<T>(fill: Fill<T>, run: Run<T>, token: FillToken): Promise<boolean> {
    const notFound = run.value === undefined
    return this.store(fill.key, notFound ? NOT_FOUND : run.value, {
      token,
      groups: run.groups.length === 0 ? undefined : [...token.groups, ...run.groups],
      ttl: (notFound ? fill.notFoundTtl : fill.ttl) ?? Number.POSITIVE_INFINITY,
      grace: notFound ? 0 : fill.grace,
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
      this.share(flight, () => this.refresh(fill, token))
    }
    return this.decodeOrRun(fill, stale)
  }

  private async refresh<T>(fill: Fill<T>, token: FillToken): Promise<void> {
    try {
      const run = await this.run(fill)
      if (!this.storable(fill, run) || this.transport.closed) {
        await this.leases.release(token)
        return
      }
      await this.storeFill(fill, run, token)
      this.leases.refreshed(fill.key)
    } catch (error) {
      this.transport.report(new RefreshError(fill.key, error))
      await this.leases.refreshFailed(token)
    }
  }

  /**
   * The promise of the call in flight under `id`, joined, or a new one from `run`, shared until it
   * settles. `replace`: run anew even if one is in flight, and share the new one from now on.
   */
  private share<R>(id: string, run: () => Promise<R>, replace = false): Shared<R> {
    const shared = this.fills.get(id)
    if (shared && !replace) return { flight: shared as Promise<R>, joined: true }
    const flight = run()
    this.fills.set(id, flight)
    const forget = () => {
      if (this.fills.get(id) === flight) this.fills.delete(id)
    }
    flight.then(forget, forget)
    return { flight, joined: false }
  }
}

/** A call in flight, and whether this caller joined it (another caller started it). */
interface Shared<R> {
  flight: Promise<R>
  joined: boolean
}
