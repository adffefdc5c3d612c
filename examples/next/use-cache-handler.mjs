import { createCacheComponentsHandler } from 'redis-group-cache/next'

export default createCacheComponentsHandler({ redis: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379' })
