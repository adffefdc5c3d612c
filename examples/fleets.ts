/**
 * A fleet, in one file: `npm run example:fleets`.
 *
 * Four caches stand for four processes of a service behind a load balancer, and a fifth for a
 * background worker. Three jobs: a bulk purge that does not start a herd, a product listing that
 * keeps answering at once while one process refreshes it (grace), and a permission that must
 * never be served stale once revoked (a hard invalidation).
 *
 * Runs in memory by default; set REDIS_URL (e.g. redis://127.0.0.1:6379) to use a real Redis.
 */
import { randomBytes } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { GroupCache } from '../src/index.js'

const redis = process.env.REDIS_URL ?? 'memory'
const namespace = `fleets_${randomBytes(4).toString('hex')}`
const options = { redis, namespace, ttl: 60_000 }
const fleet = Array.from({ length: 4 }, () => new GroupCache(options))
const worker = new GroupCache(options)

/** A database whose every query takes 300 ms, counting its queries. */
const db = {
  queries: 0,
  version: 1,
  canEdit: new Set(['ada']),
  async query<T>(answer: () => T): Promise<T> {
    db.queries++
    await sleep(300)
    return answer()
  },
}

function check(ok: boolean, what: string): void {
  if (!ok) throw new Error(`unexpected: ${what}`)
  console.log(`  ok: ${what}`)
}

// --- 1. A worker's bulk purge, without a herd ------------------------------------------------
// Every process has 24 callers on 4 product pages; the worker rewrites the products and
// expires their group. Each page is filled once in the whole fleet: the miss that takes the
// page's fill lease runs the query, every other miss, in any process, waits for its value.

const page = (cache: GroupCache, id: number) =>
  cache.wrap(`page_${id}`, { groups: ['products', `product_${id}`] }, () =>
    db.query(() => ({ id, version: db.version })),
  )
const everyone = () => Promise.all(fleet.flatMap((cache) => Array.from({ length: 24 }, (_, i) => page(cache, i % 4))))

console.log('1. a bulk purge: 4 processes x 24 callers, 4 pages')
await everyone()
check(db.queries === 4, `the first load ran ${db.queries} queries for 4 pages and 96 callers`)
db.version++
await worker.expireGroup('products')
const pages = await everyone()
check(db.queries === 8, `after the purge, 4 more queries (${db.queries} in all), not one per process or caller`)
check(
  pages.every((p) => p.version === 2),
  'every caller got the new version',
)

// --- 2. A listing with grace -----------------------------------------------------------------
// Better the previous listing at once than every caller waiting 300 ms: for 10 s after a soft
// invalidation, wrap answers with the previous value while one process refreshes it.

const listing = (cache: GroupCache) =>
  cache.wrap('listing', { groups: ['products'], grace: 10_000 }, () =>
    db.query(() => ({ version: db.version, items: ['lamp', 'desk'] })),
  )

console.log('2. a listing with grace: 10 s')
await listing(fleet[0] as GroupCache)
db.version++
await worker.expireGroup('products') // soft, the default
const started = performance.now()
const during = await Promise.all(fleet.map(listing))
const took = performance.now() - started
check(
  during.every((l) => l.version === 2),
  `during the refresh every process got the previous listing, in ${took.toFixed(0)} ms`,
)
// the one refresh lands about 300 ms later
for (let i = 0; i < 100 && (await worker.get<{ version: number }>('listing'))?.version !== 3; i++) await sleep(50)
check((await listing(fleet[3] as GroupCache)).version === 3, 'once the refresh landed, everyone gets the new one')

// --- 3. A permission, invalidated hard -------------------------------------------------------
// Grace or not, a revoked permission must not be served: { hard: true } leaves no stale copy.

const mayEdit = (cache: GroupCache, user: string) =>
  cache.wrap(`may_edit_${user}`, { groups: [`user_${user}`], grace: 10_000 }, () =>
    db.query(() => db.canEdit.has(user)),
  )

console.log('3. a permission, revoked with a hard invalidation')
check(await mayEdit(fleet[0] as GroupCache, 'ada'), 'ada may edit')
db.canEdit.delete('ada')
await worker.expireGroup('user_ada', { hard: true })
check(!(await mayEdit(fleet[1] as GroupCache, 'ada')), 'right after the revocation, no process says she may')

await Promise.all([...fleet, worker].map((cache) => cache.close()))
console.log(`done on ${redis === 'memory' ? 'the in-memory backend' : `Redis at ${new URL(redis).host}`}`)
