/** How long and how big each scenario runs: the full suite, or `--quick` (a smoke run under 60 s). */
import type { Contender, ContenderName } from './contenders.js'
import type { RaceSettings } from './measure.js'
import type { BenchServer } from './server.js'

export interface Settings {
  quick: boolean
  /** Scenarios 1 and 2. */
  race: RaceSettings
  expireGroup: {
    /** Group sizes, ascending. */
    sizes: number[]
    /** Timed (control, group) pairs per size, for contenders whose invalidation leaves members in place. */
    pairs: number
    /** Samples per size, up to this many members, for a contender whose invalidation deletes them. */
    repeatUpTo: number
    repeats: number
    /** A peer stops after a size where one invalidation took longer than this. */
    slowMs: number
    /** A peer stops before a size it would take longer than this to populate. */
    populateBudgetS: number
  }
  memory: { entries: number }
  fleet: {
    processes: number
    concurrency: number
    keys: number
    rounds: number
    roundMs: number
    warmupMs: number
    /** maxEntries of each process's near cache (the fleet-only near variants): every key, so that invalidations, not the bound, decide what is held */
    nearMaxEntries: number
  }
  herd: {
    processes: number
    /** wrap callers in a loop, per process */
    concurrency: number
    /** hot keys, all in one group */
    keys: number
    /** ms the function takes */
    fillMs: number
    /** ms between the writer's invalidations */
    periodMs: number
    /** invalidations per variant; the run lasts one period more */
    invalidations: number
    /** ms the callers run before the counters start */
    warmupMs: number
    /** ms, the grace of `group-cache grace` */
    grace: number
  }
  cluster: {
    /** client processes of the load rounds */
    processes: number
    /** calls in flight per process */
    concurrency: number
    keys: number
    rounds: number
    roundMs: number
    /** ms each proxy delays each way, for the round trips */
    delayMs: number
    /** calls timed per round-trip row */
    samples: number
  }
  next: {
    /** entries under the revalidated tag */
    sizes: number[]
    /** timed revalidateTag calls per size, each beside one of a 1-entry tag */
    pairs: number
  }
}

export function settingsFor(quick: boolean): Settings {
  return {
    quick,
    race: quick
      ? { rounds: 3, roundMs: 100, warmupMs: 50, keys: 1000 }
      : { rounds: 7, roundMs: 1000, warmupMs: 500, keys: 1000 },
    expireGroup: {
      sizes: quick ? [1, 1000] : [1, 1000, 100_000, 1_000_000],
      pairs: quick ? 5 : 25,
      repeatUpTo: 1000,
      repeats: quick ? 3 : 7,
      slowMs: 10_000,
      populateBudgetS: 180,
    },
    memory: { entries: quick ? 5000 : 100_000 },
    fleet: quick
      ? { processes: 4, concurrency: 16, keys: 10_000, rounds: 1, roundMs: 3000, warmupMs: 500, nearMaxEntries: 10_000 }
      : {
          processes: 4,
          concurrency: 16,
          keys: 10_000,
          rounds: 5,
          roundMs: 5000,
          warmupMs: 2000,
          nearMaxEntries: 10_000,
        },
    herd: {
      processes: 4,
      concurrency: 24,
      keys: 16,
      fillMs: 300,
      periodMs: 1300,
      invalidations: quick ? 2 : 7,
      warmupMs: quick ? 600 : 1000,
      grace: 5000,
    },
    cluster: quick
      ? { processes: 2, concurrency: 8, keys: 2000, rounds: 1, roundMs: 1000, delayMs: 5, samples: 5 }
      : { processes: 3, concurrency: 16, keys: 10_000, rounds: 5, roundMs: 4000, delayMs: 5, samples: 25 },
    next: { sizes: quick ? [1, 1000] : [1, 100_000], pairs: quick ? 5 : 25 },
  }
}

/** What every scenario gets. */
export interface Context {
  server: BenchServer
  settings: Settings
  contenders: Record<ContenderName, Contender>
  /** Progress, to stderr. */
  log(text: string): void
}

/** Runs `fn` over `items` with at most `limit` calls in flight. */
export async function inParallel<T>(items: Iterable<T>, limit: number, fn: (item: T) => Promise<void>) {
  const iterator = items[Symbol.iterator]()
  const worker = async () => {
    for (let next = iterator.next(); !next.done; next = iterator.next()) await fn(next.value)
  }
  await Promise.all(Array.from({ length: limit }, worker))
}

/** 0, 1, ..., n-1 without building an array. */
export function* indexes(n: number): Generator<number> {
  for (let i = 0; i < n; i++) yield i
}
