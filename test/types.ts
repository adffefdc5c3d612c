import type { Cluster, Redis } from 'ioredis'
import { expectTypeOf } from 'vitest'
import type {
  CacheClient,
  Duration,
  ErrorCode,
  FillToken,
  GroupCache,
  ReadOptions,
  ReadResult,
  RefusedReason,
} from '../src/index.js'

/**
 * The public types, as a strict TypeScript program sees them: checked by the compiler alone
 * (test/typecheck.test.ts runs it over the project; this file is never run). A line marked
 * @ts-expect-error that compiles fails the build, as does an expectTypeOf that does not hold.
 */
interface User {
  id: number
  name: string
}

export function publicTypes(cache: GroupCache, user: User): void {
  // get, getMany, wrap and cached carry the value type
  expectTypeOf(cache.get<User>).returns.toEqualTypeOf<Promise<User | undefined>>()
  expectTypeOf(cache.getMany<User>).returns.toEqualTypeOf<Promise<(User | undefined)[]>>()
  expectTypeOf(cache.wrap('k', () => user)).toEqualTypeOf<Promise<User>>()
  expectTypeOf(cache.wrap('k', { groups: ['g'], ttl: '1h' }, async () => user)).toEqualTypeOf<Promise<User>>()
  const getUser = cache.cached(async (id: number) => ({ ...user, id }), { key: (id) => `user_${id}` })
  expectTypeOf(getUser).toEqualTypeOf<(id: number) => Promise<User>>()

  // set takes a type argument and refuses undefined
  expectTypeOf(cache.set<User>)
    .parameter(1)
    .toEqualTypeOf<User>()
  expectTypeOf(cache.set('k', null)).toEqualTypeOf<Promise<boolean>>()
  // @ts-expect-error undefined is no storable value
  void (() => cache.set('k', undefined))
  // @ts-expect-error the value must be what set<User> says
  void (() => cache.set<User>('k', { id: 'one' }))

  // read has named options and a result that narrows to its token and lease
  expectTypeOf(cache.read<User>)
    .parameter(1)
    .toEqualTypeOf<ReadOptions | undefined>()
  type Miss = Extract<ReadResult<User>, { hit: false }>
  expectTypeOf<Miss['token']>().toEqualTypeOf<FillToken>()
  expectTypeOf<Miss['leased']>().toEqualTypeOf<boolean>()
  expectTypeOf<Extract<ReadResult<User>, { hit: true; notFound?: undefined }>['value']>().toEqualTypeOf<User>()
  // a cached "not found" (notFoundTtl) is a hit of its own, with no value
  expectTypeOf<Extract<ReadResult<User>, { notFound: true }>['value']>().toEqualTypeOf<undefined>()
  void (async () => {
    const result = await cache.read<User>('k')
    if (result.hit && !result.notFound) expectTypeOf(result.value).toEqualTypeOf<User>()
  })

  // a wrap function may name more groups as it runs; cached may name them from the result
  void cache.wrap('k', { notFoundTtl: '30s' }, (ctx) => {
    expectTypeOf(ctx.groups).toEqualTypeOf<string[]>()
    ctx.groups.push('more')
    return undefined as User | undefined
  })
  const getUserGrouped = cache.cached(async (id: number): Promise<User> => ({ id, name: 'Ada' }), {
    key: (id) => `user_${id}`,
    resultGroups: (user, id) => {
      expectTypeOf(user).toEqualTypeOf<User>()
      expectTypeOf(id).toEqualTypeOf<number>()
      return [`user_${user.id}`]
    },
  })
  expectTypeOf(getUserGrouped).returns.toEqualTypeOf<Promise<User>>()

  // events: error with a code, refused with a reason, and no other
  cache.on('error', (error) => expectTypeOf(error.code).toEqualTypeOf<ErrorCode>())
  cache.on('refused', ({ key, reason }) => {
    expectTypeOf(key).toEqualTypeOf<string>()
    expectTypeOf(reason).toEqualTypeOf<RefusedReason>()
  })
  // @ts-expect-error the cache has no 'hit' event
  void (() => cache.on('hit', () => {}))

  // redis takes an ioredis Redis or Cluster (CacheClient); durations are ms or strings
  expectTypeOf<Redis>().toExtend<CacheClient>()
  expectTypeOf<Cluster>().toExtend<CacheClient>()
  expectTypeOf<'30s'>().toExtend<Duration>()
  expectTypeOf<3_600_000>().toExtend<Duration>()
}
