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
 * The counters themselves: one object, shared by the modules that count, each field moved by one
 * increment where it happens (no allocation, no call: the hot path's cost is an add).
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
