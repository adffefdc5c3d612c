import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { GroupCache, type GroupCacheError, RedisError } from '../src/index.js'
import { aclRules, readmeAcl } from './support/acl.js'
import { type RedisServer, startRedisServer } from './support/redis-server.js'

/**
 * The README's ACL line, run as written (only the password replaced) on a server of this test's
 * own, is enough for every behaviour of a cache in its namespace and no more. (The behaviour
 * suite's [acl] backend, test/support/backends.ts, runs every behaviour test as such a user.)
 */

async function until(what: string, check: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`)
    await sleep(50)
  }
}

describe('the README ACL [redis, own server]', () => {
  const password = randomBytes(12).toString('hex')
  const acl = readmeAcl()
  let server: RedisServer
  let dir: string
  let admin: Redis
  let userUrl: string
  const caches: GroupCache[] = []
  const userClients: Redis[] = []

  const cacheAs = (namespace: string) => {
    const cache = new GroupCache({ redis: userUrl, namespace })
    caches.push(cache)
    return cache
  }

  beforeAll(async () => {
    // An empty directory of its own: a dump.rdb left in the working directory (a replica writes
    // one) would otherwise be loaded at start.
    dir = mkdtempSync(join(tmpdir(), 'rgc-acl-'))
    server = await startRedisServer(['--dir', dir])
    admin = new Redis(server.url)
    // The README line, word for word (only the password replaced): ACL SETUSER <user> <rules...>
    expect(await admin.call('ACL', 'SETUSER', acl.user, ...aclRules(acl, password))).toBe('OK')
    userUrl = `redis://${acl.user}:${password}@127.0.0.1:${server.port}`
  })

  afterAll(async () => {
    await Promise.all(caches.map((cache) => cache.close()))
    for (const client of userClients) client.disconnect()
    admin?.disconnect()
    await server?.stop()
    if (dir) rmSync(dir, { recursive: true, force: true })
  })

  it('the README line creates its user', async () => {
    const users = (await admin.call('ACL', 'USERS')) as string[]
    expect(users).toContain(acl.user)
  })

  it('runs every behaviour of a cache in its namespace', async () => {
    const cache = cacheAs(acl.namespace)
    const errors: GroupCacheError[] = []
    cache.on('error', (error) => errors.push(error))

    expect(await cache.set('user_1', { name: 'Ada' }, { groups: ['user_group_1', 'users'], ttl: 60_000 })).toBe(true)
    expect(await cache.set('user_2', { name: 'Grace' }, { groups: ['users'] })).toBe(true)
    expect(await cache.get('user_1')).toEqual({ name: 'Ada' })
    expect(await cache.getMany(['user_1', 'user_2', 'none'])).toEqual([{ name: 'Ada' }, { name: 'Grace' }, undefined])

    const miss = await cache.read('profile_1', { groups: ['user_group_1'] })
    if (miss.hit) throw new Error('expected a miss')
    expect(await cache.set('profile_1', 'p1', { token: miss.token })).toBe(true)
    expect(await cache.read('profile_1', { groups: ['user_group_1'] })).toEqual({ hit: true, value: 'p1' })

    let calls = 0
    const load = () => {
      calls++
      return 'w'
    }
    expect(await cache.wrap('wrapped', { groups: ['users'], ttl: 60_000 }, load)).toBe('w')
    expect(await cache.wrap('wrapped', { groups: ['users'] }, load)).toBe('w')
    const getUser = cache.cached((id: number) => ({ id }), { key: (id) => `c_${id}`, groups: () => ['users'] })
    expect(await getUser(7)).toEqual({ id: 7 })
    expect(await cache.get('c_7')).toEqual({ id: 7 })
    expect(calls).toBe(1)

    expect(await cache.delete('user_2')).toBe(true)
    expect(await cache.get('user_2')).toBeUndefined()
    await cache.expireGroup('user_group_1')
    expect(await cache.getMany(['user_1', 'profile_1', 'wrapped'])).toEqual([undefined, undefined, 'w'])
    await cache.expireGroups(['users', 'never_used'])
    expect(await cache.getMany(['wrapped', 'c_7'])).toEqual([undefined, undefined])

    // SCRIPT FLUSH (by an admin): the next calls load the scripts again by EVAL.
    await cache.set('after_flush', 1, { groups: ['g'] })
    expect(await admin.script('FLUSH')).toBe('OK')
    expect(await cache.get('after_flush')).toBe(1)
    expect(await admin.script('FLUSH')).toBe('OK')
    expect(await cache.set('after_flush', 2, { groups: ['g'] })).toBe(true)
    expect(await admin.script('FLUSH')).toBe('OK')
    expect(await cache.delete('after_flush')).toBe(true)
    expect(await admin.script('FLUSH')).toBe('OK')
    await cache.expireGroup('g')
    expect(await admin.script('FLUSH')).toBe('OK')
    expect(await cache.read('after_flush', { groups: ['g'] })).toMatchObject({ hit: false })

    expect(errors).toEqual([])
    // and all of it in the namespace's keys
    const keys = await admin.keys('*')
    expect(keys.length).toBeGreaterThan(0)
    expect(keys.filter((key) => !key.startsWith(`rgc:{${acl.namespace}}:`))).toEqual([])
  })

  it('lets waitForReplicas wait for a replica: invalidations resolve once the replica has them', async () => {
    // The first sync at once, not after the 5 s Redis waits by default for more replicas.
    await admin.config('SET', 'repl-diskless-sync-delay', '0')
    const replica = await startRedisServer(['--replicaof', '127.0.0.1', String(server.port)])
    const onReplica = new Redis(replica.url)
    try {
      await until('the replica is in sync', async () =>
        (await onReplica.info('replication')).includes('master_link_status:up'),
      )
      const cache = new GroupCache({
        redis: userUrl,
        namespace: acl.namespace,
        waitForReplicas: { replicas: 1, timeout: 5000 },
      })
      caches.push(cache)
      const version = `rgc:{${acl.namespace}}:g:replicated`
      expect(await cache.set('replicated', 1, { groups: ['replicated'] })).toBe(true)
      await cache.expireGroup('replicated')
      expect(await onReplica.get(version)).toBe(await admin.get(version))
      await cache.expireGroups(['replicated', 'never_used'])
      expect(await onReplica.get(version)).toBe(await admin.get(version))
      expect(await cache.delete('replicated')).toBe(false)
      expect(await onReplica.exists(`rgc:{${acl.namespace}}:t:replicated`)).toBe(1)
    } finally {
      onReplica.disconnect()
      await replica.stop()
    }
  })

  it('cannot touch another namespace: writes reject with NOPERM, reads fail open and report it', async () => {
    await admin.set('rgc:{other}:e:k', 'untouched')
    const cache = cacheAs('other')
    const errors: GroupCacheError[] = []
    cache.on('error', (error) => errors.push(error))

    const failure = await cache.set('k', 1, { groups: ['g'] }).catch((error: unknown) => error)
    expect(failure).toBeInstanceOf(RedisError)
    expect(String((failure as RedisError).cause)).toMatch(/NOPERM/)
    await expect(cache.delete('k')).rejects.toBeInstanceOf(RedisError)
    await expect(cache.expireGroup('g')).rejects.toBeInstanceOf(RedisError)
    await expect(cache.read('k')).rejects.toBeInstanceOf(RedisError)

    expect(await cache.get('k')).toBeUndefined()
    expect(await cache.wrap('k', () => 'computed')).toBe('computed')
    expect(errors.length).toBeGreaterThanOrEqual(2)
    for (const error of errors) {
      expect(error).toBeInstanceOf(RedisError)
      expect(String(error.cause)).toMatch(/NOPERM/)
    }
    expect(await admin.keys('rgc:{other}:*')).toEqual(['rgc:{other}:e:k'])
    expect(await admin.get('rgc:{other}:e:k')).toBe('untouched')
  })

  it('cannot run FLUSHDB, FLUSHALL, KEYS, CONFIG or SCRIPT FLUSH, nor read a key outside its namespace', async () => {
    await admin.set('outside', 'secret data')
    const user = new Redis(userUrl)
    userClients.push(user)
    await expect(user.flushdb()).rejects.toThrow(/NOPERM/)
    await expect(user.flushall()).rejects.toThrow(/NOPERM/)
    await expect(user.keys('*')).rejects.toThrow(/NOPERM/)
    await expect(user.config('GET', 'maxmemory')).rejects.toThrow(/NOPERM/)
    await expect(user.script('FLUSH')).rejects.toThrow(/NOPERM/)
    await expect(user.get('outside')).rejects.toThrow(/NOPERM/)
    // a script may not reach a key it was not given (or any outside the pattern)
    await expect(user.eval("return redis.call('GET', 'outside')", 0)).rejects.toThrow(/NOPERM|can't access/)
    expect(await admin.get('outside')).toBe('secret data')
    expect(await admin.dbsize()).toBeGreaterThan(0)
  })
})
