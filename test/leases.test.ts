import { setTimeout as sleep } from 'node:timers/promises'
import { describe, expect, it } from 'vitest'
import { spreadScripts } from '../src/commands.js'
import { InvalidArgumentError } from '../src/index.js'
import { forEachBackend } from './support/backends.js'
import { gate, until } from './support/gate.js'

/**
 * One fill per key across the fleet. Two caches on one backend are two processes: each has its
 * own in-process sharing, so only the key's fill lease in Redis keeps the second from filling.
 */
forEachBackend('fill leases', (backend) => {
  const leaseKey = (key: string) => backend.keys.lease(key)

  describe('taken', () => {
    it('a read miss takes the lease; a second miss elsewhere is told another holds it', async () => {
      const first = backend.cache()
      const second = backend.cache()
      const miss = await first.read('k', { groups: ['g'] })
      if (miss.hit) throw new Error('expected a miss')
      expect(miss.leased).toBe(true)
      expect(await backend.raw.exists(leaseKey('k'))).toBe(1)
      const other = await second.read('k', { groups: ['g'] })
      if (other.hit) throw new Error('expected a miss')
      expect(other.leased).toBe(false)
      // the set with the holder's token releases it
      expect(await first.set('k', 'v', { token: miss.token })).toBe(true)
      expect(await backend.raw.exists(leaseKey('k'))).toBe(0)
    })

    it('release(token) gives the lease up; a token that does not hold it releases nothing', async () => {
      const first = backend.cache()
      const second = backend.cache()
      const miss = await first.read('k')
      const other = await second.read('k')
      if (miss.hit || other.hit) throw new Error('expected misses')
      await second.release(other.token)
      expect(await backend.raw.exists(leaseKey('k'))).toBe(1)
      await first.release(miss.token)
      expect(await backend.raw.exists(leaseKey('k'))).toBe(0)
      const again = await second.read('k')
      expect(again.hit === false && again.leased).toBe(true)
    })

    it('release of something that is not a token rejects with InvalidArgumentError, releasing nothing', async () => {
      const cache = backend.cache()
      const miss = await cache.read('k')
      if (miss.hit) throw new Error('expected a miss')
      for (const bad of [null, 'k', {}, { ...miss.token, key: 7 }, { ...miss.token, owner: 'x y' }]) {
        await expect(cache.release(bad as never)).rejects.toThrow(InvalidArgumentError)
      }
      expect(await backend.raw.exists(leaseKey('k'))).toBe(1)
    })

    it('a hit takes no lease', async () => {
      const cache = backend.cache()
      await cache.set('k', 'v', { groups: ['g'] })
      expect(await cache.wrap('k', { groups: ['g'] }, () => 'not called')).toBe('v')
      expect(await backend.raw.exists(leaseKey('k'))).toBe(0)
    })
  })

  describe('waited on', () => {
    it("a miss in another process waits for the holder's fill and returns its value, without calling its function", async () => {
      const holder = backend.cache()
      const waiter = backend.cache()
      // What either reports (a call timed out, a fill refused) would make a waiter fill: kept for
      // the failure's message. Both connect first: a cold client's first call may take longer
      // than the cache's timeout on a loaded machine, and a read that fails runs the function.
      const reported: string[] = []
      for (const cache of [holder, waiter]) {
        cache.on('error', (error) => reported.push(String(error)))
        cache.on('refused', ({ reason }) => reported.push(`refused: ${reason}`))
        await cache.get('warm')
      }
      const fill = gate<string>()
      let calls = 0
      const held = holder.wrap('k', { groups: ['g'] }, () => {
        calls++
        return fill.opened
      })
      await until(async () => (await backend.raw.exists(leaseKey('k'))) === 1)
      const waiters = Array.from({ length: 5 }, () =>
        waiter.wrap('k', { groups: ['g'] }, () => {
          calls++
          return 'the waiter filled'
        }),
      )
      await sleep(50)
      fill.open('the holder filled')
      expect(await held).toBe('the holder filled')
      expect(await Promise.all(waiters), reported.join('; ')).toEqual(Array(5).fill('the holder filled'))
      expect(calls).toBe(1)
      expect(reported).toEqual([])
    })

    if (backend.sharding === 'key')
      it("a miss whose claim reaches Redis after another's fill stored takes that value, without calling its function", async () => {
        // Under sharding 'key' a read looks at the entry, then claims the key: a fill may store in
        // between. The claim reads the entry again, and the stamps its versions.
        const holder = backend.cache()
        const { cache: waiter, outage } = backend.failingCache()
        await holder.get('warm')
        await waiter.get('warm')
        const fill = gate<string>()
        const held = holder.wrap('k', { groups: ['g'] }, () => fill.opened)
        await until(async () => (await backend.raw.exists(leaseKey('k'))) === 1)
        outage.start('slow', (command, args) => command === 'evalsha' && args[0] === spreadScripts.claim.sha)
        let calls = 0
        const waiting = waiter.wrap('k', { groups: ['g'] }, () => {
          calls++
          return 'the waiter filled'
        })
        await sleep(50) // its look missed; its claim is on its way, 300 ms late
        fill.open('the holder filled')
        expect(await held).toBe('the holder filled')
        expect(await waiting).toBe('the holder filled')
        outage.end()
        expect(outage.failed).toBe(1)
        expect(calls).toBe(0)
        expect(await backend.raw.exists(leaseKey('k'))).toBe(0)
      })

    it('a fill refused by its token (a group expired meanwhile) wakes the waiters, who fill anew', async () => {
      const holder = backend.cache()
      const waiter = backend.cache()
      const fill = gate<string>()
      const held = holder.wrap('k', { groups: ['g'] }, () => fill.opened)
      await until(async () => (await backend.raw.exists(leaseKey('k'))) === 1)
      const waiting = waiter.wrap('k', { groups: ['g'] }, () => 'computed after the expire')
      await sleep(20)
      await holder.expireGroup('g')
      fill.open('computed before the expire')
      expect(await held).toBe('computed before the expire')
      expect(await waiting).toBe('computed after the expire')
      expect(await waiter.get('k')).toBe('computed after the expire')
    })
  })

  describe('released on throw', () => {
    it("the holder's function throws: it rejects, the lease is released, and a waiter fills at once", async () => {
      // a lease far longer than the test's timeout: only the release lets the waiter go on
      const holder = backend.cache({ lease: 60_000 })
      const waiter = backend.cache({ lease: 60_000 })
      const fill = gate()
      const held = holder.wrap('k', async () => {
        await fill.opened
        throw new Error('the database is down')
      })
      await until(async () => (await backend.raw.exists(leaseKey('k'))) === 1)
      const waiting = waiter.wrap('k', () => 'the waiter filled')
      await sleep(20)
      fill.open()
      await expect(held).rejects.toThrow('the database is down')
      expect(await waiting).toBe('the waiter filled')
      expect(await holder.get('k')).toBe('the waiter filled')
    })

    it('a function that returns undefined releases the lease (nothing is stored)', async () => {
      const holder = backend.cache({ lease: 60_000 })
      const waiter = backend.cache({ lease: 60_000 })
      const fill = gate()
      const held = holder.wrap('k', async () => {
        await fill.opened
        return undefined
      })
      await until(async () => (await backend.raw.exists(leaseKey('k'))) === 1)
      const waiting = waiter.wrap('k', () => 'the waiter filled')
      fill.open()
      expect(await held).toBeUndefined()
      expect(await waiting).toBe('the waiter filled')
    })
  })

  describe('expired', () => {
    it('a holder that never fills (dead, hung): its lease ends and a waiter takes over, without rejecting', async () => {
      const lease = 300
      const dead = backend.cache({ lease })
      const waiter = backend.cache({ lease })
      const miss = await dead.read('k', { groups: ['g'] })
      expect(miss.hit === false && miss.leased).toBe(true)
      const started = performance.now()
      let calls = 0
      const value = await waiter.wrap('k', { groups: ['g'] }, () => {
        calls++
        return 'the waiter filled'
      })
      expect(value).toBe('the waiter filled')
      expect(calls).toBe(1)
      // it waited for the lease, not filling at once (a lower bound: the lease's own length)
      expect(performance.now() - started).toBeGreaterThanOrEqual(lease - 50)
      expect(await waiter.get('k')).toBe('the waiter filled')
    })

    it('a waiter whose lease is never free runs the function itself after two leases, unstored', async () => {
      const lease = 200
      const waiter = backend.cache({ lease })
      // another holder, and another, keep the lease held without a break
      await backend.raw.set(leaseKey('k'), 'someone', 'PX', 1000)
      const renew = setInterval(() => void backend.raw.set(leaseKey('k'), 'someone', 'PX', 1000), 50)
      try {
        const started = performance.now()
        expect(await waiter.wrap('k', () => 'ran anyway')).toBe('ran anyway')
        expect(performance.now() - started).toBeGreaterThanOrEqual(2 * lease - 50)
        expect(await waiter.get('k')).toBeUndefined()
      } finally {
        clearInterval(renew)
      }
    })
  })

  describe('in one process', () => {
    it('callers that miss the same key share one call, as before', async () => {
      const cache = backend.cache()
      let calls = 0
      const fill = gate<string>()
      const callers = Array.from({ length: 10 }, () =>
        cache.wrap('k', () => {
          calls++
          return fill.opened
        }),
      )
      await sleep(20)
      fill.open('v')
      expect(await Promise.all(callers)).toEqual(Array(10).fill('v'))
      expect(calls).toBe(1)
    })
  })
})
