/**
 * The Redis the bench runs against: REDIS_URL when set (a server others may use: the bench
 * never flushes it and deletes only its own keys), else its own `redis-server` on a free port,
 * without persistence, stopped when the bench exits.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { createServer } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import { Redis } from 'ioredis'

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
  const port = await freePort()
  const url = `redis://127.0.0.1:${port}`
  const child = spawn(
    'redis-server',
    ['--port', `${port}`, '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--maxmemory', '0'],
    { stdio: 'ignore' },
  )
  process.on('exit', () => child.kill('SIGKILL')) // also when the bench throws
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => process.exit(1))
  await waitForPing(url, child)
  return connectServer(url, child)
}

function connectServer(url: string, child: ChildProcess | undefined): BenchServer {
  const admin = new Redis(url, { lazyConnect: false })
  return {
    url,
    own: child !== undefined,
    admin,
    async reset(patterns) {
      if (child) {
        await admin.flushall('SYNC')
        return
      }
      for (const pattern of patterns) await unlinkMatching(admin, pattern)
    },
    async stop() {
      admin.disconnect()
      if (child && child.exitCode === null) {
        const exited = once(child, 'exit')
        child.kill('SIGTERM')
        await exited
      }
    },
  }
}

async function unlinkMatching(admin: Redis, pattern: string): Promise<void> {
  for await (const found of admin.scanStream({ match: pattern, count: 1000 })) {
    const keys = found as string[]
    if (keys.length > 0) await admin.unlink(...keys)
  }
}

async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1')
  await once(server, 'listening')
  const address = server.address()
  server.close()
  if (address === null || typeof address === 'string') throw new Error('no free port')
  return address.port
}

async function waitForPing(url: string, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + 10_000
  for (;;) {
    if (child.exitCode !== null) throw new Error(`redis-server exited with code ${child.exitCode} (is it on PATH?)`)
    const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null })
    probe.on('error', () => {})
    try {
      await probe.connect()
      if ((await probe.ping()) === 'PONG') return
    } catch (error) {
      if (Date.now() > deadline) throw new Error(`redis-server at ${url} did not answer: ${(error as Error).message}`)
    } finally {
      probe.disconnect()
    }
    await sleep(25)
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
