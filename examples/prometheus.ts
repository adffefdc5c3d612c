/**
 * A Prometheus exporter for redis-group-cache: `npm run example:prometheus`.
 *
 * The counters come from `cache.stats()`, read at each scrape (prom-client's `collect`): exact,
 * and free between scrapes. Latency comes from the tracing channels (`redis-group-cache:<operation>`,
 * node:diagnostics_channel): a histogram of every call's duration by operation and outcome.
 *
 * `exportMetrics` is the recipe: copy it into a service. The rest runs a few calls on the
 * in-memory backend (or REDIS_URL's Redis), serves /metrics on a free port, scrapes it once and
 * prints the cache's lines. The README's dashboard recipe queries these names.
 */
import { randomBytes } from 'node:crypto'
import { tracingChannel } from 'node:diagnostics_channel'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Counter, Histogram, Registry } from 'prom-client'
import { type CacheStats, GroupCache, OPERATIONS, type OperationContext, type ReadContext } from '../src/index.js'

// --- The recipe -------------------------------------------------------------------------------

/** Registers the metrics of `caches` on `registry`. Returns a function that unsubscribes. */
export function exportMetrics(registry: Registry, caches: readonly GroupCache[]): () => void {
  /** A counter whose value is a field (or a sum of fields) of each cache's stats, read at each scrape. */
  const counted = (name: string, help: string, labels: string[], values: (stats: CacheStats) => [string[], number][]) =>
    new Counter({
      name,
      help,
      labelNames: ['namespace', ...labels],
      registers: [registry],
      collect() {
        this.reset()
        for (const cache of caches)
          for (const [labelValues, value] of values(cache.stats()))
            this.inc(
              Object.fromEntries([['namespace', cache.namespace], ...labels.map((l, i) => [l, labelValues[i]])]),
              value,
            )
      },
    })
  counted('redis_group_cache_reads_total', 'Reads of a key, by outcome', ['outcome'], (s) => [
    [['hit'], s.hits - s.nearHits],
    [['near_hit'], s.nearHits],
    [['stale_hit'], s.staleHits],
    [['miss'], s.misses],
  ])
  counted('redis_group_cache_fills_total', 'Fill functions run (wrap, cached)', [], (s) => [[[], s.fills]])
  counted('redis_group_cache_refused_fills_total', 'Fills Redis refused to store', [], (s) => [[[], s.refusedFills]])
  counted('redis_group_cache_lease_waits_total', "Waits for another process's fill", [], (s) => [[[], s.leaseWaits]])
  counted('redis_group_cache_invalidations_total', 'delete, deleteMany, expireGroup(s) calls', [], (s) => [
    [[], s.invalidations],
  ])
  counted('redis_group_cache_errors_total', 'Redis failures reported (reads failed open)', [], (s) => [[[], s.errors]])

  const duration = new Histogram({
    name: 'redis_group_cache_operation_duration_seconds',
    help: 'redis-group-cache calls, by operation and outcome',
    labelNames: ['namespace', 'operation', 'outcome'],
    buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers: [registry],
  })
  const started = new WeakMap<object, number>()
  const unsubscribes = OPERATIONS.filter((operation) => operation !== 'fill').map((operation) => {
    const channel = tracingChannel<unknown, OperationContext>(`redis-group-cache:${operation}`)
    const handlers = {
      start: (call: OperationContext) => started.set(call, performance.now()),
      end() {},
      asyncStart() {},
      error() {},
      asyncEnd(call: OperationContext) {
        const at = started.get(call)
        if (at === undefined) return
        const labels = { namespace: call.namespace, operation, outcome: outcomeOf(call) }
        duration.observe(labels, (performance.now() - at) / 1000)
      },
    }
    channel.subscribe(handlers as never)
    return () => channel.unsubscribe(handlers as never)
  })
  return () => {
    for (const unsubscribe of unsubscribes) unsubscribe()
  }
}

/** A few outcomes, so that the histogram's series stay few. */
function outcomeOf(call: OperationContext): string {
  if (call.error !== undefined) return 'error'
  if (!('hits' in call)) return 'done'
  const read = call as ReadContext
  if (read.failure !== undefined) return 'failed_open'
  if (read.staleHits > 0) return 'stale_hit'
  if (read.fills > 0 || read.leaseWaits > 0) return 'filled'
  return read.misses === 0 ? 'hit' : read.hits === 0 ? 'miss' : 'partial'
}

// --- A run of it ------------------------------------------------------------------------------

const redis = process.env.REDIS_URL ?? 'memory'
const cache = new GroupCache({ redis, namespace: `prom_${randomBytes(4).toString('hex')}`, ttl: 60_000 })
const registry = new Registry()
const stop = exportMetrics(registry, [cache])
const server = createServer(async (request, response) => {
  if (request.url !== '/metrics') {
    response.writeHead(404).end()
    return
  }
  response.writeHead(200, { 'content-type': registry.contentType }).end(await registry.metrics())
})
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))

const users = new Map([[1, { name: 'Ada' }]])
const loadUser = (id: number) =>
  cache.wrap(`user_${id}`, { groups: [`user_group_${id}`, 'users'] }, async () => users.get(id) ?? null)
await loadUser(1) // a miss, filled
await loadUser(1) // a hit
await cache.get('user_1') // a hit
await cache.expireGroup('users')
await cache.get('user_1') // a miss

const { port } = server.address() as AddressInfo
const scrape = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()
stop()
server.close()
await cache.close()

const lines = scrape.split('\n').filter((line) => line.startsWith('redis_group_cache_') && !line.includes('_bucket'))
console.log(`== GET /metrics (the cache's series; histogram buckets left out)\n${lines.join('\n')}`)

// The run checks itself: the scrape holds what the calls above did.
const value = (series: string) =>
  Number(
    lines
      .find((line) => line.startsWith(series) && line.slice(series.length).startsWith(' '))
      ?.split(' ')
      .pop(),
  )
const reads = (outcome: string) =>
  value(`redis_group_cache_reads_total{namespace="${cache.namespace}",outcome="${outcome}"}`)
const problems = [
  reads('hit') === 2 || `2 hits, not ${reads('hit')}`,
  reads('miss') === 2 || `2 misses, not ${reads('miss')}`,
  value(`redis_group_cache_fills_total{namespace="${cache.namespace}"}`) === 1 || '1 fill',
  value(`redis_group_cache_invalidations_total{namespace="${cache.namespace}"}`) === 1 || '1 invalidation',
  lines.some(
    (line) =>
      line.startsWith('redis_group_cache_operation_duration_seconds_count{') && line.includes('operation="wrap"'),
  ) || 'a wrap in the histogram',
].filter((problem) => problem !== true)
if (problems.length > 0) {
  console.error(`\nunexpected: ${problems.join('; ')}`)
  process.exitCode = 1
}
