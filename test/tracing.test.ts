import { AsyncLocalStorage } from 'node:async_hooks'
import { tracingChannel } from 'node:diagnostics_channel'
import { afterEach, expect, it, vi } from 'vitest'
import {
  GroupCacheError,
  InvalidArgumentError,
  OPERATIONS,
  type OperationContext,
  type ReadContext,
  type SetContext,
} from '../src/index.js'
import { channels } from '../src/tracing.js'
import { forEachBackend } from './support/backends.js'
import { until } from './support/gate.js'

type Event = 'start' | 'end' | 'asyncStart' | 'asyncEnd' | 'error'

/** A subscriber on every operation's channel, by name as any subscriber finds them: what it saw, in order. */
function subscribe(namespace: string) {
  const seen: { event: Event; operation: string; context: OperationContext }[] = []
  const unsubscribes = OPERATIONS.map((operation) => {
    const channel = tracingChannel<object, OperationContext>(`redis-group-cache:${operation}`)
    const record = (event: Event) => (context: OperationContext) => {
      if (context.namespace === namespace) seen.push({ event, operation, context })
    }
    const handlers = {
      start: record('start'),
      end: record('end'),
      asyncStart: record('asyncStart'),
      asyncEnd: record('asyncEnd'),
      error: record('error'),
    }
    channel.subscribe(handlers)
    return () => channel.unsubscribe(handlers)
  })
  const done = (event: Event = 'asyncEnd') => seen.filter((e) => e.event === event)
  return {
    seen,
    /** The contexts of the calls that settled, in the order they settled. */
    settled: () => done().map((e) => e.context),
    errors: () => done('error').map((e) => e.context),
    stop: () => {
      for (const unsubscribe of unsubscribes) unsubscribe()
    },
  }
}

let stops: (() => void)[] = []
afterEach(() => {
  for (const stop of stops) stop()
  stops = []
})
function subscriber(namespace: string) {
  const subscription = subscribe(namespace)
  stops.push(subscription.stop)
  return subscription
}

const COUNTED = ['hits', 'misses', 'staleHits', 'nearHits', 'fills', 'leaseWaits'] as const

/** The counts of the read contexts summed: what `stats()` counted, by the rules of both. */
function summed(contexts: OperationContext[]) {
  const sum = Object.fromEntries(COUNTED.map((field) => [field, 0])) as Record<(typeof COUNTED)[number], number>
  for (const context of contexts)
    if ('hits' in context) for (const field of COUNTED) sum[field] += (context as ReadContext)[field]
  return sum
}

/** The `redis-group-cache:<operation>` tracing channels (node:diagnostics_channel). */
forEachBackend('tracing', (backend) => {
  it('a subscriber sees each operation once, start to end, with its arguments and its outcome', async () => {
    const cache = backend.cache()
    cache.on('refused', () => {})
    const trace = subscriber(cache.namespace)
    await cache.get('a') // miss
    await cache.set('a', 1, { groups: ['g'] })
    await cache.get('a') // hit
    await cache.has('a') // a get: hit
    await cache.getMany(['a', 'b', 'c']) // hit, miss, miss
    await cache.wrap('b', { groups: ['g'] }, () => 'B') // miss, a fill, its set
    await cache.setMany([{ key: 'x', value: 1 }])
    const miss = await cache.read('c', { groups: ['g'] }) // miss
    if (miss.hit) throw new Error('expected a miss')
    await cache.expireGroup('g')
    expect(await cache.set('c', 'C', { token: miss.token })).toBe(false) // refused
    const again = await cache.read('c', { groups: ['g'] })
    if (again.hit) throw new Error('expected a miss')
    await cache.release(again.token)
    await cache.expireGroups(['g', 'h'], { hard: true })
    await cache.delete('b')
    await cache.deleteMany(['a', 'x'])
    await cache.clear()

    const settled = trace.settled()
    expect(settled.map((context) => context.operation)).toEqual([
      'get',
      'set',
      'get',
      'get',
      'getMany',
      'fill', // the function, inside the wrap
      'set', // its store, inside the wrap
      'wrap',
      'setMany',
      'read',
      'expireGroup',
      'set',
      'read',
      'release',
      'expireGroups',
      'delete',
      'deleteMany',
      'clear',
    ])
    // every call published start, end, asyncStart and asyncEnd, in that order, with one context; no error
    expect(trace.errors()).toEqual([])
    for (const context of settled) {
      expect(trace.seen.filter((e) => e.context === context).map((e) => e.event)).toEqual([
        'start',
        'end',
        'asyncStart',
        'asyncEnd',
      ])
      expect(context.namespace).toBe(cache.namespace)
    }
    const [get, set, hit, has, getMany, fill, fillSet, wrap, setMany, read, expire, refused] = settled as [
      ReadContext,
      SetContext,
      ReadContext,
      ReadContext,
      ReadContext,
      OperationContext,
      SetContext,
      ReadContext,
      OperationContext,
      ReadContext,
      OperationContext,
      SetContext,
    ]
    expect(get).toMatchObject({ key: 'a', hits: 0, misses: 1, result: undefined })
    expect(set).toMatchObject({ key: 'a', groups: ['g'], result: true, status: 'stored' })
    expect(hit).toMatchObject({ key: 'a', hits: 1, misses: 0, result: 1 })
    expect(has).toMatchObject({ key: 'a', hits: 1 })
    expect(getMany).toMatchObject({ keys: ['a', 'b', 'c'], hits: 1, misses: 2, result: [1, undefined, undefined] })
    expect(fill).toMatchObject({ key: 'b', groups: ['g'], result: 'B' })
    expect(fillSet).toMatchObject({ key: 'b', groups: ['g'], result: true, status: 'stored' })
    expect(wrap).toMatchObject({ key: 'b', groups: ['g'], hits: 0, misses: 1, fills: 1, leaseWaits: 0, result: 'B' })
    expect(setMany).toMatchObject({ keys: ['x'], result: undefined })
    expect(read).toMatchObject({ key: 'c', groups: ['g'], misses: 1 })
    expect(read.result).toMatchObject({ hit: false, leased: true })
    expect(expire).toMatchObject({ groups: ['g'] })
    expect(refused).toMatchObject({ key: 'c', groups: ['g'], result: false, status: 'group-expired' })
    expect(settled.find((c) => c.operation === 'release')).toMatchObject({ key: 'c' })
    expect(settled.find((c) => c.operation === 'expireGroups')).toMatchObject({ groups: ['g', 'h'] })
    expect(settled.find((c) => c.operation === 'deleteMany')).toMatchObject({ keys: ['a', 'x'], result: 1 })
    expect(settled.find((c) => c.operation === 'clear')?.result).toBeGreaterThan(0)
    // the read contexts summed are what stats() counted
    const stats = cache.stats()
    expect(summed(settled)).toEqual(Object.fromEntries(COUNTED.map((field) => [field, stats[field]])))
  })

  it('a call that rejects publishes error with the error; nothing reaches Redis', async () => {
    const cache = backend.cache()
    const trace = subscriber(cache.namespace)
    await expect(cache.get('')).rejects.toThrow(InvalidArgumentError)
    await expect(cache.set('k', undefined as never)).rejects.toThrow(InvalidArgumentError)
    await expect(cache.wrap('k', { groups: [7 as never] }, () => 1)).rejects.toThrow(InvalidArgumentError)
    await expect(cache.expireGroups('g' as never)).rejects.toThrow(InvalidArgumentError)
    await expect(
      cache.wrap('k', () => {
        throw new Error('the database is down')
      }),
    ).rejects.toThrow('the database is down')
    const errors = trace.errors()
    expect(errors.map((context) => context.operation)).toEqual(['get', 'set', 'wrap', 'expireGroups', 'fill', 'wrap'])
    expect(errors.slice(0, 4).every((context) => context.error instanceof InvalidArgumentError)).toBe(true)
    expect(String(errors[5]?.error)).toContain('the database is down')
    expect(trace.settled()).toHaveLength(6) // each one ended all the same
    expect(await backend.raw.exists(backend.entryKey('k'))).toBe(0)
  })

  it('a read that fails open resolves, with the failure it absorbed in its context', async () => {
    const { cache, outage } = backend.failingCache()
    cache.on('error', () => {})
    await cache.get('warm')
    const trace = subscriber(cache.namespace)
    outage.start('drop')
    expect(await cache.get('k')).toBeUndefined()
    expect(await cache.getMany(['k', 'l'])).toEqual([undefined, undefined])
    expect(await cache.wrap('k', () => 'computed')).toBe('computed')
    outage.end()
    const reads = trace.settled().filter((context) => context.operation !== 'fill') as ReadContext[]
    expect(
      reads.map((context) => [context.operation, context.misses, context.failure instanceof GroupCacheError]),
    ).toEqual([
      ['get', 1, true],
      ['getMany', 2, true],
      ['wrap', 1, true],
    ])
    expect(reads.map((context) => context.error)).toEqual([undefined, undefined, undefined])
  })

  it("a fill's function runs in its wrap's async context: a store bound to start reaches it", async () => {
    const cache = backend.cache()
    const spans = new AsyncLocalStorage<OperationContext>()
    const wrapChannel = tracingChannel<OperationContext, OperationContext>('redis-group-cache:wrap')
    const fillChannel = tracingChannel<OperationContext, OperationContext>('redis-group-cache:fill')
    wrapChannel.start.bindStore(spans, (context) => context)
    const parents: (string | undefined)[] = []
    const onFill = (context: OperationContext) => parents.push(spans.getStore()?.operation ?? `none for ${context.key}`)
    fillChannel.start.subscribe(onFill as (message: unknown) => void)
    try {
      let inside: OperationContext | undefined
      await cache.wrap('k', async () => {
        await new Promise((resolve) => setTimeout(resolve, 5))
        inside = spans.getStore()
        return 1
      })
      expect(inside).toMatchObject({ operation: 'wrap', key: 'k', namespace: cache.namespace })
      expect(parents).toEqual(['wrap'])
    } finally {
      wrapChannel.start.unbindStore(spans)
      fillChannel.start.unsubscribe(onFill as (message: unknown) => void)
    }
  })

  if (backend.name === 'redis' && backend.kind !== 'acl')
    it('a near-cache hit is counted in its context as a hit and a near hit', async () => {
      const cache = backend.cache({ nearCache: { maxEntries: 10 } })
      await until(() => cache.nearCacheStats()?.inSync === true)
      await cache.set('k', 'v', { groups: ['g'] })
      await cache.get('k')
      await until(() => cache.nearCacheStats()?.held === 1)
      const trace = subscriber(cache.namespace)
      expect(await cache.get('k')).toBe('v')
      expect(await cache.wrap('k', { groups: ['g'] }, () => 'w')).toBe('v')
      expect(trace.settled()).toMatchObject([
        { operation: 'get', hits: 1, nearHits: 1 },
        { operation: 'wrap', hits: 1, nearHits: 1, fills: 0 },
      ])
    })

  it('without a subscriber nothing is traced: no channel call, no context', async () => {
    const cache = backend.cache()
    const traces = OPERATIONS.map((operation) => vi.spyOn(channels[operation], 'tracePromise'))
    try {
      expect(OPERATIONS.some((operation) => channels[operation].hasSubscribers)).toBe(false)
      await cache.set('k', 1, { groups: ['g'] })
      await cache.get('k')
      await cache.getMany(['k', 'l'])
      await cache.wrap('l', () => 2)
      await cache.expireGroup('g')
      await cache.delete('k')
      for (const spy of traces) expect(spy).not.toHaveBeenCalled()
      // and with one, they are
      const trace = subscriber(cache.namespace)
      await cache.get('k')
      expect(channels.get.tracePromise).toHaveBeenCalledTimes(1)
      expect(trace.settled()).toHaveLength(1)
    } finally {
      for (const spy of traces) spy.mockRestore()
    }
  })
})
