import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { Redis } from 'ioredis'
import { freePort, type RedisServer, startLocalRedisServer, waitForPing } from './redis-server.js'

/**
 * A primary with two replicas watched by three Sentinels (`redis-server <conf> --sentinel`: this
 * machine has no `redis-sentinel` binary), all started from the `redis-server` on PATH, for the
 * [sentinel] backend and the tests that kill the primary. Sentinels fail a primary over after
 * 1 s of silence, with a quorum of 2.
 */
export const HOW_TO_PROVIDE_SENTINEL = [
  'The [sentinel] backend needs redis-server on PATH (apt-get install redis-server, brew install redis):',
  'the run starts a primary, two replicas and three Sentinels (redis-server --sentinel) on free ports.',
].join('\n')

/** The name the Sentinels monitor the primary under. */
export const SENTINEL_NAME = 'rgc'

export interface RedisSentinel {
  /** Where the Sentinels listen: an ioredis `Redis` takes them as `{ sentinels, name }`. */
  readonly sentinels: readonly { host: string; port: number }[]
  readonly name: string
  /** The primary and replicas as started (after a failover, another of them is the primary). */
  readonly servers: readonly RedisServer[]
  /** The current primary, as the Sentinels say. */
  primary(): Promise<RedisServer>
  /**
   * kill -9 of the current primary; resolves once the Sentinels promoted a replica and the killed
   * server is back, empty, as a replica of it. `watch` (the checker's tap of what a kill loses)
   * is told just before the kill and once the replica is promoted.
   */
  killPrimary(watch?: {
    /** just before the kill of the primary listening on `port` */
    before(port: number): Promise<void>
    /** once the replica at `url` is the primary in its place */
    promoted(url: string): Promise<void>
  }): Promise<void>
  stop(): Promise<void>
}

async function startSentinelProcess(
  dir: string,
  index: number,
  primaryPort: number,
): Promise<{ port: number; stop(): Promise<void> }> {
  const port = await freePort()
  const conf = join(dir, `sentinel-${index}.conf`)
  writeFileSync(
    conf,
    [
      `port ${port}`,
      'bind 127.0.0.1',
      `dir ${dir}`,
      `sentinel monitor ${SENTINEL_NAME} 127.0.0.1 ${primaryPort} 2`,
      `sentinel down-after-milliseconds ${SENTINEL_NAME} 1000`,
      `sentinel failover-timeout ${SENTINEL_NAME} 5000`,
      `sentinel parallel-syncs ${SENTINEL_NAME} 2`,
      '',
    ].join('\n'),
  )
  const child = spawn('redis-server', [conf, '--sentinel'], { stdio: 'ignore' })
  await new Promise((resolve, reject) => {
    child.once('error', reject)
    child.once('spawn', resolve)
  })
  await waitForPing(`redis://127.0.0.1:${port}`)
  return {
    port,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return
      const exited = once(child, 'exit')
      child.kill('SIGKILL')
      await exited
    },
  }
}

/** Until `check` holds, polled every 50 ms, or `ms` pass (then throws `what`). */
async function until(check: () => Promise<boolean>, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms
  for (;;) {
    if (await check().catch(() => false)) return
    if (Date.now() > deadline) throw new Error(what)
    await sleep(50)
  }
}

async function role(url: string): Promise<string> {
  const client = new Redis(url, { maxRetriesPerRequest: 0, lazyConnect: true })
  client.on('error', () => {})
  try {
    await client.connect()
    const info = await client.info('replication')
    if (info.includes('role:master')) return 'master'
    return info.includes('master_link_status:up') ? 'replica' : 'syncing'
  } finally {
    client.disconnect()
  }
}

export async function startSentinel(): Promise<RedisSentinel> {
  const dir = mkdtempSync(join(tmpdir(), 'rgc-sentinel-'))
  const servers: RedisServer[] = []
  const sentinels: { port: number; stop(): Promise<void> }[] = []
  const stop = async () => {
    await Promise.all([...sentinels.map((sentinel) => sentinel.stop()), ...servers.map((server) => server.stop())])
    rmSync(dir, { recursive: true, force: true })
  }
  try {
    const first = await startLocalRedisServer(['--repl-diskless-sync', 'yes', '--repl-diskless-sync-delay', '0'])
    servers.push(first)
    for (let i = 0; i < 2; i++) {
      servers.push(
        await startLocalRedisServer([
          '--replicaof',
          '127.0.0.1',
          String(first.port),
          '--repl-diskless-sync',
          'yes',
          '--repl-diskless-sync-delay',
          '0',
        ]),
      )
    }
    await until(
      async () => (await Promise.all(servers.slice(1).map((server) => role(server.url)))).every((r) => r === 'replica'),
      20_000,
      'the replicas did not sync with the primary',
    )
    for (let i = 0; i < 3; i++) sentinels.push(await startSentinelProcess(dir, i, first.port))
    // every Sentinel knows both replicas and the other two Sentinels
    await until(
      async () => {
        for (const sentinel of sentinels) {
          const client = new Redis({ port: sentinel.port, host: '127.0.0.1', maxRetriesPerRequest: 0 })
          try {
            const replicas = (await client.call('SENTINEL', 'REPLICAS', SENTINEL_NAME)) as unknown[]
            const peers = (await client.call('SENTINEL', 'SENTINELS', SENTINEL_NAME)) as unknown[]
            if (replicas.length < 2 || peers.length < 2) return false
          } finally {
            client.disconnect()
          }
        }
        return true
      },
      30_000,
      'the Sentinels did not discover the replicas and each other',
    )
  } catch (error) {
    await stop()
    throw error
  }
  const primary = async (): Promise<RedisServer> => {
    const client = new Redis({ port: sentinels[0]?.port, host: '127.0.0.1', maxRetriesPerRequest: 0 })
    try {
      const [, port] = (await client.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', SENTINEL_NAME)) as [string, string]
      const found = servers.find((server) => server.port === Number(port))
      if (!found) throw new Error(`the Sentinels name an unknown primary, port ${port}`)
      return found
    } finally {
      client.disconnect()
    }
  }
  return {
    sentinels: sentinels.map((sentinel) => ({ host: '127.0.0.1', port: sentinel.port })),
    name: SENTINEL_NAME,
    servers,
    primary,
    async killPrimary(watch) {
      const old = await primary()
      await watch?.before(old.port)
      await old.kill()
      await until(async () => (await primary()) !== old, 30_000, 'the Sentinels did not fail the primary over')
      const next = await primary()
      await until(async () => (await role(next.url)) === 'master', 30_000, 'the promoted replica is not a master')
      await watch?.promoted(next.url)
      // back empty, then the Sentinels make it a replica of the new primary
      await old.restart()
      await until(
        async () => (await role(old.url)) === 'replica',
        30_000,
        'the old primary did not rejoin as a replica',
      )
    },
    stop,
  }
}
