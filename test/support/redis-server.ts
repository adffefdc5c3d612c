import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { Redis } from 'ioredis'

/**
 * Real Redis for the tests, from, in order: REDIS_URL (shared server only), a `redis-server`
 * on PATH started on a free port, a `redis:7` container through testcontainers (needs Docker).
 * Anything else fails with HOW_TO_PROVIDE: a test never skips for want of a Redis.
 */
export const HOW_TO_PROVIDE = [
  'These tests need a real Redis (7.0 or newer). Provide one of:',
  '  - REDIS_URL=redis://host:port (a server the tests may write to; each test uses its own namespace)',
  '  - redis-server on PATH (apt-get install redis-server, brew install redis): started on a free port per run',
  '  - a running Docker engine: testcontainers starts a redis:7 container',
].join('\n')

export interface RedisServer {
  readonly url: string
  readonly port: number
  /** SIGKILL: the server dies at once, losing everything (it keeps nothing on disk). */
  kill(): Promise<void>
  /** Starts an empty server on the same port after a kill. */
  restart(): Promise<void>
  /** SIGSTOP / SIGCONT: the server stops answering but keeps its connections. */
  pause(): void
  resume(): void
  stop(): Promise<void>
}

export async function freePort(): Promise<number> {
  const server = createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const address = server.address()
  server.close()
  if (address === null || typeof address === 'string') throw new Error('no free port')
  return address.port
}

export async function waitForPing(url: string, deadline = Date.now() + 10_000): Promise<void> {
  for (;;) {
    const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null })
    probe.on('error', () => {})
    try {
      await probe.connect()
      if ((await probe.ping()) === 'PONG') return
    } catch (error) {
      if (Date.now() > deadline) throw new Error(`Redis at ${url} did not answer: ${(error as Error).message}`)
    } finally {
      probe.disconnect()
    }
    await sleep(25)
  }
}

function spawnRedis(port: number, args: readonly string[]): Promise<ChildProcess> {
  // A data dir of its own (unless `args` give one): a replica's full sync writes dump.rdb, which
  // no other server may load.
  const dir = args.includes('--dir') ? [] : ['--dir', mkdtempSync(join(tmpdir(), 'rgc-redis-'))]
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', ...dir, ...args],
    { stdio: 'ignore' },
  )
  return new Promise((resolve, reject) => {
    child.once('error', reject)
    child.once('spawn', () => resolve(child))
  })
}

/** A `redis-server` from PATH on `port` (default: a free one); no container fallback. */
export async function startLocalRedisServer(args: readonly string[], chosenPort?: number): Promise<RedisServer> {
  const port = chosenPort ?? (await freePort())
  const url = `redis://127.0.0.1:${port}`
  let child = await spawnRedis(port, args)
  await waitForPing(url)
  const kill = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return
    const exited = once(child, 'exit')
    child.kill('SIGKILL')
    await exited
  }
  return {
    url,
    port,
    kill,
    async restart() {
      child = await spawnRedis(port, args)
      await waitForPing(url)
    },
    pause: () => child.kill('SIGSTOP'),
    resume: () => child.kill('SIGCONT'),
    stop: kill,
  }
}

async function containerServer(args: readonly string[]): Promise<RedisServer> {
  const { GenericContainer } = await import('testcontainers')
  const port = await freePort()
  const start = () =>
    new GenericContainer('redis:7')
      .withExposedPorts({ container: 6379, host: port })
      .withCommand(['redis-server', '--save', '', '--appendonly', 'no', ...args])
      .start()
  let container = await start()
  const url = `redis://${container.getHost()}:${port}`
  await waitForPing(url)
  return {
    url,
    port,
    kill: async () => {
      await container.stop({ timeout: 0 })
    },
    async restart() {
      container = await start()
      await waitForPing(url)
    },
    pause: () => {
      void container.exec(['kill', '-STOP', '1'])
    },
    resume: () => {
      void container.exec(['kill', '-CONT', '1'])
    },
    stop: async () => {
      await container.stop({ timeout: 0 })
    },
  }
}

/**
 * A Redis server of the test's own, which it may kill, pause, restart or flush: redis-server
 * on PATH, else a testcontainers container. `args` are extra redis-server arguments.
 */
export async function startRedisServer(args: readonly string[] = []): Promise<RedisServer> {
  const failures: string[] = []
  try {
    return await startLocalRedisServer(args)
  } catch (error) {
    failures.push(`redis-server: ${(error as Error).message}`)
  }
  try {
    return await containerServer(args)
  } catch (error) {
    failures.push(`testcontainers: ${(error as Error).message}`)
  }
  throw new Error(`${HOW_TO_PROVIDE}\n\nTried:\n  ${failures.join('\n  ')}`)
}
