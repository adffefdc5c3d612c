/**
 * The Redis the bench runs against: REDIS_URL when set (a server others may use: the bench
 * never flushes it and deletes only its own keys), else its own `redis-server` on a free port,
 * without persistence, stopped when the bench exits.
 */
import { Redis } from 'ioredis'
import { type RedisServer, startRedisServer } from '../test/support/redis-server.js'

export interface BenchServer {
  readonly url: string
  /** True for the bench's own redis-server: it may be flushed and its stats reset. */
  readonly own: boolean
  /** A connection for INFO, MEMORY USAGE, clean-up. */
  readonly admin: Redis
  /** Deletes every key the bench wrote: FLUSHALL on its own server, else SCAN + UNLINK of `patterns`. */
  reset(patterns: readonly string[]): Promise<void>
  stop(): Promise<void>
}

export async function startServer(): Promise<BenchServer> {
  const external = process.env.REDIS_URL
  if (external) return connectServer(external, undefined)
  const server = await startRedisServer(['--maxmemory', '0'])
  process.on('exit', () => void server.kill()) // also when the bench throws
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => process.exit(1))
  return connectServer(server.url, server)
}

function connectServer(url: string, server: RedisServer | undefined): BenchServer {
  const admin = new Redis(url, { lazyConnect: false })
  return {
    url,
    own: server !== undefined,
    admin,
    async reset(patterns) {
      if (server) {
        await admin.flushall('SYNC')
        return
      }
      for (const pattern of patterns) await unlinkMatching(admin, pattern)
    },
    async stop() {
      admin.disconnect()
      await server?.stop()
    },
  }
}

async function unlinkMatching(admin: Redis, pattern: string): Promise<void> {
  for await (const found of admin.scanStream({ match: pattern, count: 1000 })) {
    const keys = found as string[]
    if (keys.length > 0) await admin.unlink(...keys)
  }
}

/** One field of an INFO section, e.g. infoField(await admin.info('memory'), 'used_memory'). */
export function infoField(info: string, field: string): string | undefined {
  return info.match(new RegExp(`^${field}:(\\S+)`, 'm'))?.[1]
}

/** CPU time of the redis-server process (user + system, INFO cpu), µs. */
export async function serverCpuUs(admin: Redis): Promise<number> {
  const info = await admin.info('cpu')
  return Math.round((Number(infoField(info, 'used_cpu_user')) + Number(infoField(info, 'used_cpu_sys'))) * 1e6)
}

/** `used_memory` in bytes. */
export async function usedMemory(admin: Redis): Promise<number> {
  return Number(infoField(await admin.info('memory'), 'used_memory'))
}
