import type { FillToken } from './commands.js'
import { ClosedError } from './errors.js'
import type { CachedOptions, ReadResult, SetOptions, WrapOptions } from './options.js'
import type { RawRead, Reads } from './reads.js'
import type { Transport } from './transport.js'
import { checkFunction, checkGroups, checkKey, checkTtl } from './validate.js'
import type { Values } from './values.js'

/**
 * Read-through: `read` hands a miss its fill token, and `wrap` and `cached` run the caller's
 * function on a miss and store its value with that token. In one process, callers that miss the
 * same key at the same versions share one call of the function.
 */
export class Fills {
  /**
   * wrap functions in flight in this process, by key and token (callers that saw the same miss
   * share one), or by key alone while Redis fails (callers whose reads failed share one).
   */
  private readonly fills = new Map<string, Promise<unknown>>()

  constructor(
    private readonly transport: Transport,
    private readonly reads: Reads,
    private readonly values: Values,
    /** the cache's default entry TTL, ms */
    private readonly ttl: number | undefined,
    private readonly lease: number,
    /** Stores a value: the cache's own `set`, so that every store of a fill goes through it. */
    private readonly store: (key: string, value: unknown, options: SetOptions) => Promise<boolean>,
    /** Deletes a stored value the serializer cannot read (the cache's own delete). */
    private readonly discard: (key: string) => Promise<void>,
  ) {}

  async read<T>(key: string, options: { groups?: readonly string[] }): Promise<ReadResult<T>> {
    const cacheKey = checkKey(key)
    const groups = checkGroups(options.groups)
    const reply = await this.reads.readOrToken(cacheKey, groups, this.lease)
    if (!reply.hit) return reply
    return { hit: true, value: this.values.decode<T>(reply.value) }
  }

  async wrap<T>(key: string, options: WrapOptions, fn: (() => T | Promise<T>) | undefined): Promise<T> {
    const cacheKey = checkKey(key)
    const groups = checkGroups(options.groups)
    const ttl = options.ttl === undefined ? this.ttl : checkTtl(options.ttl)
    checkFunction(fn, 'fn')
    let reply: RawRead
    try {
      reply = await this.reads.readOrToken(cacheKey, groups, this.lease)
    } catch (error) {
      if (error instanceof ClosedError) throw error
      this.transport.report(error)
      // Redis is failing: the function's value is returned, not stored. One call per key, still.
      return this.share(`${cacheKey}\u0000`, async () => fn())
    }
    if (reply.hit) {
      try {
        return this.values.decode<T>(reply.value)
      } catch (error) {
        this.transport.report(error)
        await this.discard(cacheKey)
        return fn()
      }
    }
    const token = reply.token
    const flight = [cacheKey, token.generation, ...groups, ...token.versions].join('\u0000')
    return this.share(flight, () => this.fill(cacheKey, token, ttl, fn))
  }

  cached<A extends unknown[], R>(
    fn: (...args: A) => R | Promise<R>,
    options: CachedOptions<A>,
  ): (...args: A) => Promise<R> {
    checkFunction(fn, 'fn')
    checkFunction(options?.key, 'options.key')
    if (options.groups !== undefined) checkFunction(options.groups, 'options.groups')
    const ttl = options.ttl
    if (ttl !== undefined) checkTtl(ttl)
    return (...args: A) =>
      this.wrap(options.key(...args), { groups: options.groups?.(...args), ttl }, () => fn(...args))
  }

  /** The promise of the call in flight under `flight`, or a new one from `run`, shared until it settles. */
  private share<T>(flight: string, run: () => Promise<T>): Promise<T> {
    const shared = this.fills.get(flight)
    if (shared) return shared as Promise<T>
    const fill = run()
    this.fills.set(flight, fill)
    const forget = () => this.fills.delete(flight)
    fill.then(forget, forget)
    return fill
  }

  private async fill<T>(key: string, token: FillToken, ttl: number | undefined, fn: () => T | Promise<T>): Promise<T> {
    const value = await fn()
    if (value !== undefined && !this.transport.closed) {
      try {
        await this.store(key, value, { token, ttl: ttl ?? Number.POSITIVE_INFINITY })
      } catch (error) {
        this.transport.report(error)
      }
    }
    return value
  }
}
