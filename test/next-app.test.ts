import { type ChildProcess, spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { homedir, tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { randomNamespace } from './support/backends.js'
import { runNode } from './support/node.js'
import { freePort, type RedisServer, startRedisServer } from './support/redis-server.js'

/**
 * A real Next.js app (examples/next, its handlers from test/fixtures/next) built once with
 * `next build` and run as two `next start` instances sharing one Redis: a revalidation on one
 * instance is seen by the next response of the other, for a route reading a 'use cache'
 * function and for a prerendered page; revalidatePath; 'max'; a build with Redis down; the same
 * app on the run's Cluster.
 *
 * The app's install (next, react) is kept between runs in ~/.cache/redis-group-cache (or
 * $RGC_NEXT_CACHE), keyed by examples/next/package.json: only the first run installs it.
 */

const root = fileURLToPath(new URL('..', import.meta.url))
const example = join(root, 'examples/next')
const fixtures = join(root, 'test/fixtures/next')
const rootPackage = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'))

/** The app's dependencies and the library's own, installed once per their versions. */
async function installedModules(): Promise<string> {
  const app = JSON.parse(readFileSync(join(example, 'package.json'), 'utf8'))
  // the app's own (next, react, typescript: with them next build installs nothing) and the library's
  const dependencies = { ...app.dependencies, ...app.devDependencies, ...rootPackage.dependencies }
  const hash = createHash('sha256').update(JSON.stringify(dependencies)).digest('hex').slice(0, 16)
  let base = process.env.RGC_NEXT_CACHE ?? join(homedir(), '.cache', 'redis-group-cache')
  try {
    mkdirSync(base, { recursive: true })
  } catch {
    base = join(tmpdir(), 'redis-group-cache') // a home that cannot be written to
  }
  const dir = join(base, `next-app-${hash}`)
  if (existsSync(join(dir, 'node_modules', 'next', 'package.json'))) return join(dir, 'node_modules')
  const building = `${dir}.${process.pid}`
  rmSync(building, { recursive: true, force: true })
  mkdirSync(building, { recursive: true })
  writeFileSync(join(building, 'package.json'), JSON.stringify({ private: true, dependencies }, null, 2))
  const npm = spawn('npm', ['install', '--no-audit', '--no-fund', '--no-package-lock', '--ignore-scripts'], {
    cwd: building,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  npm.stdout?.on('data', (chunk) => {
    output += chunk
  })
  npm.stderr?.on('data', (chunk) => {
    output += chunk
  })
  const code = await new Promise<number | null>((resolve) => npm.once('close', resolve))
  if (code !== 0)
    throw new Error(`installing the Next.js app's dependencies failed (the npm registry is needed once):\n${output}`)
  // another run may have finished first: either copy is whole
  if (!existsSync(dir)) renameSync(building, dir)
  else rmSync(building, { recursive: true, force: true })
  return join(dir, 'node_modules')
}

/** A copy of the app with its handlers from the fixtures and this checkout's build of the library. */
async function appCopy(modules: string, library: string): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'rgc-next-'))
  cpSync(example, dir, {
    recursive: true,
    filter: (source) => !/[/\\](node_modules|\.next)([/\\]|$)/.test(source.slice(example.length)),
  })
  for (const file of ['options.mjs', 'cache-handler.mjs', 'use-cache-handler.mjs'])
    cpSync(join(fixtures, file), join(dir, file))
  // hard links where the filesystem allows: a copy of the install in a second
  const linked = spawn('cp', ['-al', modules, join(dir, 'node_modules')])
  const code = await new Promise<number | null>((resolve) => linked.once('close', resolve))
  if (code !== 0) cpSync(modules, join(dir, 'node_modules'), { recursive: true })
  // the library as the registry would install it: a folder of its own, not a link out of the app
  cpSync(library, join(dir, 'node_modules', 'redis-group-cache'), { recursive: true })
  return dir
}

/** This checkout's package: package.json, lua/ and a dist/ built now. */
async function packedLibrary(): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'rgc-next-lib-'))
  cpSync(join(root, 'package.json'), join(dir, 'package.json'))
  cpSync(join(root, 'lua'), join(dir, 'lua'), { recursive: true })
  const tsup = join(root, 'node_modules', 'tsup', 'dist', 'cli-default.js')
  const { code, output } = await runNode([tsup, '--silent', '--out-dir', join(dir, 'dist')], root)
  if (code !== 0) throw new Error(`building the library failed:\n${output}`)
  return dir
}

const nextBin = (app: string) => join(app, 'node_modules', 'next', 'dist', 'bin', 'next')

function appEnv(extra: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const { REDIS_URL: _, ...env } = process.env
  return { ...env, NEXT_TELEMETRY_DISABLED: '1', NODE_ENV: 'production', ...extra }
}

interface Instance {
  url: string
  output: () => string
  stop(): Promise<void>
}

async function start(app: string, env: NodeJS.ProcessEnv): Promise<Instance> {
  const port = await freePort()
  const child: ChildProcess = spawn(process.execPath, [nextBin(app), 'start', '-p', String(port)], {
    cwd: app,
    // it says when a route handler's revalidations are done (see revalidate)
    env: appEnv({ ...env, NEXT_PRIVATE_DEBUG_CACHE: '1' }),
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  child.stdout?.on('data', (chunk) => {
    output += chunk
  })
  child.stderr?.on('data', (chunk) => {
    output += chunk
  })
  const url = `http://127.0.0.1:${port}`
  const deadline = Date.now() + 60_000
  for (;;) {
    if (child.exitCode !== null) throw new Error(`next start exited (${child.exitCode}):\n${output}`)
    try {
      if ((await fetch(`${url}/api/time`)).ok) break
    } catch {}
    if (Date.now() > deadline) throw new Error(`next start did not answer in 60 s:\n${output}`)
    await sleep(200)
  }
  return {
    url,
    output: () => output,
    async stop() {
      if (child.exitCode !== null) return
      child.kill('SIGTERM')
      await new Promise((resolve) => child.once('close', resolve))
    },
  }
}

/** What the route answers: the time its 'use cache' function rendered, and the process that did. */
async function time(instance: Instance): Promise<string> {
  const response = await fetch(`${instance.url}/api/time`)
  expect(response.status).toBe(200)
  const body = (await response.json()) as { at: string; by: number }
  return `${body.at}/${body.by}`
}

/** What the page shows: the same function's value, rendered into the page. */
async function page(instance: Instance): Promise<string> {
  const html = await (await fetch(`${instance.url}/`)).text()
  const shown = /rendered at ([^<"]+?) by process (\d+)/.exec(html)
  if (!shown) throw new Error(`the page shows no time:\n${html.slice(0, 500)}`)
  return `${shown[1]}/${shown[2]}`
}

/**
 * POSTs a revalidation and waits until it has run: a route handler's revalidations run after its
 * response is sent (Next's pendingWaitUntil), and Next says when they are done with
 * NEXT_PRIVATE_DEBUG_CACHE on.
 */
async function revalidate(instance: Instance, query: string): Promise<void> {
  const search = new URLSearchParams(query).toString() // as Next logs it: '/' as %2F
  const done = new RegExp(
    `pending revalidates promise finished for: /api/revalidate\\?${search.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(\n|$)`,
    'gm',
  )
  const before = instance.output().match(done)?.length ?? 0
  const response = await fetch(`${instance.url}/api/revalidate?${search}`, { method: 'POST' })
  expect(response.status).toBe(200)
  const deadline = Date.now() + 10_000
  while ((instance.output().match(done)?.length ?? 0) === before) {
    if (Date.now() > deadline)
      throw new Error(`the revalidation ${query} did not finish in 10 s:\n${instance.output()}`)
    await sleep(5)
  }
}

let library: string
let modules: string
let app: string
let server: RedisServer
const copies: string[] = []
const running: Instance[] = []

beforeAll(async () => {
  ;[library, modules, server] = await Promise.all([packedLibrary(), installedModules(), startRedisServer()])
  app = await appCopy(modules, library)
  copies.push(app, library)
  const { code, output } = await runNode([nextBin(app), 'build'], app, appEnv({ REDIS_URL: server.url }))
  if (code !== 0) throw new Error(`next build failed:\n${output}`)
}, 300_000)

afterAll(async () => {
  await Promise.all(running.splice(0).map((instance) => instance.stop()))
  await server?.stop()
  for (const dir of copies) rmSync(dir, { recursive: true, force: true })
})

async function pair(env: NodeJS.ProcessEnv): Promise<[Instance, Instance]> {
  const started = await Promise.all([start(app, env), start(app, env)])
  running.push(...started)
  return started
}

describe('a Next.js app on two instances sharing one Redis', () => {
  let a: Instance
  let b: Instance
  beforeAll(async () => {
    ;[a, b] = await pair({ REDIS_URL: server.url })
  }, 120_000)

  it("a route reading a 'use cache' function: one render for both; revalidateTag on one, the other's next response is new", async () => {
    const first = await time(a)
    expect(await time(b)).toBe(first)
    expect(await time(a)).toBe(first)
    await revalidate(a, 'tag=clock')
    const second = await time(b)
    expect(second).not.toBe(first)
    expect(await time(a)).toBe(second)
  })

  it('a prerendered page: revalidateTag on one instance, the next response of the other is new', async () => {
    const before = await page(a)
    expect(await page(b)).toBe(before)
    await revalidate(b, 'tag=clock')
    const after = await page(a)
    expect(after).not.toBe(before)
    expect(await page(b)).toBe(after)
  })

  it('revalidatePath: the next response on the other instance is new', async () => {
    const before = await time(a)
    await revalidate(a, 'path=/api/time')
    expect(await time(b)).not.toBe(before)
  })

  it("revalidateTag(tag, 'max'): the old value at most while it re-renders, then the new one everywhere, and never the old again", async () => {
    const old = await time(a)
    await revalidate(b, 'tag=clock&profile=max')
    let fresh: string | undefined
    const deadline = Date.now() + 20_000
    while (fresh === undefined && Date.now() < deadline) {
      for (const instance of [a, b]) {
        const seen = await time(instance)
        if (seen !== old) fresh = seen
      }
      if (fresh === undefined) await sleep(100)
    }
    expect(fresh, 'a new value within 20 s').toBeDefined()
    for (let i = 0; i < 5; i++) for (const instance of [a, b]) expect(await time(instance)).not.toBe(old)
  })

  it('no instance reported a failure', () => {
    for (const instance of [a, b]) expect(instance.output()).not.toMatch(/redis-group-cache\/next:|Error:/)
  })
})

describe('the same app on the Cluster', () => {
  it('two instances: one render, and revalidateTag on one is seen by the other', async () => {
    const cluster = inject('cluster')
    if ('error' in cluster) throw new Error(cluster.error)
    const env = { RGC_CLUSTER_NODES: cluster.nodes.join(','), RGC_NAMESPACE: randomNamespace() }
    const [a, b] = await pair(env)
    const first = await time(a)
    expect(await time(b)).toBe(first)
    await revalidate(a, 'tag=clock')
    expect(await time(b)).not.toBe(first)
    expect(a.output()).not.toMatch(/CROSSSLOT|redis-group-cache\/next:/)
  }, 120_000)
})

describe('next build with Redis down', () => {
  it('builds, uncached, and says why', async () => {
    const down = await appCopy(modules, library)
    copies.push(down)
    const port = await freePort() // nothing listens there
    const { code, output } = await runNode(
      [nextBin(down), 'build'],
      down,
      appEnv({ REDIS_URL: `redis://127.0.0.1:${port}` }),
    )
    expect(code, output).toBe(0)
    expect(output).toMatch(/redis-group-cache\/next: /)
  }, 300_000)
})
