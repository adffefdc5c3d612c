import { performance } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import { Redis } from 'ioredis'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { allScripts } from '../src/commands.js'
import {
  ClosedError,
  type ErrorCode,
  GroupCache,
  GroupCacheError,
  type GroupCacheOptions,
  RedisError,
  TimeoutError,
} from '../src/index.js'
import { entryKey, randomNamespace } from './support/backends.js'
import { type RedisServer, startRedisServer } from './support/redis-server.js'

/**
 * Fail-open reads and fail-loud invalidations (DESIGN.md, guarantee 6) against redis-server
 * processes each test starts, kills, pauses or flushes itself: no test touches a server it did
 * not start. Every bound is relative to the cache's `timeout`.
 */

const TIMEOUT = 300
/**
 * Slack on top of `timeout` for a call to give up: a late timer, a loaded machine. The slowest
 * call here settles about 2 ms after `timeout` on an idle machine and 33 ms after it with four
 * busy loops on two cores; a call that waited a second `timeout` would not fit.
 */
const MARGIN = 100
/** How long a cache may take to work again once its server is back. */
const RECOVERY = 10_000

// Cleanup runs in this order whatever happened: a paused server is resumed (so that quitting a
// connection to it cannot hang), then caches are closed, then clients, then servers stopped.
const paused = new Set<RedisServer>()
const servers: RedisServer[] = []
const caches: GroupCache[] = []
const clients: Redis[] = []

afterEach(async () => {
  vi.restoreAllMocks()
  for (const server of paused) server.resume()
  paused.clear()
  // Bounded: a cache whose server is still down could wait on its offline queue.
  await Promise.all(caches.splice(0).map((cache) => Promise.race([cache.close(), sleep(2000)])))
  for (const client of clients.splice(0)) client.disconnect()
  await Promise.all(servers.splice(0).map((server) => server.stop()))
})

async function ownServer(): Promise<RedisServer> {
  const server = await startRedisServer()
  servers.push(server)
  return server
}

function pause(server: RedisServer): void {
  paused.add(server)
  server.pause()
}

function resume(server: RedisServer): void {
  paused.delete(server)
  server.resume()
}

function newCache(options: GroupCacheOptions): GroupCache {
  const cache = new GroupCache(options)
  caches.push(cache)
  return cache
}

/** A client of the test's own, with an error listener (so ioredis prints nothing) and cleanup. */
function newClient(url: string): Redis {
  const client = new Redis(url)
  client.on('error', () => {})
  clients.push(client)
  return client
}

/** Every error a cache reports through its `error` event. */
function collectErrors(cache: GroupCache): unknown[] {
  const errors: unknown[] = []
  cache.on('error', (error) => errors.push(error))
  return errors
}

async function timed<T>(run: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const start = performance.now()
  const value = await run()
  return { value, ms: performance.now() - start }
}

/** `run` must reject with a GroupCacheError of one of `codes`, within timeout + margin. */
async function expectFailure(what: string, run: () => Promise<unknown>, codes: readonly ErrorCode[]): Promise<void> {
  const start = performance.now()
  let outcome: { resolved: unknown } | { error: unknown }
  try {
    outcome = { resolved: await run() }
  } catch (error) {
    outcome = { error }
  }
  const ms = performance.now() - start
  expect(outcome, `${what} must reject`).not.toHaveProperty('resolved')
  const error = (outcome as { error: unknown }).error
  expect(error, what).toBeInstanceOf(GroupCacheError)
  expect(codes, `${what}: ${(error as Error).message}`).toContain((error as GroupCacheError).code)
  const typed = (error as GroupCacheError).code === 'E_TIMEOUT' ? TimeoutError : RedisError
  expect(error, what).toBeInstanceOf(typed)
  expect(ms, `${what} took ${ms} ms`).toBeLessThan(TIMEOUT + MARGIN)
}

/** Polls until a set followed by a get of the same value succeeds, within RECOVERY ms. */
async function untilWorking(cache: GroupCache): Promise<void> {
  const deadline = Date.now() + RECOVERY
  let last: unknown = 'no attempt'
  for (let attempt = 0; Date.now() < deadline; attempt++) {
    const probe = `probe ${attempt}`
    try {
      if ((await cache.set('probe', probe)) && (await cache.get('probe')) === probe) return
      last = 'the set+get round trip missed'
    } catch (error) {
      last = error
    }
    await sleep(50)
  }
  throw new Error(`the cache did not work again within ${RECOVERY} ms: ${String(last)}`)
}

async function until(what: string, check: () => Promise<boolean> | boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`)
    await sleep(25)
  }
}

const ANY_FAILURE: readonly ErrorCode[] = ['E_TIMEOUT', 'E_REDIS']

describe('Redis killed (SIGKILL), then restarted', () => {
  it('a URL cache: reads fail open, writes and invalidations reject, and the same cache recovers', async () => {
    const server = await ownServer()
    const cache = newCache({ redis: server.url, namespace: randomNamespace(), timeout: TIMEOUT })
    const errors = collectErrors(cache)
    await cache.set('a', 'A', { groups: ['g'] })
    await cache.set('b', 'B')
    expect(await cache.getMany(['a', 'b'])).toEqual(['A', 'B'])
    expect(errors).toEqual([])

    await server.kill()

    const get = await timed(() => cache.get('a'))
    expect(get.value).toBeUndefined()
    expect(get.ms).toBeLessThan(TIMEOUT + MARGIN)

    const getMany = await timed(() => cache.getMany(['a', 'b', 'c']))
    expect(getMany.value).toEqual([undefined, undefined, undefined])
    expect(getMany.ms).toBeLessThan(TIMEOUT + MARGIN)

    const fn = vi.fn(() => 'computed')
    const wrap = await timed(() => cache.wrap('a', { groups: ['g'] }, fn))
    expect(wrap.value).toBe('computed')
    expect(fn).toHaveBeenCalledTimes(1)
    expect(wrap.ms).toBeLessThan(TIMEOUT + MARGIN)

    // Callers whose reads fail together share one call of the function, as callers that miss do.
    const once = vi.fn(async () => {
      await sleep(200)
      return 'once'
    })
    const wraps = await Promise.all(Array.from({ length: 10 }, () => cache.wrap('a', { groups: ['g'] }, once)))
    expect(wraps).toEqual(Array.from({ length: 10 }, () => 'once'))
    expect(once).toHaveBeenCalledTimes(1)

    await expectFailure('expireGroup', () => cache.expireGroup('g'), ANY_FAILURE)
    await expectFailure('expireGroups', () => cache.expireGroups(['g', 'h']), ANY_FAILURE)
    await expectFailure('delete', () => cache.delete('a'), ANY_FAILURE)
    await expectFailure('set', () => cache.set('c', 'C'), ANY_FAILURE)

    expect(errors.length).toBeGreaterThan(0)
    for (const error of errors) expect(error).toBeInstanceOf(GroupCacheError)

    await server.restart()
    await untilWorking(cache)
    expect(await cache.set('after', 'restart', { groups: ['g'] })).toBe(true)
    expect(await cache.get('after')).toBe('restart')
    expect(await cache.getMany(['after', 'a'])).toEqual(['restart', undefined])
    await cache.expireGroup('g')
    expect(await cache.get('after')).toBeUndefined()
  })

  it("a caller's ioredis client with default options: get still fails open on the cache's own timer", async () => {
    const server = await ownServer()
    // Defaults: an offline queue and 20 retries per command, so without the cache's timer a
    // get would wait through many reconnection attempts.
    const client = newClient(server.url)
    const cache = newCache({ redis: client, namespace: randomNamespace(), timeout: TIMEOUT })
    const errors = collectErrors(cache)
    await cache.set('k', 'v')
    expect(await cache.get('k')).toBe('v')

    await server.kill()

    const get = await timed(() => cache.get('k'))
    expect(get.value).toBeUndefined()
    expect(get.ms).toBeLessThan(TIMEOUT + MARGIN)
    const fn = vi.fn(async () => 'computed')
    const wrap = await timed(() => cache.wrap('k', {}, fn))
    expect(wrap.value).toBe('computed')
    expect(fn).toHaveBeenCalledTimes(1)
    expect(wrap.ms).toBeLessThan(TIMEOUT + MARGIN)
    expect(errors.length).toBeGreaterThan(0)
    for (const error of errors) expect(error).toBeInstanceOf(GroupCacheError)

    await server.restart()
    await untilWorking(cache)
    expect(await cache.set('after', 'restart')).toBe(true)
    expect(await cache.get('after')).toBe('restart')
    expect(client.status).toBe('ready')
  })
})

describe('Redis paused (SIGSTOP), then resumed', () => {
  it('reads fail open, expireGroup times out, and no expired value comes back after SIGCONT', async () => {
    const server = await ownServer()
    const cache = newCache({ redis: server.url, namespace: randomNamespace(), timeout: TIMEOUT })
    const errors = collectErrors(cache)
    await cache.set('old', 'v1', { groups: ['g'] })
    await cache.set('live', 'v2', { groups: ['h'] })
    await cache.expireGroup('g')
    expect(await cache.getMany(['old', 'live'])).toEqual([undefined, 'v2'])

    pause(server)

    const get = await timed(() => cache.get('live'))
    expect(get.value).toBeUndefined()
    expect(get.ms).toBeLessThan(TIMEOUT + MARGIN)

    const fn = vi.fn(() => 'computed during the pause')
    const wrap = await timed(() => cache.wrap('old', { groups: ['g'] }, fn))
    expect(wrap.value).toBe('computed during the pause')
    expect(fn).toHaveBeenCalledTimes(1)
    expect(wrap.ms).toBeLessThan(TIMEOUT + MARGIN)

    await expectFailure('expireGroup', () => cache.expireGroup('h'), ['E_TIMEOUT'])
    expect(errors.length).toBeGreaterThan(0)
    for (const error of errors) expect(error).toBeInstanceOf(TimeoutError)

    resume(server)
    await untilWorking(cache)
    // Neither the value expired before the pause nor the fill computed during it (which the
    // cache could not store under a token) is served.
    expect(await cache.get('old')).toBeUndefined()
    expect((await cache.read('old', { groups: ['g'] })).hit).toBe(false)
    expect(await cache.set('new', 'v3', { groups: ['g'] })).toBe(true)
    expect(await cache.get('new')).toBe('v3')
    await cache.expireGroup('g')
    expect(await cache.getMany(['old', 'new'])).toEqual([undefined, undefined])
  })
})

describe('SCRIPT FLUSH', () => {
  it('every operation falls back from EVALSHA to EVAL and works', async () => {
    const server = await ownServer()
    const raw = newClient(server.url)
    // No hints: every read runs its script (a hinted read is a plain MGET, no script to lose).
    const cache = newCache({ redis: server.url, namespace: randomNamespace(), timeout: 5000, hints: 0 })
    const errors = collectErrors(cache)
    const shas = new Map(allScripts.map((script) => [script.name, script.sha]))

    /** Flushes every script, runs `op`, and checks `op` loaded its script again (by EVAL). */
    async function afterFlush<T>(script: string, op: () => Promise<T>): Promise<T> {
      const sha = shas.get(script)
      if (sha === undefined) throw new Error(`no script ${script}`)
      expect(await raw.script('FLUSH')).toBe('OK')
      expect(await raw.script('EXISTS', ...shas.values())).toEqual([...shas.values()].map(() => 0))
      const result = await op()
      expect(await raw.script('EXISTS', sha), `${script} was loaded again`).toEqual([1])
      return result
    }

    await cache.set('k', 'v', { groups: ['g'] })
    expect(await afterFlush('get', () => cache.get('k'))).toBe('v')
    expect(await afterFlush('get', () => cache.getMany(['k', 'nothing']))).toEqual(['v', undefined])
    expect(await afterFlush('set', () => cache.set('k2', 'v2', { groups: ['g2'] }))).toBe(true)
    expect(await afterFlush('read', () => cache.read('k2', { groups: ['g2'] }))).toEqual({ hit: true, value: 'v2' })
    const miss = await afterFlush('read', () => cache.read('filled', { groups: ['g'] }))
    if (miss.hit) throw new Error('expected a miss')
    expect(await afterFlush('set', () => cache.set('filled', 'f', { token: miss.token }))).toBe(true)
    expect(await afterFlush('expire-groups', () => cache.expireGroup('g'))).toBeUndefined()
    expect(await cache.getMany(['k', 'filled', 'k2'])).toEqual([undefined, undefined, 'v2'])
    expect(await afterFlush('delete', () => cache.delete('k2'))).toBe(true)
    expect(await cache.get('k2')).toBeUndefined()
    expect(await afterFlush('read', () => cache.wrap('w', { groups: ['g'] }, () => 'wrapped'))).toBe('wrapped')
    expect(await cache.get('w')).toBe('wrapped')
    expect(errors).toEqual([])
  })
})

describe('no unhandled errors', () => {
  it('an outage is one connection error, however many reconnections fail, and calls say Redis is unreachable', async () => {
    const server = await ownServer()
    const cache = newCache({ redis: server.url, namespace: randomNamespace(), timeout: TIMEOUT })
    const errors = collectErrors(cache)
    await cache.set('k', 'v')
    await server.kill()
    // ioredis reconnects after 50, 100, 150... ms: several attempts fail in 1.5 s
    await sleep(1500)
    const read = await cache.read('k').then(
      () => new Error('read resolved'),
      (failure: unknown) => failure,
    )
    expect(read).toBeInstanceOf(GroupCacheError)
    expect(String((read as Error).message)).not.toMatch(/maxRetriesPerRequest|max retries/i)
    if ((read as GroupCacheError).code === 'E_REDIS') expect((read as Error).message).toMatch(/Redis is unreachable/)
    const connection = errors.filter((error) => (error as Error).message.startsWith('connection:'))
    expect(connection).toHaveLength(1)
    await server.restart()
    await untilWorking(cache)
    // ready again: the next outage reports again
    await server.kill()
    await until(
      'the second outage is reported',
      () => errors.filter((error) => (error as Error).message.startsWith('connection:')).length === 2,
    )
    await server.restart()
    await untilWorking(cache)
  })

  it('a connection the cache created never prints "Unhandled error event"; with no listener, one warning', async () => {
    const server = await ownServer()
    const consoleError = vi.spyOn(console, 'error').mockImplementation(() => {})
    const emitWarning = vi.spyOn(process, 'emitWarning').mockImplementation(() => {})
    const unhandled = () =>
      consoleError.mock.calls.filter((args) => args.some((arg) => String(arg).includes('Unhandled error event')))

    // Control: the spy does see ioredis's message for a client with no error listener.
    const bare = new Redis(server.url, { maxRetriesPerRequest: 1 })
    clients.push(bare)
    expect(await bare.ping()).toBe('PONG')
    await server.kill()
    await until('a bare client prints "Unhandled error event"', () => unhandled().length > 0)
    bare.disconnect()
    await server.restart()
    consoleError.mockClear()

    // No 'error' listener on the cache at all.
    const cache = newCache({ redis: server.url, namespace: randomNamespace(), timeout: TIMEOUT })
    expect(cache.listenerCount('error')).toBe(0)
    await cache.set('k', 'v')
    expect(await cache.get('k')).toBe('v')

    await server.kill()
    const get = await timed(() => cache.get('k'))
    expect(get.value).toBeUndefined()
    expect(get.ms).toBeLessThan(TIMEOUT + MARGIN)
    expect(await cache.wrap('k', {}, () => 'computed')).toBe('computed')
    // Several reconnection attempts fail meanwhile (ioredis retries after 50, 100, 150... ms).
    await sleep(1000)
    await server.restart()
    await untilWorking(cache)

    expect(unhandled()).toEqual([])
    const warnings = emitWarning.mock.calls.filter(([, options]) => {
      return typeof options === 'object' && options !== null && options.type === 'GroupCacheWarning'
    })
    expect(warnings).toHaveLength(1)
    const [message, options] = warnings[0] as [string, { code?: string }]
    expect(String(message)).toMatch(/'error' event/)
    expect(ANY_FAILURE).toContain(options.code)
  })
})

describe('close()', () => {
  it('on a URL cache quits its connection, and later calls reject with ClosedError', async () => {
    const server = await ownServer()
    const raw = newClient(server.url)
    const ownId = String(await raw.client('ID'))
    const others = async () =>
      String(await raw.client('LIST'))
        .split('\n')
        .filter((line) => line.startsWith('id=') && !line.startsWith(`id=${ownId} `))

    const cache = newCache({ redis: server.url, namespace: randomNamespace(), timeout: TIMEOUT })
    const errors = collectErrors(cache)
    await cache.set('k', 'v')
    expect(await others()).toHaveLength(1)

    await cache.close()
    await until('the server no longer lists the cache connection', async () => (await others()).length === 0, 2000)

    const fn = vi.fn(() => 'computed')
    const calls: [string, () => Promise<unknown>][] = [
      ['get', () => cache.get('k')],
      ['getMany', () => cache.getMany(['k'])],
      ['set', () => cache.set('k', 'v')],
      ['delete', () => cache.delete('k')],
      ['expireGroup', () => cache.expireGroup('g')],
      ['expireGroups', () => cache.expireGroups(['g'])],
      ['read', () => cache.read('k')],
      ['wrap', () => cache.wrap('k', {}, fn)],
    ]
    for (const [what, call] of calls) {
      const error = await call().then(
        () => new Error(`${what} resolved`),
        (failure: unknown) => failure,
      )
      expect(error, what).toBeInstanceOf(ClosedError)
      expect((error as ClosedError).code, what).toBe('E_CLOSED')
      expect((error as ClosedError).message, what).toBe(`${what}: the cache is closed`)
    }
    expect(fn).not.toHaveBeenCalled()
    await cache.close()
    expect(errors).toEqual([])
  })

  it('on a paused server resolves within timeout and drops the connection', async () => {
    const server = await ownServer()
    const cache = newCache({ redis: server.url, namespace: randomNamespace(), timeout: TIMEOUT })
    await cache.set('k', 'v')
    pause(server)
    const started = performance.now()
    await cache.close()
    expect(performance.now() - started).toBeLessThan(TIMEOUT + MARGIN)
    resume(server)
    await expect(cache.get('k')).rejects.toBeInstanceOf(ClosedError)
  })

  it("on a cache built from a caller's client leaves that client connected", async () => {
    const server = await ownServer()
    const client = newClient(server.url)
    const cache = newCache({ redis: client, namespace: randomNamespace(), timeout: TIMEOUT })
    await cache.set('k', 'v')
    expect(await cache.get('k')).toBe('v')

    await cache.close()
    await expect(cache.get('k')).rejects.toBeInstanceOf(ClosedError)
    expect(client.status).toBe('ready')
    expect(await client.ping()).toBe('PONG')
    expect(await client.exists(entryKey(cache.namespace, 'k'))).toBe(1)
  })
})
