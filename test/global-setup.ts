import type { TestProject } from 'vitest/node'
import { HOW_TO_PROVIDE, type RedisServer, startRedisServer, waitForPing } from './support/redis-server.js'

declare module 'vitest' {
  export interface ProvidedContext {
    /** The shared real Redis every behaviour test runs against (each in its own namespace). */
    redisUrl: string
  }
}

let server: RedisServer | undefined

export async function setup(project: TestProject): Promise<void> {
  const fromEnv = process.env.REDIS_URL
  if (fromEnv) {
    await waitForPing(fromEnv, Date.now() + 5000).catch((error: Error) => {
      throw new Error(`REDIS_URL=${fromEnv}: ${error.message}\n\n${HOW_TO_PROVIDE}`)
    })
    project.provide('redisUrl', fromEnv)
    return
  }
  server = await startRedisServer()
  project.provide('redisUrl', server.url)
}

export async function teardown(): Promise<void> {
  await server?.stop()
}
