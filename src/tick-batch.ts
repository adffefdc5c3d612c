/**
 * Items that come during one tick, after its first, handed over together when it ends
 * (`process.nextTick`: after the promise jobs then queued, so that every caller a batch of replies
 * woke has come), or as soon as `max` are waiting. The tick's first goes alone, at once: a caller
 * that is alone waits for nothing.
 *
 * The cache's hinted gets go through one (src/reads.ts): the gets a process makes at once become
 * two MGETs, the first's and the rest's, as `getMany`'s keys do, instead of one command each.
 */
export class TickBatch<T> {
  private items: T[] = []
  private open = false

  constructor(
    private readonly max: number,
    private readonly run: (items: T[]) => void,
  ) {}

  /** Whether an item that comes now waits for this tick's batch (then `add` it): false for the tick's first, which goes alone. */
  joins(): boolean {
    if (this.open) return true
    this.open = true
    process.nextTick(this.end)
    return false
  }

  add(item: T): void {
    if (this.items.push(item) === this.max) this.drain()
  }

  /** Hands over what waits now. */
  readonly drain = (): void => {
    const { items } = this
    if (items.length === 0) return
    this.items = []
    this.run(items)
  }

  private readonly end = (): void => {
    this.open = false
    this.drain()
  }
}
