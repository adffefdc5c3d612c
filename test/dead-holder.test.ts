import { type ChildProcess, fork } from 'node:child_process'
import { once } from 'node:events'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { Redis } from 'ioredis'
import { afterAll, afterEach, beforeEach, describe, expect, inject, it } from 'vitest'
import { GroupCache } from '../src/index.js'
import { randomNamespace } from './support/backends.js'
import type { HolderConfig, HolderMessage, ParentMessage } from './support/holder.js'
import { waitForPing } from './support/redis-server.js'

/**
 * One fill per key across real processes: a holder killed with SIGKILL inside its fill function
 * never releases its lease, so the misses of the other processes wait for the lease to end, then
 * exactly one of them fills. The lease is 3 s: a waiter runs its function itself two leases after
 * it began waiting, and the one that takes over must store before then, on a loaded machine too
 * (1.5 s left one CI run with two calls). Every cache of the fleet gives Redis 10 s a call (TIMEOUT):
 * the default 1 s let a read of a process stalled on a loaded machine fail open and run its
 * function, which is the timeout's promise, not the lease's, and left one CI run with two calls.
 * vitest.config.ts's 20 s test timeout is the only upper bound on time.
 */
const LEASE = 3000
const TIMEOUT = 10_000
const HOLDER = fileURLToPath(new URL('./support/holder.ts', import.meta.url))
const ROOT = fileURLToPath(new URL('..', import.meta.url))

interface Holder {
  readonly child: ChildProcess
  /** The holder's next message of `type`; rejects if it fails, exits or cannot start first. */
  next<T extends HolderMessage['type']>(type: T): Promise<Extract<HolderMessage, { type: T }>>
  /** Has it wrap 'k': with `hang`, its function never resolves. */
  wrap(hang: boolean): void
}

describe('a fill lease holder killed inside its function [redis, processes]', () => {
  const url = inject('redisUrl')
  const raw = new Redis(url)
  const children: ChildProcess[] = []
  const caches: GroupCache[] = []
  /** the test process's cache failures and refused fills: none are expected */
  const errors: unknown[] = []
  let namespace = randomNamespace()
  const leaseKey = () => `rgc:{${namespace}}:l:k`

  beforeEach(async () => {
    await waitForPing(url, Date.now() + 5000)
    namespace = randomNamespace()
  })

  afterEach(async () => {
    for (const child of children.splice(0)) {
      if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) continue
      const exited = once(child, 'exit')
      child.kill('SIGKILL')
      await exited
    }
    await Promise.all(caches.splice(0).map((cache) => cache.close()))
    errors.length = 0
  })

  afterAll(() => raw.disconnect())

  /** A cache of the test process, as the holder's; its failures go to `errors`. */
  function cache(): GroupCache {
    const made = new GroupCache({ redis: url, namespace, lease: LEASE, timeout: TIMEOUT })
    made.on('error', (error) => errors.push(error))
    made.on('refused', (refused) => errors.push(refused))
    caches.push(made)
    return made
  }

  /** A holder process (test/support/holder.ts), forked with tsx as check/run.ts forks its workers. */
  async function holder(): Promise<Holder> {
    const config: HolderConfig = { url, namespace, lease: LEASE, timeout: TIMEOUT }
    const child = fork(HOLDER, [JSON.stringify(config)], {
      cwd: ROOT,
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
    })
    children.push(child)
    let stderr = ''
    child.stderr?.on('data', (chunk) => {
      stderr += chunk
    })
    const made: Holder = {
      child,
      next: (type) =>
        new Promise((resolve, reject) => {
          const onMessage = (message: HolderMessage) => {
            if (message.type === 'failed') settle(() => reject(new Error(`the holder failed: ${message.error}`)))
            else if (message.type === type) settle(() => resolve(message as never))
          }
          const onExit = (code: number | null, signal: string | null) =>
            settle(() => reject(new Error(`the holder exited (${code ?? signal}) before '${type}'\n${stderr}`)))
          const onError = (error: Error) =>
            settle(() => reject(new Error(`the holder did not start: ${error.message}`)))
          const settle = (end: () => void) => {
            child.off('message', onMessage).off('exit', onExit).off('error', onError)
            end()
          }
          child.on('message', onMessage).on('exit', onExit).on('error', onError)
        }),
      wrap: (hang) => child.send({ type: 'wrap', hang } satisfies ParentMessage),
    }
    await made.next('ready')
    return made
  }

  /** Starts the holder's hanging fill and kills it inside; resolves with when its lease ends (Date.now()). */
  async function killInside(dead: Holder): Promise<number> {
    const inside = dead.next('inside')
    dead.wrap(true)
    await inside
    expect(await raw.exists(leaseKey()), 'the holder holds the lease').toBe(1)
    const asked = Date.now()
    const leaseEnds = asked + (await raw.pttl(leaseKey()))
    const exited = once(dead.child, 'exit')
    dead.child.kill('SIGKILL')
    await exited
    return leaseEnds
  }

  it('the survivors in another process wait for the lease to end, then call their function once', async () => {
    const dead = await holder()
    const survivor = cache()
    const leaseEnds = await killInside(dead)
    let calls = 0
    const survivors = Array.from({ length: 5 }, () =>
      survivor.wrap('k', { groups: ['g'] }, () => {
        calls++
        return 'filled by the survivor'
      }),
    )
    expect(await Promise.all(survivors)).toEqual(Array(5).fill('filled by the survivor'))
    expect(errors).toEqual([])
    expect(calls).toBe(1)
    // it waited out the dead holder's lease, not filling at once (a lower bound only)
    expect(Date.now()).toBeGreaterThanOrEqual(leaseEnds - 50)
    expect(await survivor.get('k')).toBe('filled by the survivor')
    expect(errors).toEqual([])
  })

  it('a survivor in another child process and one in this process: exactly one call across both', async () => {
    const [dead, second] = await Promise.all([holder(), holder()])
    const survivor = cache()
    const leaseEnds = await killInside(dead)
    // A waiter runs its function itself (unstored) a lease's length after it started waiting:
    // arriving a while into the dead holder's lease leaves whichever takes over time to store.
    await sleep(300)
    const done = second.next('done')
    second.wrap(false)
    let calls = 0
    const here = await survivor.wrap('k', { groups: ['g'] }, () => {
      calls++
      return 'filled by the test process'
    })
    const hereAt = Date.now()
    const there = await done
    expect(errors).toEqual([])
    expect(calls + (there.ran ? 1 : 0)).toBe(1)
    // both waited out the dead holder's lease (lower bounds only)
    expect(hereAt).toBeGreaterThanOrEqual(leaseEnds - 50)
    expect(there.at).toBeGreaterThanOrEqual(leaseEnds - 50)
    expect(there.value).toBe(here)
    expect(await survivor.get('k')).toBe(here)
    expect(errors).toEqual([])
  })
})
