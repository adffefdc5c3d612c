/**
 * OpenTelemetry spans and metrics for redis-group-cache: `npm run example:opentelemetry`.
 *
 * Two sources, each for what it does best:
 * - the tracing channels (`redis-group-cache:<operation>`, node:diagnostics_channel): a span per
 *   call, and its duration in a histogram, with what the call counted (a hit, a miss, a fill);
 * - `cache.stats()`: the counters, read by the meter when it collects (observable counters), so
 *   that counting costs the hot path an add, subscriber or not.
 *
 * `instrument` is the recipe: copy it into a service. The rest runs a few calls on the in-memory
 * backend (or REDIS_URL's Redis), then prints the spans and the metrics the SDK collected.
 */
import { AsyncLocalStorage } from 'node:async_hooks'
import { randomBytes } from 'node:crypto'
import { tracingChannel } from 'node:diagnostics_channel'
import {
  type Attributes,
  context,
  type Meter,
  type Span,
  SpanKind,
  SpanStatusCode,
  type Tracer,
  trace,
} from '@opentelemetry/api'
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks'
import {
  AggregationTemporality,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
} from '@opentelemetry/sdk-metrics'
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base'
import { GroupCache, OPERATIONS, type OperationContext, type ReadContext, type SetContext } from '../src/index.js'

// --- The recipe -------------------------------------------------------------------------------

/**
 * Spans and a duration histogram from every channel; the counters of `caches` as observable
 * counters. Returns a function that unsubscribes.
 */
export function instrument(tracer: Tracer, meter: Meter, caches: readonly GroupCache[]): () => void {
  const duration = meter.createHistogram('cache.operation.duration', {
    unit: 's',
    description: 'redis-group-cache calls, by operation and outcome',
  })
  // The counters, as the cache counts them: read when the meter collects.
  const reads = meter.createObservableCounter('cache.reads', { description: 'reads of a key, by outcome' })
  const events = meter.createObservableCounter('cache.events', { description: 'fills, lease waits, refusals...' })
  reads.addCallback((result) => {
    for (const cache of caches) {
      const { hits, misses, staleHits, nearHits } = cache.stats()
      const namespace = cache.namespace
      result.observe(hits - nearHits, { namespace, outcome: 'hit' })
      result.observe(nearHits, { namespace, outcome: 'near-hit' })
      result.observe(staleHits, { namespace, outcome: 'stale-hit' })
      result.observe(misses, { namespace, outcome: 'miss' })
    }
  })
  events.addCallback((result) => {
    for (const cache of caches) {
      const { fills, refusedFills, leaseWaits, invalidations, errors } = cache.stats()
      const namespace = cache.namespace
      result.observe(fills, { namespace, event: 'fill' })
      result.observe(refusedFills, { namespace, event: 'refused-fill' })
      result.observe(leaseWaits, { namespace, event: 'lease-wait' })
      result.observe(invalidations, { namespace, event: 'invalidation' })
      result.observe(errors, { namespace, event: 'error' })
    }
  })

  // A cache call inside another (a fill's function and its set inside a wrap) is its child span:
  // the enclosing call's span, kept in a store bound to each channel's start.
  const enclosing = new AsyncLocalStorage<Span>()
  const started = new WeakMap<object, { span: Span; at: number }>()
  const unsubscribes = OPERATIONS.map((operation) => {
    const channel = tracingChannel<Span, OperationContext>(`redis-group-cache:${operation}`)
    channel.start.bindStore(enclosing, (call) => {
      const parent = enclosing.getStore()
      const attributes: Attributes = { 'cache.operation': operation, 'cache.namespace': call.namespace }
      if (typeof call.key === 'string') attributes['cache.key'] = call.key
      if (call.keys) attributes['cache.keys'] = call.keys.length
      if (call.groups) attributes['cache.groups'] = call.groups.map(String)
      const span = tracer.startSpan(
        `cache ${operation}`,
        { kind: SpanKind.CLIENT, attributes },
        parent ? trace.setSpan(context.active(), parent) : context.active(),
      )
      started.set(call, { span, at: performance.now() })
      return span
    })
    const handlers = {
      start() {},
      end() {},
      asyncStart() {},
      error(call: OperationContext) {
        const span = started.get(call)?.span
        span?.recordException(call.error instanceof Error ? call.error : String(call.error))
        span?.setStatus({ code: SpanStatusCode.ERROR })
      },
      asyncEnd(call: OperationContext) {
        const begun = started.get(call)
        if (begun === undefined) return
        const { span } = begun
        const outcome = outcomeOf(call)
        span.setAttribute('cache.outcome', outcome)
        const read = call as Partial<ReadContext>
        if (read.failure !== undefined) span.addEvent('failed open', { 'exception.message': String(read.failure) })
        const status = (call as SetContext).status
        if (status !== undefined) span.setAttribute('cache.set.status', status)
        if (read.hits !== undefined) span.setAttributes({ 'cache.hits': read.hits, 'cache.misses': read.misses })
        span.end()
        duration.record((performance.now() - begun.at) / 1000, { operation, namespace: call.namespace, outcome })
      },
    }
    channel.subscribe(handlers as never)
    return () => {
      channel.unsubscribe(handlers as never)
      channel.start.unbindStore(enclosing)
    }
  })
  return () => {
    for (const unsubscribe of unsubscribes) unsubscribe()
  }
}

/** A call's outcome in one word, for a span attribute and the histogram. */
function outcomeOf(call: OperationContext): string {
  if (call.error !== undefined) return 'error'
  if (!('hits' in call)) return (call as SetContext).status ?? 'done'
  const read = call as ReadContext
  if (read.failure !== undefined) return 'failed-open'
  // one word for many keys too: a metric's attributes must stay few (the counts are on the span)
  if (call.operation === 'getMany') return read.misses === 0 ? 'hit' : read.hits === 0 ? 'miss' : 'partial'
  if (read.staleHits > 0) return 'stale-hit'
  if (read.leaseWaits > 0) return 'waited'
  if (read.fills > 0) return 'filled'
  if (read.nearHits > 0) return 'near-hit'
  return read.hits > 0 ? 'hit' : 'miss'
}

// --- A run of it ------------------------------------------------------------------------------

const contextManager = new AsyncLocalStorageContextManager().enable()
context.setGlobalContextManager(contextManager)
const spans = new InMemorySpanExporter()
const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] })
const metricExporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE)
const metricReader = new PeriodicExportingMetricReader({ exporter: metricExporter, exportIntervalMillis: 3_600_000 })
const meterProvider = new MeterProvider({ readers: [metricReader] })

const redis = process.env.REDIS_URL ?? 'memory'
const cache = new GroupCache({ redis, namespace: `otel_${randomBytes(4).toString('hex')}`, ttl: 60_000 })
const stop = instrument(tracerProvider.getTracer('redis-group-cache'), meterProvider.getMeter('example'), [cache])

const app = tracerProvider.getTracer('app')
const users = new Map([[1, { name: 'Ada' }]])
const loadUser = (id: number) =>
  cache.wrap(`user_${id}`, { groups: [`user_group_${id}`, 'users'] }, async () => users.get(id) ?? null)

// One request: a miss filled from the "database", a hit, a purge, a miss again.
await app.startActiveSpan('GET /users/1', async (request) => {
  await loadUser(1)
  await loadUser(1)
  await cache.expireGroup('users')
  await loadUser(1)
  await cache.getMany(['user_1', 'user_2'])
  request.end()
})

await metricReader.forceFlush()
stop()
await cache.close()

// --- What the SDK collected ---------------------------------------------------------------------

const finished = spans.getFinishedSpans()
const byId = new Map(finished.map((span) => [span.spanContext().spanId, span]))
const depth = (span: (typeof finished)[number]): number => {
  const parent = span.parentSpanContext?.spanId
  const up = parent === undefined ? undefined : byId.get(parent)
  return up === undefined ? 0 : 1 + depth(up)
}
console.log('== spans (start order), each indented under its parent')
for (const span of [...finished].sort((a, b) => a.startTime[0] - b.startTime[0] || a.startTime[1] - b.startTime[1])) {
  const outcome = span.attributes['cache.outcome']
  const keys = span.attributes['cache.keys']
  const key = span.attributes['cache.key'] ?? span.attributes['cache.groups'] ?? (keys ? `${keys} keys` : '')
  console.log(`${'  '.repeat(depth(span))}${span.name} ${key}${outcome === undefined ? '' : ` -> ${outcome}`}`)
}

console.log('\n== metrics')
for (const resource of metricExporter.getMetrics())
  for (const scope of resource.scopeMetrics)
    for (const metric of scope.metrics)
      for (const point of metric.dataPoints) {
        const value = point.value as number | { count: number; sum?: number }
        const shown =
          typeof value === 'number' ? value : `${value.count} calls, ${((value.sum ?? 0) * 1000).toFixed(2)} ms`
        const labels = Object.entries(point.attributes)
          .filter(([name]) => name !== 'namespace')
          .map(([name, v]) => `${name}=${v}`)
          .join(' ')
        console.log(`${metric.descriptor.name} {${labels}} ${shown}`)
      }

// The run checks itself: the spans nest as they should and the counters agree with the spans.
const names = finished.map((span) => span.name)
const wraps = finished.filter((span) => span.name === 'cache wrap')
const fills = finished.filter((span) => span.name === 'cache fill')
const request = finished.find((span) => span.name === 'GET /users/1')
const problems = [
  wraps.length === 3 || `3 wrap spans, not ${wraps.length}`,
  fills.length === 2 || `2 fill spans, not ${fills.length}`,
  wraps.every((span) => span.parentSpanContext?.spanId === request?.spanContext().spanId) ||
    'every wrap span is a child of the request span',
  fills.every((fill) => wraps.some((wrap) => fill.parentSpanContext?.spanId === wrap.spanContext().spanId)) ||
    'every fill span is a child of a wrap span',
  names.includes('cache expireGroup') || 'an expireGroup span',
  cache.stats().fills === fills.length || `stats().fills (${cache.stats().fills}) is the number of fill spans`,
].filter((problem) => problem !== true)
if (problems.length > 0) {
  console.error(`\nunexpected: ${problems.join('; ')}`)
  process.exitCode = 1
}
await meterProvider.shutdown()
await tracerProvider.shutdown()
