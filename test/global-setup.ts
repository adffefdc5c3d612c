import { randomBytes } from 'node:crypto'
import { Redis } from 'ioredis'
import type { TestProject } from 'vitest/node'
import { createAclUser as createUser, readmeAcl } from './support/acl.js'
import { clusterFromUrl, HOW_TO_PROVIDE_CLUSTER, type RedisCluster, startCluster } from './support/cluster.js'
import { HOW_TO_PROVIDE, type RedisServer, startRedisServer, waitForPing } from './support/redis-server.js'
import { HOW_TO_PROVIDE_SENTINEL, type RedisSentinel, startSentinel } from './support/sentinel.js'

declare module 'vitest' {
  export interface ProvidedContext {
    /** The shared real Redis every behaviour test runs against (each in its own namespace). */
    redisUrl: string
    /** `redisUrl` logged in as the [acl] backend's user: the README's ACL line, for the tests' namespaces. */
    aclUrl: string
    /** The [cluster] backend's startup nodes, or why this run has no cluster (its tests then fail with it). */
    cluster: { nodes: string[] } | { error: string }
    /** The [sentinel] backend's Sentinels and the name they monitor, or why this run has none. */
    sentinel: { sentinels: { host: string; port: number }[]; name: string } | { error: string }
  }
}

/**
 * Where the README line says `~rgc:{app}:*`, the [acl] user gets the tests' namespaces (each test
 * uses `t<hex>`; ACL patterns take braces literally) under the default prefix and under the
 * `p<hex>` prefix of test/isolation.test.ts. Its command rules stay exactly the README's.
 */
const TEST_KEY_PATTERNS = ['rgc:{t*}:*', 'p*:{t*}:*']

let server: RedisServer | undefined
let cluster: RedisCluster | undefined
let sentinel: RedisSentinel | undefined
/** The [acl] user, when it lives on a server this run does not own (REDIS_URL): deleted in teardown. */
let sharedAclUser: { url: string; name: string } | undefined

export async function setup(project: TestProject): Promise<void> {
  // Started alongside the standalone server; its failure fails only the [cluster] tests.
  const clusterStart = getCluster().then(
    (started) => {
      cluster = started
      return { nodes: [...started.nodes] }
    },
    (error: Error) => ({ error: `${HOW_TO_PROVIDE_CLUSTER}\n\nTried: ${error.message}` }),
  )
  // Likewise: a primary, two replicas and three Sentinels; its failure fails only the [sentinel] tests.
  const sentinelStart = startSentinel().then(
    (started) => {
      sentinel = started
      return { sentinels: [...started.sentinels], name: started.name }
    },
    (error: Error) => ({ error: `${HOW_TO_PROVIDE_SENTINEL}\n\nTried: ${error.message}` }),
  )
  try {
    const fromEnv = process.env.REDIS_URL
    let redisUrl: string
    if (fromEnv) {
      await waitForPing(fromEnv, Date.now() + 5000).catch((error: Error) => {
        throw new Error(`REDIS_URL=${fromEnv}: ${error.message}\n\n${HOW_TO_PROVIDE}`)
      })
      redisUrl = fromEnv
    } else {
      server = await startRedisServer()
      redisUrl = server.url
    }
    project.provide('redisUrl', redisUrl)
    project.provide('aclUrl', await createAclUser(redisUrl, fromEnv !== undefined))
    project.provide('cluster', await clusterStart)
    project.provide('sentinel', await sentinelStart)
  } catch (error) {
    await Promise.all([clusterStart, sentinelStart])
    await teardown()
    throw error
  }
}

export async function teardown(): Promise<void> {
  const user = sharedAclUser
  sharedAclUser = undefined
  const admin = user && new Redis(user.url)
  try {
    if (admin && user) await admin.call('ACL', 'DELUSER', user.name)
  } finally {
    admin?.disconnect()
    await Promise.all([server?.stop(), cluster?.stop(), sentinel?.stop()])
  }
}

function getCluster(): Promise<RedisCluster> {
  const fromEnv = process.env.REDIS_CLUSTER_URL
  if (fromEnv) {
    return clusterFromUrl(fromEnv).catch((error: Error) => {
      throw new Error(`REDIS_CLUSTER_URL=${fromEnv}: ${error.message}`)
    })
  }
  // Three masters, each with a replica: what a Cluster in production is, replication included.
  const started = startCluster().then(async (cluster) => {
    try {
      await Promise.all(cluster.nodes.map((url) => cluster.addReplica(url)))
    } catch (error) {
      await cluster.stop()
      throw error
    }
    return cluster
  })
  return started.catch((error: Error) => {
    throw new Error(`a cluster of 3 masters with a replica each from redis-server on PATH: ${error.message}`)
  })
}

/**
 * Creates the [acl] backend's user with the README's ACL line (see TEST_KEY_PATTERNS) and returns
 * `redisUrl` logged in as it. On a shared server (REDIS_URL) the name is unique to this run.
 */
async function createAclUser(redisUrl: string, shared: boolean): Promise<string> {
  const acl = readmeAcl()
  const name = shared ? `${acl.user}_test_${randomBytes(6).toString('hex')}` : acl.user
  const url = await createUser(redisUrl, name, TEST_KEY_PATTERNS).catch((error: Error) => {
    throw new Error(`The [acl] backend ${error.message}`)
  })
  if (shared) sharedAclUser = { url: redisUrl, name }
  return url
}
