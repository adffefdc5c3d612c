export { GroupCache } from './cache.js'
export type { CacheClient, FillToken } from './commands.js'
export type { RedisOption } from './connection.js'
export {
  ClosedError,
  type ErrorCode,
  GroupCacheError,
  InvalidArgumentError,
  MissingDependencyError,
  RedisError,
  RefreshError,
  ReplicationError,
  SerializationError,
  TimeoutError,
} from './errors.js'
export type {
  CachedOptions,
  CallOptions,
  Duration,
  ExpireOptions,
  FillContext,
  FillFunction,
  GroupCacheEvents,
  GroupCacheOptions,
  ReadOptions,
  ReadResult,
  RefusedReason,
  SetManyEntry,
  SetOptions,
  WrapOptions,
} from './options.js'
export { jsonSerializer, type Serializer } from './serializer.js'
export type { CacheStats } from './stats.js'
export {
  OPERATIONS,
  type Operation,
  type OperationContext,
  type ReadContext,
  type SetContext,
} from './tracing.js'
export { MAX_BATCH, MAX_GROUPS } from './validate.js'
