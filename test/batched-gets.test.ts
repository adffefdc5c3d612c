import { expect, it, vi } from 'vitest'
import { type FailureMode, forEachBackend } from './support/backends.js'

/**
 * The gets of keys a process knows that it makes at once share one MGET (src/tick-batch.ts,
 * src/reads.ts): each must still answer, count and fail as it would alone. That they share it is
 * counted on the wire in test/wire.test.ts.
 */
forEachBackend('gets made at once', (backend) => {
  it('each answers as it would alone: live, stale, deleted, rewritten under other groups, asked twice, unknown', async () => {
    const reader = backend.cache()
    const writer = backend.cache()
    await reader.set('live', 'L', { groups: ['g1', 'all'] })
    await reader.set('stale', 'S', { groups: ['g2', 'all'] })
    await reader.set('deleted', 'D', { groups: ['g1'] })
    await reader.set('rewritten', 'R', { groups: ['g1'] })
    await writer.set('unknown', 'U', { groups: ['g3'] })
    await writer.expireGroup('g2')
    await writer.delete('deleted')
    await writer.set('rewritten', 'R2', { groups: ['g3'] })
    const before = reader.stats()

    const keys = ['live', 'stale', 'deleted', 'rewritten', 'live', 'unknown', 'never']
    expect(await Promise.all(keys.map((key) => reader.get(key)))).toEqual([
      'L',
      undefined,
      undefined,
      'R2',
      'L',
      'U',
      undefined,
    ])
    const after = reader.stats()
    expect([after.hits - before.hits, after.misses - before.misses]).toEqual([4, 3])
    // the stale entry was deleted on sight, as a get alone deletes it
    expect(await backend.raw.exists(backend.entryKey('stale'))).toBe(0)
    // and what each learned holds: the rewritten key is now read under g3
    await writer.expireGroup('g3')
    expect(await Promise.all(keys.map((key) => reader.get(key)))).toEqual([
      'L',
      undefined,
      undefined,
      undefined,
      'L',
      undefined,
      undefined,
    ])
  })

  it('wraps made at once: each a hit, or a miss that fills, as it would be alone', async () => {
    const reader = backend.cache()
    const writer = backend.cache()
    const keys = ['a', 'b', 'c', 'd']
    for (const key of keys) await reader.set(key, `old ${key}`, { groups: [`g${key}`, 'all'] })
    await writer.expireGroup('gb')
    await writer.set('c', 'new c', { groups: ['gc', 'all'] })
    const fn = vi.fn((key: string) => `filled ${key}`)
    const wraps = () => Promise.all(keys.map((key) => reader.wrap(key, { groups: [`g${key}`, 'all'] }, () => fn(key))))
    expect(await wraps()).toEqual(['old a', 'filled b', 'new c', 'old d'])
    expect(fn.mock.calls).toEqual([['b']])
    expect(await wraps()).toEqual(['old a', 'filled b', 'new c', 'old d'])
    expect(fn).toHaveBeenCalledTimes(1)
  })

  it('more at once than one MGET takes: every one answered', async () => {
    const reader = backend.cache()
    const keys = Array.from({ length: 250 }, (_, i) => `k${i}`)
    for (const [i, key] of keys.entries()) await reader.set(key, i, { groups: [`own${i}`, 'all'] })
    await reader.expireGroup('own7')
    const expected = keys.map((_, i) => (i === 7 ? undefined : i))
    expect(await Promise.all(keys.map((key) => reader.get(key)))).toEqual(expected)
  })

  it('close() right after them: they are sent before it closes, and answered', async () => {
    const reader = backend.cache()
    await reader.set('a', 'A', { groups: ['g'] })
    await reader.set('b', 'B', { groups: ['g'] })
    const pending = Promise.all([reader.get('a'), reader.get('b'), reader.get('a')])
    await reader.close()
    expect(await pending).toEqual(['A', 'B', 'A'])
  })

  const modes: FailureMode[] = ['drop', 'hang']
  it.each(modes)('%s: each fails open, with a report of its own', async (mode) => {
    const { cache, outage } = backend.failingCache({ timeout: 150 })
    const errors: unknown[] = []
    cache.on('error', (error) => errors.push(error))
    const keys = ['a', 'b', 'c', 'd', 'e']
    for (const key of keys) await cache.set(key, key, { groups: ['g'] })
    const before = cache.stats()
    outage.start(mode)
    expect(await Promise.all(keys.map((key) => cache.get(key)))).toEqual(keys.map(() => undefined))
    expect(outage.failed).toBeGreaterThan(0)
    expect(errors).toHaveLength(keys.length)
    const after = cache.stats()
    expect([after.misses - before.misses, after.errors - before.errors]).toEqual([keys.length, keys.length])
    outage.end()
    expect(await Promise.all(keys.map((key) => cache.get(key)))).toEqual(keys)
  })

  it.each(modes)('%s: wraps made at once each fail open and run their function', async (mode) => {
    const { cache, outage } = backend.failingCache({ timeout: 150 })
    const errors: unknown[] = []
    cache.on('error', (error) => errors.push(error))
    const keys = ['a', 'b', 'c', 'd', 'e']
    for (const key of keys) await cache.set(key, key, { groups: ['g'] })
    outage.start(mode)
    const fn = vi.fn((key: string) => `computed ${key}`)
    expect(await Promise.all(keys.map((key) => cache.wrap(key, { groups: ['g'] }, () => fn(key))))).toEqual(
      keys.map((key) => `computed ${key}`),
    )
    expect(fn).toHaveBeenCalledTimes(keys.length)
    expect(errors.length).toBeGreaterThanOrEqual(keys.length)
    outage.end()
  })
})
