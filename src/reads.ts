import type { FillToken, ReadRequest, Store } from './commands.js'
import type { Deadlines } from './deadlines.js'
import { covers, decodeEntry, liveAt } from './entry.js'
import { ClosedError } from './errors.js'
import type { Hint, Hints } from './hints.js'
import type { NearCache, NearHit } from './near.js'
import type { Counters } from './stats.js'
import { TickBatch } from './tick-batch.js'
import type { ReadContext } from './tracing.js'
import type { Transport } from './transport.js'
import { checkKey, checkKeys, NO_GROUPS } from './validate.js'
import type { Values } from './values.js'

/** A hinted read waiting for its tick's MGET: its entry and versions, where it goes once answered. */
interface BatchedFetch {
  hint: Hint
  /** the MGET's reply, its entry's index in it and its versions' */
  answer(reply: readonly (Buffer | null)[], index: number, at: readonly number[]): void
  fail(failure: unknown): void
}

/** At most this many reads share an MGET (with their groups' versions, a few times as many keys). */
const BATCHED_FETCHES = 100

/**
 * A read's answer before decoding: the serialized value (and a near-cache hit's decoded value), or
 * a miss's token, whether the read took the key's fill lease (else `wait`: ms the holder's lease
 * has left), and within grace the stale value.
 */
export type RawRead =
  | { hit: true; value: string; decoded?: { readonly value: unknown }; near?: true }
  | { hit: false; token: FillToken; leased: boolean; wait: number; stale: string | undefined }

/** What a read by script asks for besides the entry (see ReadRequest). */
export type ReadAsk = Omit<ReadRequest, 'key' | 'groups'>

/**
 * Reads, and the hints that make them cheap. A key this process knows (its hint: the groups it
 * last saw the entry under) is read with one MGET of the entry and those groups' versions, checked
 * here (`liveAt`); any other read, and any the MGET cannot settle (the entry is gone, stale, or
 * holds other groups), runs a script, which answers with the entry and its groups.
 *
 * With a near cache (src/near.ts), a key it holds is read there first; a key read from Redis is
 * offered to it.
 */
export class Reads {
  constructor(
    private readonly transport: Transport,
    private readonly store: Store,
    private readonly hints: Hints,
    private readonly values: Values,
    /** Deletes a stored value the serializer cannot read (the cache's own delete). */
    private readonly discard: (key: string) => Promise<void>,
    private readonly near: NearCache | undefined,
    /** `get` and `getMany` count their hits and misses; `readOrToken`'s callers count theirs */
    private readonly counters: Counters,
  ) {}

  /** A miss (`failure`: the read failed open), counted, and in `trace` when the call is traced. */
  private miss(trace: ReadContext | undefined, failure?: unknown): undefined {
    this.counters.miss(trace, 1, failure)
    return undefined
  }

  /** An untraced read that failed open: a miss. */
  private readonly missed = (): undefined => this.miss(undefined)

  /** What a read answers when it fails open: a miss, the failure in `trace` when traced. */
  private failOpen(trace: ReadContext | undefined): (failure: unknown) => undefined {
    return trace === undefined ? this.missed : (failure) => this.miss(trace, failure)
  }

  /**
   * The value stored under `key`, or undefined on a miss. Fails open. `deadlines`: the call's own
   * timeout's; `trace`: the call's context when traced (src/tracing.ts).
   */
  get<T>(key: string, deadlines?: Deadlines | null, trace?: ReadContext): Promise<T | undefined> {
    let cacheKey: string
    try {
      cacheKey = checkKey(key)
    } catch (error) {
      return Promise.reject(error)
    }
    const near = this.near?.lookup(cacheKey, NO_GROUPS)
    if (near === undefined) return this.getFar<T>(cacheKey, deadlines, trace)
    if (!(near instanceof Promise)) return Promise.resolve(this.nearValue<T>(cacheKey, near, trace))
    return near.then((hit) =>
      hit === undefined ? this.getFar<T>(cacheKey, deadlines, trace) : this.nearValue<T>(cacheKey, hit, trace),
    )
  }

  /** A near-cache hit's value: decoded already (frozen, or a fresh copy), or its text decoded now. */
  private nearValue<T>(key: string, hit: NearHit, trace: ReadContext | undefined): T | Promise<undefined> {
    this.counters.hit(trace, true)
    return hit.decoded === undefined ? this.decodeOrDiscard<T>(key, hit.text) : (hit.decoded.value as T)
  }

  /** `get` from Redis. */
  private getFar<T>(
    cacheKey: string,
    deadlines: Deadlines | null | undefined,
    trace: ReadContext | undefined,
  ): Promise<T | undefined> {
    const hint = this.hints.warm(cacheKey)
    if (hint === undefined) return this.getByScript<T>(cacheKey, deadlines, trace)
    if (trace === undefined && deadlines === undefined && this.gets.joins()) return this.batchedGet<T>(cacheKey, hint)
    return this.fetchOne<T>(cacheKey, hint, deadlines, trace)
  }

  /** A hinted get on its own: one MGET of its entry and its groups' versions. */
  private fetchOne<T>(
    cacheKey: string,
    hint: Hint,
    deadlines: Deadlines | null | undefined,
    trace: ReadContext | undefined,
  ): Promise<T | undefined> {
    // Not async, and the reply settled inside the call's own promise: this is a hit's whole path.
    return this.transport.call(
      'get',
      (client) => this.store.fetch(client, hint.keys),
      (reply) => this.settleHinted<T>(cacheKey, hint, reply, 0, hint.at, deadlines, trace),
      this.failOpen(trace),
      deadlines,
    )
  }

  /**
   * The MGETs of hinted reads of one tick (of the cache's own timeout) after its first, sent as one
   * MGET of every entry and the versions of their groups, each key once: the command, its round
   * trip and what Redis spends on it are shared. Each read still answers as it would alone: the
   * MGET reads all at one instant, after every read of the batch began. One batch for the untraced
   * gets, whose failure each get reports and answers as a miss; one for the hinted reads of `read`,
   * `wrap` and `cached`, which reject (their callers run the function).
   */
  private readonly gets = this.batchOf('get')
  private readonly reads = this.batchOf('read')

  private batchOf(operation: string): TickBatch<BatchedFetch> {
    return new TickBatch<BatchedFetch>(BATCHED_FETCHES, (fetches) => {
      const { args, at } = this.fetchArgs(fetches.map((fetch) => fetch.hint))
      this.transport
        .request(operation, (client) => this.store.fetch(client, args))
        .then(
          (reply) => {
            fetches.forEach((fetch, i) => {
              fetch.answer(reply, i, at[i] as number[])
            })
          },
          (failure: unknown) => {
            for (const fetch of fetches) fetch.fail(failure)
          },
        )
    })
  }

  /** A hinted get that waits for its tick's MGET (see `gets`): answered, or failing open, as alone. */
  private batchedGet<T>(cacheKey: string, hint: Hint): Promise<T | undefined> {
    return new Promise<T | undefined>((resolve, reject) => {
      this.gets.add({
        hint,
        answer: (reply, index, at) => {
          try {
            resolve(this.settleHinted<T>(cacheKey, hint, reply, index, at, undefined, undefined))
          } catch (error) {
            reject(error)
          }
        },
        fail: (failure) => {
          try {
            resolve(this.transport.failOpen(failure, this.miss(undefined)))
          } catch (error) {
            reject(error)
          }
        },
      })
    })
  }

  /** Sends the reads waiting for the end of this tick now (the cache's close() does, before it closes). */
  flush(): void {
    this.gets.drain()
    this.reads.drain()
  }

  /**
   * What a hinted get answers, from `reply` (the entry at `index`, its groups' versions at `at`):
   * a live entry's value; a miss when the entry is gone; else the read script's answer (the entry
   * is stale, or holds other groups than the hint's).
   */
  private settleHinted<T>(
    cacheKey: string,
    hint: Hint,
    reply: readonly (Buffer | null)[],
    index: number,
    at: readonly number[],
    deadlines: Deadlines | null | undefined,
    trace: ReadContext | undefined,
  ): T | Promise<T | undefined> | undefined {
    const value = this.liveValue(cacheKey, hint, reply, index, at)
    if (value !== undefined) {
      this.counters.hit(trace)
      return this.decodeOrDiscard<T>(cacheKey, value)
    }
    return reply[index] === null ? this.miss(trace) : this.getByScript<T>(cacheKey, deadlines, trace)
  }

  /** The values of `keys`, in order (undefined for each miss). Fails open. */
  async getMany<T>(
    keys: readonly string[],
    deadlines?: Deadlines | null,
    trace?: ReadContext,
  ): Promise<(T | undefined)[]> {
    const cacheKeys = checkKeys(keys)
    if (this.transport.closed) throw new ClosedError('getMany')
    const [first] = cacheKeys
    if (first === undefined) return []
    if (cacheKeys.length === 1) return [await this.get<T>(first, deadlines, trace)]
    const { near } = this
    if (near === undefined) return this.getManyFar<T>(cacheKeys, deadlines, trace)
    // The near cache's values first (one sync point for all), then Redis for the rest.
    const held = await Promise.all(cacheKeys.map((key) => near.lookup(key, NO_GROUPS)))
    const rest = cacheKeys.filter((_, i) => held[i] === undefined)
    const far = rest.length === 0 ? [] : await this.getManyFar<T>(rest, deadlines, trace)
    let n = 0
    return Promise.all(
      held.map((hit, i) => (hit === undefined ? far[n++] : this.nearValue<T>(cacheKeys[i] as string, hit, trace))),
    )
  }

  /** `getMany` from Redis (two keys or more, or the near cache's misses). */
  private async getManyFar<T>(
    cacheKeys: string[],
    deadlines: Deadlines | null | undefined,
    trace: ReadContext | undefined,
  ): Promise<(T | undefined)[]> {
    if (cacheKeys.length === 1) return [await this.getFar<T>(cacheKeys[0] as string, deadlines, trace)]
    const values: (string | undefined)[] = new Array(cacheKeys.length)
    try {
      let unsettled = cacheKeys.map((_, i) => i)
      const hints = cacheKeys.map((key) => this.hints.warm(key))
      if (hints.every((hint) => hint !== undefined))
        unsettled = await this.fetchMany(cacheKeys, hints, values, deadlines)
      if (unsettled.length > 0) {
        const wanted = unsettled.map((i) => cacheKeys[i] as string)
        const entries = await this.transport.request(
          'get',
          (client) =>
            wanted.length === 1
              ? this.store.get(client, wanted[0] as string).then((entry) => [entry])
              : this.store.getMany(client, wanted),
          deadlines,
        )
        unsettled.forEach((i, n) => {
          const entry = entries[n]
          if (entry != null) values[i] = this.learn(cacheKeys[i] as string, entry)
        })
      }
    } catch (error) {
      const failed = this.transport.failOpen(
        error,
        cacheKeys.map(() => undefined),
      )
      this.counters.miss(trace, cacheKeys.length, error)
      return failed
    }
    for (const value of values) {
      if (value === undefined) this.counters.miss(trace)
      else this.counters.hit(trace)
    }
    return Promise.all(
      values.map((value, i) =>
        value === undefined ? undefined : this.decodeOrDiscard<T>(cacheKeys[i] as string, value),
      ),
    )
  }

  /**
   * A hit's serialized value, or a miss's token. With a hint, one MGET first: a live entry is a
   * hit without a script; anything else (missing, stale, other groups) goes to the read script,
   * which also hands out the token a miss needs and takes the fill lease (`ask`, made only then: a
   * hit by MGET needs none). Rejects when Redis fails.
   */
  async readOrToken(
    key: string,
    groups: readonly string[],
    ask: () => ReadAsk,
    deadlines?: Deadlines | null,
  ): Promise<RawRead> {
    const near = this.near?.lookup(key, groups)
    if (near !== undefined) {
      const hit = await near
      if (hit !== undefined) return { hit: true, value: hit.text, decoded: hit.decoded, near: true }
    }
    const hint = this.hints.warm(key)
    // The MGET checks the entry holds the hint's groups: only worth it when they include the ones asked for.
    if (hint !== undefined && covers(hint.groups, groups)) {
      const value =
        deadlines === undefined && this.reads.joins()
          ? await new Promise<string | undefined>((resolve, reject) => {
              this.reads.add({
                hint,
                answer: (reply, index, at) => resolve(this.liveValue(key, hint, reply, index, at)),
                fail: reject,
              })
            })
          : this.liveValue(
              key,
              hint,
              await this.transport.request('read', (client) => this.store.fetch(client, hint.keys), deadlines),
              0,
              hint.at,
            )
      if (value !== undefined) return { hit: true, value }
    }
    const reply = await this.transport.request(
      'read',
      (client) => this.store.read(client, { key, groups, ...ask() }),
      deadlines,
    )
    if (reply.hit) return { hit: true, value: this.learn(key, reply.entry) }
    return { ...reply, stale: reply.stale === undefined ? undefined : decodeEntry(reply.stale).value }
  }

  /** A read by script: the first of a key, or one the MGET could not settle. Fails open. */
  private getByScript<T>(
    key: string,
    deadlines: Deadlines | null | undefined,
    trace: ReadContext | undefined,
  ): Promise<T | undefined> {
    return this.transport.call(
      'get',
      (client) => this.store.get(client, key),
      (entry) => {
        if (entry === null) return this.miss(trace)
        this.counters.hit(trace)
        return this.decodeOrDiscard<T>(key, this.learn(key, entry))
      },
      this.failOpen(trace),
      deadlines,
    )
  }

  /** MGETs every key's entry and the versions of its hinted groups; settles what it can into `values`. */
  private async fetchMany(
    keys: string[],
    hints: Hint[],
    values: (string | undefined)[],
    deadlines: Deadlines | null | undefined,
  ): Promise<number[]> {
    const { args, at } = this.fetchArgs(hints)
    const reply = await this.transport.request('get', (client) => this.store.fetch(client, args), deadlines)
    const unsettled: number[] = []
    hints.forEach((hint, i) => {
      values[i] = this.liveValue(keys[i] as string, hint, reply, i, at[i] as number[])
      if (values[i] === undefined && reply[i] !== null) unsettled.push(i)
    })
    return unsettled
  }

  /**
   * One MGET's keys for the entries of `hints`: the entries first, in order, then each version key
   * once; `at[i]`: where the versions of entry i's groups are in it.
   */
  private fetchArgs(hints: readonly Hint[]): { args: string[]; at: number[][] } {
    const args = hints.map((hint) => hint.keys[0] as string)
    const slots = new Map<string, number>()
    const at = hints.map((hint) =>
      hint.keys.slice(1).map((versionKey) => {
        let slot = slots.get(versionKey)
        if (slot === undefined) {
          slot = args.push(versionKey) - 1
          slots.set(versionKey, slot)
        }
        return slot
      }),
    )
    return { args, at }
  }

  /**
   * The value of `reply[index]` if that entry is live by the versions at `at`; else undefined,
   * and the hint is dropped: the entry is gone, stale, or holds other groups.
   */
  private liveValue(
    key: string,
    hint: Hint,
    reply: readonly (Buffer | null)[],
    index: number,
    at: readonly number[],
  ): string | undefined {
    const entry = reply[index]
    if (entry != null) {
      const offset = liveAt(entry, reply, at, hint.part)
      if (offset >= 0) {
        this.near?.offer(key, hint.groups)
        return entry.toString('utf8', offset)
      }
    }
    this.hints.forget(key)
    return undefined
  }

  /**
   * The value of an entry a script returned as live; its groups become the key's hint, unless its
   * header holds a TTL's end, which only a script can check.
   */
  private learn(key: string, entry: string): string {
    const { value, groups, timed } = decodeEntry(entry)
    if (timed) this.hints.forget(key)
    else this.hints.remember(key, groups, true)
    this.near?.offer(key, groups)
    return value
  }

  /** Synchronous on the hot path; an undecodable value is reported, discarded and read as a miss. */
  private decodeOrDiscard<T>(key: string, text: string): T | Promise<undefined> {
    try {
      return this.values.decode<T>(text)
    } catch (error) {
      this.transport.report(error)
      return this.discard(key).then(() => undefined)
    }
  }
}
