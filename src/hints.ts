import { groupsPart } from './entry.js'
import type { Keys } from './keys.js'

/**
 * What this process last saw of a key's entry: its groups, and how to read it without a script
 * (one MGET of the entry and those groups' versions, checked by `liveAt`).
 */
export interface Hint {
  readonly groups: readonly string[]
  /** The MGET's keys: the entry, then each group's version. */
  readonly keys: readonly string[]
  /** `groupsPart(groups)`: what the live entry's header must hold. */
  readonly part: Buffer
  /** Where each group's version is in the MGET's reply: 1..n. */
  readonly at: readonly number[]
  /**
   * Whether the entry is likely live: the key was last read as a hit, or written through. A key
   * this process just filled after a miss is not: under frequent invalidation its next read is
   * likely stale too, and an MGET before the read script would cost a round trip for nothing. Its
   * next read runs the script, and a hit there makes it warm.
   */
  warm: boolean
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

  /** The key's hint if it is warm: worth an MGET before any script. */
  warm(key: string): Hint | undefined {
    const hint = this.hints.get(key)
    return hint?.warm ? hint : undefined
  }

  /** The key holds an entry with these groups; `warm`: and it is likely to be read live (see Hint). */
  remember(key: string, groups: readonly string[], warm: boolean): void {
    if (this.capacity === 0) return
    const known = this.hints.get(key)
    if (known !== undefined && sameList(known.groups, groups)) {
      known.warm = warm
      return
    }
    if (known === undefined && this.hints.size >= this.capacity) {
      const oldest = this.hints.keys().next()
      if (!oldest.done) this.hints.delete(oldest.value)
    }
    this.hints.set(key, {
      groups: [...groups], // the caller's array may change later
      keys: [this.keys.entry(key), ...groups.map(this.keys.group, this.keys)],
      part: groupsPart(groups),
      at: this.positionsFor(groups.length),
      warm,
    })
  }

  forget(key: string): void {
    this.hints.delete(key)
  }

  /** Forgets every key (the namespace was cleared). */
  clear(): void {
    this.hints.clear()
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
