import { setTimeout as sleep } from 'node:timers/promises'

/** A promise the test resolves when it chooses: holds a fill open while the test acts. */
export function gate<T = void>() {
  let open!: (value: T) => void
  const opened = new Promise<T>((resolve) => {
    open = resolve
  })
  return { opened, open }
}

/** Resolves once `check` holds, polling every few ms (the test's own timeout bounds it). */
export async function until(check: () => boolean | Promise<boolean>): Promise<void> {
  while (!(await check())) await sleep(2)
}
