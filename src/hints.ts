import { groupsPart } from './entry.js'
import type { Keys } from './keys.js'

/**
 * What this process last saw of a key's entry: its groups, and how to read it without a script
 * (one MGET of the entry and those groups' versions, checked by `codec.liveAt`).
 */
export interface Hint {
  readonly groups: readonly string[]
  /** The MGET's keys: the entry, then each group's version. */
  readonly keys: readonly string[]
  /** `groupsPart(groups)`: what the live entry's header must hold. */
  readonly part: Buffer
  /** Where each group's version is in the MGET's reply: 1..n. */
  readonly at: readonly number[]
}

/**
 * The groups of the keys this process recently read as hits or stored, at most `capacity` of them
 * (the oldest is dropped first). A hint is only a guess: a read that finds the entry holding
 * other groups, stale, or gone forgets it and asks a script.
 */
export class Hints {
  private readonly hints = new Map<string, Hint>()
  private readonly positions: number[][] = []

  constructor(
    private readonly keys: Keys,
    private readonly capacity: number,
  ) {}

  get(key: string): Hint | undefined {
    return this.hints.get(key)
  }

  remember(key: string, groups: readonly string[]): void {
    if (this.capacity === 0) return
    const known = this.hints.get(key)
    if (known !== undefined && sameList(known.groups, groups)) return
    if (known === undefined && this.hints.size >= this.capacity) {
      const oldest = this.hints.keys().next()
      if (!oldest.done) this.hints.delete(oldest.value)
    }
    this.hints.set(key, {
      groups: [...groups], // the caller's array may change later
      keys: [this.keys.entry(key), ...groups.map(this.keys.group, this.keys)],
      part: groupsPart(groups),
      at: this.positionsFor(groups.length),
    })
  }

  forget(key: string): void {
    this.hints.delete(key)
  }

  get size(): number {
    return this.hints.size
  }

  /** [1..n], shared by every hint of n groups. */
  private positionsFor(n: number): number[] {
    let at = this.positions[n]
    if (at === undefined) {
      at = Array.from({ length: n }, (_, i) => i + 1)
      this.positions[n] = at
    }
    return at
  }
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((item, i) => item === b[i])
}
