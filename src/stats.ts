import type { ReadContext } from './tracing.js'

/**
 * What a cache counted since it was made (`cache.stats()`). Every read of a key is one hit, one
 * miss or one stale hit: `get` and `has` count one, `getMany` one per key, `wrap`, `cached` and
 * `read` one each (a wrap that waits for another's fill counted its miss, and a lease wait).
 */
export interface CacheStats {
  /** reads that found a live value (a cached "not found" included); near-cache hits among them */
  hits: number
  /** reads that found no live value, or failed (and failed open) */
  misses: number
  /** reads answered with a stale value within grace (`wrap`, `cached`, `read` with grace) */
  staleHits: number
  /** of the hits, those this process's near cache served */
  nearHits: number
  /** fill functions run (`wrap`, `cached`): on a miss, a refresh within grace, or failing open */
  fills: number
  /** sets with a fill token that Redis refused (the `refused` event) */
  refusedFills: number
  /** `wrap` and `cached` calls that waited for another process's fill (its lease) */
  leaseWaits: number
  /** invalidations that resolved: each `delete`, `deleteMany`, `expireGroup` and `expireGroups` call */
  invalidations: number
  /** failures reported (the `error` event) */
  errors: number
}

/**
 * The counters themselves: one object, shared by the modules that count, each field moved where
 * it happens. A read's outcome goes through one of the methods below, which count it here and,
 * when the call is traced, in its context too (src/tracing.ts): the hot path's cost is an add and
 * a check.
 */
export class Counters implements CacheStats {
  hits = 0
  misses = 0
  staleHits = 0
  nearHits = 0
  fills = 0
  refusedFills = 0
  leaseWaits = 0
  invalidations = 0
  errors = 0

  /** A read of one key found a live value; `near`: this process's near cache served it. */
  hit(trace: ReadContext | undefined, near = false): void {
    this.hits++
    if (near) this.nearHits++
    if (trace === undefined) return
    trace.hits++
    if (near) trace.nearHits++
  }

  /** Reads of `n` keys found no live value, or failed (`failure`: what they absorbed). */
  miss(trace: ReadContext | undefined, n = 1, failure?: unknown): void {
    this.misses += n
    if (trace === undefined) return
    trace.misses += n
    if (failure !== undefined) trace.failure = failure
  }

  /** A read answered with a stale value within grace. */
  staleHit(trace: ReadContext | undefined): void {
    this.staleHits++
    if (trace !== undefined) trace.staleHits++
  }

  /** A fill function ran. */
  fill(trace: ReadContext | undefined): void {
    this.fills++
    if (trace !== undefined) trace.fills++
  }

  /** A wrap waits for another process's fill. */
  leaseWait(trace: ReadContext | undefined): void {
    this.leaseWaits++
    if (trace !== undefined) trace.leaseWaits++
  }

  /** A copy: what was counted until now. */
  snapshot(): CacheStats {
    return {
      hits: this.hits,
      misses: this.misses,
      staleHits: this.staleHits,
      nearHits: this.nearHits,
      fills: this.fills,
      refusedFills: this.refusedFills,
      leaseWaits: this.leaseWaits,
      invalidations: this.invalidations,
      errors: this.errors,
    }
  }
}
