import { createCacheHandler } from 'redis-group-cache/next'

// One cache per process, shared by the instance Next makes for each request.
export default createCacheHandler({ redis: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379' })
