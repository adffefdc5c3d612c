/** A call in flight with a deadline: `expire` runs once the deadline passes, unless settled first. */
export interface Deadline {
  /** performance.now() when it expires: set by `add` */
  at: number
  expire(): void
  prev: Deadline | undefined
  next: Deadline | undefined
}

/**
 * The deadlines of the calls in flight, all of one duration, under one timer. A timer per call
 * (setTimeout, then clearTimeout) costs about as much as the rest of a cached read's own work; here
 * a call costs one list node. Deadlines of one duration expire in the order they started, so the
 * list is in deadline order: the timer only ever looks at its head.
 */
export class Deadlines {
  private head: Deadline | undefined
  private tail: Deadline | undefined
  private timer: NodeJS.Timeout | undefined

  constructor(readonly ms: number) {}

  /** A deadline that runs `expire` (see `add`). */
  start(expire: () => void): Deadline {
    const deadline: Deadline = { at: 0, expire, prev: undefined, next: undefined }
    this.add(deadline)
    return deadline
  }

  /** `deadline` (not in a list) expires `ms` from now: a call in flight can be its own node. */
  add(deadline: Deadline): void {
    deadline.at = performance.now() + this.ms
    deadline.prev = this.tail
    deadline.next = undefined
    if (this.tail === undefined) this.head = deadline
    else this.tail.next = deadline
    this.tail = deadline
    if (this.timer === undefined) this.arm(deadline.at)
  }

  /** The call answered in time: its deadline goes (the timer may fire for nothing, once). */
  settle(deadline: Deadline): void {
    const { prev, next } = deadline
    if (prev === undefined) {
      if (this.head !== deadline) return // already settled or expired
      this.head = next
    } else {
      prev.next = next
    }
    if (next === undefined) this.tail = prev
    else next.prev = prev
    deadline.prev = undefined
    deadline.next = undefined
  }

  private arm(at: number): void {
    this.timer = setTimeout(this.fire, Math.max(1, Math.ceil(at - performance.now())))
    this.timer.unref()
  }

  private readonly fire = (): void => {
    this.timer = undefined
    const now = performance.now()
    for (let deadline = this.head; deadline !== undefined && deadline.at <= now; deadline = this.head) {
      this.settle(deadline)
      deadline.expire()
    }
    if (this.head !== undefined) this.arm(this.head.at)
  }
}
