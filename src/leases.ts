import { randomBytes } from 'node:crypto'
import type { FillToken, Store } from './commands.js'
import type { Transport } from './transport.js'

/** The first wait before a waiter reads again, ms; each next one is 1.5 times longer, up to POLL_MAX. */
const POLL_FIRST = 10
const POLL_MAX = 100
/** ms a failed refresh keeps the lease at first; it doubles with each failure in a row, up to `lease`. */
const HOLD_FIRST = 1000

/**
 * One fill per key across the fleet. The read script that hands a miss its token also takes the
 * key's fill lease (`<base>l:<key>`, held `lease` ms, lua/read.lua) when no one holds it; a miss
 * that finds it held waits and reads again, and finds the value, or the lease free to take over.
 * The set with the token releases the lease (lua/set.lua); a fill whose function throws releases
 * it here at once; a dead or hung holder's lease ends by itself.
 *
 * Waiters read again after 10 ms, then 1.5 times longer each time up to 100 ms, never later than
 * the holder's lease ends: about 8 reads for a 300 ms fill, one per waiting process, whatever
 * the number of callers waiting in it (they share one wait). Polling needs no connection of its
 * own; a message from the set would need a subscriber connection per process, and every process
 * would receive every fill's message.
 */
export class Leases {
  /** Failed refreshes in a row, by key (reset by a refresh that stores). */
  private readonly failures = new Map<string, number>()

  constructor(
    private readonly transport: Transport,
    private readonly store: Store,
    /** ms a lease is held */
    readonly lease: number,
  ) {}

  /** This process's part of every owner, random; a counter tells its reads apart. */
  private readonly process = randomBytes(9).toString('base64url')
  private reads = 0

  /** A new owner: what a read that takes a lease writes into it. Cheap: every wrap asks for one. */
  owner(): string {
    this.reads = (this.reads + 1) % Number.MAX_SAFE_INTEGER
    return `${this.process}-${this.reads.toString(36)}`
  }

  /** ms before the `attempt`-th read of a waiter: `wait` is what the holder's lease has left. */
  nextPoll(attempt: number, wait: number): number {
    const backoff = Math.min(POLL_FIRST * 1.5 ** attempt, POLL_MAX)
    const jittered = backoff * (0.8 + Math.random() * 0.4)
    return Math.max(1, Math.min(jittered, wait > 0 ? wait + 1 : jittered))
  }

  /** Gives up the lease a token holds, now or after `hold` ms. Failures go to `error`: the lease ends anyway. */
  release(token: FillToken, hold = 0): Promise<void> {
    const owner = token.owner
    if (owner === undefined || this.transport.closed) return Promise.resolve()
    return this.transport
      .request('release', (client) => this.store.release(client, token.key, owner, hold))
      .then(
        () => {},
        (error: unknown) => this.transport.report(error),
      )
  }

  /**
   * A refresh within grace failed: the lease is kept a while, so that a failing source is called
   * about once per hold across the fleet, not by every reader. 1 s, doubling, up to the lease.
   */
  refreshFailed(token: FillToken): Promise<void> {
    const failures = (this.failures.get(token.key) ?? 0) + 1
    this.failures.set(token.key, failures)
    if (this.failures.size > 10_000) this.failures.delete(this.failures.keys().next().value as string)
    return this.release(token, Math.min(HOLD_FIRST * 2 ** (failures - 1), this.lease))
  }

  refreshed(key: string): void {
    this.failures.delete(key)
  }
}
