import { type TracingChannel, tracingChannel } from 'node:diagnostics_channel'
import type { SetStatus } from './commands.js'

/**
 * Tracing: one `node:diagnostics_channel` tracing channel per operation, named
 * `redis-group-cache:<operation>` (so its events are `tracing:redis-group-cache:get:start`, and so
 * on), the convention undici, node-redis and fastify follow. A call publishes start, end,
 * asyncStart and asyncEnd (error before them when it rejects) with one context object, which the
 * cache fills as the call goes: what it counted, why a set was refused, the failure a read
 * absorbed. Without a subscriber, a call costs one `hasSubscribers` check and nothing else: no
 * context is made.
 *
 * `has` and `cached` publish on `get` and `wrap`, whose calls they are; a fill's function runs
 * inside its `wrap`, on `fill`, and its store is a `set` inside that `wrap`.
 */
export type Operation =
  | 'get'
  | 'getMany'
  | 'set'
  | 'setMany'
  | 'delete'
  | 'deleteMany'
  | 'expireGroup'
  | 'expireGroups'
  | 'clear'
  | 'read'
  | 'release'
  | 'wrap'
  | 'fill'

/** Every operation's context: what it was called with, then what `tracePromise` adds. */
export interface OperationContext {
  readonly operation: Operation
  /** the cache's namespace */
  readonly namespace: string
  /** the key, as passed (get, set, delete, read, release, wrap, fill) */
  readonly key?: unknown
  /** the keys, as passed (getMany, deleteMany, setMany) */
  readonly keys?: readonly unknown[]
  /** the groups, as passed: the value's (set, read, wrap, fill; a fill's function may name more), or those expired */
  readonly groups?: readonly unknown[]
  /** what the call resolved (on asyncStart and asyncEnd) */
  result?: unknown
  /** why the call rejected (on error, asyncStart and asyncEnd) */
  error?: unknown
}

/**
 * A read's context (get, getMany, read, wrap): what this call counted, by the rules of
 * `cache.stats()` (a `get` is one hit or one miss; a `getMany` one per key), so that summing
 * the contexts gives what `stats()` gives.
 */
export interface ReadContext extends OperationContext {
  hits: number
  misses: number
  staleHits: number
  nearHits: number
  /** fill functions this call ran (wrap) */
  fills: number
  /** waits for another process's fill (wrap) */
  leaseWaits: number
  /** the Redis failure the read absorbed: it failed open, and the failure went to `error` too */
  failure?: unknown
}

/** A set's context: the store's outcome, once Redis answered ('stored', or why a token's set was refused). */
export interface SetContext extends OperationContext {
  status?: SetStatus
}

/** The channels, by operation. */
export const channels: { readonly [O in Operation]: TracingChannel<object, OperationContext> } = {
  get: tracingChannel('redis-group-cache:get'),
  getMany: tracingChannel('redis-group-cache:getMany'),
  set: tracingChannel('redis-group-cache:set'),
  setMany: tracingChannel('redis-group-cache:setMany'),
  delete: tracingChannel('redis-group-cache:delete'),
  deleteMany: tracingChannel('redis-group-cache:deleteMany'),
  expireGroup: tracingChannel('redis-group-cache:expireGroup'),
  expireGroups: tracingChannel('redis-group-cache:expireGroups'),
  clear: tracingChannel('redis-group-cache:clear'),
  read: tracingChannel('redis-group-cache:read'),
  release: tracingChannel('redis-group-cache:release'),
  wrap: tracingChannel('redis-group-cache:wrap'),
  fill: tracingChannel('redis-group-cache:fill'),
}

/** Every operation with a channel, for a subscriber that takes them all. */
export const OPERATIONS = Object.freeze(Object.keys(channels)) as readonly Operation[]

/** A read's context, its counts at zero (one shape for every read). */
export function readContext(
  operation: 'get' | 'getMany' | 'read' | 'wrap',
  namespace: string,
  key: unknown,
  keys?: readonly unknown[],
  groups?: readonly unknown[],
): ReadContext {
  return {
    operation,
    namespace,
    key,
    keys,
    groups,
    hits: 0,
    misses: 0,
    staleHits: 0,
    nearHits: 0,
    fills: 0,
    leaseWaits: 0,
    failure: undefined,
  }
}

/**
 * `run` traced on `channel` with `context`. Only called with a subscriber (the caller checks
 * `hasSubscribers`: the untraced path makes no context). A synchronous throw rejects, as it
 * would untraced.
 */
export function traced<C extends OperationContext, R>(
  operation: Operation,
  context: C,
  run: (context: C) => Promise<R>,
): Promise<R> {
  try {
    return channels[operation].tracePromise(run, context, undefined, context)
  } catch (error) {
    return Promise.reject(error)
  }
}

/** A property of an argument as passed, for a context: undefined unless it is an object. */
export function passed(argument: unknown, name: string): unknown {
  return typeof argument === 'object' && argument !== null ? (argument as Record<string, unknown>)[name] : undefined
}
